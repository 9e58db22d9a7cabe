/**
 * Reading a CIB (Pacemaker's configuration, with or without its status section): the nodes it
 * configures, its resources and what kind each is, a group's members, and where the
 * configuration section is in the text. Every CIB hpcdk reads goes through the one XML reader
 * (../xml.ts).
 *
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/
 */
import { EXIT, HpcdkError } from "../../common/errors.js";
import { readXml, type XmlElement } from "../xml.js";

/** A CIB that lacks what every CIB has (a configuration section, node names). */
export class CibError extends HpcdkError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.internal });
  }
}

export interface CibNode {
  /** The corosync node id, as the CIB writes it. */
  readonly id: string;
  readonly name: string;
}

/** A primitive resource's agent: `ocf:heartbeat:IPaddr2` is class ocf, provider heartbeat, type IPaddr2. */
export interface Agent {
  readonly cls: string;
  readonly provider: string | null;
  readonly type: string;
}

/** What the simulation needs of a CIB. */
export interface CibModel {
  readonly nodes: CibNode[];
  /** Primitive id → agent, for the resource history. */
  readonly primitives: Map<string, Agent>;
  /** The primitives inside clones. */
  readonly clones: Set<string>;
  readonly fenceDevices: Set<string>;
  /** crm_feature_set of the CIB: the history records it, and digests depend on it. */
  readonly featureSet: string;
}

/** An attribute every such element has; a CIB without it is not one Pacemaker wrote. */
export function required(el: XmlElement, name: string): string {
  const value = el.getAttribute(name);
  if (value === null) throw new CibError(`<${el.tagName}> without ${name} at offset ${el.start}`);
  return value;
}

/** The `<configuration>` element of a CIB. */
export function configurationOf(cib: XmlElement): XmlElement {
  const config = cib.child("configuration");
  if (!config) throw new CibError("the CIB has no configuration section");
  return config;
}

/** The cluster nodes a CIB configures (`configuration/nodes/node`), by corosync id and name. */
export function cibNodes(cibXml: string): CibNode[] {
  return nodesOf(readXml(cibXml));
}

function nodesOf(cib: XmlElement): CibNode[] {
  return (configurationOf(cib).child("nodes")?.children ?? []).filter((n) => n.tagName === "node").map((n) => ({ id: required(n, "id"), name: required(n, "uname") }));
}

/** The nodes, primitives, clones and fence devices of a CIB. */
export function readCib(cibXml: string): CibModel {
  const root = readXml(cibXml);
  const primitives = new Map(
    root.getElementsByTagName("primitive").map((p) => [required(p, "id"), { cls: required(p, "class"), provider: p.getAttribute("provider"), type: required(p, "type") }]),
  );
  const clones = new Set(root.getElementsByTagName("clone").flatMap((c) => c.getElementsByTagName("primitive").map((p) => required(p, "id"))));
  const fenceDevices = new Set([...primitives].filter(([, p]) => p.cls === "stonith").map(([id]) => id));
  return { nodes: nodesOf(root), primitives, clones, fenceDevices, featureSet: root.getAttribute("crm_feature_set") ?? "3.16.1" };
}

/** The primitives of a group in a CIB, in start order; none when there is no such group. */
export function groupMembers(cibXml: string, groupId: string): string[] {
  const group = readXml(cibXml)
    .getElementsByTagName("group")
    .find((g) => g.getAttribute("id") === groupId);
  return group ? group.getElementsByTagName("primitive").map((p) => required(p, "id")) : [];
}

/** The CIB's version as `cibadmin` counts it: `admin_epoch.epoch`. */
export function cibVersion(cibXml: string): string {
  const root = readXml(cibXml);
  return `${root.getAttribute("admin_epoch")}.${root.getAttribute("epoch")}`;
}
