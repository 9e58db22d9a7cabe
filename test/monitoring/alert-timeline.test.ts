/**
 * The drill's alert timeline (operations/alert-timeline.ts): events derived from polls of
 * Alertmanager's API, unit-tested on polls written here, then against a real Alertmanager
 * (Debian's prometheus-alertmanager on loopback, stopped by PID) that gets alerts as Prometheus
 * sends them, resolves them, and restarts while one fires.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { AlertWatcher, alertEvents, commandGet, describeEvent, httpGet, parseAlerts, timelineOf, type AlertPoll, type AmAlert } from "../../operations/alert-timeline.js";
import { have, tempDir } from "../helpers.js";
import { alive, waitFor } from "../slurm/lab-env.js";

const T0 = Date.parse("2026-12-03T10:00:00Z");
const alert = (name: string, subject: Record<string, string>, startsAtMs: number, state: AmAlert["status"]["state"] = "active"): AmAlert => ({
  fingerprint: Buffer.from(`${name}${JSON.stringify(subject)}`).toString("hex").slice(0, 16).padEnd(16, "0"),
  labels: { alertname: name, severity: "critical", ...subject },
  annotations: { summary: `${name} summary` },
  startsAt: new Date(startsAtMs).toISOString(),
  endsAt: new Date(startsAtMs + 240_000).toISOString(),
  status: { state, inhibitedBy: state === "suppressed" ? ["abc"] : [], silencedBy: [] },
});
const poll = (atSec: number, startedAtSec: number | null, alerts: AmAlert[] = []): AlertPoll => ({
  atMs: T0 + atSec * 1000,
  answer: startedAtSec === null ? null : { startedAtMs: T0 + startedAtSec * 1000, alerts },
});

describe("alert events from polls of Alertmanager", () => {
  const nodeDown = alert("NodeDown", { instance: "m1" }, T0 + 12_000);
  const fenced = alert("NodeFenced", { node: "m1" }, T0 + 4_000);
  const exporterDown = alert("ExporterDown", { instance: "m1", job: "hacluster" }, T0 + 20_000, "suppressed");

  it("fire at their startsAt and resolve at the first poll that no longer lists them", () => {
    const events = alertEvents([
      poll(0, -3600),
      poll(5, -3600, [fenced]),
      poll(15, -3600, [fenced, nodeDown]),
      poll(25, -3600, [fenced, nodeDown, exporterDown]),
      poll(35, -3600, [nodeDown]),
      poll(45, -3600, []),
    ]);
    expect(events.map((e) => [(e.atMs - T0) / 1000, describeEvent(e), e.uncertaintyMs])).toEqual([
      [4, "alert NodeFenced (m1) fired", undefined],
      [12, "alert NodeDown (m1) fired", undefined],
      [20, "alert ExporterDown (m1) fired (suppressed)", undefined],
      [35, "alert ExporterDown (m1) resolved (suppressed)", 10_000],
      [35, "alert NodeFenced (m1) resolved", 10_000],
      [45, "alert NodeDown (m1) resolved", 10_000],
    ]);
    expect(events[0]).toMatchObject({ severity: "critical", summary: "NodeFenced summary", suppressed: false });
  });

  it("skip polls nobody answered: an unreachable Alertmanager resolves nothing", () => {
    const events = alertEvents([poll(0, -3600, [nodeDown]), poll(10, null), poll(20, null), poll(30, -3600, [nodeDown])]);
    expect(events.map(describeEvent)).toEqual(["alert NodeDown (m1) fired"]);
  });

  it("wait for the resend delay before a restarted Alertmanager's silence counts as a resolution", () => {
    // Alertmanager failed over at 20 s: the new one knows nothing until Prometheus resends (60 s).
    const events = alertEvents(
      [poll(10, -3600, [nodeDown, fenced]), poll(20, null), poll(30, 25, []), poll(50, 25, [nodeDown]), poll(90, 25, [nodeDown])],
      { resendMs: 60_000 },
    );
    expect(events.map((e) => [(e.atMs - T0) / 1000, describeEvent(e), e.uncertaintyMs])).toEqual([
      [4, "alert NodeFenced (m1) fired", undefined],
      [12, "alert NodeDown (m1) fired", undefined],
      // Not relearnt by 85 s (25 s + the resend delay): resolved, somewhere since it was last seen.
      [90, "alert NodeFenced (m1) resolved", 80_000],
    ]);
  });

  it("count the same labels firing again later as a second firing", () => {
    const again = alert("NodeDown", { instance: "m1" }, T0 + 40_000);
    const events = alertEvents([poll(15, -3600, [nodeDown]), poll(30, -3600), poll(45, -3600, [again]), poll(60, -3600)]);
    expect(events.map((e) => [(e.atMs - T0) / 1000, e.kind])).toEqual([[12, "fired"], [30, "resolved"], [40, "fired"], [60, "resolved"]]);
  });

  it("keep only the window's events, and place them after the fault on a drill's timeline", () => {
    const events = alertEvents([poll(5, -3600, [fenced]), poll(15, -3600, [fenced, nodeDown]), poll(25, -3600, [nodeDown])], { fromMs: T0 + 10_000, toMs: T0 + 20_000 });
    expect(timelineOf(events, T0 + 2_000)).toEqual([{ atMs: 10_000, what: "alert NodeDown (m1) fired" }]);
  });

  it("refuse answers that are not the API's (a broken or hostile endpoint gives no events)", () => {
    expect(() => parseAlerts({ alerts: [] })).toThrow("not an answer of /api/v2/alerts: (top level): Invalid input: expected array, received object");
    expect(() => parseAlerts([{ ...nodeDown, fingerprint: "../../x" }])).toThrow("not an answer of /api/v2/alerts: 0.fingerprint");
    expect(() => parseAlerts([{ ...nodeDown, startsAt: "yesterday" }])).toThrow("0.startsAt");
    expect(() => parseAlerts([{ ...nodeDown, status: { state: "firing", inhibitedBy: [], silencedBy: [] } }])).toThrow("0.status.state");
    expect(parseAlerts([nodeDown])).toEqual([nodeDown]);
  });
});

/** Polls an async check every 200 ms until it is true, for at most `timeoutMs`. */
async function until(what: string, timeoutMs: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const NO_AM = !have("prometheus-alertmanager") ? "prometheus-alertmanager is not installed (scripts/test-packages/monitoring.txt)" : undefined;

describe.skipIf(NO_AM)("the alert timeline against a real Alertmanager", () => {
  const PORT = 19293;
  const url = `http://127.0.0.1:${PORT}`;
  const dir = tempDir("hpcdk-am-");
  writeFileSync(join(dir, "alertmanager.yml"), "route: { receiver: none, group_wait: 1s }\nreceivers: [{ name: none }]\n");
  let am: ChildProcess | undefined;
  const started: number[] = [];
  const spawnAm = async () => {
    am = spawn("prometheus-alertmanager", [`--config.file=${join(dir, "alertmanager.yml")}`, `--storage.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${PORT}`, "--cluster.listen-address="], { stdio: "ignore" });
    started.push(am.pid!);
    await until("Alertmanager ready", 20_000, () => fetch(`${url}/-/ready`).then((r) => r.ok, () => false));
  };
  const stop = async () => {
    const pid = am!.pid!;
    process.kill(pid, "SIGTERM");
    await waitFor(`Alertmanager ${pid} gone`, 20_000, () => !alive(pid));
  };
  /** What Prometheus sends: POST /api/v2/alerts with startsAt, and endsAt once resolved. */
  const send = async (alerts: { labels: Record<string, string>; startsAt: string; endsAt?: string }[]) => {
    const r = await fetch(`${url}/api/v2/alerts`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(alerts) });
    expect(r.status).toBe(200);
  };

  afterAll(async () => {
    for (const pid of started) if (alive(pid)) process.kill(pid, "SIGKILL");
    await waitFor("every Alertmanager gone", 20_000, () => started.every((pid) => !alive(pid)));
  });

  it("lists what fired and when it resolved, across a restart of Alertmanager", async () => {
    await spawnAm();
    const watcher = new AlertWatcher({ get: httpGet(url), intervalMs: 200 });
    // The same through curl, as a drill asks from a cluster node over SSH (here: a local shell).
    const sh = (command: string) => new Promise<string>((resolve, reject) => execFile("sh", ["-c", command], (err, stdout) => (err ? reject(err) : resolve(stdout))));
    const viaCurl = new AlertWatcher({ get: commandGet(sh, url), intervalMs: 300 });
    viaCurl.start();
    const firedAt = new Date(Date.now() - 5000).toISOString();
    const fenced = { labels: { alertname: "NodeFenced", node: "m1", target: "m1", severity: "critical" }, startsAt: firedAt };
    const down = { labels: { alertname: "NodeDown", instance: "m1", severity: "critical" }, startsAt: firedAt };
    await send([fenced, down]);
    watcher.start();
    // Both watchers see both alerts before NodeFenced resolves: a curl poll in flight across the
    // resolution answered NodeDown alone, and that watcher never saw NodeFenced fire (CI, stop 22).
    await waitFor("both alerts seen by both watchers", 10_000, () => [watcher, viaCurl].every((w) => w.polls.some((p) => (p.answer?.alerts.length ?? 0) === 2)));
    // Prometheus resolves NodeFenced: it sends the alert once more with endsAt.
    const resolvedAt = Date.now();
    await send([{ ...fenced, endsAt: new Date(resolvedAt).toISOString() }]);
    // Both watchers see it gone before Alertmanager restarts: the restarted one has forgotten
    // NodeFenced, so a watcher whose polls all fell before the resolution or into the restart
    // cannot tell it resolved (the curl watcher's slower polls missed it once at load 12).
    await waitFor("NodeFenced gone from the API", 10_000, () => [watcher, viaCurl].every((w) => w.polls.at(-1)?.answer?.alerts.length === 1));
    // Alertmanager fails over (here: restarts); Prometheus resends NodeDown, still firing.
    await stop();
    await spawnAm();
    await waitFor("a poll of the new Alertmanager", 10_000, () => {
      const last = watcher.polls.at(-1)?.answer;
      return last && last.startedAtMs > Date.parse(firedAt) + 5000 ? true : undefined;
    });
    await send([down]);
    await waitFor("NodeDown relearnt", 10_000, () => [watcher, viaCurl].every((w) => w.polls.at(-1)?.answer?.alerts.length === 1));
    const events = await watcher.stop({ resendMs: 60_000 });
    expect(events.map(describeEvent)).toEqual(["alert NodeDown (m1) fired", "alert NodeFenced (m1) fired", "alert NodeFenced (m1) resolved"]);
    expect((await viaCurl.stop({ resendMs: 60_000 })).map(describeEvent)).toEqual(events.map(describeEvent));
    const [, fired, resolved] = events;
    expect(fired!.atMs).toBe(Date.parse(firedAt));
    // Seen resolved within a poll interval or so (the polls take time on a busy machine).
    expect(resolved!.atMs).toBeGreaterThanOrEqual(resolvedAt);
    expect(resolved!.atMs - resolvedAt).toBeLessThan(3000);
    // The polls during the restart failed and were kept as failures.
    expect(watcher.errors.length).toBeGreaterThan(0);
    await stop();
  }, 90_000);
});
