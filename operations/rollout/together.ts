/**
 * The together wave's pieces that talk to corosync: the record of the corosync.conf the cluster
 * runs while a together wave is under way (a rerun plans from it, not from the new file the nodes
 * already hold), the one reload, and the check that a node runs the new values: the totem keys as
 * `corosync-cmapctl` shows them, the node list's link addresses, and every link of the node
 * connected to every other node (`corosync-cfgtool -s`).
 *
 * @see https://manpages.debian.org/bookworm/corosync/corosync-cmapctl.8.en.html
 * @see https://manpages.debian.org/bookworm/corosync/corosync-cfgtool.8.en.html
 */
import { shQuote } from "../../common/shell.js";
import { hostText } from "../remote/answer.js";
import type { SshSession } from "../remote/ssh.js";
import type { CorosyncConf } from "./corosync.js";

/**
 * The corosync.conf the cluster ran before a together wave sent the new one: written on every
 * node before any file is sent (kept if there already, from a wave that stopped), removed once
 * every node runs the new values. The rollout plan takes it as what the cluster runs (./gather.ts).
 */
export const RUNNING_COROSYNC_CONF = "/var/lib/hpcdk/corosync/running-corosync.conf";

const COROSYNC_CONF = "/etc/corosync/corosync.conf";

/** Keeps the node's corosync.conf as the one the cluster runs, unless a stopped wave kept one already. */
export async function recordRunningConf(session: SshSession): Promise<void> {
  const rec = shQuote(RUNNING_COROSYNC_CONF);
  await session.run(session.asRoot("sh -s"), { stdin: `set -e\n[ -e ${rec} ] || install -D -m 0644 ${COROSYNC_CONF} ${rec}\n`, timeoutMs: 30_000 });
}

/** The wave is done: the cluster runs the node's corosync.conf. */
export async function dropRunningConf(session: SshSession): Promise<void> {
  await session.run(session.asRoot(`rm -f ${shQuote(RUNNING_COROSYNC_CONF)}`), { timeoutMs: 30_000 });
}

/** `corosync-cfgtool -R`: every node of the cluster rereads its corosync.conf. */
export async function reloadCorosync(session: SshSession): Promise<void> {
  await session.run(session.asRoot("corosync-cfgtool -R"), { timeoutMs: 60_000 });
}

/** `key (type) = value` lines of corosync-cmapctl → key → value. */
export function parseCmap(text: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const line of text.split("\n")) {
    const m = /^([A-Za-z0-9_.-]+) \([a-z0-9]+\) = (.*)$/.exec(line.trim());
    if (m) keys.set(m[1]!, m[2]!);
  }
  return keys;
}

/** `corosync-cfgtool -s` on knet: link number → the node's own address and each node id's status. */
export function parseCfgtoolStatus(text: string): Map<string, { addr?: string; nodes: Map<string, string> }> {
  const links = new Map<string, { addr?: string; nodes: Map<string, string> }>();
  let link: { addr?: string; nodes: Map<string, string> } | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    const head = /^LINK ID (\d+)\b/.exec(line);
    if (head) {
      link = { nodes: new Map() };
      links.set(head[1]!, link);
      continue;
    }
    if (!link) continue;
    const addr = /^addr\s*=\s*(\S+)$/.exec(line);
    if (addr) link.addr = addr[1]!;
    const node = /^nodeid:?\s+(\d+):\s*(.+)$/.exec(line);
    if (node) link.nodes.set(node[1]!, node[2]!.trim());
  }
  return links;
}

export interface RuntimeAnswers {
  /** `corosync-cmapctl totem.` */
  readonly totem: string;
  /** `corosync-cmapctl nodelist.` */
  readonly nodelist: string;
  /** `corosync-cfgtool -s` */
  readonly status: string;
}

/**
 * Why `node` does not run `conf`'s values (empty: it does): the totem keys the wave changes, the
 * node list's names, ids and addresses, and each of its links up with its new address and
 * connected to every other node.
 */
export function runtimeProblems(node: string, conf: CorosyncConf, totem: Readonly<Record<string, string | null>>, answers: RuntimeAnswers): string[] {
  const problems: string[] = [];
  const cmap = parseCmap(answers.totem);
  for (const [key, want] of Object.entries(totem).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const got = cmap.get(`totem.${key}`);
    if (want === null ? got !== undefined : got !== want) problems.push(`totem.${key} is ${got === undefined ? "not set" : JSON.stringify(hostText(got, 80))}, want ${want === null ? "not set" : JSON.stringify(want)}`);
  }
  // The node list as corosync holds it: nodelist.node.<i>.{name,nodeid,ring<N>_addr}.
  const list = parseCmap(answers.nodelist);
  const byName = new Map<string, { nodeid?: string; addresses: Record<string, string> }>();
  for (const [key, value] of list) {
    const m = /^nodelist\.node\.(\d+)\.(name|nodeid|ring(\d+)_addr)$/.exec(key);
    if (!m) continue;
    const name = list.get(`nodelist.node.${m[1]}.name`);
    if (name === undefined) continue;
    const entry = byName.get(name) ?? { addresses: {} };
    if (m[2] === "nodeid") entry.nodeid = value;
    else if (m[3] !== undefined) entry.addresses[m[3]] = value;
    byName.set(name, entry);
  }
  for (const n of conf.nodes) {
    const got = byName.get(n.name);
    if (!got) {
      problems.push(`its node list has no ${n.name}`);
      continue;
    }
    const want = JSON.stringify(Object.entries(n.addresses).sort());
    const have = JSON.stringify(Object.entries(got.addresses).sort());
    if (got.nodeid !== n.nodeid || want !== have) problems.push(`its node list has ${n.name} as nodeid ${got.nodeid ?? "?"} ${have}, want nodeid ${n.nodeid} ${want}`);
  }
  // Each of this node's links: its own new address, every other node connected.
  const self = conf.nodes.find((n) => n.name === node);
  const links = parseCfgtoolStatus(answers.status);
  for (const [link, addr] of Object.entries(self?.addresses ?? {})) {
    const l = links.get(link);
    if (!l) {
      problems.push(`corosync-cfgtool -s shows no link ${link}`);
      continue;
    }
    if (l.addr !== addr) problems.push(`link ${link} is on ${l.addr ?? "no address"}, want ${addr}`);
    for (const other of conf.nodes.filter((n) => n.name !== node && n.addresses[link] !== undefined)) {
      const state = l.nodes.get(other.nodeid);
      if (state !== "connected") problems.push(`link ${link} to ${other.name} (nodeid ${other.nodeid}) is ${state === undefined ? "not listed" : JSON.stringify(hostText(state, 60))}`);
    }
  }
  return problems;
}

/** Asks the node of `session` what corosync runs. */
export async function runtimeAnswers(session: SshSession): Promise<RuntimeAnswers> {
  const ask = async (command: string) => {
    const r = await session.exec(session.asRoot(command), { timeoutMs: 30_000, maxOutputBytes: 1024 * 1024 });
    // corosync-cfgtool -s exits non-zero when a link is down: what it shows still says which.
    if (r.code !== 0 && !(command.endsWith(" -s") && r.stdout.includes("LINK ID"))) throw new Error(`${command} exited ${r.code}: ${hostText(r.stderr.trim().split("\n")[0] ?? "", 200)}`);
    return r.stdout;
  };
  return { totem: await ask("corosync-cmapctl totem."), nodelist: await ask("corosync-cmapctl nodelist."), status: await ask("corosync-cfgtool -s") };
}
