/**
 * Pacemaker's transition graph (`crm_simulate -G`): the actions the scheduler plans (resource
 * operations, fencing, pseudo-events) and what each waits for. Read with the one XML reader.
 */
import { readXml, type XmlElement } from "../xml.js";
import { CibError, required } from "./cib.js";

export interface GraphAction {
  readonly id: string;
  /** `rsc_op`, `crm_event` (fencing) or `pseudo_event`. */
  readonly tag: string;
  readonly operation: string;
  readonly key: string;
  readonly node?: string;
  /** The primitive; a clone instance (`nfs-server:2`) by its clone's primitive (`nfs-server`). */
  readonly resource?: string;
  readonly intervalMs: number;
  /** `reboot`, `off` or `on` for fencing. */
  readonly stonithAction?: string;
  /** The action's parameters as the graph passes them to the agent (instance and CRM_meta_ attributes). */
  readonly attributes: Record<string, string>;
}

export interface Graph {
  /** By action id. */
  readonly actions: Map<string, GraphAction>;
  /** Action id → the ids of the actions it waits for. */
  readonly inputs: Map<string, string[]>;
}

function attributesOf(el: XmlElement | undefined): Record<string, string> {
  return Object.fromEntries((el?.attributes ?? []).map((a) => [a.name, a.value]));
}

/** Reads a transition graph. */
export function parseGraph(graphXml: string): Graph {
  const actions = new Map<string, GraphAction>();
  const inputs = new Map<string, string[]>();
  for (const synapse of readXml(graphXml).getElementsByTagName("synapse")) {
    const el = synapse.child("action_set")?.firstElementChild;
    if (!el) throw new CibError(`a synapse of the transition graph has no action (offset ${synapse.start})`);
    const primitive = el.child("primitive");
    const attributes = el.child("attributes");
    const action: GraphAction = {
      id: required(el, "id"),
      tag: el.tagName,
      operation: required(el, "operation"),
      key: required(el, "operation_key"),
      node: el.getAttribute("on_node") ?? undefined,
      // Clone instances are "nfs-server:2" in the graph; the history knows them as "nfs-server".
      resource: primitive?.getAttribute("id")?.replace(/:\d+$/, ""),
      intervalMs: Number(attributes?.getAttribute("CRM_meta_interval") ?? 0),
      stonithAction: attributes?.getAttribute("CRM_meta_stonith_action") ?? undefined,
      attributes: attributesOf(attributes),
    };
    actions.set(action.id, action);
    inputs.set(
      action.id,
      synapse.getElementsByTagName("trigger").map((t) => {
        const input = t.firstElementChild;
        if (!input) throw new CibError(`a trigger of action ${action.id} names no action`);
        return required(input, "id");
      }),
    );
  }
  return { actions, inputs };
}

/** Nodes fenced (reboot or off) by the plan, sorted. */
export function fencedNodes(graph: Graph): string[] {
  return [...new Set([...graph.actions.values()].filter(isFencing).map((a) => a.node!))].sort();
}

/** A fencing action that takes a node down (not the `on` of unfencing). */
export function isFencing(a: GraphAction): boolean {
  return a.tag === "crm_event" && a.operation === "stonith" && a.stonithAction !== "on";
}
