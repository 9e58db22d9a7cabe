/**
 * The alerts that fired during a time window and when, from Alertmanager's API: what a failover
 * drill puts on its timeline beside the fault, the fencing and the NFS outage.
 *
 * Alertmanager's v2 API lists the alerts that fire now (GET /api/v2/alerts), not the ones that
 * have resolved, so a window's history is read by polling it: an alert fired at its `startsAt`
 * (the time Prometheus saw it fire, kept across Alertmanager restarts), and resolved at the first
 * poll that no longer lists it. Alertmanager itself may fail over during a drill (Pacemaker moves
 * it with Prometheus): a poll that reaches none is skipped, and an Alertmanager that restarted
 * learns the firing alerts again only when Prometheus resends them (every
 * `--rules.alert.resend-delay`, 1 min by default), so an alert missing from a restarted
 * Alertmanager counts as resolved only once that one has run for the resend delay.
 *
 * Every answer is parsed strictly: a body larger than the limit, or not the API's shape, is an
 * error of that poll, never an event.
 * @see https://github.com/prometheus/alertmanager/blob/v0.25.0/api/v2/openapi.yaml
 */
import { z } from "zod";
import { shQuote } from "../common/shell.js";

const AlertSchema = z.object({
  fingerprint: z.string().regex(/^[0-9a-f]{1,32}$/),
  labels: z.record(z.string().max(512), z.string().max(4096)),
  annotations: z.record(z.string().max(512), z.string().max(16384)),
  startsAt: z.iso.datetime({ offset: true }),
  endsAt: z.iso.datetime({ offset: true }),
  status: z.object({
    state: z.enum(["active", "suppressed", "unprocessed"]),
    inhibitedBy: z.array(z.string()),
    silencedBy: z.array(z.string()),
  }),
});

/** One alert as Alertmanager lists it (the fields the timeline uses). */
export type AmAlert = z.infer<typeof AlertSchema>;

const StatusSchema = z.object({ uptime: z.iso.datetime({ offset: true }) });

const where = (issue: z.core.$ZodIssue) => `${issue.path.length > 0 ? issue.path.join(".") : "(top level)"}: ${issue.message}`;

/** The alerts in an answer of GET /api/v2/alerts; throws naming what is wrong. */
export function parseAlerts(json: unknown): AmAlert[] {
  const r = z.array(AlertSchema).max(100_000).safeParse(json);
  if (!r.success) throw new AlertmanagerError(`not an answer of /api/v2/alerts: ${where(r.error.issues[0]!)}`);
  return r.data;
}

/** When the Alertmanager that answers started, from GET /api/v2/status. */
export function parseUptime(json: unknown): number {
  const r = StatusSchema.safeParse(json);
  if (!r.success) throw new AlertmanagerError(`not an answer of /api/v2/status: ${where(r.error.issues[0]!)}`);
  return Date.parse(r.data.uptime);
}

export class AlertmanagerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AlertmanagerError";
  }
}

/** One poll: when, which Alertmanager (its start time) and what it listed; `null` when none answered. */
export interface AlertPoll {
  /** Epoch milliseconds. */
  readonly atMs: number;
  readonly answer: { readonly startedAtMs: number; readonly alerts: readonly AmAlert[] } | null;
}

/** An alert firing or resolving. */
export interface AlertEvent {
  /** Epoch milliseconds. */
  readonly atMs: number;
  readonly kind: "fired" | "resolved";
  readonly alertname: string;
  /** What it is about: the instance, node, resource or NFS group label, when it has one. */
  readonly subject?: string;
  readonly severity?: string;
  /** Alertmanager did not notify for it (inhibited by another alert, or silenced). */
  readonly suppressed: boolean;
  /** A resolution seen by polling: it happened at most `uncertaintyMs` before `atMs`. */
  readonly uncertaintyMs?: number;
  readonly summary?: string;
}

export interface AlertEventsOptions {
  /** Prometheus' --rules.alert.resend-delay: how long a restarted Alertmanager may take to relearn a firing alert. @default 60000 */
  readonly resendMs?: number;
  /** Only events in this window (epoch ms, inclusive). @default all */
  readonly fromMs?: number;
  readonly toMs?: number;
}

const subjectOf = (labels: Readonly<Record<string, string>>) => labels.instance ?? labels.node ?? labels.resource ?? labels.nfs_group ?? labels.controller ?? labels.pool;

/**
 * The events a series of polls shows, in time order. An alert is one firing: its fingerprint
 * (Alertmanager's hash of its labels) and its `startsAt`; the same labels firing again later are
 * a new firing.
 */
export function alertEvents(polls: readonly AlertPoll[], options: AlertEventsOptions = {}): AlertEvent[] {
  const resendMs = options.resendMs ?? 60_000;
  const sorted = [...polls].sort((a, b) => a.atMs - b.atMs);
  const events: AlertEvent[] = [];
  // Firings listed by the last poll that answered, by fingerprint/startsAt.
  const open = new Map<string, { alert: AmAlert; lastSeenMs: number }>();
  const key = (a: AmAlert) => `${a.fingerprint}/${Date.parse(a.startsAt)}`;
  const describe = (a: AmAlert) => ({
    alertname: a.labels.alertname ?? "(no alertname)",
    ...(subjectOf(a.labels) !== undefined ? { subject: subjectOf(a.labels) } : {}),
    ...(a.labels.severity !== undefined ? { severity: a.labels.severity } : {}),
    suppressed: a.status.state === "suppressed",
    ...(a.annotations.summary !== undefined ? { summary: a.annotations.summary } : {}),
  });
  for (const poll of sorted) {
    if (!poll.answer) continue;
    const listed = new Map(poll.answer.alerts.map((a) => [key(a), a]));
    for (const [k, a] of listed) {
      if (!open.has(k)) events.push({ atMs: Date.parse(a.startsAt), kind: "fired", ...describe(a) });
      open.set(k, { alert: a, lastSeenMs: poll.atMs });
    }
    // A firing missing from this answer resolved, unless this Alertmanager is too new to know it.
    const settled = poll.atMs - poll.answer.startedAtMs >= resendMs;
    for (const [k, o] of open) {
      if (listed.has(k)) continue;
      if (!settled && poll.answer.startedAtMs > o.lastSeenMs) continue;
      events.push({ atMs: poll.atMs, kind: "resolved", ...describe(o.alert), uncertaintyMs: poll.atMs - o.lastSeenMs });
      open.delete(k);
    }
  }
  const from = options.fromMs ?? -Infinity;
  const to = options.toMs ?? Infinity;
  return events
    .filter((e) => e.atMs >= from && e.atMs <= to)
    .sort((a, b) => a.atMs - b.atMs || (a.kind === b.kind ? a.alertname.localeCompare(b.alertname) || (a.subject ?? "").localeCompare(b.subject ?? "") : a.kind === "fired" ? -1 : 1));
}

/** One line of a drill's timeline for an event: "alert NodeDown (m1) fired". */
export function describeEvent(e: AlertEvent): string {
  return `alert ${e.alertname}${e.subject !== undefined ? ` (${e.subject})` : ""} ${e.kind}${e.suppressed ? " (suppressed)" : ""}`;
}

/** The events as timeline entries, in milliseconds after `t0Ms` (a drill's fault). */
export function timelineOf(events: readonly AlertEvent[], t0Ms: number): { atMs: number; what: string }[] {
  return events.map((e) => ({ atMs: e.atMs - t0Ms, what: describeEvent(e) }));
}

/** How the watcher asks Alertmanager: GET a path of its API, return the parsed JSON. */
export type AlertmanagerGet = (path: "/api/v2/alerts" | "/api/v2/status") => Promise<unknown>;

/**
 * GET over HTTP from this machine (an Alertmanager it reaches: a lab's, or through a tunnel).
 * Bounded in time and size. A drill that reaches Alertmanager only from a cluster node passes its
 * own AlertmanagerGet (e.g. curl on that node over SSH).
 */
export function httpGet(baseUrl: string, options: { timeoutMs?: number; maxBytes?: number } = {}): AlertmanagerGet {
  const base = new URL(baseUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new AlertmanagerError(`Alertmanager's URL must be http(s), got ${baseUrl}`);
  const timeoutMs = options.timeoutMs ?? 5000;
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  return async (path) => {
    const response = await fetch(new URL(path, base), { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
    if (!response.ok) throw new AlertmanagerError(`${path}: HTTP ${response.status}`);
    const length = Number(response.headers.get("content-length") ?? "0");
    if (length > maxBytes) throw new AlertmanagerError(`${path}: answer of ${length} bytes, more than ${maxBytes}`);
    const text = await response.text();
    if (text.length > maxBytes) throw new AlertmanagerError(`${path}: answer of ${text.length} bytes, more than ${maxBytes}`);
    return JSON.parse(text) as unknown;
  };
}

/**
 * GET through a command run where Alertmanager is reachable: `curl` on a cluster node over SSH,
 * which is how a drill reaches the monitoring floating IP from a machine that cannot. `run` runs
 * one shell command there and returns its stdout (and rejects when it fails).
 */
export function commandGet(run: (command: string) => Promise<string>, baseUrl: string, options: { timeoutSec?: number; maxBytes?: number } = {}): AlertmanagerGet {
  const base = new URL(baseUrl);
  if (base.protocol !== "http:" && base.protocol !== "https:") throw new AlertmanagerError(`Alertmanager's URL must be http(s), got ${baseUrl}`);
  const timeoutSec = options.timeoutSec ?? 5;
  const maxBytes = options.maxBytes ?? 8 * 1024 * 1024;
  return async (path) => {
    const out = await run(`curl -fsS --max-time ${timeoutSec} --max-filesize ${maxBytes} ${shQuote(new URL(path, base).href)}`);
    if (out.length > maxBytes) throw new AlertmanagerError(`${path}: answer of ${out.length} bytes, more than ${maxBytes}`);
    return JSON.parse(out) as unknown;
  };
}

export interface AlertWatcherOptions {
  readonly get: AlertmanagerGet;
  /** @default 1000 */
  readonly intervalMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Polls Alertmanager from start() to stop() and turns the polls into events. Polls that fail
 * are kept as `null` answers (with their error, for the report), never as an empty list.
 */
export class AlertWatcher {
  readonly polls: AlertPoll[] = [];
  readonly errors: { atMs: number; error: string }[] = [];
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private readonly intervalMs: number;
  private readonly now: () => number;

  constructor(private readonly options: AlertWatcherOptions) {
    this.intervalMs = options.intervalMs ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** One poll now. */
  async poll(): Promise<void> {
    const atMs = this.now();
    try {
      const [status, alerts] = await Promise.all([this.options.get("/api/v2/status"), this.options.get("/api/v2/alerts")]);
      this.polls.push({ atMs, answer: { startedAtMs: parseUptime(status), alerts: parseAlerts(alerts) } });
    } catch (err) {
      this.polls.push({ atMs, answer: null });
      this.errors.push({ atMs, error: (err as Error).message });
    }
  }

  start(): void {
    if (this.timer) return;
    const tick = async () => {
      this.running = this.poll();
      await this.running;
      if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Stops polling (after a last poll) and returns the events of the window. */
  async stop(options: AlertEventsOptions = {}): Promise<AlertEvent[]> {
    const t = this.timer;
    this.timer = undefined;
    if (t) clearTimeout(t);
    await this.running;
    await this.poll();
    return alertEvents(this.polls, options);
  }
}
