/**
 * The diff report as a reviewer reads it: coloured text for a terminal, Markdown for a pull
 * request comment (impact summary table first, then one collapsible section per host), or JSON.
 * No format ever holds a secret's value or a hash of it: the report has none to give.
 */
import { planMarkdown, planText } from "../rollout/format.js";
import { createColors } from "picocolors";
import type { ImpactKind } from "../../common/contracts/impact.js";
import { hostsText, type BundleDiff, type FileDiff } from "./compare.js";
import type { DiffReport, LiveHost, LiveReport } from "./report.js";

export type DiffFormat = "text" | "markdown" | "json";

export function formatJson(report: DiffReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

const bundleTitle = (b: BundleDiff) => (b.kind === "host" ? `host ${b.name}` : b.kind === "group" ? `group ${b.name}` : "cluster");

function countText(b: BundleDiff): string {
  const parts: string[] = [];
  const n = (count: number, what: string) => count > 0 && parts.push(`${count} ${what}${count === 1 ? "" : "s"}`);
  const byStatus = (s: FileDiff["status"]) => b.files.filter((f) => f.status === s).length;
  n(byStatus("changed"), "changed file");
  n(byStatus("added"), "added file");
  n(byStatus("removed"), "removed file");
  n(byStatus("metadata"), "metadata change");
  n(b.secrets.length, "secret");
  n(b.packages.length, "package change");
  n(b.steps.length, "step change");
  return `${b.status === "changed" ? "" : `${b.status}, `}${parts.join(", ") || "hosts changed"}`;
}

// ---------------------------------------------------------------------------------------------
// Terminal

export function formatText(report: DiffReport, options: { color?: boolean } = {}): string {
  const c = createColors(options.color ?? false);
  const impactColor: Record<ImpactKind, (s: string) => string> = {
    none: c.dim,
    reload: c.cyan,
    restart: c.yellow,
    "resource-move": c.magenta,
    outage: (s) => c.bold(c.red(s)),
  };
  const paint = (kind: ImpactKind, s: string) => impactColor[kind](s);
  const plain = (s: string) => s.replace(/`/g, "");
  const out: string[] = [];
  out.push(c.bold(`hpcdk diff ${report.site}: ${report.new.description} vs ${report.old.description}`));
  // Dangerous values first: a reviewer of a pull request must not miss one.
  for (const w of report.warnings ?? []) out.push(`${c.bold(c.red(w.new === true ? "WARNING (new)" : "warning"))}: ${w.text}`);
  if (!report.changed) {
    out.push("no changes");
    if (report.live) out.push("", ...liveLines(report.live, c));
    return out.join("\n") + "\n";
  }
  out.push(report.impact ? `impact: ${paint(report.impact, report.impact.toUpperCase())}` : "impact: none (Terraform settings only)");
  if (report.summary.length > 0) {
    out.push("");
    const width = Math.max(...report.summary.map((r) => r.impact.kind.length));
    for (const r of report.summary) {
      out.push(`  ${paint(r.impact.kind, r.impact.kind.padEnd(width))}  ${plain(r.what)}${r.where ? c.dim(` on ${r.where}`) : ""}`);
      out.push(`  ${" ".repeat(width)}  ${c.dim(r.impact.detail)}`);
    }
  }
  if (report.settingsNote) out.push("", c.dim(`settings: ${report.settingsNote}`));
  for (const n of report.stack.notes) out.push(c.dim(`note: ${n}`));
  if (report.live) out.push("", ...liveLines(report.live, c));

  const pm = report.stack.pacemaker;
  if (pm) {
    out.push("", c.bold("Pacemaker (crm_simulate: the running cluster takes the new CIB)"));
    if (pm.transition.changes.length === 0 && pm.transition.fenced.length === 0) out.push("  nothing stops, starts or moves");
    for (const ch of pm.transition.changes) out.push(`  ${paint("resource-move", ch.action.padEnd(7))} ${ch.resource}${placeText(ch.from, ch.to)}`);
    if (pm.transition.fenced.length > 0) out.push(`  ${c.red("fence")}   ${pm.transition.fenced.join(", ")}`);
  }
  if (report.rollout) {
    out.push("", c.bold("Rollout (what hpcdk deploy does when the hosts hold the old side; hpcdk deploy --plan asks the hosts)"));
    out.push(...planText(report.rollout).replace(/\n$/, "").split("\n").slice(1).map((l) => (l ? `  ${l}` : l)));
  }
  if (report.stack.terraform.length > 0 || report.stack.terraformSettings.length > 0) {
    out.push("", c.bold("Terraform plan"));
    for (const t of report.stack.terraform) out.push(`  ${t.action.padEnd(7)} ${t.constructPath} ${c.dim(`(${t.address}): ${t.reason}`)}`);
    for (const k of report.stack.terraformSettings) out.push(`  changed ${k}`);
  }
  for (const b of report.stack.bundles) {
    out.push("", c.bold(`${bundleTitle(b)}: ${countText(b)}`));
    if (b.hosts) out.push(`  hosts: ${b.hosts.old} → ${b.hosts.new}`);
    for (const f of b.files) {
      out.push(`  ${c.bold(f.path)} ${f.status} ${paint(f.impact.kind, `[${f.impact.kind}]`)} ${c.dim(f.impact.detail)}`);
      for (const [what, v] of [["owner", f.owner], ["group", f.group], ["mode", f.mode]] as const) if (v) out.push(`    ${what}: ${v[0]} → ${v[1]}`);
      if (f.handlers.length > 0 && f.status !== "removed") out.push(`    ${c.dim(`deploy runs: ${f.handlers.join("; ")}`)}`);
      for (const n of f.notes) out.push(`    ${c.dim(n)}`);
      if (f.sameAs) out.push(`    ${c.dim(`same change as on ${f.sameAs}`)}`);
      else if (f.patch) out.push(...patchLines(f.patch, c).map((l) => `    ${l}`));
    }
    for (const s of b.secrets) {
      out.push(`  secret ${c.bold(s.name)} ${s.status === "changed" ? c.red("changed") : s.status} ${c.dim(s.paths.join(", "))}`);
      for (const n of s.notes) out.push(`    ${c.dim(n)}`);
    }
    for (const p of b.packages) out.push(`  package ${p.name} ${p.change}${p.change === "changed" ? `: ${p.old} → ${p.new}` : ""}`);
    for (const s of b.steps) {
      out.push(`  step ${c.bold(s.id)} ${s.change}: ${s.description}`);
      if (s.patch) out.push(...patchLines(s.patch, c).map((l) => `    ${l}`));
    }
  }
  return out.join("\n") + "\n";
}

// ---------------------------------------------------------------------------------------------
// What --live asked

const DEPLOYED_TEXT: Record<NonNullable<LiveHost["deployed"]>, string> = {
  "this synthesis": "last deployed from this synthesis",
  "another synthesis": "last deployed from another synthesis (the site changed since, or a deploy is pending)",
  none: "no complete hpcdk deploy recorded",
};

const RECORD_TEXT: Record<NonNullable<LiveReport["cib"]["record"]>, string> = {
  "as applied": "as hpcdk applied it",
  "changed since applied": "changed since hpcdk applied it",
  "never applied": "hpcdk never applied it",
};

/** Checked hosts merged by what they recorded: `lv[1-3]: last deployed from this synthesis`. */
function checkedRows(live: LiveReport): { hosts: string; text: string }[] {
  const byText = new Map<string, string[]>();
  for (const h of live.hosts.filter((h) => h.status === "checked")) {
    const text = `${h.bundle.startsWith("groups/") ? `group ${h.bundle.slice("groups/".length)}, ` : ""}${DEPLOYED_TEXT[h.deployed ?? "none"]}`;
    byText.set(text, [...(byText.get(text) ?? []), h.host]);
  }
  return [...byText].map(([text, hosts]) => ({ hosts: hostsText(hosts), text }));
}

function cibText(live: LiveReport): string {
  const cib = live.cib;
  return cib.status === "checked" ? `from ${cib.host}: ${RECORD_TEXT[cib.record!]}${cib.crmDiff ? "" : ", same configuration as the site"}` : cib.status === "unreachable" ? `UNREACHABLE: ${cib.error}` : "the site has none";
}

function liveLines(live: LiveReport, c: ReturnType<typeof createColors>): string[] {
  const out = [c.bold("hosts (over SSH, read-only)")];
  for (const r of checkedRows(live)) out.push(`  checked      ${r.hosts}: ${r.text}`);
  for (const h of live.hosts.filter((h) => h.status === "unreachable")) out.push(`  ${c.red("UNREACHABLE")}  ${h.host}: ${h.error}`);
  for (const n of live.notChecked) out.push(`  not checked  group ${n.group}: ${n.hosts} ${c.dim("(--live-hosts chooses)")}`);
  out.push(`  CIB          ${cib(live, c)}`);
  if (live.cib.crmDiff) out.push(`    ${c.dim("crm_diff, live → site:")}`, ...live.cib.crmDiff.replace(/\n$/, "").split("\n").map((l) => `      ${l}`));
  return out;
}

function cib(live: LiveReport, c: ReturnType<typeof createColors>): string {
  return live.cib.status === "unreachable" ? c.red(cibText(live)) : cibText(live);
}

function liveMarkdown(live: LiveReport): string[] {
  const out = ["#### Hosts (over SSH, read-only)", "", "| hosts | checked |", "| --- | --- |"];
  for (const r of checkedRows(live)) out.push(`| \`${r.hosts}\` | ${cell(r.text)} |`);
  for (const h of live.hosts.filter((h) => h.status === "unreachable")) out.push(`| \`${h.host}\` | **unreachable**: ${cell(h.error ?? "")} |`);
  for (const n of live.notChecked) out.push(`| \`${n.hosts}\` | not checked (group ${n.group}; \`--live-hosts\` chooses) |`);
  out.push(`| CIB | ${live.cib.status === "unreachable" ? "**unreachable**: " : ""}${cell(live.cib.status === "unreachable" ? (live.cib.error ?? "") : cibText(live))} |`, "");
  if (live.cib.crmDiff) out.push("<details><summary>crm_diff, live → site</summary>", "", fence("xml", live.cib.crmDiff), "", "</details>", "");
  return out;
}

function placeText(from: string[], to: string[]): string {
  if (from.length > 0 && to.length > 0 && from.join() !== to.join()) return ` ${from.join("+")} → ${to.join("+")}`;
  const on = to.length > 0 ? to : from;
  return on.length > 0 ? ` on ${on.join("+")}` : "";
}

function patchLines(patch: string, c: ReturnType<typeof createColors>): string[] {
  return patch
    .replace(/\n$/, "")
    .split("\n")
    .map((l) => (l.startsWith("@@") ? c.cyan(l) : l.startsWith("+") ? c.green(l) : l.startsWith("-") ? c.red(l) : l));
}

// ---------------------------------------------------------------------------------------------
// Markdown (a pull-request comment)

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** A fenced block that no backtick run inside the content can close. */
function fence(lang: string, body: string): string {
  const longest = Math.max(2, ...(body.match(/`+/g) ?? []).map((m) => m.length));
  const ticks = "`".repeat(longest + 1);
  return `${ticks}${lang}\n${body.replace(/\n?$/, "\n")}${ticks}`;
}

export function formatMarkdown(report: DiffReport): string {
  const out: string[] = [];
  out.push(`### hpcdk diff: \`${report.site}\``);
  out.push("");
  out.push(`${report.new.description} compared with ${report.old.description}.`);
  out.push("");
  for (const w of report.warnings ?? []) out.push(`> **${w.new === true ? "Warning (new in this change)" : "Warning"}:** ${cell(w.text)}`, "");
  if (!report.changed) {
    out.push("**No changes.**");
    if (report.live) out.push("", ...liveMarkdown(report.live));
    return out.join("\n").replace(/\n+$/, "\n");
  }
  out.push(`**Impact: ${report.impact ?? "none"}**`);
  out.push("");
  if (report.summary.length > 0) {
    out.push("| impact | change | where | what happens |", "| --- | --- | --- | --- |");
    for (const r of report.summary) out.push(`| **${r.impact.kind}** | ${cell(r.what)} | ${cell(r.where) || "site"} | ${cell(r.impact.detail)} |`);
    out.push("");
  }
  if (report.settingsNote) out.push(`Settings: ${report.settingsNote}.`, "");
  for (const n of report.stack.notes) out.push(`Note: ${n}.`, "");
  if (report.live) out.push(...liveMarkdown(report.live));

  const pm = report.stack.pacemaker;
  if (pm) {
    out.push("#### Pacemaker", "");
    out.push("What the running cluster does when it takes the new CIB (crm_simulate on the old CIB's steady state with the new configuration):", "");
    if (pm.transition.changes.length === 0 && pm.transition.fenced.length === 0) {
      out.push("Nothing stops, starts or moves.", "");
    } else {
      out.push("| resource | action | from | to |", "| --- | --- | --- | --- |");
      for (const ch of pm.transition.changes) out.push(`| \`${ch.resource}\` | ${ch.action} | ${ch.from.join(", ")} | ${ch.to.join(", ")} |`);
      for (const n of pm.transition.fenced) out.push(`| node \`${n}\` | **fenced** | | |`);
      out.push("");
    }
  }
  if (report.rollout) {
    out.push("#### Rollout", "", "What `hpcdk deploy` does when the hosts hold the old side (`hpcdk deploy --plan` asks the hosts).", "");
    out.push(...planMarkdown(report.rollout).replace(/\n$/, "").split("\n").slice(2), "");
  }
  if (report.stack.terraform.length > 0 || report.stack.terraformSettings.length > 0) {
    out.push("#### Terraform plan", "", "| resource | action | why |", "| --- | --- | --- |");
    for (const t of report.stack.terraform) out.push(`| \`${t.constructPath}\` | ${t.action} | ${cell(t.reason)} |`);
    for (const k of report.stack.terraformSettings) out.push(`| \`${k}\` | update | Terraform settings changed |`);
    out.push("");
  }
  for (const b of report.stack.bundles) {
    out.push(`<details><summary><b>${bundleTitle(b)}</b>: ${countText(b)}</summary>`, "");
    if (b.hosts) out.push(`Hosts: \`${b.hosts.old}\` → \`${b.hosts.new}\``, "");
    for (const f of b.files) {
      const meta = [["owner", f.owner], ["group", f.group], ["mode", f.mode]]
        .filter(([, v]) => v)
        .map(([what, v]) => `${what} ${(v as readonly string[])[0]} → ${(v as readonly string[])[1]}`);
      out.push(`**\`${f.path}\`** ${f.status}${meta.length > 0 ? ` (${meta.join(", ")})` : ""} · **${f.impact.kind}**: ${f.impact.detail}${f.handlers.length > 0 && f.status !== "removed" ? ` · the deploy runs ${f.handlers.map((h) => `\`${h}\``).join(", ")}` : ""}`);
      out.push("");
      for (const n of f.notes) out.push(`- ${n}`);
      if (f.notes.length > 0) out.push("");
      if (f.sameAs) out.push(`Same change as on ${f.sameAs}.`, "");
      else if (f.patch) out.push(fence("diff", f.patch), "");
    }
    for (const s of b.secrets) {
      out.push(`Secret \`${s.name}\` (${s.paths.map((p) => `\`${p}\``).join(", ")}): **${s.status === "unknown" ? "not compared" : s.status}**${s.notes.length > 0 ? ` — ${s.notes.join("; ")}` : ""}`, "");
    }
    for (const p of b.packages) out.push(`Package \`${p.name}\` ${p.change}${p.change === "changed" ? `: ${p.old} → ${p.new}` : ""}`, "");
    for (const s of b.steps) {
      out.push(`Step \`${s.id}\` ${s.change}: ${s.description}`, "");
      if (s.patch) out.push(fence("diff", s.patch), "");
    }
    out.push("</details>", "");
  }
  return out.join("\n").replace(/\n+$/, "\n");
}
