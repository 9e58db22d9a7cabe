/**
 * What `hpcdk diff` reports, whatever it compared (two syntheses, a directory of rendered files,
 * or the hosts themselves with `--live`): the changed settings, per bundle the files, secrets,
 * packages and steps that change with each one's declared impact, what Pacemaker does, the
 * Terraform resources a plan replaces, the impact summary, and the exit code.
 */
import { IMPACT_KINDS, type Impact, type ImpactKind } from "../../common/contracts/impact.js";
import { hostsText, impactRank, worse, type BundleDiff, type StackDiff } from "./compare.js";
import type { RolloutPlan } from "../rollout/plan.js";
import { showValue, type SettingChange } from "./settings.js";

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
  /** The rollout `hpcdk deploy` would follow from the old side to the new (two syntheses only). */
  readonly rollout?: RolloutPlan;
  /**
   * Dangerous values of the new site (exports to everyone with no_root_squash, an API open to
   * the world, ...: schema/rules.ts siteWarnings), each flagged `new` when the old site did not
   * have it (null: the other side has no site to compare, a directory of rendered files).
   */
  readonly warnings?: readonly SiteWarning[];
}

/** A warning of the new site, and whether the change brings it. */
export interface SiteWarning {
  readonly text: string;
  readonly new: boolean | null;
}

/** The new site's warnings, each flagged new unless the old site had it too (null: no old site known). */
export function warningsOf(next: readonly string[], old: readonly string[] | null): SiteWarning[] {
  const before = new Set(old ?? []);
  return next.map((text) => ({ text, new: old === null ? null : !before.has(text) }));
}

/** What one host said, or why it said nothing. */
export interface LiveHost {
  readonly host: string;
  /** The bundle checked on it: `hosts/<host>`, or `groups/<group>` for a host of a node group. */
  readonly bundle: string;
  readonly status: "checked" | "unreachable";
  /** The SSH error of an unreachable host. */
  readonly error?: string;
  /**
   * The host's record of its last complete deploy of the bundle: `this synthesis` (so every
   * difference happened on the host since), `another synthesis` (the site changed since, or a
   * deploy is pending), or `none`.
   */
  readonly deployed?: "this synthesis" | "another synthesis" | "none";
}

export interface LiveCib {
  readonly status: "checked" | "unreachable" | "not in the site";
  /** The management node the CIB came from. */
  readonly host?: string;
  readonly error?: string;
  /**
   * hpcdk's record in the CIB: `as applied` (the configuration is what the last deploy left),
   * `changed since applied` (someone changed it; a deploy refuses to replace it without --force),
   * `never applied`.
   */
  readonly record?: "as applied" | "changed since applied" | "never applied";
  /** crm_diff's patch from the live configuration to the site's; "" when they are the same. */
  readonly crmDiff?: string;
}

export interface LiveReport {
  /** Every host asked, by bundle then host. */
  readonly hosts: LiveHost[];
  /** Hosts of node groups that were not asked (`--live-hosts` chooses). */
  readonly notChecked: { readonly group: string; readonly hosts: string }[];
  readonly cib: LiveCib;
  /** Hosts (and `cluster` for the CIB) that could not be checked: the report cannot say "no drift" for them. */
  readonly unreachable: string[];
}

/** A report from what was compared: the summary, the worst impact and whether anything changes follow from it. */
export function reportOf(fields: Omit<DiffReport, "summary" | "impact" | "changed" | "live">, live?: LiveReport): DiffReport {
  const { site, siteFile, old, new: next, settings, settingsNote, stack, warnings } = fields;
  const summary = summarize(settings, stack);
  const impact = summary.reduce<Impact | null>((w, r) => (w ? worse(w, r.impact) : r.impact), null)?.kind ?? null;
  const changed = summary.length > 0 || stack.terraform.length > 0 || stack.terraformSettings.length > 0;
  return { site, siteFile, old, new: next, settings, ...(settingsNote !== undefined ? { settingsNote } : {}), stack, summary, impact, changed, ...(live ? { live } : {}), ...(warnings && warnings.length > 0 ? { warnings } : {}) };
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
