/**
 * The drill's NFS clients, each a process of its own running `nfs-probe.py` (libnfs through
 * ctypes, and a small NFSv4.0 client for the lock): per protocol a reader and a writer through
 * the floating IP, the steady writer whose acknowledged records must survive, and the lock
 * holder. A client that hangs (the IP is gone) delays only its own samples.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { DrillError, type LockResult, type Protocol, type ProtocolMetrics } from "./types.js";

const HELPER = join(dirname(fileURLToPath(import.meta.url)), "nfs-probe.py");

/** This process's CLOCK_MONOTONIC in milliseconds: the clock the helper's times are on. */
export const monotonicMs = (): number => Number(process.hrtime.bigint() / 1000n) / 1000;

/** One NFS probe: when it started and ended (milliseconds after the fault), and whether it worked. */
export interface ProbeSample {
  readonly startMs: number;
  readonly atMs: number;
  readonly ok: boolean;
  readonly error?: string;
}

export interface ProbeTarget {
  readonly server: string;
  readonly exportPath: string;
  readonly python?: string;
}

const versionOf = (p: Protocol) => (p === "nfs3" ? "3" : "4");

/** Runs one helper command to its end; its last JSON line. */
export function probeOnce(target: ProbeTarget, args: string[], timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const child = spawn(target.python ?? "/usr/bin/python3", [HELPER, ...args, "--server", target.server, "--export", target.exportPath], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new DrillError(`cannot run the NFS probe (${e.message}): install python3 and libnfs13`));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const last = out.trim().split("\n").filter(Boolean).at(-1);
      const parsed = last ? (JSON.parse(last) as Record<string, unknown>) : {};
      if (code === 0) resolve(parsed);
      else reject(new DrillError(String(parsed.fatal ?? (err.trim().split("\n").at(-1) || `the NFS probe exited with ${code}`))));
    });
  });
}

/** A long-running helper whose JSON lines arrive as they are printed. */
class Stream {
  readonly lines: Record<string, unknown>[] = [];
  private readonly child: ChildProcess;
  readonly done: Promise<void>;

  constructor(target: ProbeTarget, args: string[]) {
    this.child = spawn(target.python ?? "/usr/bin/python3", [HELPER, ...args, "--server", target.server, "--export", target.exportPath], { stdio: ["ignore", "pipe", "ignore"] });
    const rl = createInterface({ input: this.child.stdout! });
    rl.on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        /* a partial line at a kill */
      }
    });
    this.done = new Promise((resolve) => {
      this.child.on("close", () => resolve());
      this.child.on("error", () => resolve());
    });
  }

  /** SIGTERM (the helper finishes its attempt and, for the lock, unlocks), SIGKILL after `graceMs`. */
  async stop(graceMs = 8000): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.done;
    clearTimeout(timer);
  }
}

/** Samples of a looping reader or writer, on the drill's clock (t0: the fault, monotonic ms). */
function samplesOf(stream: Stream, t0: number): ProbeSample[] {
  return stream.lines
    .filter((l) => typeof l.start === "number")
    .map((l) => ({
      startMs: (l.start as number) / 1e6 - t0,
      atMs: (l.end as number) / 1e6 - t0,
      ok: l.ok === true,
      ...(typeof l.error === "string" ? { error: l.error } : {}),
    }));
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

/** What the lock probe printed, turned into the report's verdict on NFSv4 state. */
export function lockResultOf(lines: readonly Record<string, unknown>[], t0: number): LockResult {
  const ev = (name: string) => lines.find((l) => l.event === name);
  const at = (l?: Record<string, unknown>) => (l && typeof l.t === "number" ? Math.round((l.t as number) / 1e6 - t0) / 1000 : undefined);
  const lockt = ev("lockt");
  const heldAtEnd = lockt ? lockt.result === "held" : undefined;
  if (!ev("locked")) {
    const err = lines.find((l) => l.event === "error" || l.fatal);
    return { state: "not-taken", detail: `the probe could not take its lock before the fault: ${String(err?.error ?? err?.fatal ?? "no answer")}` };
  }
  const lost = ev("lost");
  if (lost) return { state: "lost", detail: `the new server refused the reclaim: ${String(lost.error)}`, ...(heldAtEnd !== undefined ? { heldAtEnd } : {}) };
  const reclaimed = ev("reclaimed");
  if (reclaimed) {
    return {
      state: "reclaimed",
      reclaimedSec: at(reclaimed),
      detail: `the new server said the client was stale after ${at(ev("server-restarted"))} s; the OPEN and the LOCK were reclaimed after ${at(reclaimed)} s${heldAtEnd === false ? ", but another client could take the lock at the end" : ""}`,
      ...(heldAtEnd !== undefined ? { heldAtEnd } : {}),
    };
  }
  if (ev("server-restarted")) return { state: "lost", detail: "the server restarted and the probe had not reclaimed its lock when the drill ended" };
  return { state: "held", detail: "the same server kept the lease: the lock was never lost", ...(heldAtEnd !== undefined ? { heldAtEnd } : {}) };
}

/** One protocol's reader and writer. */
class ProtocolProbe {
  readonly reads: Stream;
  readonly writes: Stream;
  constructor(target: ProbeTarget, readonly protocol: Protocol, file: string, pollMs: number, maxSeconds: number) {
    const common = ["--version", versionOf(protocol), "--interval-ms", String(pollMs), "--timeout-ms", "2000", "--max-seconds", String(maxSeconds)];
    this.reads = new Stream(target, ["read", ...common, "--file", file]);
    this.writes = new Stream(target, ["write", ...common, "--prefix", `${file}.${protocol}`]);
  }
}

/**
 * Every client of one drill: started before the fault, stopped when it is over. Sample times are
 * milliseconds after the fault (`t0`, set at the fault: samples before it are negative).
 */
export class ProbeSet {
  private readonly protocols: ProtocolProbe[];
  private readonly writer: Stream;
  private readonly lock?: Stream;
  private t0 = Number.POSITIVE_INFINITY;

  constructor(
    readonly target: ProbeTarget,
    readonly file: string,
    opts: { pollMs: number; maxSeconds: number; writerIntervalMs: number; lockProbe: boolean; runId: string },
  ) {
    this.protocols = (["nfs3", "nfs4"] as const).map((p) => new ProtocolProbe(target, p, file, opts.pollMs, opts.maxSeconds));
    this.writer = new Stream(target, ["writer", "--version", "3", "--file", `${file}.records`, "--run", opts.runId, "--interval-ms", String(opts.writerIntervalMs), "--timeout-ms", "2000", "--max-seconds", String(opts.maxSeconds)]);
    if (opts.lockProbe) {
      this.lock = new Stream(target, ["lock", "--file", `${file}.lock`, "--interval-ms", "1000", "--timeout-ms", "2000", "--max-seconds", String(opts.maxSeconds), "--client-name", `hpcdk-drill-${opts.runId}`]);
    }
  }

  /** The fault happens now. */
  markFault(): number {
    this.t0 = monotonicMs();
    return this.t0;
  }

  get faultMonotonicMs(): number {
    return this.t0;
  }

  reads(p: Protocol): ProbeSample[] {
    return samplesOf(this.protocols.find((x) => x.protocol === p)!.reads, this.t0);
  }

  writes(p: Protocol): ProbeSample[] {
    return samplesOf(this.protocols.find((x) => x.protocol === p)!.writes, this.t0);
  }

  /** The steady writer's acknowledged records so far. */
  acknowledged(): number[] {
    return this.writer.lines.filter((l) => l.ok === true && l.detail && typeof (l.detail as { seq?: number }).seq === "number").map((l) => (l.detail as { seq: number }).seq);
  }

  writerSamples(): ProbeSample[] {
    return samplesOf(this.writer, this.t0);
  }

  /** Whether the lock probe holds its lock (before the fault: it took it). */
  lockTaken(): boolean {
    return this.lock?.lines.some((l) => l.event === "locked") ?? false;
  }

  lockEvents(): Record<string, unknown>[] {
    return this.lock?.lines ?? [];
  }

  lockResult(): LockResult {
    return this.lock ? lockResultOf(this.lock.lines, this.t0) : { state: "none", detail: "no lock probe in this drill" };
  }

  metrics(p: Protocol): ProtocolMetrics {
    const reads = backAfter(this.reads(p));
    const writes = backAfter(this.writes(p));
    const sec = (ms: number) => Math.round(ms / 100) / 10;
    return {
      ...(reads.backMs !== undefined ? { readBackSec: sec(reads.backMs) } : {}),
      ...(writes.backMs !== undefined ? { writeBackSec: sec(writes.backMs) } : {}),
      readOutageSec: sec(reads.outageMs),
      writeOutageSec: sec(writes.outageMs),
      samples: { reads: this.reads(p).filter((s) => s.atMs >= 0).length, writes: this.writes(p).filter((s) => s.atMs >= 0).length },
    };
  }

  /** Stops the readers, writers and the steady writer; the lock probe unlocks and closes. */
  async stop(): Promise<void> {
    await Promise.all([...this.protocols.flatMap((p) => [p.reads.stop(), p.writes.stop()]), this.writer.stop(), this.lock?.stop(15_000)]);
  }
}

/** Writes `file` with stable writes; its sha256. */
export async function seedFile(target: ProbeTarget, file: string): Promise<string> {
  const r = await probeOnce(target, ["seed", "--version", "3", "--file", file], 20_000);
  return String(r.sha256);
}

/** The sha256 of `file`, or undefined when it cannot be read. */
export async function checksumOf(target: ProbeTarget, file: string, protocol: Protocol = "nfs3"): Promise<string | undefined> {
  try {
    return String((await probeOnce(target, ["sum", "--version", versionOf(protocol), "--file", file], 20_000)).sha256);
  } catch {
    return undefined;
  }
}

/** Reads the steady writer's file back: the acknowledged records that are not there. */
export async function verifyRecords(target: ProbeTarget, file: string, runId: string, acked: readonly number[]): Promise<{ lost: number[]; bytes: number }> {
  const r = await probeOnce(target, ["verify", "--version", "3", "--file", file, "--run", runId, "--acked", acked.join(",")], 60_000);
  return { lost: (r.lost as number[]) ?? [], bytes: Number(r.bytes) };
}

/**
 * Waits (bounded) until NFSv3 and NFSv4 both read and write through the floating IP twice
 * running: a server still in its grace period after an earlier failover refuses new files.
 */
export async function settleNfs(target: ProbeTarget, file: string, timeoutMs: number): Promise<void> {
  const deadline = monotonicMs() + timeoutMs;
  let good = 0;
  let last = "";
  let n = 0;
  while (good < 2) {
    if (monotonicMs() > deadline) throw new DrillError(`NFS through ${target.server}:${target.exportPath} does not serve reads and writes before the drill (${last || "timed out"}): is the cluster still recovering?`);
    try {
      for (const v of ["3", "4"]) {
        await probeOnce(target, ["read", "--version", v, "--file", file, "--max-seconds", "0.01"], 10_000).then((r) => {
          if (r.ok === false) throw new DrillError(String(r.error));
        });
        await probeOnce(target, ["write", "--version", v, "--prefix", `${file}.settle${n++}`, "--max-seconds", "0.01"], 10_000).then((r) => {
          if (r.ok === false) throw new DrillError(String(r.error));
        });
      }
      good++;
    } catch (e) {
      good = 0;
      last = (e as Error).message.split("\n")[0]!;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
