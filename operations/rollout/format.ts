/**
 * The rollout plan as text (a terminal), Markdown (a pull request) or JSON (tools), like the
 * other reports. Host-provided text never reaches here unescaped: the plan holds host names,
 * paths and package versions hpcdk itself validated, and the hosts' errors as `hostText` gave them.
 */
import type { RolloutPlan, Wave } from "./plan.js";

const STRATEGY: Record<string, string> = {
  files: "files only",
  maintenance: "maintenance (cluster stack restarts under running resources)",
  standby: "standby (groups move away and back)",
};

function title(w: Wave): string {
  const what =
    w.kind === "rolling" ? `rolling, ${STRATEGY[w.strategy!]}` : w.kind === "together" ? "cluster-wide, together" : w.kind === "cib" ? "CIB" : w.kind === "group" ? "node group" : w.kind === "slurm" ? "Slurm, once every host has its files" : w.kind === "first" ? "first deploy" : w.kind;
  return `wave ${w.index}: ${what}: ${w.hosts.join(", ") || "-"}`;
}

export function planText(plan: RolloutPlan): string {
  const out: string[] = [`rollout plan for ${plan.site} (at most ${plan.maxUnavailable} management node${plan.maxUnavailable === 1 ? "" : "s"} down at once)`];
  if (plan.upToDate) out.push("every host holds this synthesis: nothing to do");
  for (const w of plan.waves) {
    out.push("", title(w));
    for (const a of w.actions) out.push(`  - ${a}`);
    out.push(`  NFS: ${w.nfs}`);
    for (const r of w.reasons) out.push(`  because ${r}`);
  }
  if (plan.outages.length > 0) out.push("", `needs an outage: ${plan.outages.map((o) => o.setting).join(", ")} (refused without --allow-outage)`);
  for (const u of plan.unreachable) out.push("", `${u.host}: did not answer (${u.error}): the plan cannot say what it needs`);
  return out.join("\n") + "\n";
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/\n/g, " ");

export function planMarkdown(plan: RolloutPlan): string {
  const out = [`### Rollout plan: ${plan.site}`, ""];
  if (plan.upToDate) return out.concat("Every host holds this synthesis: nothing to do.", "").join("\n") + "\n";
  out.push(`At most ${plan.maxUnavailable} management node(s) down at once.`, "");
  out.push("| wave | kind | hosts | strategy | does | NFS interruption |", "| --- | --- | --- | --- | --- | --- |");
  for (const w of plan.waves) {
    out.push(`| ${w.index} | ${w.kind} | ${cell(w.hosts.join(", ") || "-")} | ${w.strategy ?? "-"} | ${cell(w.actions.join("; "))} | ${cell(w.nfs)} |`);
  }
  const reasons = plan.waves.filter((w) => w.reasons.length > 0);
  if (reasons.length > 0) {
    out.push("", "<details><summary>Why</summary>", "");
    for (const w of reasons) for (const r of w.reasons) out.push(`- wave ${w.index}: ${cell(r)}`);
    out.push("", "</details>");
  }
  if (plan.outages.length > 0) {
    out.push("", `**Needs an outage** (refused without \`--allow-outage\`): ${plan.outages.map((o) => `\`${o.setting}\``).join(", ")}`);
  }
  for (const u of plan.unreachable) out.push("", `- ${u.host}: did not answer (${cell(u.error)})`);
  return out.join("\n") + "\n";
}

export function planJson(plan: RolloutPlan): string {
  return JSON.stringify(plan, null, 2) + "\n";
}
