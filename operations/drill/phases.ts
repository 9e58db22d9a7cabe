/**
 * One drill of one NFS group, in five phases:
 *
 * - settle: wait (bounded) until every node is online, the group runs whole on one node and NFS
 *   (v3 and v4) serves reads and writes through its floating IP; pick the node to fail;
 * - predict: ask Pacemaker's scheduler what failing it does (crm_simulate on the live CIB);
 * - fault: start the clients (per protocol a reader and a writer, the steady writer, the NFSv4
 *   lock holder), then fail the node (or start a fault plan);
 * - observe: poll the cluster every `pollMs` until the group runs elsewhere, NFS answers there,
 *   and the node is back (or the plan's window is over);
 * - judge: stop the clients, read back what was acknowledged, read the timeline sources, and
 *   check the outcome against the prediction, the targets and the plan.
 *
 * The cluster is reached through `DrillCluster` (SSH and the CIB readers live in drill.ts).
 */
import { performance } from "node:perf_hooks";
import { shQuote } from "../../common/shell.js";
import { mmpImportWaitSec } from "../../schema/multihost.js";
import type { SiteSpec } from "../../schema/site.js";
import { judgeExpectations, mergeExpectations, parseExpectations } from "./expect.js";
import { expectedFenced, NetemFaultInjector, type FaultPlan, type FaultSpec, type FaultTopology } from "./faults.js";
import { checksumOf, monotonicMs, ProbeSet, seedFile, servedSince, settleNfs, verifyRecords, backAfter, type ProbeTarget } from "./probes.js";
import { phaseTimes, resourcePhases, roleOf, type MemberRole, type StartOp } from "./timeline.js";
import { DrillError, PROTOCOLS, type DataLoss, type DrillCheck, type DrillEvent, type DrillMode, type DrillOptions, type DrillReport, type PhaseName, type TimelineSource } from "./types.js";

/** A snapshot of the cluster as crm_mon shows it. */
export interface Snapshot {
  readonly nodes: Record<string, { online: boolean; unclean: boolean; standby: boolean }>;
  readonly placement: Record<string, string[]>;
}

/** What the phases need from the live cluster. */
export interface DrillCluster {
  /** The node the drill watches from. */
  readonly watcher: string;
  /** Watch from another node (the one about to fail must not be the watcher). */
  watchFrom(host: string): Promise<void>;
  mon(): Promise<Snapshot>;
  /** A command on the watcher as root; its stdout (fails on a non-zero exit). */
  run(command: string, timeoutMs?: number): Promise<string>;
  /** A command on the watcher as root that may fail. */
  exec(command: string, timeoutMs?: number): Promise<{ stdout: string; code: number | null }>;
  /** A command on any node as root. */
  runOn(host: string, command: string): Promise<string>;
  /** When the node was last fenced (seconds since the epoch), by the fencer's history. */
  lastFenced(node: string): Promise<number | undefined>;
  /** The group's members, in start order, with their resource agents (from the synthesized CIB). */
  readonly members: readonly { id: string; agent: string }[];
  /** Start operations of the group's members on a node, from the CIB's status. */
  startOps(node: string): Promise<StartOp[]>;
  /** Pacemaker's prediction of failing a node (hpcdk simulate's rules on the live CIB). */
  predictFailure(node: string): Promise<{ fenced: string[]; after: Record<string, string[]> }>;
}

export interface GroupDrillInput {
  readonly options: DrillOptions;
  readonly spec: SiteSpec;
  readonly group: SiteSpec["nfs"]["groups"][number];
  readonly cluster: DrillCluster;
  /** The NFS client's address as the nodes see it (fault plans spare its SSH). */
  readonly clientAddress?: string;
  readonly timelineSources: readonly TimelineSource[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sec = (ms?: number) => (ms === undefined ? undefined : Math.round(ms / 100) / 10);

/** Drills one group: settle, predict, fault, observe, judge. */
export async function drillGroup(input: GroupDrillInput): Promise<DrillReport> {
  const s = await settle(input);
  const predicted = await predict(input, s);
  const f = await fault(input, s);
  try {
    const o = await observe(input, s, f);
    return await judge(input, s, predicted, f, o);
  } finally {
    await f.probes.stop();
    await f.planStop?.();
    await f.restoreStonithAction?.();
  }
}

interface Settled {
  readonly node: string;
  readonly survivor: string;
  readonly initial: Snapshot;
  readonly members: readonly { id: string; role: MemberRole }[];
  readonly mode: DrillMode | "plan";
  readonly target: ProbeTarget;
  readonly names: string[];
}

/** Phase 1: every node online, the group whole on one node, NFS answering; the node to fail. */
export async function settle(input: GroupDrillInput): Promise<Settled> {
  const { options, spec, group, cluster } = input;
  const log = options.log ?? (() => {});
  const mode = options.plan ? "plan" : (options.mode ?? "power-off");
  const names = spec.nodes.map((n) => n.name);
  const members = cluster.members.map((m) => ({ id: m.id, role: roleOf(m.agent) }));
  if (members.length === 0) throw new DrillError(`the synthesized CIB has no group for NFS group ${group.name}`);
  const ids = members.map((m) => m.id);
  const settled = (snap: Snapshot) =>
    names.every((n) => snap.nodes[n]?.online && !snap.nodes[n]?.unclean && !snap.nodes[n]?.standby) &&
    ids.every((r) => (snap.placement[r] ?? []).length === 1 && snap.placement[r]![0] === snap.placement[ids[0]!]?.[0]);
  let initial = await cluster.mon();
  if (!settled(initial)) {
    log(`waiting for the cluster to settle: every node online, NFS group ${group.name} running`);
    const until = performance.now() + 120_000;
    while (!settled(initial) && performance.now() < until) {
      await sleep(1000);
      initial = await cluster.mon();
    }
  }
  const offline = names.filter((n) => !initial.nodes[n]?.online);
  if (offline.length > 0) throw new DrillError(`the cluster is not healthy before the drill: ${offline.join(", ")} offline after 120 s`);
  const holder = initial.placement[ids.at(-1)!]?.[0] ?? initial.placement[ids[0]!]?.[0];
  const node = options.plan ? holder : (options.node ?? holder);
  if (!node || !names.includes(node)) throw new DrillError(`no node to fail: ${options.node ?? `NFS group ${group.name} runs nowhere`} (nodes: ${names.join(", ")})`);
  const survivor = names.find((n) => n !== node && initial.nodes[n]?.online)!;
  if (cluster.watcher === node) await cluster.watchFrom(survivor);
  const target: ProbeTarget = { server: group.floatingIp.address, exportPath: group.exports[0]!.path, ...(options.python ? { python: options.python } : {}) };
  return { node, survivor: cluster.watcher, initial, members, mode, target, names };
}

/** Phase 2: what Pacemaker's scheduler says failing the node does. */
export async function predict(input: GroupDrillInput, s: Settled): Promise<DrillReport["predicted"]> {
  const log = input.options.log ?? (() => {});
  const ids = s.members.map((m) => m.id);
  const plan = input.options.plan;
  if (plan) {
    const t = topology(input, s);
    const fenced = expectedFenced(plan, t);
    if (fenced.length === 0) return { fenced: [], placement: Object.fromEntries(ids.map((r) => [r, s.initial.placement[r] ?? []])) };
    log(`asking Pacemaker's scheduler what losing ${fenced.join(", ")} does`);
    const failure = await input.cluster.predictFailure(fenced[0]!);
    return { fenced, placement: Object.fromEntries(ids.map((r) => [r, failure.after[r] ?? []])) };
  }
  log(`asking Pacemaker's scheduler what failing ${s.node} does`);
  const failure = await input.cluster.predictFailure(s.node);
  return { fenced: s.mode === "standby" ? [] : failure.fenced, placement: Object.fromEntries(ids.map((r) => [r, failure.after[r] ?? []])) };
}

/** The nodes, their cluster addresses and interfaces, and the client, for a fault plan. */
function topology(input: GroupDrillInput, s: Settled): FaultTopology {
  return {
    nodes: input.spec.nodes.map((n) => ({ name: n.name, address: n.addresses[0]!.address, iface: input.group.floatingIp.nic ?? "eth0" })),
    client: input.clientAddress ?? "0.0.0.0",
    holder: s.node,
  };
}

interface Faulted {
  readonly probes: ProbeSet;
  readonly dataFile: string;
  readonly seedSum: string;
  readonly runId: string;
  readonly faultEpochSec: number;
  readonly pcsBefore: string;
  readonly timeline: DrillEvent[];
  readonly now: () => number;
  readonly event: (what: string, phase?: PhaseName) => void;
  faultJob?: Promise<unknown>;
  planStop?: () => Promise<void>;
  /** Puts the cluster's stonith-action back as it was (power-off drills). */
  restoreStonithAction?: () => Promise<void>;
  readonly planApplied: { fault: FaultSpec; startedMs?: number; endedMs?: number; note?: string }[];
}

/** Phase 3: the clients start, the data is seeded, then the fault. */
export async function fault(input: GroupDrillInput, s: Settled): Promise<Faulted> {
  const { options, cluster } = input;
  const log = options.log ?? (() => {});
  const runId = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const dataFile = `hpcdk-drill-${runId}.dat`;
  log(`writing ${dataFile} through ${s.target.server} (stable writes)`);
  let seedSum: string;
  try {
    seedSum = await seedFile(s.target, dataFile);
  } catch (e) {
    throw new DrillError(`cannot write ${s.target.server}:${s.target.exportPath}/${dataFile} before the drill: ${(e as Error).message} (is the NFS service up?)`);
  }
  const pcsBefore = await cluster.run("pcs status 2>&1 || crm_mon -1", 30_000);
  // A server still in its grace period after an earlier failover refuses new files: wait until
  // both protocols read and write, or the drill would time the old outage.
  log("waiting until NFSv3 and NFSv4 serve reads and writes");
  await settleNfs(s.target, dataFile, 90_000);
  const maxSeconds = (options.timeoutSec ?? 180) + 120;
  const probes = new ProbeSet(s.target, dataFile, {
    pollMs: options.pollMs ?? 250,
    maxSeconds,
    writerIntervalMs: options.writerIntervalMs ?? 100,
    lockProbe: options.lockProbe ?? true,
    runId,
  });
  // The lock holder takes its lock, the writers write: the fault comes once every client runs.
  const ready = performance.now() + 20_000;
  while (performance.now() < ready && (options.lockProbe ?? true) && !probes.lockTaken()) await sleep(100);
  await sleep(1000);
  // Before the clock starts: what the drill sets up does not count in the failover.
  const restoreStonithAction = s.mode === "power-off" && !options.plan ? await holdStonithActionOff(cluster) : undefined;
  const timeline: DrillEvent[] = [];
  const t0 = probes.markFault();
  const faultEpochSec = Date.now() / 1000 - (monotonicMs() - t0) / 1000;
  const now = () => Math.round(monotonicMs() - t0);
  const event = (what: string, phase?: PhaseName) => {
    timeline.push({ atMs: now(), what, ...(phase ? { phase } : {}), source: "drill" });
    log(`  +${(now() / 1000).toFixed(1)} s  ${what}`);
  };
  const f: Faulted = { probes, dataFile, seedSum, runId, faultEpochSec, pcsBefore, timeline, now, event, planApplied: [], ...(restoreStonithAction ? { restoreStonithAction } : {}) };
  const plan = options.plan;
  if (plan) {
    startPlan(input, s, f, plan);
    event(`fault plan ${plan.name} started`, "fault");
    return f;
  }
  switch (s.mode) {
    case "power-off":
      f.faultJob = cluster.exec(`stonith_admin --fence ${s.node} --timeout 120`, 150_000);
      break;
    case "kill":
      await options.control!.kill(s.node);
      break;
    case "link-down":
      await options.control!.linkDown(s.node);
      break;
    case "standby":
      f.faultJob = cluster.exec(`crm_attribute --node ${s.node} --name standby --update on`);
      break;
  }
  event(`fault: ${s.mode} ${s.node}`, "fault");
  return f;
}

/**
 * A power-off drill keeps the node off until it powers it on, like a power cut the node does not
 * survive. The drill's fencing (off) and the cluster's race: when the cluster notices the node's
 * loss (token + consensus) before the drill's off has been confirmed, it fences the node itself,
 * by default with a reboot, which powers it on again. A lab node without a boot time (the lab's
 * bootSec, 0 by default) boots in about a second and rejoined before the group had started
 * elsewhere, and the scheduler started the group on it again (its preferred node, nothing running
 * anywhere to stick to). With stonith-action off for the
 * drill's span, the cluster's fencing of the node is the same off (the fencer merges the two, or
 * the second finds the node off). Returns what puts the property back as it was.
 */
export async function holdStonithActionOff(cluster: DrillCluster): Promise<() => Promise<void>> {
  const query = await cluster.exec("crm_attribute --type crm_config --name stonith-action --query --quiet");
  const before = query.code === 0 ? query.stdout.trim() : "";
  await cluster.run("crm_attribute --type crm_config --name stonith-action --update off");
  let restored = false;
  return async () => {
    if (restored) return;
    restored = true;
    await cluster.run(before ? `crm_attribute --type crm_config --name stonith-action --update ${shQuote(before)}` : "crm_attribute --type crm_config --name stonith-action --delete");
  };
}

/** Schedules each fault of a plan in its window; `planStop` ends them all. */
function startPlan(input: GroupDrillInput, s: Settled, f: Faulted, plan: FaultPlan): void {
  // The namespace lab's injector (iptables, ip link) where the drill controls the nodes; tc netem
  // over the drill's SSH on real hosts.
  const injector = input.options.control?.faults ?? new NetemFaultInjector((host, command) => input.cluster.runOn(host, command));
  const t = topology(input, s);
  const timers: NodeJS.Timeout[] = [];
  const running = new Set<FaultSpec>();
  for (const fault of plan.faults) {
    const applied: Faulted["planApplied"][number] = { fault };
    f.planApplied.push(applied);
    const why = injector.unsupported(fault.type);
    if (why) {
      applied.note = why;
      continue;
    }
    timers.push(
      setTimeout(() => {
        void injector.start(fault, t).then(
          () => {
            running.add(fault);
            applied.startedMs = f.now();
            f.event(`${fault.type} ${fault.link ? `on the ${fault.link} link` : `${fault.from ?? fault.node} → ${fault.to ?? "its link"}`} starts`);
          },
          (e: Error) => (applied.note = `could not start: ${e.message}`),
        );
      }, fault.startMs),
      setTimeout(() => {
        void injector.stop(fault, t).then(() => {
          running.delete(fault);
          applied.endedMs = f.now();
          f.event(`${fault.type} ends`);
        });
      }, fault.endMs),
    );
  }
  f.planStop = async () => {
    for (const timer of timers) clearTimeout(timer);
    await injector.clear(t);
  };
}

interface Observed {
  readonly seen: Set<string>;
  readonly startedMs: Record<string, number>;
  readonly failover?: Record<string, string[]>;
  readonly recoveredAt?: number;
  readonly last: Snapshot;
}

/** Phase 4: poll until the group runs elsewhere, NFS answers there and the node is back. */
export async function observe(input: GroupDrillInput, s: Settled, f: Faulted): Promise<Observed> {
  const { options, cluster } = input;
  const pollMs = options.pollMs ?? 250;
  const timeoutMs = (options.timeoutSec ?? 180) * 1000;
  const ids = s.members.map((m) => m.id);
  const plan = options.plan;
  const seen = new Set<string>();
  const startedMs: Record<string, number> = {};
  const fenced = new Set<string>();
  let poweredOnAt: number | undefined;
  let failover: Record<string, string[]> | undefined;
  let recoveredAt: number | undefined;
  let last = s.initial;
  const deadline = performance.now() + timeoutMs;
  const faultEpoch = Math.floor(f.faultEpochSec);
  const fencedSinceFault = async (n: string) => ((await cluster.lastFenced(n).catch(() => undefined)) ?? -Infinity) >= faultEpoch;
  const node = s.node;
  while (performance.now() < deadline) {
    const snap = await cluster.mon().catch(() => last);
    last = snap;
    const state = snap.nodes[node];
    const lostNow = state && (s.mode === "standby" ? state.standby : !state.online);
    if (!seen.has("lost") && lostNow) {
      seen.add("lost");
      f.event(s.mode === "standby" ? `${node} in standby` : `${node} lost`, s.mode === "standby" ? undefined : "membership-lost");
    }
    for (const n of plan ? s.names : s.mode === "standby" ? [] : [node]) {
      if (!fenced.has(n) && (plan ? !snap.nodes[n]?.online || fenced.size > 0 || seen.has("lost") : true) && (await fencedSinceFault(n))) {
        fenced.add(n);
        if (n === node) seen.add("fenced");
        f.event(`${n} fenced`, "fence-confirmed");
      }
    }
    for (const r of ids) {
      const on = snap.placement[r] ?? [];
      if (!seen.has(`started:${r}`) && on.length > 0 && !on.includes(node) && (seen.has("lost") || plan)) {
        seen.add(`started:${r}`);
        startedMs[r] = f.now();
        f.event(`${r} started on ${on.join(", ")}`);
      }
    }
    const moved = ids.every((r) => seen.has(`started:${r}`));
    if (moved && failover === undefined && f.now() > 2000) {
      failover = Object.fromEntries(ids.map((r) => [r, snap.placement[r] ?? []]));
      recoveredAt = f.now();
    }
    const everyProtocol = (since: number | undefined) => PROTOCOLS.every((p) => servedSince(f.probes.reads(p), since) && servedSince(f.probes.writes(p), since));
    if (plan) {
      // A plan ends when its window is over, every node is back and NFS answers again.
      const windowOver = f.now() >= plan.observeMs;
      const allOnline = s.names.every((n) => snap.nodes[n]?.online && !snap.nodes[n]?.unclean);
      if (windowOver && allOnline && everyProtocol(plan.observeMs - 1000) && [...fenced].every((n) => snap.nodes[n]?.online)) break;
    } else {
      const ioHealthy = everyProtocol(recoveredAt);
      // Bring the node back once its services run elsewhere and every client was served there:
      // power on after power-off, out of standby after standby (kill, link-down: fencing reboots it).
      if (moved && ioHealthy && poweredOnAt === undefined) {
        if (s.mode === "power-off") {
          await f.faultJob;
          await f.restoreStonithAction?.();
          f.faultJob = cluster.exec(`stonith_admin --unfence ${node} --timeout 120`, 150_000);
          poweredOnAt = f.now();
          f.event(`power on ${node}`);
        } else if (s.mode === "standby") {
          await f.faultJob;
          await cluster.run(`crm_attribute --node ${node} --name standby --update off`);
          poweredOnAt = f.now();
          f.event(`${node} out of standby`);
        } else {
          poweredOnAt = f.now();
        }
      }
      if (!seen.has("rejoined") && poweredOnAt !== undefined && state?.online && !state.unclean && !state.standby && seen.has("lost")) {
        seen.add("rejoined");
        f.event(`${node} rejoined`, "node-rejoined");
      }
      if (seen.has("rejoined") && moved && ioHealthy) break;
    }
    await sleep(pollMs);
  }
  for (const n of fenced) seen.add(`fenced:${n}`);
  await f.faultJob?.catch(() => undefined);
  return { seen, startedMs, ...(failover ? { failover } : {}), ...(recoveredAt !== undefined ? { recoveredAt } : {}), last };
}

/** Phase 5: stop the clients, read back, collect the timeline, and check everything. */
export async function judge(input: GroupDrillInput, s: Settled, predicted: DrillReport["predicted"], f: Faulted, o: Observed): Promise<DrillReport> {
  const { options, cluster, group, spec } = input;
  const plan = options.plan;
  const ids = s.members.map((m) => m.id);
  await f.probes.stop();
  await f.planStop?.();
  const after = await cluster.mon();
  const pcsAfter = await cluster.run("pcs status 2>&1 || crm_mon -1", 30_000);
  const newHolder = after.placement[ids[0]!]?.[0];

  // What was acknowledged must read back: the seed (stable), and every record of the steady writer.
  const afterSum = await checksumOf(s.target, f.dataFile);
  const acked = f.probes.acknowledged();
  let lostRecords: number[] = [];
  let verifyNote = "";
  try {
    lostRecords = (await verifyRecords(s.target, `${f.dataFile}.records`, f.runId, acked)).lost;
  } catch (e) {
    lostRecords = acked;
    verifyNote = ` (the records' file could not be read back: ${(e as Error).message})`;
  }
  const dataLoss: DataLoss = {
    acknowledged: acked.length,
    lost: lostRecords.length,
    lostRecords,
    seedIntact: afterSum === f.seedSum,
    detail:
      (afterSum === f.seedSum ? `The file written before the fault reads back with sha256 ${f.seedSum.slice(0, 16)}…` : "The file written before the fault does not read back the same.") + verifyNote,
  };

  // The probes' files go (libnfs cannot delete): on the node that now holds the export.
  if (newHolder) {
    const data = `${group.exports[0]!.path}/${f.dataFile}`;
    await cluster.runOn(newHolder, `rm -f -- '${data}' '${data}'.*`).catch(() => undefined);
  }

  // The timeline: the drill's own events, each protocol's first good read and write, the lock,
  // the resources' start operations (when each began), the NFS server's grace, the MMP wait.
  const timeline = [...f.timeline];
  for (const p of PROTOCOLS) {
    const name = p === "nfs3" ? "NFSv3" : "NFSv4";
    const r = backAfter(f.probes.reads(p));
    const w = backAfter(f.probes.writes(p));
    if (r.backMs !== undefined && r.outageMs > 0) timeline.push({ atMs: r.backMs, what: `${name} reads back`, phase: `${p}-read-back` as PhaseName, source: "probe" });
    if (w.backMs !== undefined && w.outageMs > 0) timeline.push({ atMs: w.backMs, what: `${name} writes back`, phase: `${p}-write-back` as PhaseName, source: "probe" });
  }
  const lock = f.probes.lockResult();
  if (lock.reclaimedSec !== undefined) timeline.push({ atMs: lock.reclaimedSec * 1000, what: "NFSv4 OPEN and LOCK reclaimed", phase: "lock-reclaimed", source: "probe" });
  const ops = newHolder ? await cluster.startOps(newHolder).catch(() => []) : [];
  timeline.push(...resourcePhases(s.members, o.startedMs, ops));
  const ctx = {
    site: options.site,
    group: group.name,
    node: s.node,
    faultEpochSec: f.faultEpochSec,
    ...(newHolder ? { newHolder } : {}),
    run: (host: string, command: string) => cluster.runOn(host, command),
  };
  for (const source of input.timelineSources) {
    try {
      timeline.push(...(await source.collect(ctx)).map((e) => ({ ...e, source: e.source ?? source.name })));
    } catch (e) {
      timeline.push({ atMs: 0, what: `timeline source ${source.name} failed: ${(e as Error).message}`, source: source.name });
    }
  }
  timeline.sort((a, b) => a.atMs - b.atMs);
  const phases = phaseTimes(timeline);
  const mmp = timeline.find((e) => e.phase === "mmp-wait");
  const graceStart = /\((\d+) s at most\)/.exec(timeline.find((e) => e.phase === "grace-started")?.what ?? "");

  const protocols = Object.fromEntries(PROTOCOLS.map((p) => [p, f.probes.metrics(p)]));
  const worst = (pick: (m: (typeof protocols)[string]) => number | undefined) => {
    const v = PROTOCOLS.map((p) => pick(protocols[p]!));
    return v.some((x) => x === undefined) ? undefined : Math.max(...(v as number[]));
  };
  const at = (what: string) => timeline.find((e) => e.what === what)?.atMs;
  const startedTimes = Object.values(o.startedMs);
  const metrics: DrillReport["metrics"] = {
    nodeLostSec: sec(at(s.mode === "standby" ? `${s.node} in standby` : `${s.node} lost`)),
    fencedSec: sec(at(`${s.node} fenced`)),
    resourcesStartedSec: startedTimes.length === ids.length ? sec(Math.max(...startedTimes)) : undefined,
    readsBackSec: worst((m) => m.readBackSec),
    writesBackSec: worst((m) => m.writeBackSec),
    rejoinedSec: sec(at(`${s.node} rejoined`)),
    readOutageSec: Math.max(...PROTOCOLS.map((p) => protocols[p]!.readOutageSec)),
    writeOutageSec: Math.max(...PROTOCOLS.map((p) => protocols[p]!.writeOutageSec)),
    protocols,
    phases,
    ...(mmp && mmp.fromMs !== undefined ? { mmpWaitSec: sec(mmp.atMs - mmp.fromMs) } : {}),
    mmpModelSec: mmpImportWaitSec(spec.storage.multihost),
    ...(graceStart ? { graceSec: Number(graceStart[1]) } : {}),
  };

  const fencedNodes = s.names.filter((n) => o.seen.has(`fenced:${n}`));
  const movedTo = (r: string) => (o.failover?.[r] ?? after.placement[r] ?? []).join(",");
  const checks: DrillCheck[] = [];
  let planResult: DrillReport["plan"];
  if (plan) {
    const expectedF = predicted.fenced;
    const groupMoved = ids.every((r) => (after.placement[r] ?? []).join(",") !== (s.initial.placement[r] ?? []).join(",")) || o.failover !== undefined;
    const longestStallSec = Math.max(...PROTOCOLS.flatMap((p) => [protocols[p]!.readOutageSec, protocols[p]!.writeOutageSec]));
    planResult = { name: plan.name, description: plan.description, applied: f.planApplied, fenced: fencedNodes, expectedFenced: expectedF, groupMoved, longestStallSec };
    const skipped = f.planApplied.filter((a) => a.startedMs === undefined);
    checks.push({ name: "every fault of the plan applied", ok: skipped.length === 0, detail: skipped.length === 0 ? `${f.planApplied.length} fault(s)` : skipped.map((a) => `${a.fault.type}: ${a.note ?? "not started"}`).join("; ") });
    checks.push({ name: "fenced as the plan expects", ok: fencedNodes.join(",") === expectedF.join(","), detail: `fenced: ${fencedNodes.join(", ") || "nobody"}; expected: ${expectedF.join(", ") || "nobody"}` });
    if (plan.expect.groupMoves !== undefined) checks.push({ name: plan.expect.groupMoves ? "the group moved" : "the group stayed", ok: groupMoved === plan.expect.groupMoves, detail: `${ids[0]}: ${(s.initial.placement[ids[0]!] ?? []).join(",")} -> ${(after.placement[ids[0]!] ?? []).join(",")}` });
    if (plan.expect.nfsStallMaxSec !== undefined) checks.push({ name: `NFS stalls at most ${plan.expect.nfsStallMaxSec} s`, ok: longestStallSec <= plan.expect.nfsStallMaxSec, detail: `the longest stall of any protocol: ${longestStallSec} s` });
    checks.push({ name: "no acknowledged write lost", ok: dataLoss.lost <= plan.expect.ackedWritesLost && dataLoss.seedIntact, detail: `${dataLoss.lost} of ${dataLoss.acknowledged} acknowledged records lost. ${dataLoss.detail}` });
    checks.push({ name: "NFS serves reads and writes again", ok: PROTOCOLS.every((p) => servedSince(f.probes.reads(p), 0) && servedSince(f.probes.writes(p), 0)), detail: PROTOCOLS.map((p) => `${p}: reads back ${protocols[p]!.readBackSec ?? "never"} s, writes ${protocols[p]!.writeBackSec ?? "never"} s`).join("; ") });
  } else {
    const node = s.node;
    const fencedNow = o.seen.has(`fenced:${node}`) || ((await cluster.lastFenced(node).catch(() => undefined)) ?? -Infinity) >= Math.floor(f.faultEpochSec);
    const healthyFenced: string[] = [];
    for (const n of s.names) if (n !== node && ((await cluster.lastFenced(n).catch(() => undefined)) ?? -Infinity) >= Math.floor(f.faultEpochSec)) healthyFenced.push(n);
    checks.push(
      s.mode === "standby"
        ? { name: `${node} not fenced`, ok: !fencedNow, detail: "standby moves resources without fencing" }
        : { name: `${node} fenced`, ok: fencedNow, detail: fencedNow ? `fenced after ${metrics.fencedSec} s` : "no successful fencing of the node" },
      { name: "no healthy node fenced", ok: healthyFenced.length === 0, detail: healthyFenced.length === 0 ? "none" : `fenced: ${healthyFenced.join(", ")}` },
      {
        name: "resources where the scheduler predicted",
        ok: ids.every((r) => movedTo(r) === (predicted.placement[r] ?? []).join(",")),
        detail: ids.map((r) => `${r}: ${movedTo(r) || "stopped"} (predicted ${(predicted.placement[r] ?? []).join(",") || "stopped"})`).join("; "),
      },
      { name: "no data lost", ok: dataLoss.seedIntact && dataLoss.lost === 0, detail: `${dataLoss.lost} of ${dataLoss.acknowledged} acknowledged stable writes lost. ${dataLoss.detail}` },
      {
        name: "NFS serves reads and writes again",
        ok: PROTOCOLS.every((p) => protocols[p]!.readBackSec !== undefined && protocols[p]!.writeBackSec !== undefined),
        detail: PROTOCOLS.map((p) => `${p === "nfs3" ? "NFSv3" : "NFSv4"} reads back after ${protocols[p]!.readBackSec ?? "never"} s, writes after ${protocols[p]!.writeBackSec ?? "never"} s`).join("; "),
      },
      { name: `${node} rejoined`, ok: o.seen.has("rejoined"), detail: o.seen.has("rejoined") ? `after ${metrics.rejoinedSec} s` : `not within ${options.timeoutSec ?? 180} s` },
    );
  }
  if (options.lockProbe ?? true) {
    const ok = (lock.state === "reclaimed" || lock.state === "held") && lock.heldAtEnd !== false;
    checks.push({ name: "NFSv4 lock kept (held, or reclaimed from the new server)", ok, detail: `${lock.state}: ${lock.detail}` });
  }
  const base = {
    site: options.site,
    group: group.name,
    node: s.node,
    mode: s.mode,
    survivor: s.survivor,
    startedAt: new Date(f.faultEpochSec * 1000).toISOString(),
    predicted,
    before: { pcsStatus: f.pcsBefore, placement: s.initial.placement },
    after: { pcsStatus: pcsAfter, placement: after.placement },
    ...(o.failover ? { failover: o.failover } : {}),
    timeline,
    metrics,
    lock,
    dataLoss,
    ...(planResult ? { plan: planResult } : {}),
  };
  const expectations = judgeExpectations(mergeExpectations(parseExpectations(spec.drill.expect, "site"), parseExpectations(options.expect ?? [], "command line")), base);
  for (const e of expectations) checks.push({ name: `target ${e.text}`, ok: e.ok, detail: `${e.value === undefined ? "never" : e.value} (${e.from})` });
  return { ...base, expectations, checks, ok: checks.every((c) => c.ok) };
}
