/**
 * Doing one thing on many hosts at once: bounded concurrency (`deploy.groupConcurrency`), a
 * progress display that stays a few lines for hundreds of hosts (done, failed, remaining, rate,
 * ETA), stopping when too many fail (`deploy.maxFailPercent`, as Ansible's
 * `max_fail_percentage`), and a summary that lists the failed hosts by error, each error once
 * with a hostlist of its hosts, instead of one line per host. A host that fails (down, refusing
 * the key, its script failing) fails alone: the others go on.
 */
import { performance } from "node:perf_hooks";
import { compressHostlist } from "../../common/hostlist.js";

/** What a task on one host gives back: at least whether it worked, and why not. */
export interface FanOutResult {
  readonly host: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface FanOutOptions {
  /** Hosts worked on at once. */
  readonly concurrency: number;
  /**
   * Stop starting hosts once more than this percentage of all hosts failed (the running ones
   * finish); the hosts never started are reported as skipped. 100 never stops. @default 100
   */
  readonly maxFailPercent?: number;
  /** A progress line, at most every `progressEveryMs` and once at the end. @default none */
  readonly progress?: (line: string) => void;
  /** @default 2000 */
  readonly progressEveryMs?: number;
  /** What the hosts are doing, for the progress line (`applying groups/compute`). @default "working" */
  readonly what?: string;
}

export interface FanOutRun<R extends FanOutResult> {
  /** In the order of the hosts; hosts never started are absent. */
  readonly results: R[];
  /** Hosts never started because too many had failed. */
  readonly skipped: string[];
  /** Why the run stopped early, if it did. */
  readonly stopped?: string;
  readonly ms: number;
}

/** The progress of a fan-out: counts, rate and ETA, as one line. */
export class Progress {
  private done = 0;
  private failed = 0;
  private readonly t0 = performance.now();

  constructor(
    private readonly total: number,
    private readonly what = "working",
  ) {}

  record(ok: boolean): void {
    this.done++;
    if (!ok) this.failed++;
  }

  /** `applying groups/compute: 180/500 hosts done (3 failed), 320 remaining, 61.2 hosts/s, ETA 5 s` */
  line(now = performance.now()): string {
    const seconds = (now - this.t0) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const remaining = this.total - this.done;
    const eta = remaining === 0 ? "" : rate > 0 ? `, ETA ${formatSeconds(remaining / rate)}` : ", ETA unknown";
    return (
      `${this.what}: ${this.done}/${this.total} hosts done` +
      (this.failed ? ` (${this.failed} failed)` : "") +
      `, ${remaining} remaining, ${rate.toFixed(1)} hosts/s${eta}`
    );
  }
}

function formatSeconds(seconds: number): string {
  // To the millisecond first: (t0 + 2000 - t0) / 1000 can be 2.0000000000009 with a large
  // performance.now(), and a ceiling would then say 9 s for 8.
  const s = Math.round(seconds * 1000) / 1000;
  return s < 60 ? `${Math.ceil(s)} s` : `${Math.floor(s / 60)} min ${Math.ceil(s % 60)} s`;
}

/**
 * Runs `task` on every host, at most `concurrency` at once. `task` must not throw for a host's
 * failure: it returns it (a throw is a bug and rejects the whole run).
 */
export async function fanOut<R extends FanOutResult>(hosts: readonly string[], options: FanOutOptions, task: (host: string) => Promise<R>): Promise<FanOutRun<R>> {
  const t0 = performance.now();
  const maxFail = options.maxFailPercent ?? 100;
  const progress = new Progress(hosts.length, options.what);
  const every = options.progressEveryMs ?? 2000;
  let lastShown = performance.now();
  const results = new Array<R | undefined>(hosts.length);
  let failed = 0;
  let stopped: string | undefined;
  let next = 0;
  const worker = async () => {
    while (next < hosts.length && stopped === undefined) {
      const i = next++;
      const r = await task(hosts[i]!);
      results[i] = r;
      progress.record(r.ok);
      if (!r.ok) {
        failed++;
        // More than maxFail % of all hosts failed: no new host is started.
        if (maxFail < 100 && failed * 100 > maxFail * hosts.length && stopped === undefined) {
          stopped = `${failed} of ${hosts.length} hosts failed, more than deploy.maxFailPercent (${maxFail} %): no further host was started`;
        }
      }
      const now = performance.now();
      if (options.progress && now - lastShown >= every) {
        lastShown = now;
        options.progress(progress.line(now));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, hosts.length)) }, worker));
  if (options.progress && hosts.length > 0) options.progress(progress.line());
  const skipped = hosts.filter((_, i) => results[i] === undefined);
  return {
    results: results.filter((r): r is R => r !== undefined),
    skipped,
    ...(stopped ? { stopped } : {}),
    ms: Math.round(performance.now() - t0),
  };
}

/**
 * The failed hosts by error: hosts that failed the same way share one line, with a hostlist of
 * their names (`c[001-040,077]`), the most frequent error first. A host's name inside its error
 * text is replaced by `<host>` so that the same failure on many hosts reads as one.
 */
export function failuresByError(results: readonly FanOutResult[]): { error: string; hosts: string[]; hostlist: string }[] {
  const byError = new Map<string, string[]>();
  for (const r of results) {
    if (r.ok) continue;
    const error = (r.error ?? "failed").split(r.host).join("<host>");
    const list = byError.get(error) ?? [];
    list.push(r.host);
    byError.set(error, list);
  }
  return [...byError.entries()]
    .map(([error, hosts]) => ({ error, hosts, hostlist: compressHostlist(hosts) }))
    .sort((a, b) => b.hosts.length - a.hosts.length || (a.error < b.error ? -1 : 1));
}

/** The summary lines: one per distinct error, then the skipped hosts; empty when every host worked. */
export function failureSummary(run: Pick<FanOutRun<FanOutResult>, "results" | "skipped" | "stopped">): string[] {
  const lines = failuresByError(run.results).map((f) => `${f.hosts.length} host${f.hosts.length === 1 ? "" : "s"} failed: ${f.error}: ${f.hostlist}`);
  if (run.skipped.length > 0) lines.push(`${run.skipped.length} host${run.skipped.length === 1 ? "" : "s"} skipped (${run.stopped}): ${compressHostlist(run.skipped)}`);
  return lines;
}
