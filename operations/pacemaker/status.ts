/**
 * A CIB's status section as a running cluster writes it, made up for a synthesized CIB: every
 * node online with quorum, and, for the steady state, the resource history a cluster records
 * once it has brought everything up (probe results, starts, recurring monitors, the fence
 * devices' own records and each node's unfencing). The scheduler then plans from it as from a
 * live cluster.
 *
 * The steady state is written here from the bring-up plan rather than by letting
 * `crm_simulate -S` execute the plan: executing takes crm_simulate ~20 s for 200 resources,
 * while planning takes a fraction of one.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readXml } from "../xml.js";
import { CibError, configurationOf, required, type CibModel, type CibNode } from "./cib.js";
import { parseGraph, type Graph, type GraphAction } from "./graph.js";
import { crmSimulate, planGraph } from "./tools.js";

/** An attribute value as XML writes it between double quotes. */
const attr = (v: string) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");

/** Node name → the `<lrm_resource>` elements of its history. */
export type History = Map<string, string[]>;

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

/** A `<node_state>` of a node that is online and a member, without history. */
export function onlineNodeState(n: CibNode): string {
  return `<node_state id="${attr(n.id)}" uname="${attr(n.name)}" in_ccm="true" crmd="online" join="member" expected="member" crm-debug-origin="hpcdk-simulate"`;
}

/**
 * The CIB with this content as its status section (whatever it held), marked quorate with the
 * given node as DC (`have-quorum`, `dc-uuid` first on `<cib>`).
 */
export function withStatusSection(cibXml: string, dcId: string, content: string): string {
  const root = readXml(cibXml);
  const status = root.child("status");
  const section = `<status>${content}</status>`;
  const at = root.start + 1 + root.tagName.length;
  const head = `${cibXml.slice(0, at)} have-quorum="1" dc-uuid="${attr(dcId)}"`;
  if (status) return head + cibXml.slice(at, status.start) + section + cibXml.slice(status.end);
  const close = cibXml.lastIndexOf("</", root.end - 1);
  if (close < 0 || root.selfClosing) throw new CibError("the CIB has no status section and no place for one");
  return head + cibXml.slice(at, close) + section + cibXml.slice(close);
}

/**
 * The CIB as a quorate cluster with every node online. With a history, each node also records
 * its unfencing (#node-unfenced), as the live controller does once unfencing succeeded; without
 * it every later transition would unfence, and restart everything, again.
 */
export function withOnlineStatus(cibXml: string, nodes: readonly CibNode[], history?: History): string {
  const states = nodes
    .map((n) => {
      const open = onlineNodeState(n);
      if (!history) return `${open}/>`;
      const unfenced = `<transient_attributes id="${attr(n.id)}"><instance_attributes id="status-${attr(n.id)}"><nvpair id="status-${attr(n.id)}-node-unfenced" name="#node-unfenced" value="1"/></instance_attributes></transient_attributes>`;
      const lrm = `<lrm id="${attr(n.id)}"><lrm_resources>${(history.get(n.name) ?? []).join("")}</lrm_resources></lrm>`;
      return `${open}>${unfenced}${lrm}</node_state>`;
    })
    .join("");
  return withStatusSection(cibXml, nodes[0]!.id, states);
}

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
 * The history of the fence devices after a bring-up that crm_simulate executes: their records
 * carry the parameter digests Pacemaker compares to decide whether a fence device (and every
 * node it unfenced) must restart. Only the fence devices are executed, which is fast.
 */
async function fenceDeviceHistory(dir: string, cibXml: string, cib: CibModel, signal?: AbortSignal): Promise<History> {
  if (cib.fenceDevices.size === 0) return new Map();
  const config = configurationOf(readXml(cibXml));
  const devices = config
    .getElementsByTagName("primitive")
    .filter((p) => p.getAttribute("class") === "stonith")
    .map((p) => p.outerXml)
    .join("");
  // The same CIB with the fence devices as its only resources and no constraints.
  const edits = [
    { el: config.child("resources"), text: `<resources>${devices}</resources>` },
    { el: config.child("constraints"), text: "<constraints/>" },
  ].filter((e) => e.el !== undefined);
  let fenceOnly = cibXml;
  for (const { el, text } of edits.sort((a, b) => b.el!.start - a.el!.start)) fenceOnly = fenceOnly.slice(0, el!.start) + text + fenceOnly.slice(el!.end);
  const start = join(dir, "fence-start.xml");
  const done = join(dir, "fence-done.xml");
  writeFileSync(start, withOnlineStatus(fenceOnly, cib.nodes));
  await crmSimulate(["-x", start, "-S", "-O", done], signal);
  const history: History = new Map();
  for (const state of readXml(readFileSync(done, "utf8")).getElementsByTagName("node_state")) {
    history.set(
      required(state, "uname"),
      state.getElementsByTagName("lrm_resource").map((r) => r.outerXml),
    );
  }
  return history;
}

/**
 * Writes, into `dir`, the CIB as a running cluster has it once everything started with every
 * node online (the bring-up plan's probes, starts and monitors as resource history), and
 * returns the file.
 */
export async function writeSteadyState(dir: string, cibXml: string, cib: CibModel, signal?: AbortSignal): Promise<string> {
  const start = join(dir, "start.xml");
  const steady = join(dir, "steady.xml");
  writeFileSync(start, withOnlineStatus(cibXml, cib.nodes));
  const [bringUp, fenceHistory] = await Promise.all([planGraph(dir, start, [], signal), fenceDeviceHistory(dir, cibXml, cib, signal)]);
  writeFileSync(steady, withOnlineStatus(cibXml, cib.nodes, historyFrom(parseGraph(bringUp), cib, fenceHistory)));
  return steady;
}

/** The content of a CIB file's status section (its node states), as written. */
export function statusContent(cibXml: string): string {
  const status = readXml(cibXml).child("status");
  if (!status) throw new CibError("the CIB has no status section");
  return status.selfClosing ? "" : cibXml.slice(status.startTagEnd, cibXml.lastIndexOf("</", status.end - 1));
}
