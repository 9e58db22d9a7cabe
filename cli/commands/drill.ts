import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readOverride } from "../../operations/remote/inventory.js";
import { DRILL_MODES, DrillError, drillHtml, drillMarkdown, runDrill, spread, type DrillMode, type DrillReport, type NodeControl, type TimelineSource } from "../../operations/drill.js";
import { parseExpectations } from "../../operations/drill/expect.js";
import { loadFaultPlan, type FaultPlan } from "../../operations/drill/faults.js";
import { LabFaultInjector } from "../../operations/lab/faults.js";
import { powerLog, powerOff, readLabState } from "../../operations/lab/lab.js";
import { powerSwitchSource } from "../../operations/drill/timeline.js";
import { stackDir, synthSiteFiles } from "../../stacks/synth.js";
import { siteFileOf } from "./simulate.js";

export interface DrillCommandOptions {
  readonly fail?: string;
  readonly mode: string;
  readonly group?: string[];
  readonly expect?: string[];
  readonly plan?: string;
  readonly lock?: boolean;
  readonly repeat: string;
  readonly out: string;
  readonly inventory?: string;
  readonly reportDir: string;
  readonly timeout: string;
  readonly json?: boolean;
}

/** What the namespace lab lets a drill do to its nodes directly. */
function labControl(site: string): NodeControl | undefined {
  const lab = readLabState(site);
  if (!lab) return undefined;
  const nodeOf = (name: string) => {
    const n = lab.nodes.find((x) => x.name === name);
    if (!n) throw new DrillError(`lab ${site} has no node ${name}`);
    return n;
  };
  return {
    kill: (name) => powerOff(nodeOf(name)),
    linkDown: async (name) => {
      const n = nodeOf(name);
      execFileSync("ip", ["-n", n.netns, "link", "set", n.interfaces[0]!.name, "down"]);
    },
    faults: new LabFaultInjector(lab),
    clientAddress: lab.rootVeth.address.split("/")[0]!,
  };
}

/** What the namespace lab's own logs add to a drill's timeline: when its power switch cut the node. */
function labTimeline(site: string): TimelineSource[] {
  const lab = readLabState(site);
  if (!lab) return [];
  return [powerSwitchSource((name) => {
    const n = lab.nodes.find((x) => x.name === name);
    return n ? powerLog(n) : undefined;
  })];
}

/** Every wait of a drill is bounded on its own; this bounds the whole, whatever hangs. */
async function withDeadline<T>(seconds: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DrillError(`the drill did not finish in ${seconds} s (the cluster or a host stopped answering)`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** min/median/max of each figure over the drills of one group. */
function summaryOf(reports: DrillReport[]) {
  const row = (pick: (r: DrillReport) => number | undefined) => spread(reports.map(pick));
  return {
    drills: reports.length,
    passed: reports.filter((r) => r.ok).length,
    fencedSec: row((r) => r.metrics.fencedSec),
    mmpWaitSec: row((r) => r.metrics.mmpWaitSec),
    poolImportedSec: row((r) => r.metrics.phases["pool-imported"]),
    nfsServerUpSec: row((r) => r.metrics.phases["nfs-server-up"]),
    graceEndedSec: row((r) => r.metrics.phases["grace-ended"]),
    nfs3ReadBackSec: row((r) => r.metrics.protocols.nfs3?.readBackSec),
    nfs3WriteBackSec: row((r) => r.metrics.protocols.nfs3?.writeBackSec),
    nfs4ReadBackSec: row((r) => r.metrics.protocols.nfs4?.readBackSec),
    nfs4WriteBackSec: row((r) => r.metrics.protocols.nfs4?.writeBackSec),
    readsBackSec: row((r) => r.metrics.readsBackSec),
    writesBackSec: row((r) => r.metrics.writesBackSec),
    rejoinedSec: row((r) => r.metrics.rejoinedSec),
    ackedWritesLost: reports.reduce((n, r) => n + r.dataLoss.lost, 0),
    locksReclaimed: reports.filter((r) => r.lock.state === "reclaimed" || r.lock.state === "held").length,
  };
}

/**
 * `hpcdk drill <site>`: each NFS group (or those given with --group) in turn, --repeat times;
 * reports in JSON, Markdown and HTML, one directory per group (and per repeat).
 */
export async function drillCommand(site: string, opts: DrillCommandOptions): Promise<number> {
  const mode = opts.mode as DrillMode;
  if (!DRILL_MODES.includes(mode)) throw new DrillError(`--mode must be one of ${DRILL_MODES.join(", ")}, got "${opts.mode}"`);
  const repeat = Number(opts.repeat);
  // Bad targets or a bad plan are refused before anything is touched.
  parseExpectations(opts.expect ?? [], "command line");
  const plan: FaultPlan | undefined = opts.plan ? loadFaultPlan(opts.plan) : undefined;
  const { stacks } = synthSiteFiles([siteFileOf(site)], opts.out, false);
  const stack = stacks[0]!;
  const dir = stackDir(opts.out, stack.site.name);
  const override = opts.inventory ? readOverride(opts.inventory) : undefined;
  // With --json, stdout is the report: progress goes to stderr.
  const print = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  const reports: DrillReport[] = [];
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const base = join(opts.reportDir, `${stack.site.name}-${plan ? `plan-${plan.name}` : mode}-${stamp}`);
  const groups = opts.group && opts.group.length > 0 ? opts.group : stack.site.spec.nfs.groups.map((g) => g.name);
  const multi = groups.length > 1;
  for (let i = 1; i <= repeat; i++) {
    if (repeat > 1) print(`drill ${i} of ${repeat}`);
    const round = await withDeadline(
      (Number(opts.timeout) + 300) * groups.length,
      runDrill({
        stackDir: dir,
        spec: stack.site.spec,
        site: stack.site.name,
        override,
        groups,
        node: opts.fail,
        mode,
        control: labControl(stack.site.name),
        timelineSources: labTimeline(stack.site.name),
        expect: opts.expect ?? [],
        ...(plan ? { plan } : {}),
        lockProbe: opts.lock !== false,
        timeoutSec: Number(opts.timeout),
        log: print,
      }),
    );
    for (const report of round) {
      reports.push(report);
      const out = join(base, ...(multi ? [report.group] : []), ...(repeat > 1 ? [String(i)] : []));
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
      writeFileSync(join(out, "report.md"), drillMarkdown(report));
      writeFileSync(join(out, "report.html"), drillHtml(report));
      print(`${report.ok ? "PASSED" : "FAILED"} (group ${report.group}): ${report.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`).join("; ") || "every check"} -> ${out}/report.{json,md,html}`);
    }
  }
  const summary = {
    site: stack.site.name,
    mode: plan ? "plan" : mode,
    drills: reports.length,
    passed: reports.filter((r) => r.ok).length,
    groups: Object.fromEntries(groups.map((g) => [g, summaryOf(reports.filter((r) => r.group === g))])),
  };
  if (reports.length > 1) {
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  }
  if (opts.json) process.stdout.write(JSON.stringify(reports.length > 1 ? { summary, reports } : reports[0], null, 2) + "\n");
  else if (reports.length > 1) {
    print(`${summary.passed} of ${summary.drills} drills passed`);
    for (const [g, s] of Object.entries(summary.groups)) {
      const row = (name: string, v: ReturnType<typeof spread>) => print(`  ${g}: ${name}: min ${v.min ?? "-"} s, median ${v.median ?? "-"} s, max ${v.max ?? "-"} s (${v.n} drills)`);
      row("fenced", s.fencedSec);
      row("NFSv3 reads back", s.nfs3ReadBackSec);
      row("NFSv3 writes back", s.nfs3WriteBackSec);
      row("NFSv4 reads back", s.nfs4ReadBackSec);
      row("NFSv4 writes back", s.nfs4WriteBackSec);
      print(`  ${g}: acknowledged writes lost: ${s.ackedWritesLost}; NFSv4 locks kept: ${s.locksReclaimed} of ${s.drills}`);
    }
  }
  return reports.every((r) => r.ok) ? 0 : 3;
}
