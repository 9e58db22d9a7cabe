/**
 * Asking a live cluster, over an SSH session to one of its nodes: is its partition quorate with
 * a DC, what is its CIB, does a resource run, and writing hpcdk's record into its CIB. Every
 * answer is read with the one XML reader or checked line by line; what does not read is that
 * node's error.
 */
import { sleep } from "../../common/async.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import { shQuote } from "../../common/shell.js";
import { hostText } from "../remote/answer.js";
import { connect } from "../remote/connect.js";
import type { SessionPool } from "../remote/shared.js";
import type { SshSession } from "../remote/ssh.js";
import { DEPLOY_RECORD } from "./cib-record.js";
import { parseCrmMon, type ClusterStatus } from "./crm-mon.js";
import { readXml } from "../xml.js";

/** The node's view of the cluster (`crm_mon -1 --output-as=xml`), or why it has none. */
export async function clusterStatus(session: SshSession): Promise<ClusterStatus | { problem: string }> {
  const mon = await session.exec(session.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 30_000 });
  if (mon.code !== 0) return { problem: `pacemaker is not running (${hostText(mon.stderr.trim().split("\n")[0] ?? "", 200)})` };
  try {
    return parseCrmMon(mon.stdout);
  } catch (err) {
    return { problem: `crm_mon's answer cannot be read: ${(err as Error).message}` };
  }
}

/** Why this node cannot take a new CIB now (no quorum, no DC, no pacemaker), or undefined when it can. */
export async function notQuorate(session: SshSession): Promise<string | undefined> {
  const status = await clusterStatus(session);
  if ("problem" in status) return status.problem;
  return status.quorate ? undefined : "the cluster has no DC with quorum yet";
}

/** The node's CIB, status included (`cibadmin --query`). */
export function queryCib(session: SshSession): Promise<string> {
  return session.run(session.asRoot("cibadmin --query"), { timeoutMs: 60_000 });
}

/**
 * Why a node's CIB (`cibadmin --query`, status included) says its partition cannot take a new
 * CIB (no quorum, no DC), or undefined when it can: what crm_mon's "current DC … with quorum" is
 * read from (the `<cib>` element's have-quorum and dc-uuid, naming a node of the CIB).
 */
export function cibNotQuorate(cibXml: string): string | undefined {
  let root;
  try {
    root = readXml(cibXml);
  } catch (err) {
    return `its CIB cannot be read: ${(err as Error).message}`;
  }
  if (root.tagName !== "cib") return `its CIB cannot be read: the root element is <${root.tagName}>`;
  const dc = root.getAttribute("dc-uuid");
  if (!dc) return "the cluster has no DC yet";
  if (!root.child("configuration")?.child("nodes")?.child("node", dc)) return `the cluster's DC (node id ${dc}) is no node of its CIB`;
  return root.getAttribute("have-quorum") === "1" ? undefined : "the cluster has no DC with quorum yet";
}

/**
 * A management node whose cluster partition has quorum and a DC, tried in node id order until
 * one is or `waitSec` has passed (every 2 s). With a pool, its connections are used (and the found
 * one stays in it); `release()` gives the session back either way.
 */
export async function quorateNode(
  inventory: Inventory,
  waitSec: number,
  pool?: SessionPool,
): Promise<{ session: SshSession; release(): void } | { error: string }> {
  return firstQuorate(inventory, waitSec, pool, async (s) => {
    const problem = await notQuorate(s);
    return problem === undefined ? { ok: undefined } : { problem };
  });
}

/**
 * The live CIB (status included) from a management node whose partition has quorum and a DC, as
 * {@link quorateNode} finds one, but in one command per node: the CIB says both. The session is
 * given back (to the pool, or closed) before it returns.
 */
export async function quorateCib(inventory: Inventory, waitSec: number, pool?: SessionPool): Promise<{ xml: string } | { error: string }> {
  const found = await firstQuorate<string>(inventory, waitSec, pool, async (s) => {
    const r = await s.exec(s.asRoot("cibadmin --query"), { timeoutMs: 60_000 });
    if (r.code !== 0) return { problem: `pacemaker is not running (${hostText(r.stderr.trim().split("\n")[0] ?? "", 200)})` };
    const problem = cibNotQuorate(r.stdout);
    if (problem !== undefined) return { problem };
    return { ok: r.stdout };
  });
  if ("error" in found) return found;
  found.release();
  return { xml: found.ok };
}

async function firstQuorate<T>(
  inventory: Inventory,
  waitSec: number,
  pool: SessionPool | undefined,
  probe: (s: SshSession) => Promise<{ ok: T } | { problem: string }>,
): Promise<{ session: SshSession; ok: T; release(): void } | { error: string }> {
  const deadline = Date.now() + waitSec * 1000;
  let lastError = "no management node answered";
  do {
    for (const host of inventory.managementNodes) {
      let s: SshSession | undefined;
      const release = (session: SshSession) => (pool ? pool.release(host, session) : session.close());
      try {
        s = pool ? await pool.session(host, { connectTimeoutMs: 5000 }) : await connect(inventory, host, { connectTimeoutMs: 5000 });
        const answer = await probe(s);
        if ("ok" in answer) {
          const found = s;
          return { session: found, ok: answer.ok, release: () => release(found) };
        }
        lastError = `${host}: ${answer.problem}`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (s) release(s);
    }
    if (Date.now() < deadline) await sleep(2000);
  } while (Date.now() < deadline);
  return { error: `no quorate cluster within ${waitSec} s (${lastError})` };
}

/** Whether the resource runs somewhere, as `crm_resource --locate` says ("resource X is running on: N"). */
async function running(session: SshSession, id: string): Promise<boolean> {
  const r = await session.exec(session.asRoot(`crm_resource --locate --resource ${shQuote(id)}`), { timeoutMs: 30_000, maxOutputBytes: 64 * 1024 });
  return r.code === 0 && r.stdout.split("\n").some((line) => line.startsWith(`resource ${id} is running on: `));
}

/** Polls every 2 s until every resource runs, for at most `waitSec`; returns those that never did. */
export async function waitForResources(session: SshSession, ids: readonly string[], waitSec: number): Promise<string[]> {
  const deadline = Date.now() + waitSec * 1000;
  let missing = [...ids];
  while (missing.length > 0) {
    const still: string[] = [];
    for (const id of missing) if (!(await running(session, id))) still.push(id);
    missing = still;
    if (missing.length === 0 || Date.now() > deadline) break;
    await sleep(2000);
  }
  return missing;
}

/** Writes one property of hpcdk's record into the live CIB (the cluster replicates it to every node). */
export async function setDeployRecord(session: SshSession, name: (typeof DEPLOY_RECORD)["applied" | "digest"], value: string): Promise<void> {
  await session.run(session.asRoot(`crm_attribute --type crm_config --set-name ${shQuote(DEPLOY_RECORD.set)} --name ${shQuote(name)} --update ${shQuote(value)}`), { timeoutMs: 60_000 });
}
