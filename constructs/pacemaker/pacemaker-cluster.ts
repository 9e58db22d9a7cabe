import { Construct } from "constructs";
import { create } from "xmlbuilder2";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces.js";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { CibId, XML_ID } from "../../common/contracts/cib-ids.js";
import { appendNvpairs, type Primitive, type PrimitiveRegistry } from "./primitive.js";

/** Feature set and schema the CIB declares: what the target Pacemaker accepts. */
export interface CibTarget {
  /** `crm_feature_set`; must not exceed the installed Pacemaker's. */
  readonly featureSet: string;
  /** `validate-with`, e.g. `pacemaker-3.9`. */
  readonly schema: string;
}

export interface PacemakerClusterProps {
  /** The cluster bundle that receives `/cib.xml`. */
  readonly bundle: Bundle;
  readonly target: CibTarget;
  /** Cluster nodes: corosync node id and name. */
  readonly nodes: readonly { readonly id: number; readonly name: string }[];
  /** stonith-enabled. @default true */
  readonly stonithEnabled?: boolean;
  /** no-quorum-policy. @default "stop" */
  readonly noQuorumPolicy?: string;
  /** resource-stickiness in rsc_defaults. @default 100 */
  readonly stickiness?: number;
  /** maintenance-mode. @default false */
  readonly maintenanceMode?: boolean;
  /** dc-deadtime in seconds. @default Pacemaker's (20) */
  readonly dcDeadtimeSec?: number;
}

/** A group: members start in order and run on one node; they stop in reverse order. */
export interface ResourceGroup {
  readonly id: string;
  readonly members: readonly Primitive[];
}

/** A clone: the primitive runs on every node (or `maxCount` nodes). */
export interface ResourceClone {
  readonly id: string;
  readonly primitive: Primitive;
  readonly meta: Readonly<Record<string, string>>;
}

type Constraint =
  | { readonly kind: "location"; readonly id: string; readonly rsc: string; readonly node: string; readonly score: string }
  | { readonly kind: "order"; readonly id: string; readonly first: string; readonly then: string; readonly strength: "Mandatory" | "Optional" }
  | { readonly kind: "colocation"; readonly id: string; readonly rsc: string; readonly withRsc: string; readonly score: string };

/**
 * An alert agent Pacemaker runs on every node for the events it selects, once per recipient.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Administration/html/alerts.html
 */
export interface ClusterAlert {
  readonly id: string;
  /** The agent's absolute path on every node. */
  readonly path: string;
  /** The events it gets. */
  readonly select: readonly ("fencing" | "nodes" | "resources" | "attributes")[];
  /** Each recipient's value (CRM_alert_recipient). */
  readonly recipients: readonly string[];
  /** How long the agent may run. @default Pacemaker's (30 s) */
  readonly timeoutSec?: number;
}

interface FencingLevel {
  readonly target: string;
  readonly index: number;
  readonly devices: readonly string[];
}

/**
 * The Pacemaker configuration of a cluster, rendered as one CIB document (`/cib.xml` in the
 * cluster bundle): cluster properties, nodes, resources, constraints, fencing topology and
 * resource defaults. Resources add themselves; ids are unique across the whole CIB.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/
 */
export class PacemakerCluster extends Construct implements PrimitiveRegistry {
  readonly file: GeneratedFile;
  readonly target: CibTarget;
  readonly stonithEnabled: boolean;
  private readonly ids = new Map<string, string>();
  private readonly primitives: Primitive[] = [];
  private readonly groups: ResourceGroup[] = [];
  private readonly clones: ResourceClone[] = [];
  private readonly constraints: Constraint[] = [];
  private readonly levels: FencingLevel[] = [];
  private readonly alerts: ClusterAlert[] = [];
  private readonly properties: Record<string, string>;
  private readonly nodes: readonly { readonly id: number; readonly name: string }[];
  private readonly rscDefaults: Record<string, string>;

  constructor(scope: Construct, id: string, props: PacemakerClusterProps) {
    super(scope, id);
    this.target = props.target;
    this.stonithEnabled = props.stonithEnabled ?? true;
    this.nodes = [...props.nodes].sort((a, b) => a.id - b.id);
    this.properties = {
      "stonith-enabled": String(this.stonithEnabled),
      "no-quorum-policy": props.noQuorumPolicy ?? "stop",
      ...(props.maintenanceMode ? { "maintenance-mode": "true" } : {}),
      ...(props.dcDeadtimeSec !== undefined ? { "dc-deadtime": `${props.dcDeadtimeSec}s` } : {}),
    };
    this.rscDefaults = { "resource-stickiness": String(props.stickiness ?? 100) };
    this.file = new GeneratedFile(this, "cib", {
      bundle: props.bundle,
      path: "/cib.xml",
      header: "xml",
      mode: 0o600,
      content: (header) => this.renderCib(header),
      impact: { kind: "resource-move", detail: "applied as a CIB patch; hpcdk diff lists what crm_simulate stops, starts or moves" },
    });
    this.node.addValidation({
      validate: () =>
        this.stonithEnabled && !this.primitives.some((p) => p.agent.cls === "stonith")
          ? [`PacemakerCluster [${this.node.path}]: stonith-enabled is true but the CIB has no fence device`]
          : [],
    });
  }

  private register(id: string, what: string): void {
    if (!XML_ID.test(id)) throw new Error(`PacemakerCluster [${this.node.path}]: ${what} id "${id}" is not a valid XML id`);
    const first = this.ids.get(id);
    if (first) throw new Error(`PacemakerCluster [${this.node.path}]: ${what} id "${id}" is already used by a ${first}`);
    this.ids.set(id, what);
  }

  /** Called by Primitive. */
  addPrimitive(p: Primitive): void {
    this.register(p.resourceId, "resource");
    this.primitives.push(p);
  }

  /** Groups primitives, in start order. */
  addGroup(id: string, members: readonly Primitive[]): ResourceGroup {
    this.register(id, "group");
    const taken = members.find((m) => this.groupOf(m) || this.cloneOf(m));
    if (taken) throw new Error(`PacemakerCluster [${this.node.path}]: ${taken.resourceId} is already in a group or clone`);
    const group = { id, members: [...members] };
    this.groups.push(group);
    return group;
  }

  /** Clones a primitive to run on every node. */
  addClone(id: string, primitive: Primitive, meta: Record<string, string> = {}): ResourceClone {
    this.register(id, "clone");
    if (this.groupOf(primitive) || this.cloneOf(primitive)) {
      throw new Error(`PacemakerCluster [${this.node.path}]: ${primitive.resourceId} is already in a group or clone`);
    }
    const clone = { id, primitive, meta };
    this.clones.push(clone);
    return clone;
  }

  /** Prefers (positive score) or avoids (negative) a node for a resource. */
  addLocation(rsc: string, node: string, score: number): void {
    const id = CibId.location(rsc, node);
    this.register(id, "constraint");
    this.constraints.push({ kind: "location", id, rsc, node, score: String(score) });
  }

  /**
   * `first` starts before `then`, and `then` stops before `first`. Mandatory: `then` also stops
   * and restarts whenever `first` does; Optional: the order holds only when both start or stop
   * in the same transition (a move of `first` leaves `then` running).
   */
  addOrder(first: string, then: string, strength: "Mandatory" | "Optional" = "Mandatory"): void {
    const id = CibId.order(first, then);
    this.register(id, "constraint");
    this.constraints.push({ kind: "order", id, first, then, strength });
  }

  /** `rsc` runs only where `withRsc` runs. */
  addColocation(rsc: string, withRsc: string, score = "INFINITY"): void {
    const id = CibId.colocation(rsc, withRsc);
    this.register(id, "constraint");
    this.constraints.push({ kind: "colocation", id, rsc, withRsc, score });
  }

  /** An alert agent run for cluster events (`<alerts>`). */
  addAlert(alert: ClusterAlert): void {
    this.register(alert.id, "alert");
    if (!alert.path.startsWith("/")) throw new Error(`PacemakerCluster [${this.node.path}]: alert ${alert.id} path must be absolute, got "${alert.path}"`);
    alert.recipients.forEach((_, i) => this.register(`${alert.id}-recipient-${i + 1}`, "alert recipient"));
    this.alerts.push({ ...alert, select: [...alert.select], recipients: [...alert.recipients] });
  }

  /** Fencing topology: devices tried together at `index` (1 first) for `target`. */
  addFencingLevel(target: string, index: number, devices: readonly string[]): void {
    if (this.levels.some((l) => l.target === target && l.index === index)) {
      throw new Error(`PacemakerCluster [${this.node.path}]: fencing level ${index} of ${target} is added twice`);
    }
    this.levels.push({ target, index, devices: [...devices] });
  }

  private groupOf(p: Primitive) {
    return this.groups.find((g) => g.members.includes(p));
  }

  private cloneOf(p: Primitive) {
    return this.clones.find((c) => c.primitive === p);
  }

  private checkReferences(): void {
    const known = new Set(this.ids.keys());
    const nodes = new Set(this.nodes.map((n) => n.name));
    for (const c of this.constraints) {
      const refs = c.kind === "location" ? [c.rsc] : c.kind === "order" ? [c.first, c.then] : [c.rsc, c.withRsc];
      for (const r of refs) {
        if (!known.has(r)) throw new Error(`PacemakerCluster [${this.node.path}]: constraint ${c.id} names unknown resource "${r}"`);
      }
      if (c.kind === "location" && !nodes.has(c.node)) {
        throw new Error(`PacemakerCluster [${this.node.path}]: constraint ${c.id} names unknown node "${c.node}"`);
      }
    }
    const fenceDevices = new Set(this.primitives.filter((p) => p.agent.cls === "stonith").map((p) => p.resourceId));
    for (const l of this.levels) {
      const unknown = l.devices.find((d) => !fenceDevices.has(d));
      if (unknown) throw new Error(`PacemakerCluster [${this.node.path}]: fencing level ${l.index} of ${l.target} names unknown device "${unknown}"`);
    }
  }

  private renderCib(header: string): string {
    this.checkReferences();
    const doc = create({ version: "1.0", encoding: "UTF-8" }).com(` ${header.replace(/^<!-- | -->\n$/g, "")} `);
    const cib = doc.ele("cib", {
      "crm_feature_set": this.target.featureSet,
      "validate-with": this.target.schema,
      epoch: "1",
      num_updates: "0",
      admin_epoch: "0",
    });
    const config = cib.ele("configuration");
    appendNvpairs(config.ele("crm_config"), "cluster_property_set", CibId.clusterProperties, this.properties);
    const nodes = config.ele("nodes");
    for (const n of this.nodes) nodes.ele("node", { id: String(n.id), uname: n.name });
    this.renderResources(config.ele("resources"));
    this.renderConstraints(config.ele("constraints"));
    if (this.levels.length > 0) {
      const topology = config.ele("fencing-topology");
      const sorted = [...this.levels].sort((a, b) => (a.target === b.target ? a.index - b.index : a.target < b.target ? -1 : 1));
      for (const l of sorted) {
        topology.ele("fencing-level", { id: CibId.fencingLevel(l.target, l.index), target: l.target, index: String(l.index), devices: l.devices.join(",") });
      }
    }
    appendNvpairs(config.ele("rsc_defaults"), "meta_attributes", CibId.resourceDefaults, this.rscDefaults);
    if (this.alerts.length > 0) {
      const alerts = config.ele("alerts");
      for (const a of [...this.alerts].sort((x, y) => (x.id < y.id ? -1 : 1))) {
        const el = alerts.ele("alert", { id: a.id, path: a.path });
        if (a.timeoutSec !== undefined) appendNvpairs(el, "meta_attributes", `${a.id}-meta_attributes`, { timeout: `${a.timeoutSec}s` });
        const select = el.ele("select");
        for (const kind of [...a.select].sort()) select.ele(`select_${kind}`);
        a.recipients.forEach((value, i) => el.ele("recipient", { id: `${a.id}-recipient-${i + 1}`, value }));
      }
    }
    cib.ele("status");
    return doc.end({ prettyPrint: true, indent: "  " }) + "\n";
  }

  /** Fence devices first, then clones, then groups, then ungrouped primitives; each sorted by id. */
  private renderResources(resources: XMLBuilder): void {
    const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
    const loose = this.primitives
      .filter((p) => !this.groupOf(p) && !this.cloneOf(p))
      .sort((a, b) => (a.agent.cls === "stonith") === (b.agent.cls === "stonith") ? (a.resourceId < b.resourceId ? -1 : 1) : a.agent.cls === "stonith" ? -1 : 1);
    for (const p of loose.filter((p) => p.agent.cls === "stonith")) p.toXml(resources);
    for (const c of [...this.clones].sort(byId)) {
      const el = resources.ele("clone", { id: c.id });
      c.primitive.toXml(el);
      appendNvpairs(el, "meta_attributes", `${c.id}-meta_attributes`, c.meta);
    }
    for (const g of [...this.groups].sort(byId)) {
      const el = resources.ele("group", { id: g.id });
      for (const m of g.members) m.toXml(el);
    }
    for (const p of loose.filter((p) => p.agent.cls !== "stonith")) p.toXml(resources);
  }

  private renderConstraints(constraints: XMLBuilder): void {
    const sorted = [...this.constraints].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const c of sorted) {
      switch (c.kind) {
        case "location":
          constraints.ele("rsc_location", { id: c.id, rsc: c.rsc, node: c.node, score: c.score });
          break;
        case "order":
          constraints.ele("rsc_order", { id: c.id, first: c.first, "first-action": "start", then: c.then, "then-action": "start", kind: c.strength });
          break;
        case "colocation":
          constraints.ele("rsc_colocation", { id: c.id, rsc: c.rsc, "with-rsc": c.withRsc, score: c.score });
          break;
      }
    }
  }
}
