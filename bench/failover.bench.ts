/**
 * Issue 4: five power-off drills on the three-node lab site with its tuned failover settings
 * (sites/minilab.yaml: corosync token 1 s, fence_powerman delay 0 / power_wait 1, NFSv4 lease
 * and grace 10 s, monitors every 5 s): seconds from the fault to the node fenced, to NFS reads
 * and to NFS writes through the floating IP, and whether any data was lost.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { labDown } from "../operations/lab/lab.js";
import type { DrillReport } from "../operations/drill.js";
import { ROOT, RUNS, type Row } from "./harness.js";
import { deploy, labProject, labSiteYaml, requireRoot } from "./lab-bench.js";

export const title = "Failover drills (power-off) in the namespace lab";

const SITE = "bench-failover";

export async function run(): Promise<Row[]> {
  requireRoot("failover");
  const p = await labProject(SITE, labSiteYaml(SITE, 35, 3));
  let reports: DrillReport[];
  try {
    deploy(p);
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "cli/bin/hpcdk.js"), "drill", SITE, "--mode", "power-off", "--repeat", String(RUNS), "--out", p.out, "--inventory", p.lab.inventoryFile, "--report-dir", join(p.dir, "reports"), "--json"],
      { cwd: p.dir, encoding: "utf8", timeout: RUNS * 300_000 },
    );
    if (!r.stdout.trim().startsWith("{")) throw new Error(`hpcdk drill failed (exit ${r.status}): ${r.stderr}`);
    reports = (JSON.parse(r.stdout) as { reports: DrillReport[] }).reports;
  } finally {
    await labDown(SITE);
  }
  const failed = reports.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new Error(`bench/failover: ${failed.length} of ${reports.length} drills failed: ${failed.map((r) => r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`).join("; ")).join(" | ")}`);
  }
  const secs = (pick: (r: DrillReport) => number | undefined) => reports.map((r) => pick(r) ?? Number.POSITIVE_INFINITY);
  return [
    { what: "node lost (corosync membership)", values: secs((r) => r.metrics.nodeLostSec), unit: "s" },
    { what: "node fenced (fence_powerman confirmed)", values: secs((r) => r.metrics.fencedSec), unit: "s" },
    { what: "NFS group started on the survivor", values: secs((r) => r.metrics.resourcesStartedSec), unit: "s" },
    { what: "NFS reads back through the floating IP", values: secs((r) => r.metrics.readsBackSec), unit: "s", target: "≤ 7 s", limit: 7.05 },
    { what: "NFS writes back through the floating IP", values: secs((r) => r.metrics.writesBackSec), unit: "s", target: "≤ 15 s", limit: 15.05 },
    { what: "fenced node rejoined (powered on, back in the cluster)", values: secs((r) => r.metrics.rejoinedSec), unit: "s" },
    { what: "drills with data lost (file written before the fault, sha256 after)", values: [reports.filter((r) => !r.checks.find((c) => c.name === "no data lost")?.ok).length], unit: "", target: "0", limit: 1 },
  ];
}
