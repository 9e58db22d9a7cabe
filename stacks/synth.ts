/**
 * Synthesis of one or more sites: build the construct tree, validate all of it, render every
 * file of every stack directory into one map in memory, and only then write, once: into a
 * staging directory beside the output, renamed into place. Bad input never leaves partial
 * output behind, and nothing but this module writes into the output directory.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { App, Aspects } from "cdktf";
import type { IConstruct } from "constructs";
import stringify from "json-stable-stringify";
import { HpcdkError } from "../common/errors.js";
import { defaultSiteFiles, invalidSiteHeading, loadSiteFiles, SiteError, type LoadedSite } from "../schema/load.js";
import { collectSecrets, renderStackFiles } from "../constructs/core/index.js";
import { SecretsFolder, secretsDirFor, type SecretStore } from "./secrets.js";
import { SiteStack } from "./site-stack.js";

/** The construct tree refused a site: one message per problem. */
export class SynthError extends HpcdkError {
  override get heading(): string {
    return invalidSiteHeading(this.problems.length);
  }
}

export interface BuiltApp {
  readonly app: App;
  readonly stacks: SiteStack[];
}

/** One file of the output, by its path relative to the output directory. */
export interface OutputFile {
  readonly bytes: Buffer;
  readonly mode: number;
}

/**
 * Builds the construct tree for the sites, validates it and renders every bundle (nothing
 * written). `secrets` gives each site its store; `outdir` is only cdktf's (its App creates it).
 */
export function buildApp(sites: readonly LoadedSite[], outdir: string, secrets: (site: LoadedSite) => SecretStore): BuiltApp {
  // skipValidation: cdktf's own validations only check the Terraform version, by spawning
  // `terraform version`; hpcdk runs the tree's validations itself below.
  const app = new App({ outdir, skipValidation: true });
  const stacks = sites.map((site) => new SiteStack(app, { site, secrets: secrets(site) }));
  const problems = app.node.findAll().flatMap((c: IConstruct) => c.node.validate());
  if (problems.length > 0) throw new SynthError(problems);
  for (const stack of stacks) for (const bundle of stack.bundles) bundle.render();
  return { app, stacks };
}

/**
 * Every file of the output, in memory: cdktf's `manifest.json` and, per site,
 * `stacks/<site>/` (`cdk.tf.json`, the bundles' files, manifests and apply scripts,
 * `deploy.json`). The secrets the bundles use must be in their stores already: the Terraform
 * triggers carry their fingerprints.
 */
export function renderOutput(built: BuiltApp): Map<string, OutputFile> {
  const files = new Map<string, OutputFile>();
  // What cdktf's App.synth does before it writes, without the writing: aspects (hpcdk has none:
  // refuse one rather than skip it), the stacks prepared, annotations into the manifest.
  const withAspects = built.app.node.findAll().filter((c) => Aspects.of(c).all.length > 0);
  if (withAspects.length > 0) throw new Error(`synthesis: ${withAspects[0]!.node.path} has cdktf aspects, which hpcdk's synthesis does not run`);
  for (const stack of built.stacks) stack.prepareStack();
  for (const stack of built.stacks) {
    const manifest = built.app.manifest.forStack(stack) as { annotations: unknown[] };
    manifest.annotations = stack.node.findAll().flatMap((c) =>
      c.node.metadata.filter((m) => ANNOTATION_TYPES.has(m.type)).map((m) => ({ constructPath: c.node.path, level: m.type, message: m.data as string, stacktrace: m.trace })),
    );
    const errors = (manifest.annotations as { level: string; constructPath: string; message: string }[]).filter((a) => a.level === "@cdktf/error");
    if (errors.length > 0) throw new SynthError(errors.map((a) => `[${a.constructPath}] ${a.message}`));
    for (const [path, f] of renderStackFiles(stack)) files.set(join(stackDirOf(stack), path), { bytes: f.bytes, mode: f.mode });
  }
  files.set("manifest.json", { bytes: Buffer.from(stringify(built.app.manifest.buildManifest(), { space: 2 })!), mode: 0o666 });
  return files;
}

const ANNOTATION_TYPES = new Set(["@cdktf/info", "@cdktf/warn", "@cdktf/error"]);

/** A site's stack directory relative to the output directory. */
function stackDirOf(stack: SiteStack): string {
  return join("stacks", stack.site.name);
}

/**
 * Synthesizes the sites into `outdir` (cdktf layout: `stacks/<site>/cdk.tf.json` + bundles).
 * Secrets the sites need and do not have yet are generated into `<outdir>/../secrets/<site>/`.
 * Each site's stack directory is replaced as a whole: no file of an earlier synth survives in it.
 */
export function synthesize(sites: readonly LoadedSite[], outdir: string, log: (line: string) => void = () => {}): BuiltApp {
  mkdirSync(dirname(outdir), { recursive: true });
  // Everything is rendered into memory, then written into a staging directory on the output's
  // file system, so that it is renamed into place: inside the output when there is one (it may
  // be a link to another disk), else beside it, to become it. cdktf's App keeps its directory
  // there too. (mkdirSync, not mkdtempSync: a staging directory that becomes the output gets the
  // usual mode, not 0700.)
  const suffix = randomBytes(6).toString("hex");
  const staging = existsSync(outdir) ? join(outdir, `.synth-${suffix}`) : join(dirname(outdir), `.${basename(outdir)}.synth-${suffix}`);
  mkdirSync(staging);
  try {
    const built = buildApp(sites, staging, (site) => new SecretsFolder(secretsDirFor(outdir, site.name), log));
    for (const stack of built.stacks) {
      const specs = collectSecrets(stack.node.path, stack.bundles.flatMap((b) => b.render().manifest.secrets));
      for (const file of stack.secrets.ensure(specs)) log(`generated secret ${file}`);
    }
    const files = renderOutput(built);
    for (const [path, f] of files) {
      mkdirSync(dirname(join(staging, path)), { recursive: true });
      writeFileSync(join(staging, path), f.bytes, { mode: f.mode });
    }
    replaceOutput(staging, outdir, built.stacks.map(stackDirOf));
    return built;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

/**
 * Moves a written staging directory into place: the whole of it when there is no output yet,
 * else each stack directory it holds (the old one moved aside first, into the staging directory,
 * which is then removed) and `manifest.json`. Other sites' stack directories stay as they are.
 */
function replaceOutput(staging: string, outdir: string, stackDirs: readonly string[]): void {
  if (!existsSync(outdir)) {
    renameSync(staging, outdir);
    return;
  }
  mkdirSync(join(outdir, "stacks"), { recursive: true });
  for (const [i, dir] of stackDirs.entries()) {
    if (existsSync(join(outdir, dir))) renameSync(join(outdir, dir), join(staging, `replaced-${i}`));
    renameSync(join(staging, dir), join(outdir, dir));
  }
  renameSync(join(staging, "manifest.json"), join(outdir, "manifest.json"));
}

/** Synthesizes one site into `outdir`: what an operation that synthesizes (hpcdk diff) is handed. */
export function synthesizeSite(site: LoadedSite, outdir: string): void {
  synthesize([site], outdir);
}

/** The stack directory of a site in an output tree. */
export function stackDir(outdir: string, site: string): string {
  return join(outdir, "stacks", site);
}

/** Site files as given, or every `sites/*.yaml` when none are. */
export function siteFiles(args: readonly string[]): string[] {
  const files = args.length > 0 ? [...args] : defaultSiteFiles();
  if (files.length === 0) throw new SiteError(["no site files given and none found in sites/"]);
  return files;
}

/**
 * What `hpcdk synth` and the cdktf app entry do: load and validate the site files (all problems
 * of all files at once), print warnings, synthesize, and print one summary line per site.
 */
export function synthSiteFiles(args: readonly string[], out: string, print = true): BuiltApp {
  const sites = loadSiteFiles(siteFiles(args));
  for (const s of sites) for (const w of s.warnings) process.stderr.write(`hpcdk: warning: ${s.file}: ${w}\n`);
  const built = synthesize(sites, out, (line) => process.stderr.write(`hpcdk: ${line}\n`));
  if (print) {
    for (const stack of built.stacks) {
      const files = stack.bundles.reduce((n, b) => n + b.render().files.length, 0);
      const hosts = Object.keys(stack.hosts).sort();
      process.stdout.write(`${stack.site.name}: ${hosts.length} hosts (${hosts.join(", ")}), ${files} files -> ${stackDir(out, stack.site.name)}\n`);
    }
  }
  return built;
}
