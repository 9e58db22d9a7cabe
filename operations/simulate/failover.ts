/**
 * What the cluster would do when a node fails, asked of Pacemaker's own scheduler: crm_simulate
 * plans on the synthesized CIB, first with every node online and nothing running, then, from
 * the state that plan leads to (operations/pacemaker/status.ts), with each node failed in turn.
 * The transition graph of each plan tells what is fenced, what starts and stops where, and in
 * which order; the rules below judge it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { mapLimited } from "../../common/async.js";
import { HpcdkError } from "../../common/errors.js";
import { readCib, type CibModel } from "../pacemaker/cib.js";
import type { Placement } from "../pacemaker/crm-mon.js";
import { fencedNodes, isFencing, parseGraph, type Graph } from "../pacemaker/graph.js";
import { writeSteadyState } from "../pacemaker/status.js";
import { placementOf, planGraph } from "../pacemaker/tools.js";

/** The simulation was asked something it cannot answer (a node the CIB does not have). */
export class SimulationError extends HpcdkError {
  override get topic(): string {
    return "simulate";
  }
}

export interface FailureResult {
  /** The node that failed. */
  readonly node: string;
  /** Nodes fenced (reboot or off) in the transition that follows. */
  readonly fenced: string[];
  /** Resources that ran on the failed node and where they go (none: they stay stopped). */
  readonly moved: { resource: string; from: string; to: string[] }[];
  /** Resources that did not run on the failed node but are stopped or restarted anyway. */
  readonly disrupted: string[];
  readonly after: Placement;
  /** Every rule the transition breaks; empty when the failover is safe. */
  readonly violations: string[];
}

export interface SimulationReport {
  readonly nodes: string[];
  /** Where everything runs with all nodes online. */
  readonly initial: Placement;
  /** Resources that do not start, or a cluster that does not settle, with every node online. */
  readonly problems: string[];
  readonly failures: FailureResult[];
  readonly ok: boolean;
}

export interface SimulateOptions {
  /** Nodes to fail, one at a time. @default every node */
  readonly fail?: readonly string[];
}

/** Simulates the CIB (a synthesized `cib.xml`, with an empty status section). */
export async function simulateCib(cibXml: string, options: SimulateOptions = {}): Promise<SimulationReport> {
  const cib = readCib(cibXml);
  const names = cib.nodes.map((n) => n.name);
  const unknown = (options.fail ?? []).filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new SimulationError(`unknown node ${unknown.join(", ")} (nodes: ${names.join(", ")})`);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-simulate-"));
  try {
    const steady = await writeSteadyState(dir, cibXml, cib);
    const initial = await placementOf(steady);

    const problems = Object.entries(initial)
      .filter(([r, on]) => on.length === 0 || (cib.clones.has(r) && on.length < names.length))
      .map(([r]) => `${r} does not start with every node online`);
    const settle = parseGraph(await planGraph(dir, steady, []));
    const pending = [...settle.actions.values()].filter((a) => a.tag !== "pseudo_event");
    if (pending.length > 0) {
      problems.push(`the cluster does not settle: ${pending.slice(0, 5).map((a) => `${a.operation} ${a.resource ?? a.node}`).join(", ")}`);
    }

    const targets = options.fail && options.fail.length > 0 ? [...options.fail] : names;
    const failures = await mapLimited(targets, availableParallelism(), async (node) =>
      judge(node, names, cib, initial, parseGraph(await planGraph(dir, steady, ["--node-fail", node]))),
    );
    return { nodes: names, initial, problems, failures, ok: problems.length === 0 && failures.every((f) => f.violations.length === 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What the scheduler plans when `node` fails now, from a live cluster's CIB (`cibadmin --query`,
 * with its status section): the same rules as {@link simulateCib}, from where things really run.
 */
export async function simulateLiveFailure(liveCibXml: string, node: string): Promise<FailureResult> {
  const cib = readCib(liveCibXml);
  const names = cib.nodes.map((n) => n.name);
  if (!names.includes(node)) throw new SimulationError(`unknown node ${node} (nodes: ${names.join(", ")})`);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-simulate-"));
  try {
    const live = join(dir, "live.xml");
    writeFileSync(live, liveCibXml);
    const before = await placementOf(live);
    return judge(node, names, cib, before, parseGraph(await planGraph(dir, live, ["--node-fail", node])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// The rules

/** Applies the failover rules to the plan for one node failure. */
function judge(failed: string, names: readonly string[], cib: CibModel, before: Placement, graph: Graph): FailureResult {
  const { actions, inputs } = graph;
  const all = [...actions.values()];
  const fenceActions = all.filter(isFencing);
  const fenced = fencedNodes(graph);
  const fenceOfFailed = new Set(fenceActions.filter((a) => a.node === failed).map((a) => a.id));
  const dependsOnFence = (id: string): boolean => {
    const seen = new Set<string>([id]);
    const stack = [id];
    while (stack.length > 0) {
      const cur = stack.pop()!;
      if (fenceOfFailed.has(cur)) return true;
      for (const p of inputs.get(cur) ?? []) if (!seen.has(p)) seen.add(p), stack.push(p);
    }
    return false;
  };

  const starts = all.filter((a) => a.tag === "rsc_op" && a.operation === "start");
  const stops = all.filter((a) => a.tag === "rsc_op" && a.operation === "stop");
  // After the transition: what ran, minus the failed node and every stop, plus every start.
  const after: Placement = {};
  for (const [resource, was] of Object.entries(before)) {
    const stopped = new Set([failed, ...stops.filter((a) => a.resource === resource).map((a) => a.node!)]);
    const started = starts.filter((a) => a.resource === resource).map((a) => a.node!);
    after[resource] = [...new Set([...was.filter((n) => !stopped.has(n)), ...started])].sort();
  }

  const survivors = names.filter((n) => n !== failed);
  const violations: string[] = [];
  if (!fenced.includes(failed)) violations.push(`${failed} is not fenced`);
  const unexpected = fenced.filter((n) => n !== failed);
  if (unexpected.length > 0) violations.push(`healthy node(s) fenced: ${unexpected.join(", ")}`);

  const moved: FailureResult["moved"] = [];
  const disrupted: string[] = [];
  for (const [resource, was] of Object.entries(before).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const now = after[resource]!;
    if (cib.clones.has(resource)) {
      const missing = survivors.filter((n) => !now.includes(n));
      if (missing.length > 0) violations.push(`clone ${resource} is not running on ${missing.join(", ")}`);
    } else if (now.length === 0) {
      violations.push(`${resource} stays stopped although ${survivors.join(", ")} can run it`);
    }
    if (was.includes(failed) && !cib.clones.has(resource)) {
      moved.push({ resource, from: failed, to: now });
      // A fence device may (and must) start elsewhere before the fencing it is needed for.
      if (cib.fenceDevices.has(resource)) continue;
      for (const s of starts.filter((a) => a.resource === resource)) {
        if (!dependsOnFence(s.id)) violations.push(`${resource} starts on ${s.node} before ${failed} is fenced`);
      }
    } else if (stops.some((a) => a.resource === resource && a.node !== failed)) {
      disrupted.push(resource);
    }
  }
  if (disrupted.length > 0) violations.push(`resources not on ${failed} are stopped or restarted: ${disrupted.join(", ")}`);
  return { node: failed, fenced, moved, disrupted, after, violations };
}

/** The report as text, one block per failure. */
export function formatSimulation(site: string, report: SimulationReport): string {
  const lines: string[] = [];
  const where = (p: Placement) =>
    Object.entries(p)
      .map(([r, on]) => `${r}@${on.length > 0 ? on.join("+") : "stopped"}`)
      .join(" ");
  lines.push(`${site}: ${report.nodes.length} nodes (${report.nodes.join(", ")}), all online:`);
  lines.push(`  ${where(report.initial)}`);
  for (const p of report.problems) lines.push(`  problem: ${p}`);
  for (const f of report.failures) {
    lines.push(`fail ${f.node}: ${f.violations.length === 0 ? "OK" : "FAILED"}`);
    lines.push(`  fenced: ${f.fenced.join(", ") || "nobody"}`);
    for (const m of f.moved) lines.push(`  ${m.resource}: ${m.from} -> ${m.to.join("+") || "stopped"}`);
    for (const v of f.violations) lines.push(`  violation: ${v}`);
  }
  lines.push(report.ok ? "every failover is safe" : "some failovers are NOT safe");
  return lines.join("\n") + "\n";
}

