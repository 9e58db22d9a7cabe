/**
 * What Pacemaker does to a running cluster when its configuration changes: the transition the
 * scheduler plans from the old configuration's steady state (a synthesized CIB, for
 * `hpcdk diff`) or from a live cluster's status (`hpcdk diff --live`) to the new configuration,
 * summed up per resource.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CibError, readCib, type CibNode } from "../pacemaker/cib.js";
import type { Placement } from "../pacemaker/crm-mon.js";
import { fencedNodes, parseGraph, type Graph } from "../pacemaker/graph.js";
import { onlineNodeState, statusContent, withStatusSection, writeSteadyState } from "../pacemaker/status.js";
import { placementOf, planGraph } from "../pacemaker/tools.js";

/** What Pacemaker does to one resource when the configuration changes. */
export interface ResourceChange {
  readonly resource: string;
  /**
   * - `start`: starts (a new resource, or one that could not run before);
   * - `stop`: stops (a removed resource, or one that can no longer run);
   * - `restart`: stops and starts on the same node(s);
   * - `move`: stops on some nodes and starts on others;
   * - `reload`: the agent rereads its parameters without a restart.
   */
  readonly action: "start" | "stop" | "restart" | "move" | "reload";
  /** Nodes it stops on (or reloads on). */
  readonly from: string[];
  /** Nodes it starts on. */
  readonly to: string[];
}

export interface CibTransition {
  /** Where everything runs under the old configuration. */
  readonly before: Placement;
  /** Every resource Pacemaker stops, starts, restarts, moves or reloads, sorted by resource. */
  readonly changes: ResourceChange[];
  /** Nodes Pacemaker fences in the transition. */
  readonly fenced: string[];
}

/**
 * What Pacemaker's scheduler does when a running cluster's configuration is replaced: the old
 * CIB is brought to its steady state (every node online, every resource started, with the
 * operation digests a live cluster records), the new configuration is put over that status,
 * and crm_simulate plans the transition. A changed resource parameter shows as a restart (the
 * digests differ), a removed resource as a stop, a new one as a start, changed constraints as
 * moves. Nodes the new CIB adds are online without history, as they are once the deploy has
 * started them.
 */
export async function cibTransition(oldCibXml: string, newCibXml: string, steadyState?: Promise<SteadyState>): Promise<CibTransition> {
  const next = readCib(newCibXml);
  const prepared = steadyState ? await steadyState : undefined;
  const steady = prepared?.cibXml === oldCibXml ? prepared : await cibSteadyState(oldCibXml);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-transition-"));
  try {
    const { nodes, nodeStates } = steady;
    const known = new Set(nodes.map((n) => n.id));
    const joining = next.nodes
      .filter((n) => !known.has(n.id))
      .map((n) => `${onlineNodeState(n)}/>`)
      .join("");
    const changed = join(dir, "changed.xml");
    writeFileSync(changed, withStatusSection(newCibXml, nodes[0]!.id, `${nodeStates}${joining}`));
    // Where things run before and what the new configuration changes are independent questions.
    const [before, graph] = await Promise.all([steady.before, planGraph(dir, changed, [])]);
    return { before, ...transitionOf(parseGraph(graph)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The part of a CIB transition that depends on the old CIB only. */
export interface SteadyState {
  /** The old CIB. */
  readonly cibXml: string;
  readonly nodes: CibNode[];
  /** The content of the status section of the old CIB's steady state: its node states. */
  readonly nodeStates: string;
  /** Where everything runs in the steady state (crm_mon, still running when the rest is ready). */
  readonly before: Promise<Placement>;
}

/**
 * Brings the old CIB of a {@link cibTransition} to its steady state. `hpcdk diff` starts this
 * while it synthesizes the new side, and passes it on; `signal` stops Pacemaker's tools when the
 * new CIB turns out to be the same.
 */
export async function cibSteadyState(oldCibXml: string, signal?: AbortSignal): Promise<SteadyState> {
  const old = readCib(oldCibXml);
  if (old.nodes.length === 0) throw new CibError("cib transition: the old CIB has no nodes");
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-transition-"));
  let before: Promise<Placement>;
  let nodeStates: string;
  try {
    const steadyFile = await writeSteadyState(dir, oldCibXml, old, signal);
    nodeStates = statusContent(readFileSync(steadyFile, "utf8"));
    before = placementOf(steadyFile, signal).finally(() => rmSync(dir, { recursive: true, force: true }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Awaited by cibTransition, which reports a failure; unused when the CIB did not change.
  before.catch(() => undefined);
  return { cibXml: oldCibXml, nodes: old.nodes, nodeStates, before };
}

/**
 * What Pacemaker's scheduler does when a running cluster takes a new CIB: `liveCibXml` is the
 * cluster's own CIB (`cibadmin --query`, status included) and `newCibXml` the same CIB with the
 * new configuration (what the deploy pushes). Unlike `cibTransition` no steady state is made up:
 * the transition starts from where things really run.
 */
export async function liveCibTransition(liveCibXml: string, newCibXml: string): Promise<CibTransition> {
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-transition-"));
  try {
    const live = join(dir, "live.xml");
    const next = join(dir, "new.xml");
    writeFileSync(live, liveCibXml);
    writeFileSync(next, newCibXml);
    const [before, graph] = await Promise.all([placementOf(live), planGraph(dir, next, [])]);
    return { before, ...transitionOf(parseGraph(graph)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function transitionOf(graph: Graph): Omit<CibTransition, "before"> {
  const all = [...graph.actions.values()].filter((a) => a.tag === "rsc_op" && a.resource && a.node);
  const byResource = new Map<string, { stops: Set<string>; starts: Set<string>; reloads: Set<string> }>();
  for (const a of all) {
    const kind = a.operation === "stop" ? "stops" : a.operation === "start" ? "starts" : /^reload/.test(a.operation) ? "reloads" : undefined;
    if (!kind) continue;
    const entry = byResource.get(a.resource!) ?? { stops: new Set(), starts: new Set(), reloads: new Set() };
    entry[kind].add(a.node!);
    byResource.set(a.resource!, entry);
  }
  const changes: ResourceChange[] = [...byResource]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([resource, { stops, starts, reloads }]) => {
      const from = [...stops].sort();
      const to = [...starts].sort();
      if (from.length === 0 && to.length === 0) return { resource, action: "reload", from: [...reloads].sort(), to: [] };
      const action = from.length === 0 ? "start" : to.length === 0 ? "stop" : from.join() === to.join() ? "restart" : "move";
      return { resource, action, from, to };
    });
  return { changes, fenced: fencedNodes(graph) };
}
