/**
 * The failover drill: on a live cluster, record `pcs status` and crm_mon before, inject a fault
 * on one management node, poll the cluster every 250 ms from a surviving node (over the one SSH
 * layer) while an NFS client reads and writes through the floating IP, and write a timed report
 * with a verdict: the expected node fenced, the resources where Pacemaker's scheduler said they
 * would go (`hpcdk simulate`), and the data written before the fault intact.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { InventoryOverride } from "../common/contracts/inventory.js";
import { shQuote } from "../common/shell.js";
import type { SiteSpec } from "../schema/site.js";
import { groupMembers } from "./pacemaker/cib.js";
import { lastFenced, parseCrmMon, type ClusterStatus } from "./pacemaker/crm-mon.js";
import { connect as connectTo } from "./remote/connect.js";
import { readInventory } from "./remote/inventory.js";
import type { SshSession } from "./remote/ssh.js";
import { simulateLiveFailure } from "./simulate/index.js";
import { HpcdkError } from "../common/errors.js";
import { sleep } from "../common/async.js";

/** How the node fails. */
export type DrillMode = "power-off" | "kill" | "link-down" | "standby";
export const DRILL_MODES: readonly DrillMode[] = ["power-off", "kill", "link-down", "standby"];

/** What a drill can do to a node besides asking the cluster (the lab gives these). */
export interface NodeControl {
  /** Cut the node's power without the cluster knowing (kill). */
  kill(node: string): Promise<void>;
  /** Take the node's cluster link down (link-down). */
  linkDown(node: string): Promise<void>;
}

export interface DrillOptions {
  readonly stackDir: string;
  readonly spec: SiteSpec;
  readonly site: string;
  readonly override?: InventoryOverride;
  /** The node to fail. @default the node running the first NFS group */
  readonly node?: string;
  /** @default "power-off" */
  readonly mode?: DrillMode;
  /** Needed for kill and link-down (the namespace lab provides it). */
  readonly control?: NodeControl;
  /** @default 250 */
  readonly pollMs?: number;
  /** The drill gives up after this long. @default 180 */
  readonly timeoutSec?: number;
  readonly log?: (line: string) => void;
}

export interface DrillEvent {
  /** Milliseconds after the fault was injected. */
  readonly atMs: number;
  readonly what: string;
}

export interface DrillCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DrillReport {
  readonly site: string;
  readonly node: string;
  readonly mode: DrillMode;
  readonly survivor: string;
  readonly startedAt: string;
  readonly predicted: { fenced: string[]; placement: Record<string, string[]> };
  readonly before: { pcsStatus: string; placement: Record<string, string[]> };
  readonly after: { pcsStatus: string; placement: Record<string, string[]> };
  /** Where the NFS group ran once it had failed over (absent if it never did). */
  readonly failover?: Record<string, string[]>;
  readonly timeline: DrillEvent[];
  /** Seconds from the fault; absent when it never happened. */
  readonly metrics: {
    nodeLostSec?: number;
    fencedSec?: number;
    resourcesStartedSec?: number;
    readsBackSec?: number;
    writesBackSec?: number;
    rejoinedSec?: number;
    readOutageSec: number;
    writeOutageSec: number;
  };
  readonly checks: DrillCheck[];
  readonly ok: boolean;
}

export class DrillError extends HpcdkError {
  override get topic(): string {
    return "drill";
  }
}

type Snapshot = ClusterStatus;

/** One NFS probe: when it started and ended (milliseconds after the fault), and whether it worked. */
export interface ProbeSample {
  readonly startMs: number;
  readonly atMs: number;
  readonly ok: boolean;
}

/** The NFS client: reads and writes through the floating IP, each bounded in time. */
class NfsProbe {
  private readonly work = mkdtempSync(join(tmpdir(), "hpcdk-drill-"));
  readonly reads: ProbeSample[] = [];
  readonly writes: ProbeSample[] = [];
  private stopped = false;
  private settles = 0;
  private readonly url: (file: string) => string;

  constructor(address: string, exportPath: string) {
    // NFSv3: a client that already mounted keeps reading during the grace period, as the
    // clients of a real cluster do; writes wait for the grace period to end.
    this.url = (file) => `nfs://${address}${exportPath}/${file}`;
  }

  static run(cmd: string, args: string[], timeoutMs = 3000): Promise<{ ok: boolean; out: Buffer; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
      const out: Buffer[] = [];
      let err = "";
      const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => (err += d.toString()));
      child.on("error", (e) => {
        clearTimeout(timer);
        resolve({ ok: false, out: Buffer.alloc(0), err: e.message });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ ok: code === 0, out: Buffer.concat(out), err });
      });
    });
  }

  /** Writes a file of random data; returns its sha256. */
  async seed(file: string): Promise<string> {
    const data = randomBytes(256 * 1024);
    writeFileSync(join(this.work, "seed"), data);
    const r = await NfsProbe.run("nfs-cp", [join(this.work, "seed"), this.url(file)], 15_000);
    if (!r.ok) throw new DrillError(`cannot write ${this.url(file)} before the drill: ${r.err.trim() || "nfs-cp failed"} (is the NFS service up?)`);
    return createHash("sha256").update(data).digest("hex");
  }

  async checksum(file: string): Promise<string | undefined> {
    const r = await NfsProbe.run("nfs-cat", [this.url(file)], 15_000);
    return r.ok ? createHash("sha256").update(r.out).digest("hex") : undefined;
  }

  /** Waits (bounded) until a read and a write through the floating IP both succeed twice running. */
  async settle(file: string, timeoutMs: number): Promise<void> {
    writeFileSync(join(this.work, "probe"), "hpcdk drill probe\n");
    const deadline = performance.now() + timeoutMs;
    let good = 0;
    let last = "";
    while (good < 2) {
      if (performance.now() > deadline) throw new DrillError(`NFS through ${this.url(file)} does not serve reads and writes before the drill (${last || "timed out"}): is the cluster still recovering?`);
      const read = await NfsProbe.run("nfs-cat", [this.url(file)], 2000);
      const write = await NfsProbe.run("nfs-cp", [join(this.work, "probe"), this.url(`${file}.s${this.settles++}`)], 2000);
      good = read.ok && write.ok ? good + 1 : 0;
      last = (read.ok ? write.err : read.err).trim().split("\n")[0] ?? "";
      if (good < 2) await sleep(250);
    }
  }

  /**
   * Reads and writes until stopped, each every `pollMs` in a loop of its own: while the floating
   * IP is gone a probe hangs until its timeout, and a read doing so must not hide the writes'
   * outage (in one loop, a standby drill's writes never saw the floating IP missing).
   */
  async loop(t0: () => number, file: string, pollMs: number): Promise<void> {
    writeFileSync(join(this.work, "probe"), "hpcdk drill probe\n");
    const every = async (samples: ProbeSample[], probe: () => Promise<boolean>) => {
      while (!this.stopped) {
        const start = performance.now();
        const startMs = t0();
        const ok = await probe();
        samples.push({ startMs, atMs: t0(), ok });
        const wait = pollMs - (performance.now() - start);
        if (wait > 0) await sleep(wait);
      }
    };
    await Promise.all([
      every(this.reads, async () => {
        const read = await NfsProbe.run("nfs-cat", [this.url(file)], 2000);
        return read.ok && read.out.length > 0;
      }),
      // A new file each time: a create that the failed server had already done must not fail.
      every(this.writes, async () => (await NfsProbe.run("nfs-cp", [join(this.work, "probe"), this.url(`${file}.w${this.writes.length}`)], 2000)).ok),
    ]);
  }

  stop(): void {
    this.stopped = true;
  }

  cleanup(): void {
    rmSync(this.work, { recursive: true, force: true });
  }
}

/**
 * When a probe came back: the end of the first success after its first failure after the fault.
 * The outage starts when that failed probe started (it may have hung until its timeout), or at
 * the fault if it started before.
 */
export function backAfter(samples: readonly ProbeSample[]): { backMs?: number; outageMs: number } {
  const after = samples.filter((s) => s.atMs >= 0);
  const firstFail = after.find((s) => !s.ok);
  if (!firstFail) return { backMs: 0, outageMs: 0 };
  const downMs = Math.max(0, firstFail.startMs);
  const back = after.find((s) => s.atMs > firstFail.atMs && s.ok);
  return back ? { backMs: back.atMs, outageMs: back.atMs - downMs } : { outageMs: Math.max(0, (after.at(-1)?.atMs ?? 0) - downMs) };
}

/** True when the last probe worked and started at `sinceMs` or later (not before the group moved). */
export function servedSince(samples: readonly ProbeSample[], sinceMs: number | undefined): boolean {
  const last = samples.at(-1);
  return sinceMs !== undefined && last !== undefined && last.ok && last.startMs >= sinceMs;
}

/** Runs one drill. */
export async function runDrill(options: DrillOptions): Promise<DrillReport> {
  const mode = options.mode ?? "power-off";
  const pollMs = options.pollMs ?? 250;
  const timeoutMs = (options.timeoutSec ?? 180) * 1000;
  const log = options.log ?? (() => {});
  if ((mode === "kill" || mode === "link-down") && !options.control) {
    throw new DrillError(`--mode ${mode} needs direct control of the node (the namespace lab); on real hosts use power-off or standby`);
  }
  const spec = options.spec;
  const group = spec.nfs.groups[0]!;
  const exportPath = group.exports[0]!.path;
  const inventory = readInventory(options.stackDir, options.override);
  const connect = (host: string) => connectTo(inventory, host);

  // Where the NFS group runs decides the default victim; a survivor watches.
  const names = spec.nodes.map((n) => n.name);
  log(`connecting to ${inventory.managementNodes[0]}`);
  let watcher = await connect(inventory.managementNodes[0]!);
  try {
    const mon = async (s: SshSession) => parseCrmMon(await s.run(s.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 10_000 }));
    const cibXml = readFileSync(join(options.stackDir, "cluster", "cib.xml"), "utf8");
    const groupResources = groupMembers(cibXml, `group-${group.name}`);
    // A cluster just deployed or just back from an earlier drill may still be starting things:
    // wait (bounded) until every node is online and the whole group runs on one node.
    const settled = (snap: Snapshot) =>
      names.every((n) => snap.nodes[n]?.online && !snap.nodes[n]?.unclean) &&
      groupResources.every((r) => (snap.placement[r] ?? []).length === 1 && snap.placement[r]![0] === snap.placement[groupResources[0]!]![0]);
    let initial = await mon(watcher);
    if (!settled(initial)) {
      log("waiting for the cluster to settle: every node online, the NFS group running");
      const until = performance.now() + 120_000;
      while (!settled(initial) && performance.now() < until) {
        await sleep(1000);
        initial = await mon(watcher);
      }
    }
    const offline = names.filter((n) => !initial.nodes[n]?.online);
    if (offline.length > 0) throw new DrillError(`the cluster is not healthy before the drill: ${offline.join(", ")} offline after 120 s`);
    const node = options.node ?? initial.placement[`ip-${group.name}`]?.[0];
    if (!node || !names.includes(node)) throw new DrillError(`no node to fail: ${options.node ?? "the NFS group runs nowhere"} (nodes: ${names.join(", ")})`);
    const survivor = inventory.managementNodes.find((n) => n !== node)!;
    if (watcher.host !== survivor) {
      watcher.close();
      watcher = await connect(survivor);
    }

    // What Pacemaker's scheduler says should happen: hpcdk simulate's rules, on the live CIB (the
    // resources may run elsewhere than the synthesized CIB's steady state after earlier drills).
    log(`asking Pacemaker's scheduler what failing ${node} does`);
    const failure = await simulateLiveFailure(await watcher.run(watcher.asRoot("cibadmin --query"), { timeoutMs: 30_000 }), node);
    const predicted = {
      fenced: mode === "standby" ? [] : failure.fenced,
      placement: Object.fromEntries(groupResources.map((r) => [r, failure.after[r] ?? []])),
    };

    const probe = new NfsProbe(group.floatingIp.address, exportPath);
    const timeline: DrillEvent[] = [];
    try {
      const dataFile = `hpcdk-drill-${Date.now()}.dat`;
      log(`writing ${dataFile} through ${group.floatingIp.address}`);
      const sum = await probe.seed(dataFile);
      const pcsBefore = await watcher.run(watcher.asRoot("pcs status 2>&1 || crm_mon -1"), { timeoutMs: 30_000 });
      // A node counts as fenced by this drill when its last fencing completed after the fault, by
      // the watcher's clock: comparing with the value before would not do, because fence history
      // reaches a node that rebooted in a previous drill seconds later, changing --last on its own.
      const lastOf = async (n: string) => lastFenced((await watcher.exec(watcher.asRoot(`stonith_admin --last ${n} --output-as=xml`))).stdout, n);
      const fencedSinceFault = async (n: string) => ((await lastOf(n).catch(() => undefined)) ?? -Infinity) >= faultEpoch;
      const faultEpoch = Number((await watcher.run("date +%s")).trim());
      log(`drill ${mode} of ${node}: watching from ${survivor}, NFS through ${group.floatingIp.address}:${exportPath}`);

      // Before the fault, probe samples fall at negative times (and count for nothing).
      let t0 = Number.POSITIVE_INFINITY;
      const now = () => Math.round(performance.now() - t0);
      const event = (what: string) => {
        timeline.push({ atMs: now(), what });
        log(`  +${(now() / 1000).toFixed(1)} s  ${what}`);
      };
      // A server still in its grace period after an earlier failover refuses new files: wait until
      // NFS serves reads and writes before the fault, or the drill would time the old outage.
      log("waiting until NFS serves reads and writes");
      await probe.settle(dataFile, 60_000);
      const probing = probe.loop(() => now(), dataFile, pollMs);
      await sleep(pollMs * 2);

      // The fault.
      t0 = performance.now();
      let faultJob: Promise<unknown> | undefined;
      switch (mode) {
        case "power-off":
          faultJob = watcher.exec(watcher.asRoot(`stonith_admin --fence ${node} --timeout 120`), { timeoutMs: 150_000 });
          break;
        case "kill":
          await options.control!.kill(node);
          break;
        case "link-down":
          await options.control!.linkDown(node);
          break;
        case "standby":
          faultJob = watcher.exec(watcher.asRoot(`crm_attribute --node ${node} --name standby --update on`));
          break;
      }
      event(`fault: ${mode} ${node}`);

      const seen = new Set<string>();
      let poweredOnAt: number | undefined;
      const deadline = performance.now() + timeoutMs;
      let last = initial;
      // Where the group ran once it had moved (before the node came back and could draw it home).
      let failover: Record<string, string[]> | undefined;
      let recoveredAt: number | undefined;
      while (performance.now() < deadline) {
        const snap = await mon(watcher).catch(() => last);
        last = snap;
        const state = snap.nodes[node];
        if (!seen.has("lost") && state && (mode === "standby" ? state.standby : !state.online)) {
          seen.add("lost");
          event(mode === "standby" ? `${node} in standby` : `${node} lost`);
        }
        if (mode !== "standby" && !seen.has("fenced")) {
          if (await fencedSinceFault(node)) {
            seen.add("fenced");
            event(`${node} fenced`);
          }
        }
        for (const r of groupResources) {
          const on = snap.placement[r] ?? [];
          if (!seen.has(`started:${r}`) && seen.has("lost") && on.length > 0 && !on.includes(node)) {
            seen.add(`started:${r}`);
            event(`${r} started on ${on.join(", ")}`);
          }
        }
        const reads = backAfter(probe.reads);
        const writes = backAfter(probe.writes);
        if (!seen.has("reads") && probe.reads.some((s) => s.atMs >= 0 && !s.ok) && reads.backMs !== undefined) {
          seen.add("reads");
          timeline.push({ atMs: reads.backMs, what: "NFS reads back" });
          log(`  +${(reads.backMs / 1000).toFixed(1)} s  NFS reads back`);
        }
        if (!seen.has("writes") && probe.writes.some((s) => s.atMs >= 0 && !s.ok) && writes.backMs !== undefined) {
          seen.add("writes");
          timeline.push({ atMs: writes.backMs, what: "NFS writes back" });
          log(`  +${(writes.backMs / 1000).toFixed(1)} s  NFS writes back`);
        }
        const recovered = groupResources.every((r) => seen.has(`started:${r}`)) && now() > 2000;
        if (recovered && failover === undefined) {
          failover = Object.fromEntries(groupResources.map((r) => [r, snap.placement[r] ?? []]));
          recoveredAt = now();
        }
        // NFS works on the node the group moved to: probes from before the move do not count (a
        // standby drill took its node out of standby before any probe had reached the new node).
        const ioHealthy = servedSince(probe.reads, recoveredAt) && servedSince(probe.writes, recoveredAt);
        // Bring the node back once its services run elsewhere: power on after power-off, out of
        // standby after standby (kill and link-down: the fence device reboots it).
        if (recovered && ioHealthy && poweredOnAt === undefined) {
          if (mode === "power-off") {
            await faultJob;
            faultJob = watcher.exec(watcher.asRoot(`stonith_admin --unfence ${node} --timeout 120`), { timeoutMs: 150_000 });
            poweredOnAt = now();
            event(`power on ${node}`);
          } else if (mode === "standby") {
            await faultJob;
            await watcher.run(watcher.asRoot(`crm_attribute --node ${node} --name standby --update off`));
            poweredOnAt = now();
            event(`${node} out of standby`);
          } else {
            poweredOnAt = now();
          }
        }
        if (!seen.has("rejoined") && poweredOnAt !== undefined && state?.online && !state.unclean && !state.standby && seen.has("lost")) {
          seen.add("rejoined");
          event(`${node} rejoined`);
        }
        if (seen.has("rejoined") && recovered && ioHealthy) break;
        await sleep(pollMs);
      }
      probe.stop();
      await probing;
      await faultJob?.catch(() => undefined);

      const after = await mon(watcher);
      const pcsAfter = await watcher.run(watcher.asRoot("pcs status 2>&1 || crm_mon -1"), { timeoutMs: 30_000 });
      const afterSum = await probe.checksum(dataFile);
      // The probe's files go (libnfs's tools cannot delete): on the node that now holds the export.
      const holder = after.placement[groupResources[0]!]?.[0];
      if (holder) {
        const s = holder === watcher.host ? watcher : await connect(holder);
        const data = shQuote(`${exportPath}/${dataFile}`);
        await s.exec(s.asRoot(`rm -f -- ${data} ${data}.*`)).catch(() => undefined);
        if (s !== watcher) s.close();
      }
      const fencedNow = await fencedSinceFault(node);
      const healthyFenced: string[] = [];
      for (const n of names) if (n !== node && (await fencedSinceFault(n))) healthyFenced.push(n);
      const reads = backAfter(probe.reads);
      const writes = backAfter(probe.writes);
      const at = (what: string) => timeline.find((e) => e.what.startsWith(what) || e.what.endsWith(what))?.atMs;
      const sec = (ms?: number) => (ms === undefined ? undefined : Math.round(ms / 100) / 10);
      const startedTimes = timeline.filter((e) => / started on /.test(e.what)).map((e) => e.atMs);
      const metrics = {
        nodeLostSec: sec(at(mode === "standby" ? "in standby" : "lost")),
        fencedSec: sec(at("fenced")),
        resourcesStartedSec: startedTimes.length === groupResources.length ? sec(Math.max(...startedTimes)) : undefined,
        readsBackSec: sec(reads.backMs),
        writesBackSec: sec(writes.backMs),
        rejoinedSec: sec(at("rejoined")),
        readOutageSec: sec(reads.outageMs)!,
        writeOutageSec: sec(writes.outageMs)!,
      };
      const movedTo = (r: string) => (failover?.[r] ?? after.placement[r] ?? []).join(",");
      const checks: DrillCheck[] = [
        mode === "standby"
          ? { name: `${node} not fenced`, ok: !fencedNow, detail: "standby moves resources without fencing" }
          : { name: `${node} fenced`, ok: fencedNow, detail: fencedNow ? `fenced after ${metrics.fencedSec} s` : "no successful fencing of the node" },
        { name: "no healthy node fenced", ok: healthyFenced.length === 0, detail: healthyFenced.length === 0 ? "none" : `fenced: ${healthyFenced.join(", ")}` },
        {
          name: "resources where the scheduler predicted",
          ok: groupResources.every((r) => movedTo(r) === (predicted.placement[r] ?? []).join(",")),
          detail: groupResources.map((r) => `${r}: ${movedTo(r) || "stopped"} (predicted ${(predicted.placement[r] ?? []).join(",") || "stopped"})`).join("; "),
        },
        { name: "no data lost", ok: afterSum === sum, detail: afterSum === sum ? `the file written before the fault reads back with sha256 ${sum.slice(0, 16)}…` : "the file written before the fault does not read back the same" },
        { name: "NFS serves reads and writes again", ok: reads.backMs !== undefined && writes.backMs !== undefined, detail: `reads back after ${metrics.readsBackSec ?? "never"} s, writes after ${metrics.writesBackSec ?? "never"} s` },
        { name: `${node} rejoined`, ok: seen.has("rejoined"), detail: seen.has("rejoined") ? `after ${metrics.rejoinedSec} s` : `not within ${timeoutMs / 1000} s` },
      ];
      return {
        site: options.site,
        node,
        mode,
        survivor,
        startedAt: new Date().toISOString(),
        predicted,
        before: { pcsStatus: pcsBefore, placement: initial.placement },
        after: { pcsStatus: pcsAfter, placement: after.placement },
        failover,
        timeline: timeline.sort((a, b) => a.atMs - b.atMs),
        metrics,
        checks,
        ok: checks.every((c) => c.ok),
      };
    } finally {
      probe.stop();
      probe.cleanup();
    }
  } finally {
    watcher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Reports

export function drillMarkdown(r: DrillReport): string {
  const lines = [
    `# Failover drill: ${r.mode} of ${r.node} (${r.site})`,
    "",
    `**Verdict: ${r.ok ? "PASSED" : "FAILED"}** — watched from ${r.survivor}, started ${r.startedAt}.`,
    "",
    "| check | result | detail |",
    "| --- | --- | --- |",
    ...r.checks.map((c) => `| ${c.name} | ${c.ok ? "ok" : "FAILED"} | ${c.detail} |`),
    "",
    "## Timeline (seconds after the fault)",
    "",
    "| s | event |",
    "| ---: | --- |",
    ...r.timeline.map((e) => `| ${(e.atMs / 1000).toFixed(1)} | ${e.what} |`),
    "",
    `Read outage ${r.metrics.readOutageSec} s, write outage ${r.metrics.writeOutageSec} s.`,
    "",
    "## pcs status before",
    "",
    "```",
    r.before.pcsStatus.trim(),
    "```",
    "",
    "## pcs status after",
    "",
    "```",
    r.after.pcsStatus.trim(),
    "```",
    "",
  ];
  return lines.join("\n");
}

const escapeHtml = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** An HTML page with an SVG timeline: the fault, every event, and the NFS outages as bars. */
export function drillHtml(r: DrillReport): string {
  const end = Math.max(1000, ...r.timeline.map((e) => e.atMs)) * 1.08;
  const width = 900;
  const x = (ms: number) => 40 + (Math.max(0, ms) / end) * (width - 80);
  const rows = r.timeline.map((e, i) => {
    const y = 90 + i * 22;
    return `<line x1="${x(e.atMs)}" y1="60" x2="${x(e.atMs)}" y2="${y - 4}" stroke="#999" stroke-dasharray="2,2"/><circle cx="${x(e.atMs)}" cy="60" r="4" fill="${e.what.startsWith("fault") ? "#c0392b" : "#2c3e50"}"/><text x="${x(e.atMs) + 6}" y="${y}" font-size="12">${(e.atMs / 1000).toFixed(1)} s — ${escapeHtml(e.what)}</text>`;
  });
  const bar = (label: string, y: number, back: number | undefined, outage: number) =>
    outage > 0
      ? `<text x="0" y="${y + 10}" font-size="11">${label}</text><rect x="${x((back ?? end) - outage * 1000)}" y="${y}" width="${Math.max(2, x(back ?? end) - x((back ?? end) - outage * 1000))}" height="12" fill="#e67e22"><title>${label} down ${outage} s</title></rect>`
      : `<text x="0" y="${y + 10}" font-size="11">${label}: no outage</text>`;
  const height = 110 + r.timeline.length * 22;
  const ticks = Array.from({ length: 11 }, (_, i) => (i * end) / 10).map(
    (ms) => `<line x1="${x(ms)}" y1="56" x2="${x(ms)}" y2="64" stroke="#333"/><text x="${x(ms) - 8}" y="50" font-size="10">${(ms / 1000).toFixed(0)}</text>`,
  );
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Drill ${escapeHtml(r.mode)} of ${escapeHtml(r.node)} — ${escapeHtml(r.site)}</title>
<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}.ok{color:#27ae60}.bad{color:#c0392b}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head>
<body>
<h1>Failover drill: ${escapeHtml(r.mode)} of ${escapeHtml(r.node)} <span class="${r.ok ? "ok" : "bad"}">${r.ok ? "PASSED" : "FAILED"}</span></h1>
<p>Site ${escapeHtml(r.site)}, watched from ${escapeHtml(r.survivor)}, started ${escapeHtml(r.startedAt)}.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 50}" viewBox="0 0 ${width} ${height + 50}" role="img" aria-label="timeline">
<line x1="40" y1="60" x2="${width - 40}" y2="60" stroke="#333"/>${ticks.join("")}<text x="${width - 60}" y="40" font-size="11">seconds</text>
${rows.join("\n")}
${bar("NFS reads", height, r.metrics.readsBackSec === undefined ? undefined : r.metrics.readsBackSec * 1000, r.metrics.readOutageSec)}
${bar("NFS writes", height + 18, r.metrics.writesBackSec === undefined ? undefined : r.metrics.writesBackSec * 1000, r.metrics.writeOutageSec)}
</svg>
<table><tr><th>check</th><th>result</th><th>detail</th></tr>
${r.checks.map((c) => `<tr><td>${escapeHtml(c.name)}</td><td class="${c.ok ? "ok" : "bad"}">${c.ok ? "ok" : "FAILED"}</td><td>${escapeHtml(c.detail)}</td></tr>`).join("\n")}
</table>
<h2>pcs status before</h2><pre>${escapeHtml(r.before.pcsStatus)}</pre>
<h2>pcs status after</h2><pre>${escapeHtml(r.after.pcsStatus)}</pre>
</body></html>
`;
}

/** min, median and max of numbers (undefined values left out). */
export function spread(values: (number | undefined)[]): { min?: number; median?: number; max?: number; n: number } {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0 };
  return { min: v[0], median: v[Math.floor((v.length - 1) / 2)], max: v[v.length - 1], n: v.length };
}
