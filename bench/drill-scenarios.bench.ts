/**
 * The drill scenarios the suite leaves out (test/lab/drill.test.ts keeps one representative drill
 * of each kind: power-off with both protocols, the lock and the MMP wait; the async export losing
 * acknowledged writes; the cluster-loss-30 fault plan). Here, in one fresh namespace lab of the
 * example lab site (sites/minilab.yaml on its own network), one after the other:
 *
 * - kill: the holder dies unannounced, the cluster (not the drill) fences it with a reboot (the
 *   lab's nodes take BOOT_SEC to boot after the power switch turns them on, as servers do);
 * - link-down: the holder's cluster link goes down, the cluster fences it and only it;
 * - standby: the group moves away without fencing anybody, the node comes out of standby;
 * - the shipped fault plans client-partition, flapping-link and partition-holder-one-way.
 *
 * Every scenario runs even when one before it failed; each gets a row with its wall time and the
 * checks it failed (its drill report's, and the extra ones below, the same the suite had), and
 * the runner exits non-zero when any check failed. Needs root, like the lab.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { labDown, type LabState } from "../operations/lab/lab.js";
import type { DrillReport } from "../operations/drill.js";
import { ROOT, type Row } from "./harness.js";
import { deploy, labProject, labSiteYaml, requireRoot, type LabProject } from "./lab-bench.js";

export const title = "Drill scenarios outside the suite: kill, link-down, standby and the fault plans (one lab, one drill each)";

const SITE = "bench-scenarios";
/** Seconds a lab node takes to boot after the power switch's "on" (LabOptions.bootSec). */
const BOOT_SEC = 30;

/** A command on a lab node as root over the lab's SSH (the drill's own path); its stdout. */
function onNode(lab: LabState, node: string, command: string): string {
  const n = lab.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in the lab`);
  const r = spawnSync("ssh", ["-i", join(lab.dir, "id_ed25519"), "-o", `UserKnownHostsFile=${join(lab.dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", `root@${n.sshAddress}`, command], {
    encoding: "utf8",
    timeout: 60_000,
  });
  if (r.status !== 0) throw new Error(`${node}: ${command}: ${r.stderr}`);
  return r.stdout;
}

const initPids = (lab: LabState) => Object.fromEntries(lab.nodes.map((n) => [n.name, Number(readFileSync(join(n.dir, "unshare.pid"), "utf8"))]));
const holderOf = (lab: LabState) => onNode(lab, "m1", "crm_resource --locate --resource ip-nfs").match(/running on: (\S+)/)?.[1] ?? "?";

interface Scenario {
  readonly name: string;
  /** `--mode X` or `--plan FILE`, plus options. */
  readonly args: string[];
  /** Checks beyond the drill's own report (what the suite asserted), each a failure text or nothing. */
  readonly extra?: (lab: LabState, report: DrillReport, before: { holder: string; pids: Record<string, number> }) => string[];
}

const rebootedByCluster = (lab: LabState, r: DrillReport, holder: string) =>
  new RegExp(`reboot of ${holder} successful: delegate=\\w+, client=pacemaker-controld`).test(onNode(lab, r.survivor, `stonith_admin --history ${holder} --verbose`))
    ? []
    : [`the fence history of ${holder} has no reboot by the cluster (pacemaker-controld)`];

const SCENARIOS: Scenario[] = [
  {
    name: "kill",
    args: ["--mode", "kill", "--no-lock"],
    extra: (lab, r, b) => [...(r.node === b.holder ? [] : [`drilled ${r.node}, not the holder ${b.holder}`]), ...rebootedByCluster(lab, r, b.holder)],
  },
  {
    name: "link-down",
    args: ["--mode", "link-down", "--no-lock"],
    extra: (lab, r, b) => {
      const after = initPids(lab);
      const cycled = Object.keys(after).filter((n) => after[n] !== b.pids[n]);
      return [...(cycled.join(",") === b.holder ? [] : [`power-cycled: ${cycled.join(", ") || "nobody"}, expected only ${b.holder}`]), ...rebootedByCluster(lab, r, b.holder)];
    },
  },
  {
    name: "standby",
    args: ["--mode", "standby", "--no-lock"],
    extra: (lab, _r, b) => {
      const after = initPids(lab);
      const cycled = Object.keys(after).filter((n) => after[n] !== b.pids[n]);
      const standby = onNode(lab, b.holder, `crm_attribute --node ${b.holder} --name standby --query --quiet`).trim();
      return [...(cycled.length === 0 ? [] : [`power-cycled: ${cycled.join(", ")}`]), ...(standby === "off" ? [] : [`${b.holder} still in standby (${standby})`])];
    },
  },
  ...["client-partition", "flapping-link", "partition-holder-one-way"].map(
    (plan): Scenario => ({
      name: `plan ${plan}`,
      args: ["--plan", join(ROOT, "drill-plans", `${plan}.yaml`), "--no-lock"],
      extra: (_lab, r) => [
        ...(r.plan?.applied.every((a) => a.startedMs !== undefined && a.endedMs !== undefined) ? [] : ["a fault of the plan did not start and end"]),
        ...(r.dataLoss.acknowledged > 20 ? [] : [`only ${r.dataLoss.acknowledged} acknowledged writes (the writer did not run under the plan)`]),
      ],
    }),
  ),
];

/** One scenario: its drill, its report's failed checks and the extra ones; never throws. */
function runScenario(p: LabProject, s: Scenario): { failures: string[]; wallSec: number } {
  const t0 = performance.now();
  const failures: string[] = [];
  try {
    // The group runs somewhere before the drill (right after the deploy it may still be starting):
    // the scenario's own checks name its holder.
    let holder = holderOf(p.lab);
    for (let i = 0; i < 120 && holder === "?"; i++) {
      spawnSync("sleep", ["1"]);
      holder = holderOf(p.lab);
    }
    const before = { holder, pids: initPids(p.lab) };
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "cli/bin/hpcdk.js"), "drill", SITE, ...s.args, "--out", p.out, "--inventory", p.lab.inventoryFile, "--report-dir", join(p.dir, "reports"), "--json"],
      { cwd: p.dir, encoding: "utf8", timeout: 600_000 },
    );
    if (!r.stdout.trim().startsWith("{")) {
      failures.push(`no report (exit ${r.status}): ${r.stderr.trim().split("\n").slice(-3).join(" / ")}`);
    } else {
      const report = JSON.parse(r.stdout) as DrillReport;
      failures.push(...report.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`));
      if (report.ok !== (r.status === 0)) failures.push(`exit ${r.status} with a report that says ok: ${report.ok}`);
      failures.push(...(s.extra?.(p.lab, report, before) ?? []));
    }
  } catch (e) {
    failures.push((e as Error).message);
  }
  const wallSec = (performance.now() - t0) / 1000;
  for (const f of failures) process.stderr.write(`bench/drill-scenarios: ${s.name}: ${f}\n`);
  return { failures, wallSec };
}

export async function run(): Promise<Row[]> {
  requireRoot("drill-scenarios");
  // A node the cluster fences with a reboot boots for BOOT_SEC before its init starts, as a server
  // does (minutes on real hardware): a lab node that booted in a second rejoined before the group
  // had started elsewhere, and the kill drill measured a failback to it instead of a failover.
  const p = await labProject(SITE, labSiteYaml(SITE, 36, 3), { bootSec: BOOT_SEC });
  const rows: Row[] = [];
  try {
    deploy(p);
    for (const s of SCENARIOS) {
      const { failures, wallSec } = runScenario(p, s);
      rows.push({ what: `${s.name}: drill wall time`, values: [wallSec], unit: "s" }, { what: `${s.name}: failed checks`, values: [failures.length], unit: "", target: "0", limit: 1, limitOf: "max" });
    }
  } finally {
    await labDown(SITE);
  }
  return rows;
}
