/**
 * `hpcdk diff`: what changes on the hosts when a site's new configuration is deployed, and what
 * each change does to the running site.
 *
 * The new side is the site file in the working tree, synthesized by the running hpcdk. The old
 * side is the same site at a git ref (synthesized in a temporary worktree, see diff/base.ts), or
 * any directory tree of rendered files (a saved synthesis, or files fetched from the hosts).
 * The report lists the changed settings with their declared impact (schema/impact.ts), per host
 * the files, secrets, packages and steps that change with each file's declared impact, what
 * Pacemaker would stop, start or move (crm_simulate on the old and new CIB), and the Terraform
 * resources a plan would replace.
 */
import { cpSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadSiteFile, type LoadedSite } from "../../schema/load.js";
import { cibSteadyState, type SteadyState } from "../simulate/index.js";
import { synthesizeBase } from "./base.js";
import { CIB_PATH } from "../../common/contracts/bundle.js";
import { compareStacks } from "./compare.js";
import { reportOf, warningsOf, type DiffReport } from "./report.js";
import { rolloutOfDiff } from "./rollout.js";
import { diffSettings, type SettingChange } from "./settings.js";
import { DiffInputError, emptyTree, readStackTree, type StackTree, type SynthesizeSite } from "./tree.js";

export interface DiffOptions {
  /** The site file (working tree). */
  readonly siteFile: string;
  /** How a site is synthesized (what `hpcdk synth` does): the command hands it in. */
  readonly synthesize: SynthesizeSite;
  /** Compare with the site at this git ref. */
  readonly base?: string;
  /** Which hpcdk renders the base. @default "base" */
  readonly baseCode?: "base" | "current";
  /** Compare with this directory of rendered files (a stack directory or an output directory). @default "cdktf.out" */
  readonly against?: string;
  /** The working tree's secrets. @default "secrets/<site>" */
  readonly secrets?: string;
  /** The other side's secrets. @default the same folder as `secrets` (a tree of host files: the values in it) */
  readonly oldSecrets?: string;
  /** Lines of context in unified diffs. @default 3 */
  readonly context?: number;
  /** Progress notes. @default stderr */
  readonly log?: (line: string) => void;
}

/** Synthesizes the working tree's site and the other side, and compares them. */
export async function diffSite(options: DiffOptions): Promise<DiffReport> {
  const site = loadSiteFile(options.siteFile);
  const temp = mkdtempSync(join(tmpdir(), "hpcdk-diff-"));
  const early = new AbortController();
  let steadyState: Promise<SteadyState> | undefined;
  try {
    // Every side synthesizes under `temp`, so all see the same secrets folder, `temp/secrets`:
    // a copy of the site's own, so the deployments' secret fingerprints match what was deployed.
    const secrets = options.secrets ?? join("secrets", site.name);
    if (existsSync(secrets)) cpSync(secrets, join(temp, "secrets", site.name), { recursive: true });
    if (options.base === undefined) steadyState = startSteadyState(options.against ?? "cdktf.out", site.name, early.signal);
    options.synthesize(site, join(temp, "new"));
    const next = readStackTree(join(temp, "new", "stacks", site.name), site.name);
    let old: StackTree;
    let oldDescription: string;
    let settings: SettingChange[] | null = null;
    let settingsNote: string | undefined;
    // The old side's warnings, when it is a site: the new site's dangerous values are flagged.
    let oldWarnings: readonly string[] | null = null;
    if (options.base !== undefined) {
      const base = await synthesizeBase({
        siteFile: options.siteFile,
        ref: options.base,
        code: options.baseCode,
        outDir: join(temp, "base"),
        displayName: site.file,
        synthesize: options.synthesize,
        ...(options.log ? { log: options.log } : {}),
      });
      oldDescription = base.description;
      old = base.stackDir ? readStackTree(base.stackDir, site.name) : emptyTree();
      if (base.site === null) settingsNote = "the site is new";
      else if ("error" in base.site) settingsNote = base.site.error;
      else {
        settings = diffSettings(base.site.spec, site.spec);
        oldWarnings = base.site.warnings;
      }
      if (base.site === null) oldWarnings = [];
      if (base.site === null) settings = [];
    } else {
      const against = options.against ?? "cdktf.out";
      if (!existsSync(against)) {
        throw new DiffInputError(
          options.against === undefined
            ? `nothing to compare with: ${against} does not exist (run hpcdk synth first, or give --base GIT_REF or --against DIR)`
            : `--against ${against}: no such directory`,
        );
      }
      old = readStackTree(against, site.name);
      oldDescription = `${old.dir}${old.hasManifests ? "" : " (host files, no manifests)"}`;
      settingsNote = "not compared: the other side is a directory of rendered files";
    }
    return await buildReport(site, old, next, { old: oldDescription, new: `${site.file} in the working tree` }, settings, settingsNote, { ...options, oldCibSteadyState: steadyState, oldWarnings });
  } finally {
    // A steady state the comparison did not need (the CIB is the same) stops here.
    early.abort();
    await steadyState?.then((s) => s.before).catch(() => undefined);
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * Starts Pacemaker's part of comparing with a directory: the old CIB's steady state depends on
 * that directory only, so crm_simulate brings it up while the new side is synthesized (a third of
 * a large site's diff). Anything wrong with the directory is left to the comparison to report.
 */
function startSteadyState(against: string, site: string, signal: AbortSignal): Promise<SteadyState> | undefined {
  let cib: Buffer | undefined;
  try {
    cib = existsSync(against) ? readStackTree(against, site).read("cluster", CIB_PATH) : undefined;
  } catch {
    return undefined;
  }
  if (cib === undefined) return undefined;
  const steady = cibSteadyState(cib.toString("utf8"), signal);
  // Awaited by the comparison, which reports a failure where it did without this head start.
  steady.catch(() => undefined);
  return steady;
}

/**
 * Compares two validated sites, both synthesized by the running hpcdk: what the settings diff
 * and the rendered files say when `old` is replaced by `next` (tests and benchmarks use it; the
 * command compares with a git ref or a directory).
 */
export async function diffSites(old: LoadedSite, next: LoadedSite, options: Omit<DiffOptions, "siteFile" | "base" | "baseCode" | "against">): Promise<DiffReport> {
  if (old.name !== next.name) throw new DiffInputError(`cannot compare site ${old.name} with site ${next.name}`);
  const temp = mkdtempSync(join(tmpdir(), "hpcdk-diff-"));
  try {
    options.synthesize(old, join(temp, "old"));
    options.synthesize(next, join(temp, "new"));
    return await buildReport(
      next,
      readStackTree(join(temp, "old", "stacks", old.name), old.name),
      readStackTree(join(temp, "new", "stacks", next.name), next.name),
      { old: `the old ${old.file}`, new: `the new ${next.file}` },
      diffSettings(old.spec, next.spec),
      undefined,
      { ...options, oldWarnings: old.warnings },
    );
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

async function buildReport(
  site: LoadedSite,
  old: StackTree,
  next: StackTree,
  descriptions: { old: string; new: string },
  settings: SettingChange[] | null,
  settingsNote: string | undefined,
  options: Pick<DiffOptions, "secrets" | "oldSecrets" | "context"> & { oldCibSteadyState?: Promise<SteadyState> | undefined; oldWarnings?: readonly string[] | null },
): Promise<DiffReport> {
  const secrets = options.secrets ?? join("secrets", site.name);
  const stack = await compareStacks(old, next, {
    newSecrets: { dir: secrets },
    // A tree of host files holds the deployed values itself; a synthesized tree has none, and its
    // site used the same secrets folder unless told otherwise.
    oldSecrets: { dir: options.oldSecrets ?? (old.hasManifests ? secrets : undefined) },
    context: options.context ?? 3,
    ...(options.oldCibSteadyState ? { oldCibSteadyState: options.oldCibSteadyState } : {}),
  });
  const report = reportOf({
    site: site.name,
    siteFile: site.file,
    old: { description: descriptions.old },
    new: { description: descriptions.new },
    settings,
    ...(settingsNote ? { settingsNote } : {}),
    stack,
    warnings: warningsOf(site.warnings, options.oldWarnings ?? null),
  });
  const rollout = report.changed ? rolloutOfDiff(site.name, old, next, stack, site.spec.deploy.maxUnavailable) : null;
  return rollout && rollout.waves.length > 0 ? { ...report, rollout } : report;
}

