/**
 * Shared test helpers: temporary directories, synthesis of fixture sites, reading output trees,
 * running the hpcdk and cdktf CLIs.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import type { IConstruct } from "constructs";
import { afterAll } from "vitest";
import { renderStackFiles, shQuote } from "../constructs/core/index.js";
import { loadSiteFiles, parseSite, type LoadedSite } from "../schema/load.js";
import { synthesize, type BuiltApp } from "../stacks/synth.js";
import type { LabState } from "../operations/lab/lab.js";

export const ROOT = join(import.meta.dirname, "..");
export const FIXTURES = join(ROOT, "test", "fixtures", "sites");
export const EXAMPLES = ["lab", "minilab", "radon"] as const;

/**
 * The top-level folders hpcdk runs from: the TypeScript folders of tsconfig.json's `include`
 * (without the tests and benchmarks) and the templates. Tests that copy hpcdk somewhere use this,
 * so a new folder is copied too.
 */
export const SOURCE_DIRS: readonly string[] = [
  ...(JSON.parse(readFileSync(join(ROOT, "tsconfig.json"), "utf8")).include as string[]).filter((d) => !/\.|^(test|bench)$/.test(d)),
  "templates",
];

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A copy of hpcdk's sources in a temporary directory that runs as the checkout does.
 * `node_modules` is a link to the checkout's, or with `readableByAll` a copy of it made of hard
 * links (a copy where they cannot be made), so that any user can run the copy even when the
 * checkout is not theirs to read (a clone in root's 0700 home directory).
 */
export function copyOfHpcdk(options: { prefix?: string; readableByAll?: boolean } = {}): string {
  const dir = tempDir(options.prefix ?? "hpcdk-copy-");
  chmodSync(dir, 0o755);
  for (const d of SOURCE_DIRS) cpSync(join(ROOT, d), join(dir, d), { recursive: true });
  for (const f of ["package.json", "tsconfig.json"]) cpSync(join(ROOT, f), join(dir, f));
  if (!options.readableByAll) {
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  } else if (spawnSync("cp", ["-al", join(ROOT, "node_modules"), join(dir, "node_modules")]).status !== 0) {
    rmSync(join(dir, "node_modules"), { recursive: true, force: true });
    cpSync(join(ROOT, "node_modules"), join(dir, "node_modules"), { recursive: true });
  }
  return dir;
}

/** A temporary directory removed after the test file. */
export function tempDir(prefix = "hpcdk-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Loads example sites (`sites/<name>.yaml`) with the same display names as the CLI uses. */
export function loadExamples(names: readonly string[] = EXAMPLES): LoadedSite[] {
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    return loadSiteFiles(names.map((n) => `sites/${n}.yaml`));
  } finally {
    process.chdir(cwd);
  }
}

/** Validates site text given as a file name (`test/fixtures/sites/x.yaml`) and its content. */
export function siteFromText(text: string, file = "sites/test.yaml"): LoadedSite {
  return parseSite(text, file);
}

/**
 * Synthesizes sites into `<project>/cdktf.out` of a fresh temporary project (or the one given):
 * the secrets go to `<project>/secrets/`, as they would beside a real output directory.
 */
export function synthTo(sites: readonly LoadedSite[], project = tempDir("hpcdk-synth-")): { out: string; built: BuiltApp } {
  const out = join(project, "cdktf.out");
  const built = synthesize(sites, out);
  return { out, built };
}

/**
 * Writes the stack files of a construct tree that is no site (a bundle a test builds by hand)
 * into `dir`, as synthesis would into a stack directory.
 */
export function writeStackFiles(scope: IConstruct, dir: string): void {
  for (const [path, f] of renderStackFiles(scope)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), f.bytes, { mode: f.mode });
  }
}

/** Every file under `dir`, by path relative to it, sorted. */
export function readTree(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

/** Runs the hpcdk command as a user would. */
export function hpcdk(args: string[], cwd = ROOT): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1" },
  });
}

/** True when a program is on PATH. */
export function have(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;
}

/** Where scripts/install-test-deps.sh installs the cdktf CLI (cdktf-cli adds about 400 MB: not a dependency). */
export const CACHED_CDKTF = "/var/cache/hpcdk/cdktf-cli/node_modules/.bin/cdktf";

let cdktfFound: string | null | undefined;

/** The cdktf CLI: `cdktf` on PATH, else the one install-test-deps.sh installs; undefined when there is neither. */
export function cdktfCli(): string | undefined {
  cdktfFound ??= have("cdktf") ? "cdktf" : existsSync(CACHED_CDKTF) ? CACHED_CDKTF : null;
  return cdktfFound ?? undefined;
}

/** Makes `project` a cdktf project: the repository's cdktf.json, its app running this checkout's entry. */
export function writeCdktfJson(project: string): void {
  const app = `${shQuote(join(ROOT, "node_modules", ".bin", "tsx"))} ${shQuote(join(ROOT, "stacks", "main.ts"))}`;
  writeFileSync(join(project, "cdktf.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(ROOT, "cdktf.json"), "utf8")), app }, null, 2));
}

/** What `cdktf` is told through its environment, as the README tells users. */
export interface CdktfEnv {
  /** The site file to synthesize (HPCDK_SITES), relative to the project. */
  readonly sites: string;
  /** The inventory `hpcdk apply-bundle` uses (HPCDK_INVENTORY): relative to the project, or absolute. */
  readonly inventory: string;
}

/**
 * Runs the cdktf CLI in a project made by `writeCdktfJson`, with hpcdk given by path (it is not
 * on PATH after npm ci). Returns the exit code and stdout + stderr without colours.
 */
export function cdktf(project: string, args: string[], env: CdktfEnv, timeoutMs = 240_000): { code: number; output: string } {
  const cli = cdktfCli();
  if (!cli) throw new Error(`no cdktf CLI: neither cdktf on PATH nor ${CACHED_CDKTF} (scripts/install-test-deps.sh installs it)`);
  const r = spawnSync(cli, [...args, "--no-color"], {
    cwd: project,
    encoding: "utf8",
    timeout: timeoutMs,
    env: {
      ...process.env,
      CHECKPOINT_DISABLE: "1",
      HPCDK_SITES: env.sites,
      HPCDK_INVENTORY: env.inventory,
      TF_VAR_hpcdk_cli: `${shQuote(process.execPath)} ${shQuote(join(ROOT, "cli", "bin", "hpcdk.js"))}`,
    },
  });
  // --no-color leaves the progress display's cursor movements in.
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}`.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "") };
}

/**
 * Runs a command as root on a node of a namespace lab with OpenSSH (the lab's key and
 * known_hosts), as an admin would; throws with the node's stderr when it fails.
 */
export function onLabNode(lab: LabState, node: string, command: string, options: { input?: string; timeoutMs?: number } = {}): string {
  const n = lab.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in the lab (${lab.nodes.map((x) => x.name).join(", ")})`);
  const r = spawnSync(
    "ssh",
    ["-i", join(lab.dir, "id_ed25519"), "-o", `UserKnownHostsFile=${join(lab.dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", `root@${n.sshAddress}`, command],
    { encoding: "utf8", timeout: options.timeoutMs ?? 60_000, ...(options.input !== undefined ? { input: options.input } : {}) },
  );
  if (r.status !== 0) throw new Error(`${node}: ${command}: ${r.stderr}`);
  return r.stdout;
}
