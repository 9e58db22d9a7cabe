/**
 * The failover split into phases: membership lost, fence confirmed, pool import (the MMP wait
 * inside it), NFS server up, grace started and ended, IP up, first good read and write per
 * protocol. Each comes from where it is recorded: the cluster as the drill polled it, the start
 * operations' run times in the CIB's status (when a start began), the NFS server's log (grace),
 * the lab's zpool stand-in (the MMP wait), and the probes.
 */
import { shQuote } from "../../common/shell.js";
import type { DrillEvent, PhaseName, TimelineContext, TimelineSource } from "./types.js";

/** The role of a group member, from its resource agent. */
export type MemberRole = "pool" | "nfs-server" | "export" | "ip" | "notify" | "other";

export function roleOf(agent: string): MemberRole {
  if (/:ZFS$/.test(agent)) return "pool";
  if (/:(ganesha|nfsserver)$/.test(agent)) return "nfs-server";
  if (/:exportfs$/.test(agent)) return "export";
  if (/:IPaddr2?$/.test(agent)) return "ip";
  if (/:nfsnotify$/.test(agent)) return "notify";
  return "other";
}

/** A start operation as the CIB's status records it: when its result came, how long it ran. */
export interface StartOp {
  readonly resource: string;
  readonly node: string;
  readonly lastRcChangeSec: number;
  readonly execMs: number;
  readonly rc: number;
}

/**
 * Phase events of the group's resources: each member's start as the drill saw it (`startedMs`,
 * from polling) and, with the CIB's start operation, when that start began (its run time
 * before). The pool's start is the import; the NFS server's and the IP's ends are "up".
 */
export function resourcePhases(
  members: readonly { id: string; role: MemberRole }[],
  startedMs: Readonly<Record<string, number>>,
  ops: readonly StartOp[],
): DrillEvent[] {
  const out: DrillEvent[] = [];
  const opOf = (id: string) => ops.find((o) => o.resource === id);
  const pools = members.filter((m) => m.role === "pool" && startedMs[m.id] !== undefined);
  if (pools.length > 0) {
    const end = Math.max(...pools.map((p) => startedMs[p.id]!));
    const begins = pools.map((p) => startedMs[p.id]! - (opOf(p.id)?.execMs ?? 0));
    const from = Math.min(...begins);
    out.push({ atMs: end, fromMs: from, what: `pool imported (${pools.map((p) => p.id).join(", ")}; the import ran ${((end - from) / 1000).toFixed(1)} s)`, phase: "pool-imported", source: "cluster" });
  }
  const server = members.find((m) => m.role === "nfs-server" && startedMs[m.id] !== undefined);
  if (server) {
    const op = opOf(server.id);
    out.push({ atMs: startedMs[server.id]!, ...(op ? { fromMs: startedMs[server.id]! - op.execMs } : {}), what: `NFS server up (${server.id})`, phase: "nfs-server-up", source: "cluster" });
  }
  const ip = members.find((m) => m.role === "ip" && startedMs[m.id] !== undefined);
  if (ip) out.push({ atMs: startedMs[ip.id]!, what: `floating IP up (${ip.id})`, phase: "ip-up", source: "cluster" });
  return out;
}

/** ganesha's log time: `03/12/2026 08:07:31 : epoch ...` in the node's local time (offset `+0100`). */
export function ganeshaTime(line: string, utcOffset: string): number | undefined {
  const m = /^(\d{2})\/(\d{2})\/(\d{4}) (\d{2}):(\d{2}):(\d{2})/.exec(line);
  if (!m) return undefined;
  const [, dd, mm, yyyy, hh, mi, ss] = m;
  const off = /^([+-])(\d{2})(\d{2})$/.exec(utcOffset.trim());
  const offsetSec = off ? (off[1] === "-" ? -1 : 1) * (Number(off[2]) * 3600 + Number(off[3]) * 60) : 0;
  return Date.UTC(Number(yyyy), Number(mm) - 1, Number(dd), Number(hh), Number(mi), Number(ss)) / 1000 - offsetSec;
}

/**
 * Grace from ganesha's log after the fault: "NFS Server Now IN GRACE, duration N" and "NFS Server
 * Now NOT IN GRACE", and how many clients it expected back ("clid count(N)", the clients in its
 * recovery database that may reclaim). Second resolution: the log has no finer time.
 */
export function ganeshaGrace(log: string, utcOffset: string, faultEpochSec: number): { events: DrillEvent[]; clients?: number; graceSec?: number } {
  const events: DrillEvent[] = [];
  let clients: number | undefined;
  let graceSec: number | undefined;
  for (const line of log.split("\n")) {
    const t = ganeshaTime(line, utcOffset);
    if (t === undefined || t < Math.floor(faultEpochSec)) continue;
    const atMs = Math.round((t - faultEpochSec) * 1000);
    const started = /NFS Server Now IN GRACE, duration (\d+)/.exec(line);
    if (started && !events.some((e) => e.phase === "grace-started")) {
      graceSec = Number(started[1]);
      events.push({ atMs, what: `grace started (${graceSec} s at most)`, phase: "grace-started", source: "nfs-server log" });
    }
    const clid = /clid count\((\d+)\)/.exec(line);
    if (clid && clients === undefined) clients = Number(clid[1]);
    if (/NFS Server Now NOT IN GRACE/.test(line) && events.some((e) => e.phase === "grace-started") && !events.some((e) => e.phase === "grace-ended")) {
      events.push({ atMs, what: "grace ended", phase: "grace-ended", source: "nfs-server log" });
    }
    if (/NFS Server skipping GRACE/.test(line)) events.push({ atMs, what: "grace skipped (Graceless)", phase: "grace-ended", source: "nfs-server log" });
  }
  const start = events.find((e) => e.phase === "grace-started");
  if (start && clients !== undefined) events[events.indexOf(start)] = { ...start, what: `${start.what}: ${clients} client${clients === 1 ? "" : "s"} may reclaim` };
  return { events, ...(clients !== undefined ? { clients } : {}), ...(graceSec !== undefined ? { graceSec } : {}) };
}

/**
 * The MMP activity check as the lab's zpool stand-in logs it (`/var/log/hpcdk-lab/zpool.log`):
 * `<epoch.ns> import POOL mmp-wait BEGIN..END hostid HOST` lines.
 */
export function standInMmp(log: string, faultEpochSec: number): DrillEvent[] {
  const out: DrillEvent[] = [];
  for (const line of log.split("\n")) {
    const m = /^(\d+(?:\.\d+)?) import (\S+) mmp-wait (\d+(?:\.\d+)?) (\d+(?:\.\d+)?)(?: (.*))?$/.exec(line.trim());
    if (!m) continue;
    const begin = Number(m[3]);
    const end = Number(m[4]);
    if (end < faultEpochSec) continue;
    out.push({
      atMs: Math.round((end - faultEpochSec) * 1000),
      fromMs: Math.round((begin - faultEpochSec) * 1000),
      what: `MMP activity check of ${m[2]}: ${(end - begin).toFixed(1)} s${m[5] ? ` (${m[5]})` : ""}`,
      phase: "mmp-wait",
      source: "zpool",
    });
  }
  return out;
}

/** Each phase's time (seconds after the fault): the first event of each phase. */
export function phaseTimes(timeline: readonly DrillEvent[]): Partial<Record<PhaseName, number>> {
  const out: Partial<Record<PhaseName, number>> = {};
  for (const e of [...timeline].sort((a, b) => a.atMs - b.atMs)) {
    if (e.phase && out[e.phase] === undefined) out[e.phase] = Math.round(e.atMs / 100) / 10;
  }
  return out;
}

/** The NFS server's log and the stand-in's MMP log on the node the group moved to. */
export function nfsServerLogSource(logFile = "/var/log/ganesha/ganesha.log"): TimelineSource {
  return {
    name: "nfs-server log",
    async collect(ctx: TimelineContext): Promise<DrillEvent[]> {
      if (!ctx.newHolder) return [];
      const out = await ctx.run(ctx.newHolder, `date +%z; echo ---; grep -E 'GRACE|clid count' ${shQuote(logFile)} 2>/dev/null | tail -n 200 || true; echo ---; tail -n 50 /var/log/hpcdk-lab/zpool.log 2>/dev/null || true`);
      const [offset = "+0000", grace = "", zpool = ""] = out.split("---\n");
      return [...ganeshaGrace(grace, offset, ctx.faultEpochSec).events, ...standInMmp(zpool, ctx.faultEpochSec)];
    },
  };
}

/**
 * When the power switch really cut (and restored) the failed node's power, from the switch's own
 * log (the namespace lab's power.sh writes `<epoch seconds> off|on` lines, and `booted` once a
 * node with a boot time starts its init). A power-off drill asks
 * the fencer, which runs the fence agent, which asks the switch: the node dies some time after the
 * fault the drill records, and this shows how long.
 */
export function powerSwitchSource(readLog: (node: string) => string | undefined): TimelineSource {
  return {
    name: "power switch",
    async collect(ctx: TimelineContext): Promise<DrillEvent[]> {
      return powerSwitchEvents(readLog(ctx.node) ?? "", ctx.node, ctx.faultEpochSec);
    },
  };
}

/** The power switch log's lines at or after the fault, as timeline events (the first cut marks the phase). */
export function powerSwitchEvents(log: string, node: string, faultEpochSec: number): DrillEvent[] {
  const out: DrillEvent[] = [];
  for (const line of log.split("\n")) {
    const m = /^(\d+(?:\.\d+)?) (off|on|booted)$/.exec(line.trim());
    if (!m || Number(m[1]) < faultEpochSec) continue;
    const atMs = Math.round((Number(m[1]) - faultEpochSec) * 1000);
    const first = m[2] === "off" && !out.some((e) => e.phase === "power-cut");
    const what = m[2] === "off" ? `${node} power cut (power switch)` : m[2] === "on" ? `${node} powered on (power switch)` : `${node} booted (its init starts)`;
    out.push({ atMs, what, ...(first ? { phase: "power-cut" as const } : {}), source: "power switch" });
  }
  return out;
}
