/**
 * Issue 16: power-off drills of the tuned lab site (sites/minilab.yaml: corosync token 1 s,
 * fence_powerman delay 0 / power_wait 1, NFSv4 lease and grace 10 s, monitors every 5 s, MMP
 * 0.5 s x 5 fail intervals: a 5 s import wait W), each with NFSv3 and NFSv4 clients, an NFSv4
 * lock holder (so ganesha holds its grace period) and a steady writer whose acknowledged writes
 * must read back. Four series, each in a fresh lab, so the cost of each safety layer shows:
 *
 * - mmp: as the site renders it (the pool import waits W for MMP's activity check);
 * - no-mmp: the same with the pools' multihost off (the import does not wait);
 * - grace-20: MMP on, NFSv4 grace 20 s instead of 10 (the lease stays 10 s): what each second of
 *   grace costs NFSv4 clients;
 * - grace-5: MMP on, NFSv4 lease and grace 5 s (ganesha's floor in the site schema; the kernel
 *   server's is 10 s): what the shortest grace the site can render gives, at the price of
 *   clients that lose their state when silent for 5 s.
 *
 * Per protocol and per phase rows; the targets (W + 7 s NFSv3 reads, W + 15 s NFSv4 reads and
 * writes, 0 acknowledged writes lost) apply to the mmp series. Every series runs and every drill
 * is reported even when one fails (each drill is its own `hpcdk drill`); a drill that fails a
 * check, in any series, fails the bench after all have run. `BENCH_FAILOVER_SERIES=mmp` runs one
 * series only. Needs root, like the lab.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { labDown, type LabOptions } from "../operations/lab/lab.js";
import type { DrillReport } from "../operations/drill.js";
import { mmpImportWaitSec } from "../schema/multihost.js";
import { loadSiteFile } from "../schema/load.js";
import { ROOT, RUNS, type Row } from "./harness.js";
import { deploy, labProject, labSiteYaml, requireRoot } from "./lab-bench.js";

export const title = "Failover drills (power-off) in the namespace lab: per protocol, per phase, MMP on and off";

const SITE = "bench-failover";

interface Series {
  readonly name: string;
  readonly what: string;
  readonly yaml: (text: string) => string;
  readonly lab: LabOptions;
  readonly targets: boolean;
}

const SERIES: Series[] = [
  { name: "mmp", what: "MMP on (W as the site renders it)", yaml: (t) => t, lab: {}, targets: true },
  { name: "no-mmp", what: "MMP off (multihost=off)", yaml: (t) => t, lab: { multihost: false }, targets: false },
  { name: "grace-20", what: "MMP on, NFSv4 grace 20 s", yaml: (t) => t.replace("v4GraceSec: 10 ", "v4GraceSec: 20 "), lab: {}, targets: false },
  { name: "grace-5", what: "MMP on, NFSv4 lease and grace 5 s", yaml: (t) => t.replace("v4LeaseSec: 10 ", "v4LeaseSec: 5 ").replace("v4GraceSec: 10 ", "v4GraceSec: 5 "), lab: {}, targets: false },
];

/** One series: a fresh lab, the site deployed, RUNS power-off drills, each its own `hpcdk drill` (one that fails or hangs loses only itself). */
async function drills(series: Series): Promise<{ reports: DrillReport[]; failures: string[]; w: number }> {
  const yaml = series.yaml(labSiteYaml(SITE, 35, 3));
  const failures: string[] = [];
  const reports: DrillReport[] = [];
  let w = Number.NaN;
  try {
    const p = await labProject(SITE, yaml, series.lab);
    w = mmpImportWaitSec(loadSiteFile(p.siteFile).spec.storage.multihost);
    deploy(p);
    for (let i = 1; i <= RUNS; i++) {
      const r = spawnSync(
        process.execPath,
        [join(ROOT, "cli/bin/hpcdk.js"), "drill", SITE, "--mode", "power-off", "--out", p.out, "--inventory", p.lab.inventoryFile, "--report-dir", join(p.dir, "reports"), "--json"],
        { cwd: p.dir, encoding: "utf8", timeout: 600_000 },
      );
      if (!r.stdout.trim().startsWith("{")) {
        failures.push(`drill ${i}: no report (exit ${r.status}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
        continue;
      }
      const report = JSON.parse(r.stdout) as DrillReport;
      reports.push(report);
      // A drill fails on a missed check (fencing, placement, data, the lock); the timing targets are the bench's rows.
      const bad = report.checks.filter((c) => !c.ok && !c.name.startsWith("target "));
      if (bad.length > 0) failures.push(`drill ${i}: ${bad.map((c) => `${c.name}: ${c.detail}`).join("; ")}`);
    }
  } catch (e) {
    failures.push(`the series could not run: ${(e as Error).message}`);
  } finally {
    await labDown(SITE);
  }
  for (const f of failures) process.stderr.write(`bench/failover (${series.name}): ${f}\n`);
  return { reports, failures, w };
}

export async function run(): Promise<Row[]> {
  requireRoot("failover");
  const wanted = (process.env.BENCH_FAILOVER_SERIES ?? "mmp,no-mmp,grace-20,grace-5").split(",");
  const rows: Row[] = [];
  for (const series of SERIES.filter((s) => wanted.includes(s.name))) {
    const { reports, failures, w } = await drills(series);
    // Every series runs and is reported; a failed drill fails the bench (the runner exits 1).
    rows.push({ what: `${series.name}: drills that failed a check or gave no report (of ${RUNS})`, values: [failures.length], unit: "", target: "0", limit: 1, limitOf: "max" });
    if (reports.length === 0) continue;
    const secs = (pick: (r: DrillReport) => number | undefined) => reports.map((r) => pick(r) ?? Number.POSITIVE_INFINITY);
    const t = (limit: number, text: string) => (series.targets ? { target: text, limit: limit + 0.05 } : {});
    const label = (what: string) => `${series.name}: ${what}`;
    rows.push(
      { what: label("membership lost"), values: secs((r) => r.metrics.phases["membership-lost"]), unit: "s" },
      { what: label("fence confirmed"), values: secs((r) => r.metrics.phases["fence-confirmed"]), unit: "s" },
      ...(series.lab.multihost === false ? [] : [{ what: label(`MMP activity check (W = ${w} s)`), values: secs((r) => r.metrics.mmpWaitSec), unit: "s" }]),
      { what: label("pool imported"), values: secs((r) => r.metrics.phases["pool-imported"]), unit: "s" },
      { what: label("NFS server up"), values: secs((r) => r.metrics.phases["nfs-server-up"]), unit: "s" },
      { what: label("floating IP up"), values: secs((r) => r.metrics.phases["ip-up"]), unit: "s" },
      { what: label("grace ended"), values: secs((r) => r.metrics.phases["grace-ended"]), unit: "s" },
      { what: label("NFSv3 reads back"), values: secs((r) => r.metrics.protocols.nfs3?.readBackSec), unit: "s", ...t(w + 7, `≤ W + 7 s = ${w + 7} s`) },
      { what: label("NFSv3 writes back"), values: secs((r) => r.metrics.protocols.nfs3?.writeBackSec), unit: "s" },
      { what: label("NFSv4 reads back"), values: secs((r) => r.metrics.protocols.nfs4?.readBackSec), unit: "s", ...t(w + 15, `≤ W + 15 s = ${w + 15} s`) },
      { what: label("NFSv4 writes back"), values: secs((r) => r.metrics.protocols.nfs4?.writeBackSec), unit: "s", ...t(w + 15, `≤ W + 15 s = ${w + 15} s`) },
      { what: label("NFSv4 lock reclaimed"), values: secs((r) => r.lock.reclaimedSec), unit: "s" },
      { what: label("node rejoined"), values: secs((r) => r.metrics.rejoinedSec), unit: "s" },
      { what: label("acknowledged writes lost (all drills)"), values: [reports.reduce((n, r) => n + r.dataLoss.lost, 0)], unit: "", ...(series.targets ? { target: "0", limit: 1 } : {}) },
    );
  }
  return rows;
}
