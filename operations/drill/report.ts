/** A drill's report as Markdown and as an HTML page whose SVG draws the phases and the outages. */
import { describeExpectation } from "./expect.js";
import { PROTOCOLS, type DrillReport, type PhaseName } from "./types.js";

const s1 = (v?: number) => (v === undefined ? "—" : `${v} s`);

/** The phases in the order they happen, with their names in the report. */
export const PHASE_ROWS: readonly [PhaseName, string][] = [
  ["power-cut", "power cut (by the power switch's own log)"],
  ["membership-lost", "membership lost"],
  ["fence-confirmed", "fence confirmed"],
  ["mmp-wait", "MMP activity check ended"],
  ["pool-imported", "pool imported"],
  ["nfs-server-up", "NFS server up"],
  ["grace-started", "grace started"],
  ["ip-up", "floating IP up"],
  ["grace-ended", "grace ended"],
  ["nfs3-read-back", "NFSv3 reads back"],
  ["nfs3-write-back", "NFSv3 writes back"],
  ["nfs4-read-back", "NFSv4 reads back"],
  ["nfs4-write-back", "NFSv4 writes back"],
  ["lock-reclaimed", "NFSv4 lock reclaimed"],
  ["node-rejoined", "node rejoined"],
];

export function drillMarkdown(r: DrillReport): string {
  const title = r.mode === "plan" ? `fault plan ${r.plan?.name}` : `${r.mode} of ${r.node}`;
  const lines = [
    `# Failover drill: ${title} (${r.site}, group ${r.group})`,
    "",
    `**Verdict: ${r.ok ? "PASSED" : "FAILED"}** — watched from ${r.survivor}, started ${r.startedAt}.`,
    "",
    "| check | result | detail |",
    "| --- | --- | --- |",
    ...r.checks.map((c) => `| ${c.name} | ${c.ok ? "ok" : "FAILED"} | ${c.detail} |`),
    "",
    "## Per protocol (seconds after the fault)",
    "",
    "| protocol | reads back | writes back | read outage | write outage |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...PROTOCOLS.filter((p) => r.metrics.protocols[p]).map((p) => {
      const m = r.metrics.protocols[p]!;
      return `| ${p === "nfs3" ? "NFSv3" : "NFSv4"} | ${s1(m.readBackSec)} | ${s1(m.writeBackSec)} | ${m.readOutageSec} s | ${m.writeOutageSec} s |`;
    }),
    "",
    `NFSv4 lock: **${r.lock.state}** — ${r.lock.detail}.`,
    "",
    `Acknowledged stable writes: ${r.dataLoss.acknowledged}, lost: **${r.dataLoss.lost}**${r.dataLoss.lost > 0 ? ` (records ${r.dataLoss.lostRecords.slice(0, 20).join(", ")}${r.dataLoss.lostRecords.length > 20 ? ", …" : ""})` : ""}. ${r.dataLoss.detail}`,
    "",
    "## Phases (seconds after the fault)",
    "",
    "| phase | s |",
    "| --- | ---: |",
    ...PHASE_ROWS.filter(([p]) => r.metrics.phases[p] !== undefined).map(([p, name]) => `| ${name} | ${r.metrics.phases[p]} |`),
    "",
    `MMP activity check: ${r.metrics.mmpWaitSec === undefined ? "not measured" : `${r.metrics.mmpWaitSec} s`} (the site's settings give ${r.metrics.mmpModelSec} s).${r.metrics.graceSec !== undefined ? ` Grace period: ${r.metrics.graceSec} s at most.` : ""}`,
    "",
    ...(r.expectations.length > 0
      ? ["## Targets", "", "| target | result |", "| --- | --- |", ...r.expectations.map((e) => `| ${e.text} | ${e.ok ? "ok" : "MISSED"}: ${describeExpectation(e, r.metrics.mmpModelSec)} |`), ""]
      : []),
    ...(r.plan
      ? [
          `## Fault plan ${r.plan.name}`,
          "",
          r.plan.description,
          "",
          "| fault | window (ms) | applied | note |",
          "| --- | --- | --- | --- |",
          ...r.plan.applied.map((a) => `| ${a.fault.type} ${a.fault.link ? `${a.fault.link} link` : `${a.fault.from ?? a.fault.node} → ${a.fault.to ?? ""}`}${a.fault.ratio !== undefined ? ` ${a.fault.ratio * 100}%` : ""} | ${a.fault.startMs}–${a.fault.endMs} | ${a.startedMs !== undefined ? `${a.startedMs}–${a.endedMs ?? "?"}` : "no"} | ${a.note ?? ""} |`),
          "",
          `Fenced: ${r.plan.fenced.join(", ") || "nobody"} (expected: ${r.plan.expectedFenced.join(", ") || "nobody"}); the group ${r.plan.groupMoved ? "moved" : "stayed"}; the longest stall ${r.plan.longestStallSec} s.`,
          "",
        ]
      : []),
    "## Timeline (seconds after the fault)",
    "",
    "| s | event | source |",
    "| ---: | --- | --- |",
    ...r.timeline.map((e) => `| ${(e.atMs / 1000).toFixed(1)} | ${e.what} | ${e.source ?? ""} |`),
    "",
    `Read outage ${r.metrics.readOutageSec} s, write outage ${r.metrics.writeOutageSec} s (the later protocol).`,
    "",
    "## pcs status before",
    "",
    "```",
    r.before.pcsStatus.trim(),
    "```",
    "",
    "## pcs status after",
    "",
    "```",
    r.after.pcsStatus.trim(),
    "```",
    "",
  ];
  return lines.join("\n");
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * An HTML page with an SVG timeline: every event as a dot on the time axis, the spans (the pool
 * import and the MMP wait inside it, the NFS server's start, grace) as bars in a lane of their
 * own, and each protocol's read and write outage.
 */
export function drillHtml(r: DrillReport): string {
  const spans: { label: string; from: number; to: number; color: string }[] = [];
  for (const e of r.timeline) if (e.fromMs !== undefined) spans.push({ label: e.what, from: e.fromMs, to: e.atMs, color: e.phase === "mmp-wait" ? "#8e44ad" : "#2980b9" });
  const gs = r.timeline.find((e) => e.phase === "grace-started");
  const ge = r.timeline.find((e) => e.phase === "grace-ended");
  if (gs) spans.push({ label: "grace period", from: gs.atMs, to: ge?.atMs ?? gs.atMs + (r.metrics.graceSec ?? 0) * 1000, color: "#f1c40f" });
  const outages: { label: string; back?: number; outage: number }[] = PROTOCOLS.filter((p) => r.metrics.protocols[p]).flatMap((p) => {
    const m = r.metrics.protocols[p]!;
    const name = p === "nfs3" ? "NFSv3" : "NFSv4";
    return [
      { label: `${name} reads`, back: m.readBackSec === undefined ? undefined : m.readBackSec * 1000, outage: m.readOutageSec },
      { label: `${name} writes`, back: m.writeBackSec === undefined ? undefined : m.writeBackSec * 1000, outage: m.writeOutageSec },
    ];
  });
  const end = Math.max(1000, ...r.timeline.map((e) => e.atMs), ...spans.map((s) => s.to)) * 1.08;
  const width = 960;
  const left = 130;
  const x = (ms: number) => left + (Math.max(0, ms) / end) * (width - left - 40);
  const rows = r.timeline.map((e, i) => {
    const y = 90 + i * 20;
    const color = e.what.startsWith("fault") ? "#c0392b" : e.phase ? "#16a085" : "#2c3e50";
    return `<line x1="${x(e.atMs)}" y1="60" x2="${x(e.atMs)}" y2="${y - 4}" stroke="#999" stroke-dasharray="2,2"/><circle cx="${x(e.atMs)}" cy="60" r="4" fill="${color}"/><text x="${x(e.atMs) + 6}" y="${y}" font-size="12">${(e.atMs / 1000).toFixed(1)} s — ${escapeHtml(e.what)}</text>`;
  });
  let y = 100 + r.timeline.length * 20;
  const lane = (label: string, body: string) => {
    const out = `<text x="0" y="${y + 10}" font-size="11">${escapeHtml(label)}</text>${body}`;
    y += 18;
    return out;
  };
  const spanRows = spans.map((s) => lane(s.label.length > 20 ? `${s.label.slice(0, 19)}…` : s.label, `<rect x="${x(s.from)}" y="${y}" width="${Math.max(2, x(s.to) - x(s.from))}" height="12" fill="${s.color}"><title>${escapeHtml(s.label)}: ${(s.from / 1000).toFixed(1)}–${(s.to / 1000).toFixed(1)} s</title></rect>`));
  const outageRows = outages.map((o) =>
    o.outage > 0
      ? lane(o.label, `<rect x="${x((o.back ?? end) - o.outage * 1000)}" y="${y}" width="${Math.max(2, x(o.back ?? end) - x((o.back ?? end) - o.outage * 1000))}" height="12" fill="#e67e22"><title>${escapeHtml(o.label)} down ${o.outage} s</title></rect>`)
      : lane(`${o.label}: no outage`, ""),
  );
  const height = y + 20;
  const ticks = Array.from({ length: 11 }, (_, i) => (i * end) / 10).map(
    (ms) => `<line x1="${x(ms)}" y1="56" x2="${x(ms)}" y2="64" stroke="#333"/><text x="${x(ms) - 8}" y="50" font-size="10">${(ms / 1000).toFixed(0)}</text>`,
  );
  const title = r.mode === "plan" ? `fault plan ${r.plan?.name}` : `${r.mode} of ${r.node}`;
  const phaseTable = PHASE_ROWS.filter(([p]) => r.metrics.phases[p] !== undefined)
    .map(([p, name]) => `<tr><td>${escapeHtml(name)}</td><td>${r.metrics.phases[p]} s</td></tr>`)
    .join("\n");
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Drill ${escapeHtml(title)} — ${escapeHtml(r.site)} ${escapeHtml(r.group)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1040px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}.ok{color:#27ae60}.bad{color:#c0392b}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body>
<h1>Failover drill: ${escapeHtml(title)}, group ${escapeHtml(r.group)} <span class="${r.ok ? "ok" : "bad"}">${r.ok ? "PASSED" : "FAILED"}</span></h1>
<p>Site ${escapeHtml(r.site)}, watched from ${escapeHtml(r.survivor)}, started ${escapeHtml(r.startedAt)}. NFSv4 lock: ${escapeHtml(r.lock.state)}. Acknowledged writes lost: ${r.dataLoss.lost} of ${r.dataLoss.acknowledged}.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 20}" viewBox="0 0 ${width} ${height + 20}" role="img" aria-label="timeline">
<line x1="${left}" y1="60" x2="${width - 40}" y2="60" stroke="#333"/>${ticks.join("")}<text x="${width - 80}" y="40" font-size="11">seconds</text>
${rows.join("\n")}
${spanRows.join("\n")}
${outageRows.join("\n")}
</svg>
<table><tr><th>phase</th><th>after the fault</th></tr>
${phaseTable}
</table>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
${r.checks.map((c) => `<tr><td>${escapeHtml(c.name)}</td><td class="${c.ok ? "ok" : "bad"}">${c.ok ? "ok" : "FAILED"}</td><td>${escapeHtml(c.detail)}</td></tr>`).join("\n")}
</table>
<h2>pcs status before</h2><pre>${escapeHtml(r.before.pcsStatus)}</pre>
<h2>pcs status after</h2><pre>${escapeHtml(r.after.pcsStatus)}</pre>
</body></html>
`;
}

/** min, median and max of numbers (undefined values left out). */
export function spread(values: (number | undefined)[]): { min?: number; median?: number; max?: number; n: number } {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0 };
  return { min: v[0], median: v[Math.floor((v.length - 1) / 2)], max: v[v.length - 1], n: v.length };
}
