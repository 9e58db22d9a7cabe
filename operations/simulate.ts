/**
 * What the cluster would do when a node fails, asked of Pacemaker's own scheduler: crm_simulate
 * runs on the synthesized CIB, first bringing every resource up with all nodes online, then
 * failing each node in turn. The transition graph tells what is fenced and in which order
 * actions run; crm_mon tells where every resource ends up.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { create } from "xmlbuilder2";

const run = promisify(execFile);

/** Where each resource runs: resource id → nodes (several for clone instances, none when stopped). */
export type Placement = Record<string, string[]>;

export interface FailureResult {
  /** The node that failed. */
  readonly node: string;
  /** Nodes fenced (reboot or off) in the transition that follows. */
  readonly fenced: string[];
  /** Resources that ran on the failed node and where they went (none: they stayed stopped). */
  readonly moved: { resource: string; from: string; to: string[] }[];
  /** Resources that did not run on the failed node but were stopped or restarted anyway. */
  readonly disrupted: string[];
  readonly after: Placement;
  /** Every rule the transition broke; empty when the failover is safe. */
  readonly violations: string[];
}

export interface SimulationReport {
  readonly nodes: string[];
  /** Where everything runs with all nodes online. */
  readonly initial: Placement;
  /** Resources that do not even start with every node online. */
  readonly problems: string[];
  readonly failures: FailureResult[];
  readonly ok: boolean;
}

export interface SimulateOptions {
  /** Nodes to fail, one at a time. @default every node */
  readonly fail?: readonly string[];
}

interface CibNode {
  readonly id: string;
  readonly name: string;
}

/** Simulates the CIB (a synthesized `cib.xml`, with an empty status section). */
export async function simulateCib(cibXml: string, options: SimulateOptions = {}): Promise<SimulationReport> {
  const nodes = cibNodes(cibXml);
  const names = nodes.map((n) => n.name);
  const unknown = (options.fail ?? []).filter((n) => !names.includes(n));
  if (unknown.length > 0) throw new Error(`simulate: unknown node ${unknown.join(", ")} (nodes: ${names.join(", ")})`);
  const clones = cloneResources(cibXml);
  const fenceDevices = stonithResources(cibXml);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-simulate-"));
  try {
    const start = join(dir, "start.xml");
    const steady = join(dir, "steady.xml");
    writeFileSync(start, withOnlineStatus(cibXml, nodes));
    await crmSimulate(["-x", start, "-S", "-O", steady]);
    // The live controller records each node's unfencing (#node-unfenced) once it succeeded;
    // crm_simulate does not, and without it every later transition would unfence, and restart
    // everything, again. Record it as the cluster would.
    writeFileSync(steady, withUnfencingRecorded(readFileSync(steady, "utf8"), nodes));
    const initial = await placementOf(steady);

    const targets = options.fail && options.fail.length > 0 ? [...options.fail] : names;
    const failures = await mapLimited(targets, availableParallelism(), async (node) => {
      const after = join(dir, `after-${node}.xml`);
      const graph = join(dir, `graph-${node}.xml`);
      await crmSimulate(["-x", steady, "--node-fail", node, "-S", "-O", after, "-G", graph]);
      return judge(node, names, { clones, fenceDevices }, initial, await placementOf(after), readFileSync(graph, "utf8"));
    });
    const problems = Object.entries(initial)
      .filter(([r, on]) => on.length === 0 || (clones.has(r) && on.length < names.length))
      .map(([r]) => `${r} does not start with every node online`);
    return { nodes: names, initial, problems, failures, ok: problems.length === 0 && failures.every((f) => f.violations.length === 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function crmSimulate(args: string[]): Promise<void> {
  try {
    await run("crm_simulate", ["-Q", ...args], { maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") {
      throw new Error("crm_simulate is not installed: apt-get install pacemaker-cli-utils (Debian) or dnf install pacemaker-cli (RHEL)");
    }
    throw new Error(`crm_simulate ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

/** Runs `fn` over `items` with at most `limit` at once, keeping the order of results. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** The part of the DOM that xmlbuilder2 gives and this module reads. */
interface Element {
  readonly tagName: string;
  readonly parentNode: unknown;
  readonly firstElementChild: Element | null;
  getAttribute(name: string): string | null;
  getElementsByTagName(tag: string): ArrayLike<Element>;
}

function dom(xml: string): Element {
  return create(xml).root().node as unknown as Element;
}

function elements(root: Element, tag: string): Element[] {
  return Array.from(root.getElementsByTagName(tag));
}

function cibNodes(cibXml: string): CibNode[] {
  return elements(dom(cibXml), "node")
    .filter((n) => n.parentNode && (n.parentNode as Element).tagName === "nodes")
    .map((n) => ({ id: n.getAttribute("id")!, name: n.getAttribute("uname")! }));
}

function cloneResources(cibXml: string): Set<string> {
  return new Set(elements(dom(cibXml), "clone").flatMap((c) => elements(c, "primitive").map((p) => p.getAttribute("id")!)));
}

function stonithResources(cibXml: string): Set<string> {
  return new Set(elements(dom(cibXml), "primitive").filter((p) => p.getAttribute("class") === "stonith").map((p) => p.getAttribute("id")!));
}

/** The CIB as a quorate cluster with every node online and nothing run yet. */
function withOnlineStatus(cibXml: string, nodes: readonly CibNode[]): string {
  const states = nodes
    .map((n) => `<node_state id="${n.id}" uname="${n.name}" in_ccm="true" crmd="online" join="member" expected="member" crm-debug-origin="hpcdk-simulate"/>`)
    .join("");
  return cibXml.replace(/<cib /, `<cib have-quorum="1" dc-uuid="${nodes[0]!.id}" `).replace(/<status\s*\/>|<status>\s*<\/status>/, `<status>${states}</status>`);
}

function withUnfencingRecorded(cibXml: string, nodes: readonly CibNode[]): string {
  let xml = cibXml;
  for (const n of nodes) {
    const attrs = `<transient_attributes id="${n.id}"><instance_attributes id="status-${n.id}"><nvpair id="status-${n.id}-node-unfenced" name="#node-unfenced" value="1"/></instance_attributes></transient_attributes>`;
    xml = xml.replace(new RegExp(`(<node_state [^>]*id="${n.id}"[^>]*>)`), `$1${attrs}`);
  }
  return xml;
}

/** Where every resource runs in a CIB file, as crm_mon sees it. */
async function placementOf(cibFile: string): Promise<Placement> {
  const { stdout } = await run("crm_mon", ["-1", "--output-as=xml"], {
    env: { ...process.env, CIB_file: cibFile },
    maxBuffer: 64 * 1024 * 1024,
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

interface GraphAction {
  readonly id: string;
  readonly tag: string;
  readonly operation: string;
  readonly node?: string;
  readonly resource?: string;
  readonly stonithAction?: string;
}

function parseGraph(graphXml: string): { actions: Map<string, GraphAction>; inputs: Map<string, string[]> } {
  const actions = new Map<string, GraphAction>();
  const inputs = new Map<string, string[]>();
  const toAction = (el: Element): GraphAction => {
    const primitive = elements(el, "primitive")[0];
    const attributes = elements(el, "attributes")[0];
    return {
      id: el.getAttribute("id")!,
      tag: el.tagName,
      operation: el.getAttribute("operation")!,
      node: el.getAttribute("on_node") ?? undefined,
      // Clone instances are "nfs-server:2" in the graph; placement knows them as "nfs-server".
      resource: primitive?.getAttribute("id")?.replace(/:\d+$/, ""),
      stonithAction: attributes?.getAttribute("CRM_meta_stonith_action") ?? undefined,
    };
  };
  for (const synapse of elements(dom(graphXml), "synapse")) {
    const set = elements(synapse, "action_set")[0]!;
    const action = toAction(set.firstElementChild!);
    actions.set(action.id, action);
    const triggers = elements(synapse, "trigger").map((t) => t.firstElementChild!.getAttribute("id")!);
    inputs.set(action.id, triggers);
  }
  return { actions, inputs };
}

/** Applies the failover rules to one simulated node failure. */
function judge(
  failed: string,
  names: readonly string[],
  kinds: { clones: ReadonlySet<string>; fenceDevices: ReadonlySet<string> },
  before: Placement,
  after: Placement,
  graphXml: string,
): FailureResult {
  const { clones, fenceDevices } = kinds;
  const { actions, inputs } = parseGraph(graphXml);
  const fenceActions = [...actions.values()].filter(
    (a) => a.tag === "crm_event" && a.operation === "stonith" && a.stonithAction !== "on",
  );
  const fenced = [...new Set(fenceActions.map((a) => a.node!))].sort();
  const fenceOfFailed = new Set(fenceActions.filter((a) => a.node === failed).map((a) => a.id));

  const dependsOnFence = (id: string): boolean => {
    const seen = new Set<string>();
    const stack = [id];
    while (stack.length > 0) {
      const cur = stack.pop()!;
      if (fenceOfFailed.has(cur)) return true;
      for (const p of inputs.get(cur) ?? []) if (!seen.has(p)) seen.add(p), stack.push(p);
    }
    return false;
  };

  const survivors = names.filter((n) => n !== failed);
  const violations: string[] = [];
  if (!fenced.includes(failed)) violations.push(`${failed} is not fenced`);
  const unexpected = fenced.filter((n) => n !== failed);
  if (unexpected.length > 0) violations.push(`healthy node(s) fenced: ${unexpected.join(", ")}`);

  const moved: FailureResult["moved"] = [];
  const disrupted: string[] = [];
  const starts = [...actions.values()].filter((a) => a.tag === "rsc_op" && a.operation === "start");
  const stops = [...actions.values()].filter((a) => a.tag === "rsc_op" && a.operation === "stop");
  for (const [resource, was] of Object.entries(before).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const now = after[resource] ?? [];
    if (clones.has(resource)) {
      const missing = survivors.filter((n) => !now.includes(n));
      if (missing.length > 0) violations.push(`clone ${resource} is not running on ${missing.join(", ")}`);
    } else if (now.length === 0) {
      violations.push(`${resource} stays stopped although ${survivors.join(", ")} can run it`);
    }
    if (was.includes(failed) && !clones.has(resource)) {
      moved.push({ resource, from: failed, to: now });
      // A fence device may (and must) start elsewhere before the fencing it is needed for.
      if (fenceDevices.has(resource)) continue;
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
