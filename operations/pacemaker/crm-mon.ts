/**
 * What Pacemaker's status tools print as XML, read with the one XML reader: `crm_mon -1
 * --output-as=xml` (nodes, the DC and quorum, where every resource runs) and `stonith_admin
 * --last --output-as=xml` (when a node was last fenced). The text comes from a live host or
 * from crm_mon on a simulated CIB; anything that is not the tool's XML is refused.
 *
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Administration/html/
 */
import { readXml, type XmlElement } from "../xml.js";
import { CibError, required } from "./cib.js";

/** Where each resource runs: resource id → nodes (several for clone instances, none when stopped). */
export type Placement = Record<string, string[]>;

export interface NodeStatus {
  readonly online: boolean;
  readonly unclean: boolean;
  readonly standby: boolean;
}

export interface ClusterStatus {
  /** By node name. */
  readonly nodes: Record<string, NodeStatus>;
  /** Where each resource is started (role `Started`). */
  readonly placement: Placement;
  /** A DC is elected and its partition has quorum: the cluster can take a new CIB. */
  readonly quorate: boolean;
}

function monRoot(xml: string): XmlElement {
  const root = readXml(xml);
  if (root.tagName !== "pacemaker-result" && root.tagName !== "crm_mon") throw new CibError(`crm_mon printed <${root.tagName}>, not its status`);
  return root;
}

/** Resource id → nodes of every `<resource>` (inside groups and clones too) whose role passes. */
function placementOf(root: XmlElement, role: (r: XmlElement) => boolean): Placement {
  const placement: Placement = {};
  const resources = root.child("resources");
  for (const r of resources ? resources.getElementsByTagName("resource") : []) {
    const id = required(r, "id");
    const on = role(r) ? r.children.filter((n) => n.tagName === "node").map((n) => required(n, "name")) : [];
    placement[id] = [...(placement[id] ?? []), ...on].sort();
  }
  return placement;
}

/** Nodes, quorum and where the resources are started, as `crm_mon -1 --output-as=xml` prints them. */
export function parseCrmMon(xml: string): ClusterStatus {
  const root = monRoot(xml);
  const nodes: Record<string, NodeStatus> = {};
  for (const n of root.child("nodes")?.children ?? []) {
    if (n.tagName !== "node") continue;
    nodes[required(n, "name")] = {
      online: n.getAttribute("online") === "true",
      unclean: n.getAttribute("unclean") === "true",
      standby: n.getAttribute("standby") === "true",
    };
  }
  const dc = root.child("summary")?.child("current_dc");
  const quorate = dc?.getAttribute("present") === "true" && dc.getAttribute("with_quorum") === "true";
  return { nodes, placement: placementOf(root, (r) => r.getAttribute("role") === "Started"), quorate };
}

export interface ResourceStatus {
  readonly id: string;
  /** `Started`, `Stopped`, `Starting`, … as crm_mon says. */
  readonly role: string;
  readonly nodes: string[];
}

/** Every resource crm_mon lists (inside groups and clones too) with its role, or those of one group. */
export function resourceStatus(xml: string, groupId?: string): ResourceStatus[] {
  const resources = monRoot(xml).child("resources");
  const scope = groupId === undefined ? resources : resources?.getElementsByTagName("group").find((g) => g.getAttribute("id") === groupId);
  return (scope?.getElementsByTagName("resource") ?? []).map((r) => ({
    id: required(r, "id"),
    role: r.getAttribute("role") ?? "",
    nodes: r.children.filter((n) => n.tagName === "node").map((n) => required(n, "name")),
  }));
}

/**
 * Where every resource has a node in crm_mon's output, whatever its role: what the simulation
 * reads from crm_mon on a simulated CIB (every resource there is started or stopped).
 */
export function placementOfCrmMon(xml: string): Placement {
  return placementOf(monRoot(xml), () => true);
}

/** When `node` was last fenced (seconds since the epoch), from `stonith_admin --last NODE --output-as=xml`. */
export function lastFenced(xml: string, node: string): number | undefined {
  if (!xml.includes("<last-fenced")) return undefined;
  const when = readXml(xml)
    .getElementsByTagName("last-fenced")
    .find((e) => e.getAttribute("target") === node)
    ?.getAttribute("when");
  // "2026-11-21 23:58:01Z"
  const t = when ? Date.parse(when.replace(" ", "T")) : NaN;
  return Number.isNaN(t) ? undefined : t / 1000;
}
