/**
 * What the cluster would do when a node fails, asked of Pacemaker's own scheduler: crm_simulate
 * plans on the synthesized CIB, first with every node online and nothing running, then, from
 * the state that plan leads to, with each node failed in turn. The transition graph of each plan
 * tells what is fenced, what starts and stops where, and in which order.
 *
 * The steady state is written here from the bring-up plan (probe results, starts, monitors and
 * the unfencing each node records) rather than by letting `crm_simulate -S` execute the plan:
 * executing takes crm_simulate ~20 s for 200 resources, while planning takes a fraction of one.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { readXml, type XmlElement } from "./xml.js";
import { mapLimited } from "../common/async.js";

const run = promisify(execFile);

/** Where each resource runs: resource id → nodes (several for clone instances, none when stopped). */
export type Placement = Record<string, string[]>;

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

export interface CibNode {
  readonly id: string;
  readonly name: string;
}

interface CibModel {
  readonly nodes: CibNode[];
  /** Primitive id → agent, for the resource history. */
  readonly primitives: Map<string, { cls: string; provider: string | null; type: string }>;
  readonly clones: Set<string>;
  readonly fenceDevices: Set<string>;
  /** crm_feature_set of the CIB: the history records it, and digests depend on it. */
  readonly featureSet: string;
}

/** Simulates the CIB (a synthesized `cib.xml`, with an empty status section). */
export async function simulateCib(cibXml: string, options: SimulateOptions = {}): Promise<SimulationReport> {
  const cib = readCib(cibXml);
  const names = cib.nodes.map((n) => n.name);
  const unknown = (options.fail ?? []).filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new Error(`simulate: unknown node ${unknown.join(", ")} (nodes: ${names.join(", ")})`);
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
  if (!names.includes(node)) throw new Error(`simulate: unknown node ${node} (nodes: ${names.join(", ")})`);
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

/**
 * Writes the CIB as a running cluster has it once everything started with every node online
 * (the bring-up plan's probes, starts and monitors as resource history) and returns the file.
 */
async function writeSteadyState(dir: string, cibXml: string, cib: CibModel, signal?: AbortSignal): Promise<string> {
  const start = join(dir, "start.xml");
  const steady = join(dir, "steady.xml");
  writeFileSync(start, withOnlineStatus(cibXml, cib.nodes));
  const [bringUp, fenceHistory] = await Promise.all([planGraph(dir, start, [], signal), fenceDeviceHistory(dir, cibXml, cib, signal)]);
  writeFileSync(steady, withOnlineStatus(cibXml, cib.nodes, historyFrom(parseGraph(bringUp), cib, fenceHistory)));
  return steady;
}

/**
 * The history of the fence devices after a bring-up that crm_simulate executes: their records
 * carry the parameter digests Pacemaker compares to decide whether a fence device (and every
 * node it unfenced) must restart. Only the fence devices are executed, which is fast.
 */
async function fenceDeviceHistory(dir: string, cibXml: string, cib: CibModel, signal?: AbortSignal): Promise<History> {
  if (cib.fenceDevices.size === 0) return new Map();
  const devices = elements(dom(cibXml), "primitive")
    .filter((p) => p.getAttribute("class") === "stonith")
    .map((p) => p.outerXml)
    .join("");
  const fenceOnly = cibXml
    .replace(/<resources\s*\/>|<resources>[\s\S]*<\/resources>/, `<resources>${devices}</resources>`)
    .replace(/<constraints>[\s\S]*<\/constraints>/, "<constraints/>");
  const start = join(dir, "fence-start.xml");
  const done = join(dir, "fence-done.xml");
  writeFileSync(start, withOnlineStatus(fenceOnly, cib.nodes));
  await crmSimulate(["-x", start, "-S", "-O", done], signal);
  const history: History = new Map();
  for (const state of elements(dom(readFileSync(done, "utf8")), "node_state")) {
    const name = state.getAttribute("uname")!;
    const xml = elements(state, "lrm_resource").map((r) => r.outerXml);
    history.set(name, xml);
  }
  return history;
}

let graphCount = 0;

/** The transition graph Pacemaker plans for a CIB file, after the given modifications. */
async function planGraph(dir: string, cibFile: string, modifications: string[], signal?: AbortSignal): Promise<string> {
  const graph = join(dir, `graph-${graphCount++}.xml`);
  await crmSimulate(["-x", cibFile, ...modifications, "-G", graph], signal);
  return readFileSync(graph, "utf8");
}

async function crmSimulate(args: string[], signal?: AbortSignal): Promise<void> {
  try {
    await run("crm_simulate", ["-Q", ...args], { maxBuffer: 64 * 1024 * 1024, ...(signal ? { signal } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error("crm_simulate is not installed: apt-get install pacemaker-cli-utils (Debian) or dnf install pacemaker-cli (RHEL)");
    }
    throw new Error(`crm_simulate ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Reading XML

/**
 * CIBs, graphs and crm_mon's output are read with the small reader of ./xml.ts (xmlbuilder2's
 * DOM was most of a large site's `hpcdk diff` time); elements copied into another CIB are copied
 * as they stand in the text.
 */
function dom(xml: string): XmlElement {
  return readXml(xml);
}

function elements(root: XmlElement, tag: string): XmlElement[] {
  return root.getElementsByTagName(tag);
}

/** The cluster nodes a CIB configures, by corosync id and name. */
export function cibNodes(cibXml: string): CibNode[] {
  return readCib(cibXml).nodes;
}

function readCib(cibXml: string): CibModel {
  const root = dom(cibXml);
  const nodes = elements(root, "node")
    .filter((n) => n.parentNode?.tagName === "nodes")
    .map((n) => ({ id: n.getAttribute("id")!, name: n.getAttribute("uname")! }));
  const primitives = new Map(
    elements(root, "primitive").map((p) => [
      p.getAttribute("id")!,
      { cls: p.getAttribute("class")!, provider: p.getAttribute("provider"), type: p.getAttribute("type")! },
    ]),
  );
  const clones = new Set(elements(root, "clone").flatMap((c) => elements(c, "primitive").map((p) => p.getAttribute("id")!)));
  const fenceDevices = new Set([...primitives].filter(([, p]) => p.cls === "stonith").map(([id]) => id));
  return { nodes, primitives, clones, fenceDevices, featureSet: root.getAttribute("crm_feature_set") ?? "3.16.1" };
}

interface GraphAction {
  readonly id: string;
  readonly tag: string;
  readonly operation: string;
  readonly key: string;
  readonly node?: string;
  readonly resource?: string;
  readonly intervalMs: number;
  readonly stonithAction?: string;
  /** The action's parameters as the graph passes them to the agent (instance and CRM_meta_ attributes). */
  readonly attributes: Record<string, string>;
}

interface Graph {
  readonly actions: Map<string, GraphAction>;
  readonly inputs: Map<string, string[]>;
}

function attributesOf(el: XmlElement | undefined): Record<string, string> {
  return Object.fromEntries((el?.attributes ?? []).map((a) => [a.name, a.value]));
}

/**
 * The digest Pacemaker records for an operation (`op-digest`) and compares with the resource's
 * current definition: MD5 of the parameters, sorted, as `<parameters .../>` with a leading space
 * and a trailing newline (the v1 digest format). Meta-attributes are left out, except the timeout
 * of a recurring operation. Without it the scheduler restarts every resource "due to resource
 * definition change".
 */
export function operationDigest(attributes: Readonly<Record<string, string>>, intervalMs: number): string {
  const kept = Object.entries(attributes).filter(([name]) => !name.startsWith("CRM_meta_") && name !== "crm_feature_set");
  if (intervalMs > 0 && attributes.CRM_meta_timeout !== undefined) kept.push(["CRM_meta_timeout", attributes.CRM_meta_timeout]);
  kept.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const escape = (v: string) =>
    v.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/\n/g, "&#10;").replace(/\r/g, "&#13;").replace(/\t/g, "&#9;");
  const xml = kept.length === 0 ? "<parameters/>" : `<parameters ${kept.map(([k, v]) => `${k}="${escape(v)}"`).join(" ")}/>`;
  return createHash("md5").update(` ${xml}\n`).digest("hex");
}

function parseGraph(graphXml: string): Graph {
  const actions = new Map<string, GraphAction>();
  const inputs = new Map<string, string[]>();
  for (const synapse of elements(dom(graphXml), "synapse")) {
    const el = elements(synapse, "action_set")[0]!.firstElementChild!;
    const primitive = elements(el, "primitive")[0];
    const attributes = elements(el, "attributes")[0];
    const action: GraphAction = {
      id: el.getAttribute("id")!,
      tag: el.tagName,
      operation: el.getAttribute("operation")!,
      key: el.getAttribute("operation_key")!,
      node: el.getAttribute("on_node") ?? undefined,
      // Clone instances are "nfs-server:2" in the graph; the history knows them as "nfs-server".
      resource: primitive?.getAttribute("id")?.replace(/:\d+$/, ""),
      intervalMs: Number(attributes?.getAttribute("CRM_meta_interval") ?? 0),
      stonithAction: attributes?.getAttribute("CRM_meta_stonith_action") ?? undefined,
      attributes: attributesOf(attributes),
    };
    actions.set(action.id, action);
    inputs.set(action.id, elements(synapse, "trigger").map((t) => t.firstElementChild!.getAttribute("id")!));
  }
  return { actions, inputs };
}

// ---------------------------------------------------------------------------------------------
// Writing the status section

const attr = (v: string) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** Node → the lrm_resource elements of its history. */
type History = Map<string, string[]>;

/**
 * The resource history a live cluster records after carrying out `bringUp`: probe results on
 * every node, a start and the recurring monitors where each resource started.
 */
function historyFrom(bringUp: Graph, cib: CibModel, fenceHistory: History): History {
  const featureSet = cib.featureSet;
  const perNode = new Map<string, Map<string, string[]>>();
  let callId = 1;
  const record = (node: string, resource: string, operation: string, intervalMs: number, rc: number, digest: string) => {
    // The history names clone instances by the clone's primitive ("nfs-server_start_0", not "nfs-server:1_start_0").
    const key = `${resource}_${operation}_${intervalMs}`;
    const ops = perNode.get(node) ?? new Map<string, string[]>();
    perNode.set(node, ops);
    const id = intervalMs > 0 ? `${resource}_monitor_${intervalMs}` : `${resource}_last_0`;
    const list = (ops.get(resource) ?? []).filter((o) => !o.includes(`id="${attr(id)}"`));
    const tk = `${callId}:-1:${rc}:00000000-0000-0000-0000-000000000000`;
    list.push(
      `<lrm_rsc_op id="${attr(id)}" operation_key="${attr(key)}" operation="${operation}" crm-debug-origin="hpcdk-simulate" crm_feature_set="${attr(featureSet)}" ` +
        `transition-key="${tk}" transition-magic="0:${rc};${tk}" call-id="${callId++}" rc-code="${rc}" op-status="0" ` +
        `interval="${intervalMs}" last-rc-change="1" exec-time="0" queue-time="0" op-digest="${digest}"/>`,
    );
    ops.set(resource, list);
  };
  // Fence devices come from the executed bring-up (with their digests), everything else from the plan.
  const actions = [...bringUp.actions.values()].filter((a) => a.tag === "rsc_op" && a.resource && a.node && !cib.fenceDevices.has(a.resource));
  // Probes first, then starts, then monitors: the order the cluster runs them in.
  const digest = (a: GraphAction) => operationDigest(a.attributes, a.intervalMs);
  for (const a of actions.filter((a) => a.operation === "monitor" && a.intervalMs === 0)) record(a.node!, a.resource!, "monitor", 0, 7, digest(a));
  for (const a of actions.filter((a) => a.operation === "start")) record(a.node!, a.resource!, "start", 0, 0, digest(a));
  for (const a of actions.filter((a) => a.operation === "monitor" && a.intervalMs > 0)) record(a.node!, a.resource!, "monitor", a.intervalMs, 0, digest(a));

  const history: History = new Map();
  for (const node of cib.nodes.map((n) => n.name)) {
    const ops = perNode.get(node) ?? new Map<string, string[]>();
    history.set(node, [
      ...(fenceHistory.get(node) ?? []),
      ...[...ops].map(([resource, list]) => {
        const agent = cib.primitives.get(resource);
        const provider = agent?.provider ? ` provider="${attr(agent.provider)}"` : "";
        return `<lrm_resource id="${attr(resource)}" class="${attr(agent?.cls ?? "ocf")}"${provider} type="${attr(agent?.type ?? "unknown")}">${list.join("")}</lrm_resource>`;
      }),
    ]);
  }
  return history;
}

/**
 * The CIB as a quorate cluster with every node online. With a history, each node also records
 * its unfencing (#node-unfenced), as the live controller does once unfencing succeeded; without
 * it every later transition would unfence, and restart everything, again.
 */
export function withOnlineStatus(cibXml: string, nodes: readonly CibNode[], history?: History): string {
  const states = nodes
    .map((n) => {
      const open = `<node_state id="${attr(n.id)}" uname="${attr(n.name)}" in_ccm="true" crmd="online" join="member" expected="member" crm-debug-origin="hpcdk-simulate"`;
      if (!history) return `${open}/>`;
      const unfenced = `<transient_attributes id="${attr(n.id)}"><instance_attributes id="status-${attr(n.id)}"><nvpair id="status-${attr(n.id)}-node-unfenced" name="#node-unfenced" value="1"/></instance_attributes></transient_attributes>`;
      const lrm = `<lrm id="${attr(n.id)}"><lrm_resources>${(history.get(n.name) ?? []).join("")}</lrm_resources></lrm>`;
      return `${open}>${unfenced}${lrm}</node_state>`;
    })
    .join("");
  return cibXml
    .replace(/<cib /, `<cib have-quorum="1" dc-uuid="${attr(nodes[0]!.id)}" `)
    .replace(/<status\s*\/>|<status>\s*<\/status>/, `<status>${states}</status>`);
}

/** Where every resource runs in a CIB file, as crm_mon sees it. */
async function placementOf(cibFile: string, signal?: AbortSignal): Promise<Placement> {
  const { stdout } = await run("crm_mon", ["-1", "--output-as=xml"], {
    env: { ...process.env, CIB_file: cibFile },
    maxBuffer: 64 * 1024 * 1024,
    ...(signal ? { signal } : {}),
  });
  const placement: Placement = {};
  const resources = elements(dom(stdout), "resources")[0];
  if (!resources) return placement;
  for (const r of elements(resources, "resource")) {
    const id = r.getAttribute("id")!;
    const on = elements(r, "node").map((n) => n.getAttribute("name")!);
    placement[id] = [...(placement[id] ?? []), ...on].sort();
  }
  return placement;
}

// ---------------------------------------------------------------------------------------------
// The rules

/** Applies the failover rules to the plan for one node failure. */
function judge(failed: string, names: readonly string[], cib: CibModel, before: Placement, graph: Graph): FailureResult {
  const { actions, inputs } = graph;
  const all = [...actions.values()];
  const fenceActions = all.filter((a) => a.tag === "crm_event" && a.operation === "stonith" && a.stonithAction !== "on");
  const fenced = [...new Set(fenceActions.map((a) => a.node!))].sort();
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

// ---------------------------------------------------------------------------------------------
// A configuration change on a running cluster

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
    const { nodes, status } = steady;
    const known = new Set(nodes.map((n) => n.id));
    const joining = next.nodes
      .filter((n) => !known.has(n.id))
      .map((n) => `<node_state id="${attr(n.id)}" uname="${attr(n.name)}" in_ccm="true" crmd="online" join="member" expected="member" crm-debug-origin="hpcdk-simulate"/>`)
      .join("");
    const changed = join(dir, "changed.xml");
    writeFileSync(
      changed,
      newCibXml
        .replace(/<cib /, `<cib have-quorum="1" dc-uuid="${attr(nodes[0]!.id)}" `)
        .replace(/<status\s*\/>|<status>\s*<\/status>/, status.replace("</status>", `${joining}</status>`)),
    );
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
  /** The status section of the old CIB's steady state. */
  readonly status: string;
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
  if (old.nodes.length === 0) throw new Error("cib transition: the old CIB has no nodes");
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-transition-"));
  let before: Promise<Placement>;
  let status: string | undefined;
  try {
    const steadyFile = await writeSteadyState(dir, oldCibXml, old, signal);
    status = /<status>[\s\S]*<\/status>/.exec(readFileSync(steadyFile, "utf8"))?.[0];
    if (!status) throw new Error("cib transition: the steady state has no status section");
    before = placementOf(steadyFile, signal).finally(() => rmSync(dir, { recursive: true, force: true }));
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Awaited by cibTransition, which reports a failure; unused when the CIB did not change.
  before.catch(() => undefined);
  return { cibXml: oldCibXml, nodes: old.nodes, status, before };
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
  const fenced = [
    ...new Set(
      [...graph.actions.values()]
        .filter((a) => a.tag === "crm_event" && a.operation === "stonith" && a.stonithAction !== "on")
        .map((a) => a.node!),
    ),
  ].sort();
  return { changes, fenced };
}
