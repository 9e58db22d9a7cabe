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
import { IMPACT_KINDS, type Impact, type ImpactKind } from "../constructs/core/index.js";
import { loadSiteFile, type LoadedSite } from "../schema/load.js";
import { synthesize } from "../stacks/synth.js";
import { synthesizeBase } from "./diff/base.js";
import { CIB_PATH, compareStacks, hostsText, impactRank, worse, type BundleDiff, type StackDiff } from "./diff/compare.js";
import { diffSettings, showValue, type SettingChange } from "./diff/settings.js";
import { DiffInputError, emptyTree, readStackTree, type StackTree } from "./diff/tree.js";
import { cibSteadyState, type SteadyState } from "./simulate.js";
import type { LiveReport } from "./diff/live.js";

export { DiffInputError } from "./diff/tree.js";
export type { BundleDiff, FileDiff, PackageDiff, SecretDiff, StackDiff, StepDiff, TerraformChange } from "./diff/compare.js";
export type { SettingChange } from "./diff/settings.js";
export type { LiveCib, LiveHost, LiveReport } from "./diff/live.js";

export interface DiffOptions {
  /** The site file (working tree). */
  readonly siteFile: string;
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

/** One line of the impact summary: a change a reviewer must weigh. */
export interface SummaryRow {
  readonly impact: Impact;
  readonly kind: "setting" | "file" | "secret" | "package" | "step" | "hosts";
  /** What changes, in plain words with `code` spans (Markdown-friendly). */
  readonly what: string;
  /** Hosts (`stc[1-4]`), `group compute`, `cluster`, or "" for site settings. */
  readonly where: string;
}

export interface DiffReport {
  readonly site: string;
  readonly siteFile: string;
  readonly old: { readonly description: string };
  readonly new: { readonly description: string };
  /** Setting changes; null when the other side has no site file to compare. */
  readonly settings: SettingChange[] | null;
  readonly settingsNote?: string;
  readonly stack: StackDiff;
  /** Worst first. */
  readonly summary: SummaryRow[];
  /** The worst impact of any change; null when nothing changes. */
  readonly impact: ImpactKind | null;
  readonly changed: boolean;
  /** `--live`: which hosts were asked, which could not be reached, and the live CIB. */
  readonly live?: LiveReport;
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
    synthesize([site], join(temp, "new"));
    const next = readStackTree(join(temp, "new", "stacks", site.name), site.name);
    let old: StackTree;
    let oldDescription: string;
    let settings: SettingChange[] | null = null;
    let settingsNote: string | undefined;
    if (options.base !== undefined) {
      const base = await synthesizeBase({
        siteFile: options.siteFile,
        ref: options.base,
        code: options.baseCode,
        outDir: join(temp, "base"),
        displayName: site.file,
        ...(options.log ? { log: options.log } : {}),
      });
      oldDescription = base.description;
      old = base.stackDir ? readStackTree(base.stackDir, site.name) : emptyTree();
      if (base.site === null) settingsNote = "the site is new";
      else if ("error" in base.site) settingsNote = base.site.error;
      else settings = diffSettings(base.site.spec, site.spec);
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
    return await buildReport(site, old, next, { old: oldDescription, new: `${site.file} in the working tree` }, settings, settingsNote, { ...options, oldCibSteadyState: steadyState });
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
export async function diffSites(old: LoadedSite, next: LoadedSite, options: Omit<DiffOptions, "siteFile" | "base" | "baseCode" | "against"> = {}): Promise<DiffReport> {
  if (old.name !== next.name) throw new DiffInputError(`cannot compare site ${old.name} with site ${next.name}`);
  const temp = mkdtempSync(join(tmpdir(), "hpcdk-diff-"));
  try {
    synthesize([old], join(temp, "old"));
    synthesize([next], join(temp, "new"));
    return await buildReport(
      next,
      readStackTree(join(temp, "old", "stacks", old.name), old.name),
      readStackTree(join(temp, "new", "stacks", next.name), next.name),
      { old: `the old ${old.file}`, new: `the new ${next.file}` },
      diffSettings(old.spec, next.spec),
      undefined,
      options,
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
  options: Pick<DiffOptions, "secrets" | "oldSecrets" | "context"> & { oldCibSteadyState?: Promise<SteadyState> | undefined },
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
  const summary = summarize(settings, stack);
  const impact = summary.reduce<Impact | null>((w, r) => (w ? worse(w, r.impact) : r.impact), null)?.kind ?? null;
  const changed = summary.length > 0 || stack.terraform.length > 0 || stack.terraformSettings.length > 0;
  return {
    site: site.name,
    siteFile: site.file,
    old: { description: descriptions.old },
    new: { description: descriptions.new },
    settings,
    ...(settingsNote ? { settingsNote } : {}),
    stack,
    summary,
    impact,
    changed,
  };
}

/** Where a bundle's changes land, for the summary. */
function whereOf(b: Pick<BundleDiff, "kind" | "name">): string {
  return b.kind === "host" ? b.name : b.kind === "group" ? `group ${b.name}` : "cluster";
}

/** Joins the places of a summary row: hosts compressed to a hostlist, groups and the cluster after. */
function joinWhere(places: string[]): string {
  const hosts = places.filter((p) => !p.startsWith("group ") && p !== "cluster");
  const rest = places.filter((p) => p.startsWith("group ") || p === "cluster");
  return [...(hosts.length > 0 ? [hostsText(hosts)] : []), ...[...new Set(rest)].sort()].join(", ");
}

const KIND_ORDER: SummaryRow["kind"][] = ["setting", "file", "secret", "package", "step", "hosts"];

/** The impact summary: every change with its impact, identical changes on several hosts merged. */
export function summarize(settings: SettingChange[] | null, stack: StackDiff): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const cibChanged = stack.bundles.some((b) => b.kind === "cluster" && b.files.some((f) => f.path === "/cib.xml"));
  for (const s of settings ?? []) {
    let impact: Impact = s.impact;
    if (s.impact.cib && stack.pacemaker) impact = { kind: stack.pacemaker.impact.kind, detail: `${s.impact.detail}; ${stack.pacemaker.impact.detail}` };
    else if (s.impact.cib && !cibChanged) impact = { kind: "none", detail: `${s.impact.detail}; the CIB does not change` };
    rows.push({ impact: { kind: impact.kind, detail: impact.detail }, kind: "setting", what: settingText(s), where: "" });
  }
  const merged = new Map<string, { row: Omit<SummaryRow, "where">; places: string[] }>();
  const add = (key: string, row: Omit<SummaryRow, "where">, place: string) => {
    const entry = merged.get(key) ?? { row, places: [] };
    entry.places.push(place);
    merged.set(key, entry);
  };
  for (const b of stack.bundles) {
    const place = whereOf(b);
    if (b.hosts) {
      const parts = [...(b.hosts.added.length > 0 ? [`+${hostsText(b.hosts.added)}`] : []), ...(b.hosts.removed.length > 0 ? [`-${hostsText(b.hosts.removed)}`] : [])];
      rows.push({
        impact: { kind: "none", detail: "new hosts get the group's files at the next deploy; removed hosts keep theirs" },
        kind: "hosts",
        what: `hosts of group \`${b.name}\`: ${parts.join(" ")}`,
        where: place,
      });
    }
    for (const f of b.files) {
      const meta = [f.owner && `owner ${f.owner[0]} → ${f.owner[1]}`, f.group && `group ${f.group[0]} → ${f.group[1]}`, f.mode && `mode ${f.mode[0]} → ${f.mode[1]}`].filter(Boolean).join(", ");
      const what = `\`${f.path}\` ${f.status === "metadata" ? meta : `${f.status}${meta ? ` (${meta})` : ""}`}`;
      add(`file\0${b.kind}\0${what}\0${f.impact.kind}\0${f.impact.detail}`, { impact: f.impact, kind: "file", what }, place);
    }
    for (const s of b.secrets) {
      const what = `secret \`${s.name}\` ${s.status === "unknown" ? "not compared" : s.status}${s.notes.length > 0 ? ` (${s.notes.join("; ")})` : ""}`;
      add(`secret\0${what}\0${s.impact.kind}`, { impact: s.impact, kind: "secret", what }, place);
    }
    for (const p of b.packages) {
      const what = `package \`${p.name}\` ${p.change}${p.change === "changed" ? `: ${p.old} → ${p.new}` : ""}`;
      add(`package\0${what}`, { impact: p.impact, kind: "package", what }, place);
    }
    for (const s of b.steps) {
      const what = `step \`${s.id}\` ${s.change}: ${s.description}`;
      add(`step\0${what}\0${s.patch ?? ""}`, { impact: s.impact, kind: "step", what }, place);
    }
  }
  for (const { row, places } of merged.values()) rows.push({ ...row, where: joinWhere(places) });
  return rows
    .map((r, i) => ({ r, i }))
    .sort((a, b) => impactRank(b.r.impact.kind) - impactRank(a.r.impact.kind) || KIND_ORDER.indexOf(a.r.kind) - KIND_ORDER.indexOf(b.r.kind) || a.i - b.i)
    .map(({ r }) => r);
}

function settingText(s: SettingChange): string {
  switch (s.change) {
    case "changed":
      return `\`${s.path}\`: ${showValue(s.old)} → ${showValue(s.new)}`;
    case "renamed":
      return `\`${s.path}\` renamed: ${showValue(s.old)} → ${showValue(s.new)}`;
    case "added":
      return `\`${s.path}\` added${typeof s.new === "object" ? "" : `: ${showValue(s.new)}`}`;
    case "removed":
      return `\`${s.path}\` removed${typeof s.old === "object" ? "" : ` (was ${showValue(s.old)})`}`;
  }
}

/** Exit codes of `hpcdk diff`. */
export const DIFF_EXIT = { unchanged: 0, changed: 1, error: 2 } as const;

/** Impact classes `--fail-on` accepts. */
export const FAIL_ON_KINDS = IMPACT_KINDS.filter((k) => k !== "none");

/**
 * 0 when nothing changes, 1 when something does. With `failOn`, 1 only when some change's impact
 * is that class or worse, so CI can let small changes through and stop disruptive ones. A live
 * check with unreachable hosts (or no CIB) that found no drift gives 2: it cannot say "none".
 */
export function diffExitCode(report: DiffReport, failOn?: ImpactKind): number {
  const code = !report.changed
    ? DIFF_EXIT.unchanged
    : failOn === undefined || (report.impact !== null && impactRank(report.impact) >= impactRank(failOn))
      ? DIFF_EXIT.changed
      : DIFF_EXIT.unchanged;
  // A live check that could not reach every host cannot say "no drift": 2, unless drift was found.
  if (code === DIFF_EXIT.unchanged && (report.live?.unreachable.length ?? 0) > 0) return DIFF_EXIT.error;
  return code;
}
