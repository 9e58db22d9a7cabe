/**
 * The wave executor: the outage wave, the together wave (corosync settings every node must share,
 * and link addresses), then the management nodes' rolling waves of a rollout plan, run one wave
 * at a time (a wave holds at most `maxUnavailable` nodes, never so many that quorum could be
 * lost), each node with its wave's strategy:
 *
 * - the together wave (corosync settings every node must share): every node's bundle with
 *   corosync.conf's reload held back by the apply script (`--hold`), then `corosync-cfgtool -R`
 *   once, from one node, until the cluster has settled; then every node checked to run the new
 *   values (totem keys, node list, links connected); then the held reload released
 *   (`--held-ran`, which writes the node's marker). The corosync.conf the cluster
 *   ran is recorded on every node before any file is sent (./together.ts), so a rerun after a stop
 *   plans the same wave again;
 *
 * - `files`: the node's bundle, one node after the other (its handlers reload what they own);
 * - `maintenance`: the whole cluster into `maintenance-mode` (resources keep running, unmanaged:
 *   nothing fails over), on each node pacemaker then corosync stopped, the bundle applied
 *   (packages, with the daemons' restarts held back by the apply script), corosync and pacemaker
 *   started, until the node is online and its resources are re-probed as running where they ran;
 *   then maintenance ends;
 * - `standby`: each node into standby until its resources run elsewhere and the cluster has
 *   settled, then stopped, applied, started, out of standby.
 *
 * After each wave the cluster must settle within a bound (quorate, every node online, no failed
 * actions, nothing pending) or the rollout stops, naming the node and the state the cluster is
 * left in. It leaves maintenance only when that is safe (the wave's nodes back, online, their
 * resources where they ran); otherwise the cluster stays in maintenance, where nothing moves.
 * A rerun continues where it stopped: the plan is made again from the hosts' markers, so the
 * nodes that hold the new bundle are not touched again, and a maintenance-mode the rollout set
 * (hpcdk's note in the CIB) is ended by the next wave.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { HpcdkError } from "../../common/errors.js";
import { applyBundle, type ApplyOptions } from "../deploy/apply.js";
import { manifestPathOf } from "../deploy/bundle.js";
import type { HostResult } from "../deploy/result.js";
import { quorateNode } from "../pacemaker/live-cluster.js";
import { connect } from "../remote/connect.js";
import type { SshSession } from "../remote/ssh.js";
import { enterMaintenance, fenceDeviceIds, leaveMaintenance, monitor, setStandby, startClusterStack, startService, stopClusterStack, waitSettled } from "./cluster-ops.js";
import { parseCorosyncConf } from "./corosync.js";
import type { RolloutPlan, Strategy, Wave } from "./plan.js";
import { dropRunningConf, recordRunningConf, reloadCorosync, runtimeAnswers, runtimeProblems } from "./together.js";

/** The rollout stopped: the node, what failed, and the state the cluster is left in. Exit 3, like a host that did not converge. */
export class RolloutError extends HpcdkError {
  constructor(
    problems: string[],
    readonly report: RolloutReport,
  ) {
    super(problems, { exitCode: 3 });
  }
  override get topic(): string {
    return "rollout stopped";
  }
}

export interface StepTiming {
  readonly what: string;
  /** Milliseconds after the wave started. */
  readonly atMs: number;
}

export interface HostRun {
  readonly host: string;
  readonly ok: boolean;
  readonly ms: number;
  readonly steps: StepTiming[];
  readonly apply?: HostResult;
  readonly error?: string;
}

export interface WaveRun {
  readonly index: number;
  readonly kind: Wave["kind"];
  readonly strategy?: Strategy | "outage";
  readonly hosts: HostRun[];
  readonly ok: boolean;
  readonly ms: number;
  /** When the wave settled, ms after it started. */
  readonly settledMs?: number;
  readonly error?: string;
}

/** What a wave's run keeps per host while it runs. */
interface HostProgress {
  steps: StepTiming[];
  apply?: HostResult;
  error?: string;
  t0: number;
}

/** What a wave's step line says of an apply: files changed, packages installed, handlers run. */
function appliedSummary(result: HostResult | undefined): string {
  return `${result?.changed.length ?? 0} changed${result?.packages.length ? `, packages ${result.packages.join(" ")}` : ""}${result?.handlers.length ? `, handlers ${result.handlers.join(", ")}` : ""}`;
}

/** A wave's report from its hosts' progress: a host is ok when it has no error and its apply (if any) was. */
function waveRun(wave: Wave, hostRuns: ReadonlyMap<string, HostProgress>, ok: boolean, ms: number, extra: { strategy?: WaveRun["strategy"]; settledMs?: number; error?: string }): WaveRun {
  return {
    index: wave.index,
    kind: wave.kind,
    ...(extra.strategy ? { strategy: extra.strategy } : {}),
    hosts: wave.hosts.map((host) => {
      const r = hostRuns.get(host)!;
      return { host, ok: r.error === undefined && (r.apply?.ok ?? ok), ms: Math.round(performance.now() - r.t0), steps: r.steps, ...(r.apply ? { apply: r.apply } : {}), ...(r.error ? { error: r.error } : {}) };
    }),
    ok,
    ms,
    ...(extra.settledMs !== undefined ? { settledMs: extra.settledMs } : {}),
    ...(extra.error ? { error: extra.error } : {}),
  };
}

export interface RolloutReport {
  readonly ok: boolean;
  readonly waves: WaveRun[];
  readonly ms: number;
  /** When it stopped: the state the cluster is left in, in words. */
  readonly leftIn?: string;
}

export interface ExecuteOptions {
  readonly stackDir: string;
  readonly inventory: Inventory;
  readonly override?: InventoryOverride;
  readonly plan: RolloutPlan;
  /** Bundle directory → the marker its hosts record once they hold this synthesis. */
  readonly markers: ReadonlyMap<string, string>;
  /** Only these bundles (`--bundle`). @default every bundle */
  readonly bundles?: readonly string[];
  /** Seconds a node may take to stop, come back, or the cluster to settle. @default 180 */
  readonly settleTimeoutSec?: number;
  readonly log?: (line: string) => void;
}

/**
 * The waves this executor runs: the outage wave (the plan has one only when the deploy was
 * allowed an outage), then the management nodes' rolling waves; a node the outage wave applied is
 * not taken down again by a rolling wave.
 */
export function executedWaves(plan: RolloutPlan, bundles?: readonly string[]): Wave[] {
  const outage = new Set(plan.waves.filter((w) => w.kind === "outage").flatMap((w) => w.hosts));
  const membership = plan.waves.some((w) => w.kind === "membership");
  return plan.waves
    .filter((w) => w.kind === "rolling" || w.kind === "outage" || (w.kind === "together" && !membership && togetherCovered(w, bundles)))
    .map((w) => ({ ...w, hosts: w.hosts.filter((h) => (!bundles || bundles.includes(`hosts/${h}`)) && (w.kind === "outage" || !outage.has(h))) }))
    .filter((w) => w.hosts.length > 0);
}

/**
 * The together wave runs only on every node at once: a deploy of some bundles (`--bundle`) that
 * leaves a node out leaves it to Terraform (handlers at once, as before the executor).
 */
function togetherCovered(wave: Wave, bundles?: readonly string[]): boolean {
  return !bundles || wave.hosts.every((h) => bundles.includes(`hosts/${h}`));
}

/** The executed waves the deploy cannot stage: Terraform applies their hosts with handlers at once. */
export function unstagedWaves(plan: RolloutPlan, bundles?: readonly string[]): Wave[] {
  const executed = new Set(executedWaves(plan, bundles).map((w) => w.index));
  return plan.waves.filter((w) => (w.kind === "together" || w.kind === "membership") && !executed.has(w.index));
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs the rolling waves; throws RolloutError (with the report so far) when one stops. */
export async function executeRollout(options: ExecuteOptions): Promise<RolloutReport> {
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const waves: WaveRun[] = [];
  const executed = executedWaves(options.plan, options.bundles);
  // The together wave applies whole bundles (their other handlers run): a node whose other changes
  // need its groups moved away first (standby) would get them at once. Two deploys, then.
  const together = executed.find((w) => w.kind === "together");
  const standby = executed.filter((w) => w.strategy === "standby").flatMap((w) => w.hosts);
  if (together && standby.length > 0) {
    throw new RolloutError(
      [
        `wave ${together.index} (together) changes corosync settings every node must share, and ${standby.join(", ")} also ${standby.length === 1 ? "has changes" : "have changes"} that need the standby strategy: nothing was sent`,
        "deploy the corosync change on its own first (the site with only that change), then the rest",
      ],
      { ok: false, waves: [], ms: 0, leftIn: "as it was: nothing was changed" },
    );
  }
  for (const wave of executed) {
    const run = wave.kind === "together" ? await runTogether(options, wave, log) : await runWave(options, wave, log);
    waves.push(run.wave);
    if (!run.wave.ok) {
      const report: RolloutReport = { ok: false, waves, ms: Math.round(performance.now() - t0), leftIn: run.leftIn };
      const failed = run.wave.hosts.filter((h) => !h.ok);
      throw new RolloutError(
        [
          `wave ${wave.index} (${run.wave.strategy ?? run.wave.kind}) stopped at ${failed.map((h) => h.host).join(", ") || wave.hosts.join(", ")}: ${run.wave.error ?? failed.map((h) => `${h.host}: ${h.error}`).join("; ")}`,
          `the cluster is left ${run.leftIn}`,
          "fix the cause and run hpcdk deploy again: it continues with the nodes that do not hold the new bundle yet",
        ],
        report,
      );
    }
  }
  const problems = await rerunAfterFilesSteps(options, waves, log);
  if (problems.length > 0) {
    const report: RolloutReport = { ok: false, waves, ms: Math.round(performance.now() - t0), leftIn: "settled, with every node's new files" };
    throw new RolloutError([...problems, "fix the cause and run hpcdk deploy again: the steps run again on every management node"], report);
  }
  return { ok: true, waves, ms: Math.round(performance.now() - t0) };
}

/**
 * After the waves: every applied management node's `after-files` steps once more, on the
 * cluster as the rollout left it. A step that acts where a resource runs (the pool's missing
 * datasets and their sync property: made only on the node that has the pool imported) found
 * nothing to do on a node applied in standby or in the outage wave, with the pool elsewhere or
 * exported. Steps are idempotent (the bundle contract), and this runs before Terraform's CIB
 * step, so a new export's dataset exists before its exportfs resource starts.
 */
async function rerunAfterFilesSteps(options: ExecuteOptions, waves: readonly WaveRun[], log: (line: string) => void): Promise<string[]> {
  const hosts = waves.filter((w) => w.strategy === "standby" || w.strategy === "outage" || w.strategy === "maintenance").flatMap((w) => w.hosts.map((h) => h.host));
  const problems: string[] = [];
  for (const host of [...new Set(hosts)]) {
    const manifest = JSON.parse(readFileSync(join(options.stackDir, manifestPathOf(`hosts/${host}`)), "utf8")) as BundleManifest;
    const steps = manifest.steps.filter((s) => s.phase === "after-files");
    if (steps.length === 0) continue;
    let session: SshSession | undefined;
    try {
      session = await connect(options.inventory, host);
      for (const step of steps) {
        await session.run(session.asRoot("sh -s"), { stdin: `set -e\n${step.run}\n`, timeoutMs: 300_000 });
        log(`[after the waves] ${host}: ${step.description}`);
      }
    } catch (err) {
      problems.push(`${host}: an after-files step, run again after the waves, failed: ${(err as Error).message}`);
    } finally {
      session?.close();
    }
  }
  return problems;
}

interface WaveOutcome {
  wave: WaveRun;
  leftIn: string;
}

async function runWave(options: ExecuteOptions, wave: Wave, log: (line: string) => void): Promise<WaveOutcome> {
  const t0 = performance.now();
  const timeout = options.settleTimeoutSec ?? 180;
  const strategy = wave.kind === "outage" ? "outage" : (wave.strategy ?? "files");
  const nodes = options.inventory.managementNodes;
  const at = () => Math.round(performance.now() - t0);
  const say = (host: string, what: string) => log(`[wave ${wave.index} ${strategy}] ${host}: ${what} (${seconds(at())})`);
  const hostRuns = new Map<string, HostProgress>();
  for (const h of wave.hosts) hostRuns.set(h, { steps: [], t0: performance.now() });
  const step = (host: string, what: string) => {
    hostRuns.get(host)!.steps.push({ what, atMs: at() });
    say(host, what);
  };
  const finish = (ok: boolean, leftIn: string, error?: string, settledMs?: number): WaveOutcome => ({
    wave: waveRun(wave, hostRuns, ok, at(), { strategy, ...(settledMs !== undefined ? { settledMs } : {}), ...(error ? { error } : {}) }),
    leftIn,
  });

  const apply = async (host: string): Promise<boolean> => {
    const bundle = `hosts/${host}`;
    const r = await applyBundle({ stackDir: options.stackDir, bundle, ...(options.override ? { override: options.override } : {}), expect: options.markers.get(bundle) });
    const result = r.hosts[0];
    if (result) hostRuns.get(host)!.apply = result;
    if (!r.ok) {
      hostRuns.get(host)!.error = `apply failed: ${result?.error ?? "no result"}`;
      step(host, `apply FAILED: ${result?.error ?? "no result"}`);
      return false;
    }
    step(host, `applied: ${appliedSummary(result)}`);
    return true;
  };

  /** Runs `work` over a session to `host`: true when it did; else the host's error is `doing`'s. */
  const onHost = async (host: string, doing: string, work: (s: SshSession) => Promise<void>, done: string): Promise<boolean> => {
    let s: SshSession | undefined;
    try {
      s = await connect(options.inventory, host);
      await work(s);
      step(host, done);
      return true;
    } catch (err) {
      hostRuns.get(host)!.error = `${doing}: ${(err as Error).message}`;
      step(host, `${doing} FAILED: ${(err as Error).message}`);
      return false;
    } finally {
      s?.close();
    }
  };
  const stopStack = (host: string) => onHost(host, "stopping the cluster stack", (s) => stopClusterStack(s, timeout), "pacemaker and corosync stopped");

  if (wave.kind === "outage") {
    // Every node's cluster stack stopped (pacemaker stops the resources cleanly), every bundle
    // applied, corosync started everywhere, then pacemaker: the nodes come back with the new
    // settings together.
    const stopped = await Promise.all(wave.hosts.map(stopStack));
    if (stopped.some((ok) => !ok)) return finish(false, "partly stopped: NFS may be down; start corosync, then pacemaker, on every node once fixed");
    const applied = await Promise.all(wave.hosts.map((h) => apply(h)));
    if (applied.some((ok) => !ok)) return finish(false, "stopped on every node (NFS is down): fix the failed node, then rerun with --allow-outage, or start corosync and pacemaker by hand");
    for (const phase of ["corosync", "pacemaker"] as const) {
      const started = await Promise.all(wave.hosts.map((host) => onHost(host, `starting ${phase}`, (s) => startService(s, phase), `${phase} started`)));
      if (started.some((ok) => !ok)) return finish(false, `${phase} did not start everywhere: NFS is down until it does`);
    }
    const found = await quorateNode(options.inventory, timeout);
    if ("error" in found) return finish(false, "started, but without a quorate cluster", found.error);
    try {
      const settled = await waitSettled(found.session, { nodes }, timeout);
      if (settled) return finish(false, "started, not settled: look at crm_mon", settled);
    } finally {
      found.release();
    }
    // Every node started with the new corosync.conf: a together wave's record of an older one
    // (one that stopped before this deploy) says nothing any more.
    const dropped = await Promise.all(wave.hosts.map((host) => onHost(host, "removing the record of the old corosync.conf", dropRunningConf, "cluster settled")));
    if (dropped.some((ok) => !ok)) return finish(false, "settled; a record of an old corosync.conf is left (the next deploy reloads once more and removes it)");
    return finish(true, "settled", undefined, at());
  }

  if (strategy === "files") {
    for (const host of wave.hosts) {
      if (!(await apply(host))) return finish(false, "as it was: only this node's files were being replaced (the apply script restores a file whose handler failed)", hostRuns.get(host)!.error);
    }
    return finish(true, "settled");
  }

  // maintenance and standby: the cluster's view from a node outside the wave.
  const found = await quorateNode({ ...options.inventory, managementNodes: nodes.filter((n) => !wave.hosts.includes(n)) }, 10);
  if ("error" in found) return finish(false, "as it was: nothing was changed", `no quorate node outside the wave to watch the cluster from: ${found.error}`);
  const watcher: SshSession = found.session;
  try {
    const before = await monitor(watcher);
    if ("problem" in before) return finish(false, "as it was: nothing was changed", before.problem);
    // Where each of the wave's nodes' resources run now: under maintenance they must be re-probed there.
    const runningOn: Record<string, string> = {};
    const fenceDevices = new Set(fenceDeviceIds(before.xml));
    for (const [id, where] of Object.entries(before.status.placement)) {
      // A fence device runs where the scheduler puts it once maintenance ends: nothing to re-probe.
      if (fenceDevices.has(id)) continue;
      const on = where.find((n) => wave.hosts.includes(n));
      if (on !== undefined && where.length === 1) runningOn[id] = on;
    }
    // Start from a settled cluster: a rollout on top of a failover makes it worse.
    const settledBefore = await waitSettled(watcher, { nodes }, timeout);
    if (settledBefore) return finish(false, "as it was: nothing was changed", `the cluster was not settled before the wave: ${settledBefore}`);

    let ownsMaintenance = false;
    if (strategy === "maintenance") {
      ownsMaintenance = await enterMaintenance(watcher);
      for (const h of wave.hosts) step(h, ownsMaintenance ? "cluster maintenance-mode on" : "cluster already in maintenance-mode (left as it is)");
    } else {
      for (const h of wave.hosts) {
        await setStandby(watcher, h, true);
        step(h, "standby");
      }
      const moved = await waitSettled(watcher, { nodes, emptyNodes: wave.hosts }, timeout);
      if (moved) {
        for (const h of wave.hosts) await setStandby(watcher, h, false);
        return finish(false, `as it was, ${wave.hosts.join(", ")} out of standby again`, `its resources did not move away: ${moved}`);
      }
      for (const h of wave.hosts) step(h, "resources moved away, settled");
    }

    const stateIfStopped = strategy === "maintenance" ? "in maintenance-mode (nothing fails over); the resources keep running unmanaged" : "with the wave's nodes in standby";
    const results = await Promise.all(
      wave.hosts.map(async (host) => (await stopStack(host)) && (await apply(host)) && (await onHost(host, "starting the cluster stack", startClusterStack, "corosync and pacemaker started"))),
    );
    if (results.some((ok) => !ok)) {
      const down = wave.hosts.filter((_, i) => !results[i]);
      return finish(false, `${stateIfStopped}; the cluster stack of ${down.join(", ")} may be stopped (start corosync, then pacemaker, once fixed)`);
    }

    if (strategy === "maintenance") {
      // Back online, and the probes found the resources running where they ran: only then may
      // Pacemaker manage them again.
      const back = await waitSettled(watcher, { nodes, runningOn, idle: false }, timeout);
      if (back) return finish(false, `${stateIfStopped} (left so: ending it now could move or stop resources)`, `after the restart: ${back}`);
      for (const h of wave.hosts) step(h, "online, resources re-probed running");
      if (ownsMaintenance) {
        await leaveMaintenance(watcher);
        for (const h of wave.hosts) step(h, "cluster maintenance-mode off");
      }
    } else {
      for (const h of wave.hosts) {
        await setStandby(watcher, h, false);
        step(h, "out of standby");
      }
    }
    const settled = await waitSettled(watcher, { nodes, ...(strategy === "maintenance" ? { runningOn } : {}) }, timeout);
    if (settled) return finish(false, "out of maintenance, but not settled: look at crm_mon before going on", settled);
    const settledMs = at();
    for (const h of wave.hosts) step(h, "cluster settled");
    return finish(true, "settled", undefined, settledMs);
  } catch (err) {
    return finish(false, "as the error left it: check crm_mon (maintenance-mode and standby)", (err as Error).message);
  } finally {
    watcher.close();
  }
}

/**
 * The together wave: every management node's bundle with corosync.conf's reload held back, one
 * `corosync-cfgtool -R` once every node has the file, every node checked to run the new values,
 * then the held reload released (the nodes' markers written) and the record of the old file
 * removed. (A link address is no together change: corosync cannot reload it, ./corosync.ts.)
 */
async function runTogether(options: ExecuteOptions, wave: Wave, log: (line: string) => void): Promise<WaveOutcome> {
  const t0 = performance.now();
  const timeout = options.settleTimeoutSec ?? 180;
  const nodes = options.inventory.managementNodes;
  const work = wave.corosync ?? { totem: {} };
  const at = () => Math.round(performance.now() - t0);
  const hostRuns = new Map<string, HostProgress>();
  for (const h of wave.hosts) hostRuns.set(h, { steps: [], t0: performance.now() });
  const step = (host: string, what: string) => {
    hostRuns.get(host)!.steps.push({ what, atMs: at() });
    log(`[wave ${wave.index} together] ${host}: ${what} (${seconds(at())})`);
  };
  const fail = (host: string, doing: string, error: string) => {
    hostRuns.get(host)!.error = `${doing}: ${error}`;
    step(host, `${doing} FAILED: ${error}`);
  };
  let settledMs: number | undefined;
  const finish = (ok: boolean, leftIn: string, error?: string): WaveOutcome => ({
    wave: waveRun(wave, hostRuns, ok, at(), { ...(settledMs !== undefined ? { settledMs } : {}), ...(error ? { error } : {}) }),
    leftIn,
  });
  /** `work` over a session to each host, all at once; true when every one did. */
  const onEach = async (hosts: readonly string[], doing: string, work: (s: SshSession, host: string) => Promise<string | void>): Promise<boolean> => {
    const done = await Promise.all(
      hosts.map(async (host) => {
        let s: SshSession | undefined;
        try {
          s = await connect(options.inventory, host);
          const said = await work(s, host);
          if (said) step(host, said);
          return true;
        } catch (err) {
          fail(host, doing, (err as Error).message);
          return false;
        } finally {
          s?.close();
        }
      }),
    );
    return done.every(Boolean);
  };
  const manifestOf = (host: string) => JSON.parse(readFileSync(join(options.stackDir, manifestPathOf(`hosts/${host}`)), "utf8")) as BundleManifest;
  const confOf = (host: string) => manifestOf(host).files.find((f) => f.path === COROSYNC_CONF);
  const apply = async (host: string, how: Pick<ApplyOptions, "holdHandlers" | "heldRan">, what: string): Promise<boolean> => {
    const bundle = `hosts/${host}`;
    const r = await applyBundle({ stackDir: options.stackDir, bundle, ...(options.override ? { override: options.override } : {}), expect: options.markers.get(bundle), ...how });
    const result = r.hosts[0];
    if (result) hostRuns.get(host)!.apply = result;
    if (!r.ok) {
      fail(host, "apply", result?.error ?? "no result");
      return false;
    }
    step(host, `${what}: ${appliedSummary(result)}${result?.held?.length ? ", corosync.conf's reload held" : ""}`);
    return true;
  };

  const missing = wave.hosts.filter((h) => confOf(h) === undefined);
  if (missing.length > 0) return finish(false, "as it was: nothing was changed", `${missing.join(", ")}: the bundle has no ${COROSYNC_CONF}`);
  const next = parseCorosyncConf(readFileSync(join(options.stackDir, "hosts", wave.hosts[0]!, COROSYNC_CONF.slice(1)), "utf8"));

  // Start from a settled cluster (a reload on top of a failover makes it worse).
  const found = await quorateNode(options.inventory, 10);
  if ("error" in found) return finish(false, "as it was: nothing was changed", `no quorate node to reload the cluster from: ${found.error}`);
  try {
    const settledBefore = await waitSettled(found.session, { nodes }, timeout);
    if (settledBefore) return finish(false, "as it was: nothing was changed", `the cluster was not settled before the wave: ${settledBefore}`);
  } finally {
    found.release();
  }

  // 1. What the cluster runs, kept where a rerun's plan reads it; 2. the files, reload held.
  if (!(await onEach(wave.hosts, "recording the corosync.conf the cluster runs", (s) => recordRunningConf(s)))) {
    return finish(false, "as it was: no file was sent", "the record of the running corosync.conf could not be written");
  }
  const applied = await Promise.all(wave.hosts.map((h) => apply(h, { holdHandlers: confOf(h)!.handlers }, "applied")));
  if (applied.some((ok) => !ok)) {
    return finish(false, "running the old corosync settings everywhere: some nodes hold the new corosync.conf, none reloaded it (a rerun sends the rest, then reloads)");
  }

  // 3. One reload, from one node, now that every node has the file; the cluster settles.
  const reloadFrom = wave.hosts[0]!;
  if (!(await onEach([reloadFrom], "corosync-cfgtool -R", async (s) => reloadCorosync(s)))) {
    return finish(false, "every node holds the new corosync.conf; the reload failed, so the cluster may run the old settings or some nodes the new (a rerun reloads again)");
  }
  for (const h of wave.hosts) step(h, `corosync-cfgtool -R (from ${reloadFrom})`);
  const watcher = await quorateNode(options.inventory, 10);
  if ("error" in watcher) return finish(false, "reloaded, but without a quorate cluster: look at crm_mon and corosync-cfgtool -s", watcher.error);
  try {
    const settled = await waitSettled(watcher.session, { nodes }, timeout);
    if (settled) return finish(false, "reloaded, not settled: look at crm_mon and corosync-cfgtool -s before going on", settled);
    settledMs = at();
  } finally {
    watcher.release();
  }

  // 4. Every node runs the new values.
  const wrong: string[] = [];
  const checked = await onEach(wave.hosts, "checking what corosync runs", async (s, host) => {
    const problems = runtimeProblems(host, next, work.totem, await runtimeAnswers(s));
    if (problems.length > 0) {
      wrong.push(`${host}: ${problems.join("; ")}`);
      throw new Error(problems.join("; "));
    }
    const totem = Object.entries(work.totem).map(([k, v]) => `totem.${k}=${v ?? "(unset)"}`);
    return `corosync runs the new values (${[...totem, "node list and links"].join(", ")})`;
  });
  if (!checked) return finish(false, "reloaded and settled, but not every node runs the new corosync values (corosync-cmapctl, corosync-cfgtool -s): restart corosync there under maintenance, or rerun", wrong.join(" | ") || undefined);

  // 5. The held reload is done: released (the markers written), and the record removed.
  const released = await Promise.all(wave.hosts.map((h) => apply(h, { heldRan: true }, "held reload released")));
  if (released.some((ok) => !ok)) return finish(false, "running the new corosync settings everywhere; some nodes' markers are not written (a rerun finishes them)");
  if (!(await onEach(wave.hosts, "removing the record of the old corosync.conf", async (s) => dropRunningConf(s)))) {
    return finish(false, "running the new corosync settings everywhere; a record of the old corosync.conf is left (a rerun reloads once more and removes it)");
  }
  for (const h of wave.hosts) step(h, "cluster settled");
  return finish(true, "settled");
}

const COROSYNC_CONF = "/etc/corosync/corosync.conf";
