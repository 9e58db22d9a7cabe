/**
 * Synthesis of one or more sites: build the construct tree, validate all of it, render every
 * file in memory, and only then write. Bad input never leaves partial output behind.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { App } from "cdktf";
import type { IConstruct } from "constructs";
import { HpcdkError } from "../common/errors.js";
import { defaultSiteFiles, invalidSiteHeading, loadSiteFiles, SiteError, type LoadedSite } from "../schema/load.js";
import { collectSecrets } from "../constructs/core/index.js";
import { inventoryOf } from "./inventory.js";
import { ensureSecrets, secretsDirFor, secretsFingerprint } from "./secrets.js";
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

/** Builds the construct tree for the sites, validates it and renders every bundle (nothing written). */
export function buildApp(sites: readonly LoadedSite[], outdir: string): BuiltApp {
  // skipValidation: cdktf's own validations only check the Terraform version, by spawning
  // `terraform version`; hpcdk runs the tree's validations itself below.
  const app = new App({ outdir, skipValidation: true });
  const stacks = sites.map((site) => new SiteStack(app, { site }));
  const problems = app.node.findAll().flatMap((c: IConstruct) => c.node.validate());
  if (problems.length > 0) throw new SynthError(problems);
  for (const stack of stacks) for (const bundle of stack.bundles) bundle.render();
  return { app, stacks };
}

/**
 * Synthesizes the sites into `outdir` (cdktf layout: `stacks/<site>/cdk.tf.json` + bundles).
 * Secrets the sites need and do not have yet are generated into `<outdir>/../secrets/<site>/`.
 */
export function synthesize(sites: readonly LoadedSite[], outdir: string, log: (line: string) => void = () => {}): BuiltApp {
  // cdktf's App creates the output directory (not its parents) as soon as it exists; a tree that
  // fails validation must leave nothing behind.
  const existed = existsSync(outdir);
  mkdirSync(dirname(outdir), { recursive: true });
  let built: BuiltApp;
  try {
    built = buildApp(sites, outdir);
  } catch (err) {
    if (!existed) rmSync(outdir, { recursive: true, force: true });
    throw err;
  }
  for (const stack of built.stacks) {
    const dir = secretsDirFor(outdir, stack.site.name);
    const specs = collectSecrets(stack.node.path, stack.bundles.flatMap((b) => b.render().manifest.secrets));
    let created: string[];
    try {
      created = ensureSecrets(dir, specs, log);
    } catch (err) {
      if (!existed) rmSync(outdir, { recursive: true, force: true });
      throw err;
    }
    for (const name of created) log(`generated secret ${join(dir, name)}`);
    for (const bundle of stack.bundles) {
      stack.secretFingerprints.set(bundle, secretsFingerprint(dir, bundle.render().manifest.secrets.map((s) => s.name)));
    }
  }
  // Stale files of an earlier synth would otherwise survive in the tree and be deployed.
  for (const stack of built.stacks) rmSync(stackDir(outdir, stack.site.name), { recursive: true, force: true });
  built.app.synth();
  for (const stack of built.stacks) {
    const dir = stackDir(outdir, stack.site.name);
    for (const bundle of stack.bundles) bundle.writeTo(dir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "deploy.json"), JSON.stringify(inventoryOf(stack.site.name, stack.site.file, stack.site.spec), null, 2) + "\n");
  }
  return built;
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
