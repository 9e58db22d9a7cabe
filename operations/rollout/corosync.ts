/**
 * What changes between two corosync.conf files, in corosync's own terms: the settings every node
 * must share (cluster name, crypto, the totem timers), the node list (who is a member, with which
 * id and which link addresses) and the quorum options. A rollout decides from these whether a
 * change is applied together on every node (`corosync-cfgtool -R`), as a membership change (a
 * node added or removed) or only with an outage (a new cluster name, node id or crypto: nodes with
 * different values cannot talk; a link address: corosync cannot reload it).
 *
 * @see https://manpages.debian.org/bookworm/corosync/corosync.conf.5.en.html
 * @see https://manpages.debian.org/bookworm/corosync/votequorum.5.en.html
 */
import { HpcdkError } from "../../common/errors.js";

/** A corosync.conf that cannot be read. */
export class CorosyncConfError extends HpcdkError {}

export interface CorosyncNode {
  readonly name: string;
  readonly nodeid: string;
  /** `ring<N>_addr` by link number. */
  readonly addresses: Readonly<Record<string, string>>;
}

export interface CorosyncConf {
  /** `totem { … }`: key → value. */
  readonly totem: Readonly<Record<string, string>>;
  readonly nodes: readonly CorosyncNode[];
  /** `quorum { … }`: key → value. */
  readonly quorum: Readonly<Record<string, string>>;
}

/** Reads corosync.conf: `section {`, `key: value`, `}`, comments with `#`. */
export function parseCorosyncConf(text: string): CorosyncConf {
  const totem: Record<string, string> = {};
  const quorum: Record<string, string> = {};
  const nodes: CorosyncNode[] = [];
  const stack: string[] = [];
  let node: { name?: string; nodeid?: string; addresses: Record<string, string> } | undefined;
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const open = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*\{$/.exec(line);
    if (open) {
      stack.push(open[1]!);
      if (stack.join("/") === "nodelist/node") node = { addresses: {} };
      return;
    }
    if (line === "}") {
      if (stack.length === 0) throw new CorosyncConfError(`corosync.conf:${i + 1}: "}" closes nothing`);
      if (stack.join("/") === "nodelist/node") {
        if (!node?.name || !node.nodeid) throw new CorosyncConfError(`corosync.conf:${i + 1}: a node without name or nodeid`);
        nodes.push({ name: node.name, nodeid: node.nodeid, addresses: node.addresses });
        node = undefined;
      }
      stack.pop();
      return;
    }
    const kv = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw new CorosyncConfError(`corosync.conf:${i + 1}: cannot read ${JSON.stringify(line.slice(0, 80))}`);
    const [, key, value] = kv as unknown as [string, string, string];
    const where = stack.join("/");
    if (where === "totem") totem[key] = value;
    else if (where === "quorum") quorum[key] = value;
    else if (where === "nodelist/node" && node) {
      const ring = /^ring(\d+)_addr$/.exec(key);
      if (key === "name") node.name = value;
      else if (key === "nodeid") node.nodeid = value;
      else if (ring) node.addresses[ring[1]!] = value;
    }
  });
  if (stack.length > 0) throw new CorosyncConfError(`corosync.conf: section ${stack.join("/")} is not closed`);
  return { totem, nodes, quorum };
}

/** How a corosync change reaches a running cluster. */
export type CorosyncChangeKind =
  /** every node must have it before any reloads: files everywhere, then `corosync-cfgtool -R` once */
  | "together"
  /** a node joins or leaves */
  | "membership"
  /** nodes with different values cannot talk: only with an outage */
  | "outage";

export interface CorosyncChange {
  /** In corosync's terms: `totem.cluster_name`, `nodelist.node[m2].nodeid`, `nodelist.node[m4]`. */
  readonly setting: string;
  /** The site setting it comes from, when one does: `cluster.name`, `nodes[].id`. */
  readonly siteSetting?: string;
  readonly old?: string;
  readonly new?: string;
  readonly kind: CorosyncChangeKind;
  /** The node it concerns, for node changes. */
  readonly node?: string;
  readonly detail: string;
}

/** Totem settings every node must share that no reload can change on a running cluster. */
const OUTAGE_TOTEM: Readonly<Record<string, string>> = {
  cluster_name: "cluster.name",
  crypto_cipher: "cluster.corosync.cryptoCipher",
  crypto_hash: "cluster.corosync.cryptoHash",
  transport: "(transport)",
  version: "(totem version)",
  secauth: "(secauth)",
};
const TOTEM_SITE: Readonly<Record<string, string>> = { token: "cluster.corosync.tokenMs" };

/**
 * corosync 3.1 refuses a reload that changes a link's address (`corosync-cfgtool -R`:
 * CS_ERR_INVALID_PARAM; its log: "new config has different address for link 0 ... Internal value
 * was NOT changed. To reconfigure an interface it must be deleted and recreated. A working
 * interface needs to be available to corosync at all times"), as the namespace lab showed.
 */
const LINK_ADDRESS =
  "corosync cannot reload a changed link address (a knet link must be removed and added again, and a working link must stay): with one link, stop the cluster on every node, change it, start again; with two links, remove the link on every node and reload, then add it back with the new addresses";

const COROSYNC_TOGETHER = "nodes with different values cannot talk: stop pacemaker and corosync on every node, apply, start them again";

/** The changes from `old` to `next`, sorted by setting. */
export function corosyncChanges(old: CorosyncConf, next: CorosyncConf): CorosyncChange[] {
  const changes: CorosyncChange[] = [];
  for (const key of [...new Set([...Object.keys(old.totem), ...Object.keys(next.totem)])].sort()) {
    const a = old.totem[key];
    const b = next.totem[key];
    if (a === b) continue;
    const outage = key in OUTAGE_TOTEM;
    changes.push({
      setting: `totem.${key}`,
      ...(outage ? { siteSetting: OUTAGE_TOTEM[key] } : TOTEM_SITE[key] ? { siteSetting: TOTEM_SITE[key] } : {}),
      ...(a === undefined ? {} : { old: a }),
      ...(b === undefined ? {} : { new: b }),
      kind: outage ? "outage" : "together",
      detail: outage ? COROSYNC_TOGETHER : "corosync.conf on every node, then corosync-cfgtool -R once",
    });
  }
  const oldNodes = new Map(old.nodes.map((n) => [n.name, n]));
  const newNodes = new Map(next.nodes.map((n) => [n.name, n]));
  const oldIds = new Map(old.nodes.map((n) => [n.nodeid, n.name]));
  for (const n of next.nodes) {
    const was = oldNodes.get(n.name);
    if (!was) {
      const idOf = oldIds.get(n.nodeid);
      if (idOf !== undefined && !newNodes.has(idOf)) {
        changes.push({ setting: `nodelist.node[${n.nodeid}].name`, siteSetting: "nodes[].name", old: idOf, new: n.name, kind: "outage", node: n.name, detail: "the node's identity in corosync and Pacemaker: stop the cluster on every node, rename, start again" });
        continue;
      }
      changes.push({ setting: `nodelist.node[${n.name}]`, siteSetting: "nodes[]", new: n.nodeid, kind: "membership", node: n.name, detail: "a node joins: the others learn it (corosync-cfgtool -R), then it starts" });
      continue;
    }
    if (was.nodeid !== n.nodeid) {
      changes.push({ setting: `nodelist.node[${n.name}].nodeid`, siteSetting: "nodes[].id", old: was.nodeid, new: n.nodeid, kind: "outage", node: n.name, detail: "corosync nodeid: stop the cluster on every node, change it, start again" });
    }
    const a = JSON.stringify(sorted(was.addresses));
    const b = JSON.stringify(sorted(n.addresses));
    if (a !== b) {
      changes.push({
        setting: `nodelist.node[${n.name}].ring_addr`,
        siteSetting: "nodes[].addresses",
        old: addressList(was.addresses),
        new: addressList(n.addresses),
        kind: "outage",
        node: n.name,
        detail: LINK_ADDRESS,
      });
    }
  }
  for (const n of old.nodes) {
    if (newNodes.has(n.name)) continue;
    if (next.nodes.some((m) => m.nodeid === n.nodeid && !oldNodes.has(m.name))) continue; // reported as a rename
    changes.push({ setting: `nodelist.node[${n.name}]`, siteSetting: "nodes[]", old: n.nodeid, kind: "membership", node: n.name, detail: "a node leaves: it is stopped, then removed from corosync (corosync-cfgtool -R) and Pacemaker" });
  }
  for (const key of [...new Set([...Object.keys(old.quorum), ...Object.keys(next.quorum)])].sort()) {
    const a = old.quorum[key];
    const b = next.quorum[key];
    if (a === b) continue;
    changes.push({
      setting: `quorum.${key}`,
      ...(a === undefined ? {} : { old: a }),
      ...(b === undefined ? {} : { new: b }),
      kind: key === "provider" ? "outage" : "membership",
      detail: key === "two_node" ? "two_node is read at start: restart corosync and pacemaker on every node, one at a time under maintenance" : `quorum ${key}: restart corosync on every node, one at a time`,
    });
  }
  return changes.sort((x, y) => (x.setting < y.setting ? -1 : x.setting > y.setting ? 1 : 0));
}

function sorted(r: Readonly<Record<string, string>>): [string, string][] {
  return Object.entries(r).sort(([a], [b]) => Number(a) - Number(b));
}

function addressList(r: Readonly<Record<string, string>>): string {
  return sorted(r)
    .map(([link, a]) => `ring${link}_addr=${a}`)
    .join(" ");
}
