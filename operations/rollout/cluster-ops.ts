/**
 * What the rollout does to a live Pacemaker cluster, over an SSH session to one of its nodes:
 * stop and start a node's cluster stack, the cluster-wide `maintenance-mode` (and hpcdk's note
 * that it set it, so a rerun knows to clear it), a node's standby, and the settle check. Every
 * answer is read with the one XML reader or checked line by line; what does not read is that
 * node's error.
 *
 * Why cluster-wide `maintenance-mode` and not node maintenance (docs/DEVELOPING.md, "Rolling
 * restarts"): both held the resources in the namespace lab, but with node maintenance and the
 * node's corosync down its resources vanish from the status, and whether the others leave them
 * alone then rests on how the scheduler treats an offline node in maintenance at its next
 * transition; cluster-wide maintenance-mode manages nothing anywhere, which is what Pacemaker
 * documents for restarting the stack under running resources.
 *
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Administration/html/upgrading.html
 */
import { sleep } from "../../common/async.js";
import { shQuote } from "../../common/shell.js";
import { DEPLOY_RECORD } from "../pacemaker/cib-record.js";
import { parseCrmMon, type ClusterStatus } from "../pacemaker/crm-mon.js";
import { hostText } from "../remote/answer.js";
import type { SshSession } from "../remote/ssh.js";
import { readXml } from "../xml.js";

/** hpcdk's note in its record (crm_config set `hpcdk-deploy`, outside the configuration digest): the rollout set maintenance-mode, and what it was before. */
export const ROLLOUT_MAINTENANCE = "hpcdk-rollout-maintenance";

/** A service of the cluster stack: systemd where it runs, the namespace lab's stand-in, else an error. */
function service(action: "start" | "stop", name: "corosync" | "pacemaker"): string {
  return (
    `if [ -d /run/systemd/system ]; then systemctl ${action} ${name}.service; ` +
    `elif [ -x /usr/local/sbin/hpcdk-lab-service ]; then /usr/local/sbin/hpcdk-lab-service ${action} ${name}; ` +
    `else echo "no systemd here: cannot ${action} ${name}" >&2; exit 1; fi`
  );
}

/** Waits (at most `sec`) until no live process has this name: a zombie does not count. */
function waitGone(program: string, sec: number): string {
  return (
    `i=0; while :; do live=; for p in $(pidof ${program} 2>/dev/null); do ` +
    `grep -q '^[0-9]* ([^)]*) [ZX]' /proc/$p/stat 2>/dev/null || live="$live $p"; done; [ -z "$live" ] && break; ` +
    `i=$((i + 1)); [ "$i" -le ${sec * 10} ] || { echo "${program} still runs ${sec} s after the stop (pid$live)" >&2; exit 1; }; sleep 0.1; done`
  );
}

/** Stops pacemaker (all its daemons gone), then corosync, on the node of `session`. */
export async function stopClusterStack(session: SshSession, timeoutSec = 180): Promise<void> {
  const script = [service("stop", "pacemaker"), waitGone("pacemakerd", timeoutSec), waitGone("pacemaker-execd", 30), service("stop", "corosync"), waitGone("corosync", 60)].join("\n");
  await session.run(session.asRoot("sh -s"), { stdin: `set -e\n${script}\n`, timeoutMs: (timeoutSec + 120) * 1000 });
}

/** Starts one daemon of the cluster stack on the node of `session`. */
export async function startService(session: SshSession, name: "corosync" | "pacemaker"): Promise<void> {
  await session.run(session.asRoot("sh -s"), { stdin: `set -e\n${service("start", name)}\n`, timeoutMs: 180_000 });
}

/** Starts corosync, then pacemaker, on the node of `session`. */
export async function startClusterStack(session: SshSession): Promise<void> {
  await session.run(session.asRoot("sh -s"), { stdin: `set -e\n${service("start", "corosync")}\n${service("start", "pacemaker")}\n`, timeoutMs: 180_000 });
}

/** The cluster as this node sees it, or why it cannot say. */
export async function monitor(session: SshSession): Promise<{ status: ClusterStatus; failures: string[]; xml: string } | { problem: string }> {
  const mon = await session.exec(session.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 30_000, maxOutputBytes: 16 * 1024 * 1024 });
  if (mon.code !== 0) return { problem: `crm_mon exited ${mon.code}: ${hostText(mon.stderr.trim().split("\n")[0] ?? "", 200)}` };
  try {
    return { status: parseCrmMon(mon.stdout), failures: failedActions(mon.stdout), xml: mon.stdout };
  } catch (err) {
    return { problem: `crm_mon's answer cannot be read: ${(err as Error).message}` };
  }
}

/** Fence devices (`stonith:` agents) crm_mon lists: the fencer, not a probe, says where they run. */
export function fenceDeviceIds(crmMonXml: string): string[] {
  const resources = readXml(crmMonXml).child("resources");
  return (resources?.getElementsByTagName("resource") ?? []).filter((r) => (r.getAttribute("resource_agent") ?? "").startsWith("stonith:")).map((r) => r.getAttribute("id") ?? "");
}

/** The failed actions crm_mon lists (`<failures>`), as `op_key on node (status)`. */
export function failedActions(crmMonXml: string): string[] {
  const failures = readXml(crmMonXml).child("failures");
  return (failures?.children ?? [])
    .filter((f) => f.tagName === "failure")
    .map((f) => `${f.getAttribute("op_key") ?? "?"} on ${f.getAttribute("node") ?? "?"} (${f.getAttribute("exitreason") || f.getAttribute("status") || "failed"})`);
}

/** A crm_config property's value, or null when it is not set. */
export async function clusterProperty(session: SshSession, name: string, set?: string): Promise<string | null> {
  const r = await session.exec(session.asRoot(`crm_attribute --type crm_config ${set ? `--set-name ${shQuote(set)} ` : ""}--name ${shQuote(name)} --query --quiet`), { timeoutMs: 30_000, maxOutputBytes: 4096 });
  // crm_attribute exits 6 (no such object) when the property is not set.
  if (r.code === 6 || (r.code !== 0 && /No such device or address|not found/i.test(r.stderr))) return null;
  if (r.code !== 0) throw new Error(`crm_attribute --query ${name} exited ${r.code}: ${hostText(r.stderr.trim(), 200)}`);
  const value = r.stdout.trim();
  if (!/^[A-Za-z0-9_.:,-]{0,200}$/.test(value)) throw new Error(`crm_attribute answered ${hostText(value, 100)} for ${name}`);
  return value;
}

async function setProperty(session: SshSession, name: string, value: string | null, set?: string): Promise<void> {
  const where = `--type crm_config ${set ? `--set-name ${shQuote(set)} ` : ""}--name ${shQuote(name)}`;
  await session.run(session.asRoot(value === null ? `crm_attribute ${where} --delete` : `crm_attribute ${where} --update ${shQuote(value)}`), { timeoutMs: 60_000 });
}

/**
 * Puts the whole cluster into maintenance (resources unmanaged: nothing starts, stops or moves),
 * noting in hpcdk's record that the rollout did and what the property was: `unset`, `false`, or
 * already `true` (then the site or an admin wants it, and the rollout leaves it alone).
 * @returns whether the rollout owns the maintenance (and must end it).
 */
export async function enterMaintenance(session: SshSession): Promise<boolean> {
  const note = await clusterProperty(session, ROLLOUT_MAINTENANCE, DEPLOY_RECORD.set);
  if (note !== null) return true; // an earlier, interrupted rollout set it: this one ends it
  const before = await clusterProperty(session, "maintenance-mode");
  if (before === "true") return false;
  // The note first: a rollout killed between the two leaves a note the next one clears.
  await setProperty(session, ROLLOUT_MAINTENANCE, before ?? "unset", DEPLOY_RECORD.set);
  await setProperty(session, "maintenance-mode", "true");
  return true;
}

/** Ends the maintenance the rollout started: the property as it was, then the note. */
export async function leaveMaintenance(session: SshSession): Promise<void> {
  const note = await clusterProperty(session, ROLLOUT_MAINTENANCE, DEPLOY_RECORD.set);
  if (note === null) return;
  await setProperty(session, "maintenance-mode", note === "unset" ? null : note);
  await setProperty(session, ROLLOUT_MAINTENANCE, null, DEPLOY_RECORD.set);
}

/**
 * A node's standby, as a transient (reboot) attribute: it lives in the status section, so the
 * configuration (and hpcdk's digest of it) does not change, and it ends when the node's
 * pacemaker stops; `off` clears what is left of it.
 */
export async function setStandby(session: SshSession, node: string, on: boolean): Promise<void> {
  const base = `crm_attribute --node ${shQuote(node)} --name standby --lifetime reboot`;
  const r = await session.exec(session.asRoot(on ? `${base} --update on` : `${base} --delete`), { timeoutMs: 60_000 });
  // Deleting what is not there (the node's restart cleared it): no such object, 6 or 105.
  if (r.code !== 0 && !((r.code === 6 || r.code === 105) && !on)) throw new Error(`${base} ${on ? "--update on" : "--delete"} exited ${r.code}: ${hostText(r.stderr.trim(), 200)}`);
}

export interface SettleExpectation {
  /** Every one online, none unclean. */
  readonly nodes: readonly string[];
  /** Resource id → the node it must run on (re-probed after a restart under maintenance). */
  readonly runningOn?: Readonly<Record<string, string>>;
  /** No resource may run on these nodes (standby). */
  readonly emptyNodes?: readonly string[];
  /** Wait for the scheduler to have nothing left to do (`crm_resource --wait`). @default true */
  readonly idle?: boolean;
}

/**
 * Waits, at most `timeoutSec`, until the cluster has settled as expected: quorate, every node
 * online, no failed actions, no pending actions, resources where they must be. Returns why not.
 */
export async function waitSettled(session: SshSession, expect: SettleExpectation, timeoutSec: number): Promise<string | undefined> {
  const deadline = Date.now() + timeoutSec * 1000;
  let why = "not checked";
  for (;;) {
    why = await notSettled(session, expect, Math.max(1, Math.ceil((deadline - Date.now()) / 1000)));
    if (why === "" || Date.now() >= deadline) break;
    await sleep(1000);
  }
  return why === "" ? undefined : `not settled within ${timeoutSec} s: ${why}`;
}

async function notSettled(session: SshSession, expect: SettleExpectation, leftSec: number): Promise<string> {
  if (expect.idle ?? true) {
    // Pending actions: crm_resource --wait returns once the scheduler's transition is done.
    const w = await session.exec(session.asRoot(`crm_resource --wait --timeout=${Math.min(leftSec, 60)}s`), { timeoutMs: (Math.min(leftSec, 60) + 30) * 1000 });
    if (w.code !== 0) return `actions still pending (crm_resource --wait exited ${w.code}: ${hostText(w.stderr.trim().split("\n").pop() ?? "", 200)})`;
  }
  const mon = await monitor(session);
  if ("problem" in mon) return mon.problem;
  const { status, failures } = mon;
  if (!status.quorate) return "no DC with quorum";
  const offline = expect.nodes.filter((n) => !status.nodes[n]?.online || status.nodes[n]?.unclean);
  if (offline.length > 0) return `${offline.join(", ")} not online`;
  if (failures.length > 0) return `failed actions: ${failures.join("; ")}`;
  const misplaced = Object.entries(expect.runningOn ?? {}).filter(([id, node]) => !(status.placement[id] ?? []).includes(node));
  if (misplaced.length > 0) return `not running where they ran: ${misplaced.map(([id, node]) => `${id} (on ${node}; now ${(status.placement[id] ?? []).join(", ") || "nowhere"})`).join(", ")}`;
  const busy = Object.entries(status.placement).filter(([, nodes]) => nodes.some((n) => expect.emptyNodes?.includes(n)));
  if (busy.length > 0) return `still running on ${expect.emptyNodes!.join(", ")}: ${busy.map(([id]) => id).join(", ")}`;
  return "";
}
