import { Construct } from "constructs";
import type { XMLBuilder } from "xmlbuilder2/lib/interfaces.js";
import type { ResourceAgent } from "./resource-agent.js";

/** One operation of a resource. */
export interface Operation {
  readonly name: "start" | "stop" | "monitor";
  /** Seconds between runs; only for `monitor`. */
  readonly intervalSec?: number;
  readonly timeoutSec: number;
}

/**
 * What a primitive registers with: the CIB that holds it (`PacemakerCluster`). Named here, not
 * imported, so the cluster (which renders primitives) and the primitive import one way only.
 */
export interface PrimitiveRegistry {
  addPrimitive(p: Primitive): void;
}

export interface PrimitiveProps {
  /** The cluster whose CIB holds this resource. */
  readonly cluster: PrimitiveRegistry;
  /** Resource id in the CIB; unique across resources, groups and clones. */
  readonly resourceId: string;
  readonly agent: ResourceAgent;
  /** Instance attributes (the agent's parameters). */
  readonly params: Readonly<Record<string, string>>;
  /** Meta attributes. @default none */
  readonly meta?: Readonly<Record<string, string>>;
  readonly operations: readonly Operation[];
}

const OP_ORDER = ["start", "stop", "monitor"];
const sortedEntries = (r: Readonly<Record<string, string>>) => Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Appends `<nvpair>`s under a new attribute set; ids follow pcs (`<set>-<name>`). */
export function appendNvpairs(parent: XMLBuilder, element: string, setId: string, pairs: Readonly<Record<string, string>>): void {
  const entries = sortedEntries(pairs);
  if (entries.length === 0) return;
  const set = parent.ele(element, { id: setId });
  for (const [name, value] of entries) set.ele("nvpair", { id: `${setId}-${name}`, name, value });
}

/**
 * A Pacemaker primitive resource. Domain constructs (ZfsPool, FloatingIp, …) extend it with
 * typed props and resolve the agent's parameters from them.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/resources.html
 */
export class Primitive extends Construct {
  readonly resourceId: string;
  readonly agent: ResourceAgent;
  readonly params: Readonly<Record<string, string>>;
  readonly meta: Readonly<Record<string, string>>;
  readonly operations: readonly Operation[];

  constructor(scope: Construct, id: string, props: PrimitiveProps) {
    super(scope, id);
    this.resourceId = props.resourceId;
    this.agent = props.agent;
    this.params = { ...props.params };
    this.meta = { ...(props.meta ?? {}) };
    this.operations = [...props.operations].sort((a, b) => OP_ORDER.indexOf(a.name) - OP_ORDER.indexOf(b.name));
    props.cluster.addPrimitive(this);
  }

  toXml(parent: XMLBuilder): void {
    const attrs: Record<string, string> = { id: this.resourceId, class: this.agent.cls };
    if (this.agent.provider) attrs.provider = this.agent.provider;
    attrs.type = this.agent.type;
    const el = parent.ele("primitive", attrs);
    appendNvpairs(el, "instance_attributes", `${this.resourceId}-instance_attributes`, this.params);
    appendNvpairs(el, "meta_attributes", `${this.resourceId}-meta_attributes`, this.meta);
    const ops = el.ele("operations");
    for (const op of this.operations) {
      const interval = `${op.intervalSec ?? 0}s`;
      ops.ele("op", {
        id: `${this.resourceId}-${op.name}-interval-${interval}`,
        name: op.name,
        interval,
        timeout: `${op.timeoutSec}s`,
      });
    }
  }
}
