/**
 * The wave executor: the management nodes' rolling waves of a rollout plan, run one wave at a
 * time (a wave holds at most `maxUnavailable` nodes, never so many that quorum could be lost),
 * each node with its wave's strategy:
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
import { applyBundle } from "../deploy/apply.js";
import { manifestPathOf } from "../deploy/bundle.js";
import type { HostResult } from "../deploy/result.js";
import { quorateNode } from "../pacemaker/live-cluster.js";
import { connect } from "../remote/connect.js";
import type { SshSession } from "../remote/ssh.js";
import { enterMaintenance, fenceDeviceIds, leaveMaintenance, monitor, setStandby, startClusterStack, startService, stopClusterStack, waitSettled } from "./cluster-ops.js";
import type { RolloutPlan, Strategy, Wave } from "./plan.js";

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
  return plan.waves
    .filter((w) => w.kind === "rolling" || w.kind === "outage")
    .map((w) => ({ ...w, hosts: w.hosts.filter((h) => (!bundles || bundles.includes(`hosts/${h}`)) && (w.kind === "outage" || !outage.has(h))) }))
    .filter((w) => w.hosts.length > 0);
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Runs the rolling waves; throws RolloutError (with the report so far) when one stops. */
export async function executeRollout(options: ExecuteOptions): Promise<RolloutReport> {
  const log = options.log ?? (() => {});
  const t0 = performance.now();
  const waves: WaveRun[] = [];
  for (const wave of executedWaves(options.plan, options.bundles)) {
    const run = await runWave(options, wave, log);
    waves.push(run.wave);
    if (!run.wave.ok) {
      const report: RolloutReport = { ok: false, waves, ms: Math.round(performance.now() - t0), leftIn: run.leftIn };
      const failed = run.wave.hosts.filter((h) => !h.ok);
      throw new RolloutError(
        [
          `wave ${wave.index} (${run.wave.strategy}) stopped at ${failed.map((h) => h.host).join(", ") || wave.hosts.join(", ")}: ${run.wave.error ?? failed.map((h) => `${h.host}: ${h.error}`).join("; ")}`,
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
  const hostRuns = new Map<string, { steps: StepTiming[]; apply?: HostResult; error?: string; t0: number }>();
  for (const h of wave.hosts) hostRuns.set(h, { steps: [], t0: performance.now() });
  const step = (host: string, what: string) => {
    hostRuns.get(host)!.steps.push({ what, atMs: at() });
    say(host, what);
  };
  const finish = (ok: boolean, leftIn: string, error?: string, settledMs?: number): WaveOutcome => ({
    wave: {
      index: wave.index,
      kind: wave.kind,
      strategy,
      hosts: wave.hosts.map((host) => {
        const r = hostRuns.get(host)!;
        return { host, ok: r.error === undefined && (r.apply?.ok ?? ok), ms: Math.round(performance.now() - r.t0), steps: r.steps, ...(r.apply ? { apply: r.apply } : {}), ...(r.error ? { error: r.error } : {}) };
      }),
      ok,
      ms: at(),
      ...(settledMs !== undefined ? { settledMs } : {}),
      ...(error ? { error } : {}),
    },
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
    step(host, `applied: ${result?.changed.length ?? 0} changed${result?.packages.length ? `, packages ${result.packages.join(" ")}` : ""}${result?.handlers.length ? `, handlers ${result.handlers.join(", ")}` : ""}`);
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
    for (const h of wave.hosts) step(h, "cluster settled");
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
