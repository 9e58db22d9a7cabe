/**
 * The base side of `hpcdk diff --base GIT_REF`: the site file as it is at a git ref, synthesized
 * in a temporary git worktree (under the system temp directory, always removed).
 *
 * Which code renders the base: when the site file lives in hpcdk's own repository, a pull
 * request may change hpcdk itself (a template, a construct, a dependency), and what a reviewer
 * must see is every byte that changes on the hosts. So by default the base is synthesized by the
 * base's own hpcdk, run from the worktree. `code: "current"` renders the base's site file with
 * the running hpcdk instead, which isolates the site's own edits from changes of hpcdk. A site
 * file in another repository is always rendered with the running hpcdk.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, sep } from "node:path";
import { promisify } from "node:util";
import { parseSite, type LoadedSite } from "../../schema/load.js";
import { DiffInputError, type SynthesizeSite } from "./tree.js";

const run = promisify(execFile);

/** Where hpcdk's own sources are (this file is operations/diff/base.ts). */
export const HPCDK_ROOT = join(import.meta.dirname, "..", "..");

export interface BaseSide {
  /** Stack directory of the synthesized base; undefined when the site file did not exist at the ref. */
  readonly stackDir?: string;
  /** The base site validated by the running hpcdk's schema (for the settings diff), or why not. */
  readonly site: LoadedSite | { readonly error: string } | null;
  readonly ref: string;
  readonly commit: string;
  /** Which hpcdk rendered the base. */
  readonly code: "base" | "current";
  /** One line for the report: `main (1a2b3c4), rendered by the base's hpcdk`. */
  readonly description: string;
}

export interface BaseOptions {
  /** The site file in the working tree. */
  readonly siteFile: string;
  readonly ref: string;
  /** @default "base" */
  readonly code?: "base" | "current";
  /** Directory to synthesize into (the caller removes it). */
  readonly outDir: string;
  /** How the site file is named in headers (as the working tree's synthesis names it). */
  readonly displayName: string;
  /** Progress and notes (npm ci in the worktree). @default stderr */
  readonly log?: (line: string) => void;
  /** How the running hpcdk synthesizes a site (for `code: "current"`). */
  readonly synthesize: SynthesizeSite;
}

async function git(cwd: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run("git", ["-C", cwd, ...args], { maxBuffer: 256 * 1024 * 1024, encoding: "utf8" });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new DiffInputError("--base needs git: apt-get install git");
    throw new DiffInputError(`git ${args.join(" ")}: ${e.stderr?.trim() || e.message}`);
  }
}

/** Synthesizes the site file as it is at `ref`; the temporary worktree is gone when this returns. */
export async function synthesizeBase(options: BaseOptions): Promise<BaseSide> {
  const log = options.log ?? ((line: string) => process.stderr.write(`hpcdk: ${line}\n`));
  const siteFile = realpathSync(options.siteFile);
  const repo = (await git(dirname(siteFile), ["rev-parse", "--show-toplevel"]).catch(() => {
    throw new DiffInputError(`--base needs the site file in a git repository; ${options.siteFile} is not in one`);
  })).trim();
  const commit = (await git(repo, ["rev-parse", "--verify", "--quiet", `${options.ref}^{commit}`]).catch(() => {
    throw new DiffInputError(`--base ${options.ref}: no such commit in ${repo}`);
  })).trim();
  const short = commit.slice(0, 7);
  const rel = relative(realpathSync(repo), siteFile).split(sep).join("/");
  const sameRepo = isInside(realpathSync(HPCDK_ROOT), realpathSync(repo));
  const code = options.code === "current" || !sameRepo ? "current" : "base";
  const description = `${options.ref} (${short}), rendered by ${code === "base" ? "the base's hpcdk" : "the working tree's hpcdk"}`;

  const text = await git(repo, ["show", `${commit}:${rel}`]).catch(() => undefined);
  if (text === undefined) return { site: null, ref: options.ref, commit, code, description: `${options.ref} (${short}): ${rel} does not exist there` };

  let site: BaseSide["site"];
  try {
    site = parseSite(text, options.displayName);
  } catch (err) {
    site = { error: `the base site does not validate with the working tree's schema: ${(err as Error).message.split("\n")[0]}` };
  }

  if (code === "current") {
    if ("error" in site!) throw new DiffInputError(`${options.ref}:${rel} is not a valid site: ${site.error}`);
    options.synthesize(site, options.outDir);
    return { stackDir: join(options.outDir, "stacks", site.name), site, ref: options.ref, commit, code, description };
  }

  const tmp = mkdtempSync(join(tmpdir(), "hpcdk-diff-base-"));
  const tree = join(tmp, "tree");
  const cleanup = () => removeWorktree(repo, tree, tmp);
  const onSignal = (signal: NodeJS.Signals) => {
    cleanup();
    process.kill(process.pid, signal);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await git(repo, ["worktree", "add", "--detach", "--quiet", tree, commit]);
    await provideDependencies(repo, commit, tree, log);
    // Synthesize from the same relative directory as the working tree's synthesis, so the
    // headers name the site file the same way on both sides.
    const cwd = join(tree, relative(realpathSync(repo), realpathSync(process.cwd())));
    const inside = isInside(cwd, tree) ? cwd : tree;
    mkdirSync(inside, { recursive: true });
    const cli = join(tree, relative(realpathSync(repo), realpathSync(HPCDK_ROOT)), "cli", "bin", "hpcdk.js");
    await runNode(inside, [cli, "synth", "-q", "--out", options.outDir, join(tree, rel)]);
    return { stackDir: join(options.outDir, "stacks", siteName(rel)), site, ref: options.ref, commit, code, description };
  } finally {
    cleanup();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

function siteName(rel: string): string {
  return rel.split("/").pop()!.replace(/\.ya?ml$/, "");
}

function isInside(path: string, dir: string): boolean {
  const r = relative(dir, path);
  return r === "" || (!r.startsWith("..") && !r.startsWith(sep) && !/^[A-Za-z]:/.test(r));
}

/**
 * The base's node_modules: the working tree's when the lock file is the same at the base (a
 * symlink, removed before the worktree is), else a clean `npm ci` inside the worktree.
 */
async function provideDependencies(repo: string, commit: string, tree: string, log: (line: string) => void): Promise<void> {
  const hpcdkRel = relative(realpathSync(repo), realpathSync(HPCDK_ROOT)).split(sep).join("/");
  const lockPath = hpcdkRel ? `${hpcdkRel}/package-lock.json` : "package-lock.json";
  const baseLock = await git(repo, ["show", `${commit}:${lockPath}`]).catch(() => undefined);
  const ours = existsSync(join(HPCDK_ROOT, "package-lock.json")) ? readFileSync(join(HPCDK_ROOT, "package-lock.json"), "utf8") : undefined;
  const target = join(tree, hpcdkRel, "node_modules");
  if (existsSync(target)) return;
  if (baseLock !== undefined && baseLock === ours && existsSync(join(HPCDK_ROOT, "node_modules"))) {
    symlinkSync(join(HPCDK_ROOT, "node_modules"), target, "dir");
    return;
  }
  log(`the base's package-lock.json differs from the working tree's: npm ci in the temporary worktree`);
  await new Promise<void>((resolve, reject) => {
    const child = spawn("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], { cwd: join(tree, hpcdkRel), stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => reject(new DiffInputError(`npm ci for the base failed: ${err.message}`)));
    child.on("close", (status) => (status === 0 ? resolve() : reject(new DiffInputError(`npm ci for the base failed (exit ${status}): ${stderr.trim()}`))));
  });
}

async function runNode(cwd: string, args: string[]): Promise<void> {
  try {
    await run(process.execPath, args, { cwd, env: { ...process.env, CHECKPOINT_DISABLE: "1" }, maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new DiffInputError(`synthesizing the base failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Removes the temporary worktree (the node_modules link first, so nothing follows it) and its directory. */
function removeWorktree(repo: string, tree: string, tmp: string): void {
  const link = join(tree, relative(realpathSync(repo), realpathSync(HPCDK_ROOT)), "node_modules");
  try {
    if (lstatSync(link).isSymbolicLink()) unlinkSync(link);
  } catch {
    // not there
  }
  // Synchronous on purpose: this also runs from signal handlers.
  const removed = spawnSync("git", ["-C", repo, "worktree", "remove", "--force", tree], { stdio: "ignore" });
  rmSync(tmp, { recursive: true, force: true });
  // Only when git could not remove it (a half-made worktree): prune forgets worktrees whose directory is gone.
  if (removed.status !== 0) spawnSync("git", ["-C", repo, "worktree", "prune"], { stdio: "ignore" });
}
