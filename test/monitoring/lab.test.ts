/**
 * Monitoring in the namespace lab, deployed by `hpcdk deploy` as users do
 * (test/fixtures/sites/monitoring-lab.yaml: three nodes, one pool, ganesha, fence_powerman, HA
 * monitoring with 2 s scrapes). GIVEN the lab, an InfluxDB 1.x in its hub (the site's remote-write
 * target, its password the site's secret) and a webhook receiver on this machine's lab address
 * (the site's Alertmanager receiver), THEN Pacemaker runs Prometheus and Alertmanager where the
 * pool is, every exporter answers, every metric the rules read exists, InfluxDB gets the samples,
 * a rule change reloads Prometheus without restarting it, `hpcdk diff --live` covers the files;
 * and WHEN the node running monitoring is powered off (fenced through powerman), the monitoring
 * group fails over with the pool, NodeDown, NodeFenced and ClusterNodeOffline fire within the
 * time their rules promise (through the new Prometheus), the webhook gets them and not the
 * inhibited alerts, and all of them resolve once the node is back. Needs root; CI runs as root.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { AlertWatcher, describeEvent, httpGet, timelineOf, type AlertEvent } from "../../operations/alert-timeline.js";
import { labDown, labUp, processAlive, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, hpcdk, onLabNode, tempDir } from "../helpers.js";

const SITE = "monitoring-lab";
const isRoot = process.getuid?.() === 0;
const PROMETHEUS = "http://10.34.0.102:9090";
const ALERTMANAGER = "http://10.34.0.102:9093";
const INFLUX = "http://10.34.0.254:8086";
const HOOK = { address: "10.34.0.253", port: 19093 };
const NODES = ["m1", "m2", "m3"];

/** Polls an async check until it returns a value, for at most `timeoutMs`. */
async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | false>, everyMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check().catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

const getJson = async (url: string) => {
  const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json() as Promise<any>;
};
const query = async (expr: string) => (await getJson(`${PROMETHEUS}/api/v1/query?query=${encodeURIComponent(expr)}`)).data.result as { metric: Record<string, string>; value: [number, string] }[];

describe.skipIf(!isRoot)("monitoring in the namespace lab", () => {
  const project = tempDir("hpcdk-monlab-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  let lab: LabState;
  let influx: ChildProcess | undefined;
  let hook: Server | undefined;
  /** What the webhook receiver got: alert name, subject, status, when. */
  const notified: { alertname: string; subject: string; status: string; atMs: number }[] = [];
  const onHost = (host: string, command: string) => onLabNode(lab, host, command);
  const holderOf = (rsc: string) => onHost("m1", `crm_resource --locate --resource ${rsc} 2>&1 || true`).match(/running on: (\S+)/)?.[1];
  const influxQl = async (q: string, password: string) => {
    const r = await fetch(`${INFLUX}/query?db=prometheus&q=${encodeURIComponent(q)}`, { headers: { authorization: `Basic ${Buffer.from(`prometheus:${password}`).toString("base64")}` }, signal: AbortSignal.timeout(5000) });
    return (await r.json()) as { results: { series?: { values: unknown[][] }[] }[] };
  };
  const password = () => readFileSync(join(project, "secrets", SITE, "remote-write-influx-password"), "utf8").trim();

  beforeAll(async () => {
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    writeFileSync(siteFile, readFileSync(join(FIXTURES, `${SITE}.yaml`), "utf8"));
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
    // The site's receiver: a webhook on this machine's address in the lab.
    hook = createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        for (const a of (JSON.parse(body) as { alerts: { status: string; labels: Record<string, string> }[] }).alerts) {
          notified.push({ alertname: a.labels.alertname!, subject: a.labels.instance ?? a.labels.node ?? "", status: a.status, atMs: Date.now() });
        }
        res.end();
      });
    });
    await new Promise<void>((r) => hook!.listen(HOOK.port, HOOK.address, r));
    const deploy = hpcdk(["deploy", siteFile, "--inventory", lab.inventoryFile, "--json"], project);
    if (deploy.status !== 0) throw new Error(`hpcdk deploy failed (exit ${deploy.status}): ${deploy.stdout}${deploy.stderr}`);
    // The site's InfluxDB 1.x, in the lab's hub, with auth on: the deploy made the password.
    const dir = join(project, "influx");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "influxdb.conf"),
      `reporting-disabled = true\nbind-address = "127.0.0.1:18088"\n[meta]\n  dir = "${dir}/meta"\n[data]\n  dir = "${dir}/data"\n  wal-dir = "${dir}/wal"\n[http]\n  bind-address = "10.34.0.254:8086"\n  auth-enabled = true\n  log-enabled = false\n`,
    );
    influx = spawn("nsenter", [`--net=/run/netns/${lab.hub}`, "influxd", "-config", join(dir, "influxdb.conf")], { stdio: ["ignore", "ignore", "ignore"] });
    await until("InfluxDB", 30_000, async () => (await fetch(`${INFLUX}/ping`)).status === 204);
    const admin = await fetch(`${INFLUX}/query`, { method: "POST", body: new URLSearchParams({ q: `CREATE USER prometheus WITH PASSWORD '${password()}' WITH ALL PRIVILEGES` }) });
    expect(admin.status).toBe(200);
    await influxQl("CREATE DATABASE prometheus", password());
  }, 240_000);

  afterAll(async () => {
    await new Promise((r) => (hook ? hook.close(r) : r(undefined)));
    if (influx?.pid) {
      influx.kill("SIGTERM");
      await until("influxd stopped", 20_000, async () => !processAlive(influx!.pid!));
    }
    await labDown(SITE);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-monitori");
    if (lab) expect(existsSync(lab.dir)).toBe(false);
  }, 90_000);

  it("runs Prometheus and Alertmanager under Pacemaker where the pool is imported, on their floating IP", async () => {
    // The group starts the IP, Alertmanager, then Prometheus: the last one running means all are.
    await until("the monitoring group started", 90_000, async () => holderOf("prometheus") !== undefined);
    const pool = holderOf("zfs-tank");
    expect(holderOf("prometheus")).toBe(pool);
    expect(holderOf("alertmanager")).toBe(pool);
    expect(holderOf("ip-monitoring")).toBe(pool);
    await until("Prometheus ready", 60_000, async () => (await fetch(`${PROMETHEUS}/-/ready`)).ok);
    await until("Alertmanager ready", 60_000, async () => (await fetch(`${ALERTMANAGER}/-/ready`)).ok);
    // Its TSDB is on the pool's dataset, owned by prometheus.
    expect(onHost(pool!, "stat -c '%U %n' /tank/monitoring/prometheus /tank/monitoring/alertmanager")).toBe("prometheus /tank/monitoring/prometheus\nprometheus /tank/monitoring/alertmanager\n");
    // Debian's units are not what runs it: the agent's PID files are.
    expect(Number(onHost(pool!, "cat /run/hpcdk-monitoring/prometheus.pid"))).toBeGreaterThan(1);
  }, 200_000);

  it("scrapes every node's node_exporter and hacluster exporter, the NFS probes, Prometheus and Alertmanager: all up", async () => {
    const expected = [
      ...NODES.flatMap((n) => [`node/${n}`, `hacluster/${n}`, `nfs-probe/${n}`]),
      "prometheus/prometheus",
      "alertmanager/alertmanager",
    ].sort();
    const targets = await until("every target up", 60_000, async () => {
      const t = (await getJson(`${PROMETHEUS}/api/v1/targets`)).data.activeTargets as { labels: Record<string, string>; health: string }[];
      return t.length === expected.length && t.every((x) => x.health === "up") ? t : undefined;
    });
    expect(targets.map((t) => `${t.labels.job}/${t.labels.instance}`).sort()).toEqual(expected);
  }, 90_000);

  it("has every metric its rules read (those of Slurm, systemd and fencing events excepted: none here yet)", async () => {
    const files = ["hpcdk-hosts", "hpcdk-cluster", "hpcdk-storage", "hpcdk-monitoring"];
    const exprs = files.flatMap((f) => (parse(onHost("m1", `cat /etc/prometheus/rules/${f}.yml`)) as { groups: { rules: { expr: string }[] }[] }).groups[0]!.rules.map((r) => r.expr));
    // Label lists, selectors, strings and ranges out; what is left and not a function is a metric.
    const bare = exprs.map((e) => e.replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ").replace(/\{[^}]*\}|"[^"]*"|\[[^\]]*\]/g, " "));
    const metrics = new Set(bare.flatMap((e) => [...e.matchAll(/\b([a-z][a-z0-9_]*)\b(?!\s*\()/g)].map((m) => m[1]!)).filter((m) => !/^(and|or|unless|bool|offset|max|min|sum|count|group_left|group_right|ignoring|on|by)$/.test(m)));
    // Not in this lab: no systemd (node_exporter's systemd collector reports nothing), no fencing
    // has happened yet (the alert agent writes its metrics at the first one).
    const absentHere = new Set(["node_systemd_unit_state", "hpcdk_pacemaker_node_fenced", "hpcdk_pacemaker_fencing_failed"]);
    const missing: string[] = [];
    for (const m of [...metrics].filter((x) => !absentHere.has(x)).sort()) {
      // Up to one collector interval and a scrape: the zpool collector runs every 60 s, and its first
      // run can come before the pool is imported on that node (then it lists no pool until the next).
      const found = await until(`${m}`, 75_000, async () => ((await query(`count(${m})`)).length > 0 ? true : undefined)).catch(() => false);
      if (!found) missing.push(m);
    }
    expect(missing).toEqual([]);
    expect([...metrics].length).toBeGreaterThan(20);
  }, 180_000);

  it("fires no alert on the healthy cluster", async () => {
    const firing = ((await getJson(`${PROMETHEUS}/api/v1/alerts`)).data.alerts as { state: string; labels: Record<string, string> }[]).filter((a) => a.state === "firing");
    expect(firing.map((a) => a.labels.alertname)).toEqual([]);
  });

  it("writes its samples to the site's InfluxDB (remote write, basic auth with the site's secret), as InfluxQL reads them back", async () => {
    const values = await until("samples in InfluxDB", 60_000, async () => {
      const r = await influxQl('SELECT count("value") FROM "up"', password());
      const v = r.results[0]?.series?.[0]?.values?.[0]?.[1] as number | undefined;
      return v && v > 0 ? v : undefined;
    });
    expect(values).toBeGreaterThan(0);
    const instances = await influxQl('SHOW TAG VALUES FROM "up" WITH KEY = "instance"', password());
    expect(instances.results[0]!.series![0]!.values.map((v) => v[1])).toEqual(expect.arrayContaining(["m1", "m2", "m3", "prometheus", "alertmanager"]));
    // A wrong password is refused: the secret is what lets Prometheus in.
    expect((await influxQl('SELECT count("value") FROM "up"', "wrong")).results).toBeUndefined();
  }, 90_000);

  it("reloads Prometheus on a rule change (SIGHUP, same process), and hpcdk diff --live covers the files", async () => {
    const holder = holderOf("prometheus")!;
    const pid = onHost(holder, "cat /run/hpcdk-monitoring/prometheus.pid").trim();
    const reloadedBefore = Number((await query("prometheus_config_last_reload_success_timestamp_seconds"))[0]!.value[1]);
    writeFileSync(siteFile, readFileSync(siteFile, "utf8").replace("serviceDownForSec: 20", "serviceDownForSec: 25"));
    const deploy = hpcdk(["deploy", siteFile, "--inventory", lab.inventoryFile, "--json"], project);
    expect(deploy.status, deploy.stdout + deploy.stderr).toBe(0);
    const rule = await until("the new rule loaded", 30_000, async () => {
      const groups = (await getJson(`${PROMETHEUS}/api/v1/rules`)).data.groups as { rules: { name: string; duration: number }[] }[];
      const r = groups.flatMap((g) => g.rules).find((x) => x.name === "ExporterDown");
      return r?.duration === 25 ? r : undefined;
    });
    expect(rule.duration).toBe(25);
    expect(onHost(holder, "cat /run/hpcdk-monitoring/prometheus.pid").trim()).toBe(pid);
    // The rules API shows the reload at once; the reload's timestamp is a metric Prometheus
    // scrapes from itself, so it shows at the next self-scrape (every 15 s), not before.
    const reloadedAt = await until("the reload's timestamp scraped", 30_000, async () => {
      const t = Number((await query("prometheus_config_last_reload_success_timestamp_seconds"))[0]!.value[1]);
      return t > reloadedBefore ? t : undefined;
    });
    expect(reloadedAt).toBeGreaterThan(reloadedBefore);
    // The drift check: nothing drifted; then a hand edit of a rule file on m2 is seen.
    const clean = hpcdk(["diff", siteFile, "--live", "--inventory", lab.inventoryFile, "--format", "json"], project);
    expect(clean.status, clean.stdout + clean.stderr).toBe(0);
    onHost("m2", "sed -i 's/for: 25s/for: 99s/' /etc/prometheus/rules/hpcdk-hosts.yml");
    const drift = hpcdk(["diff", siteFile, "--live", "--inventory", lab.inventoryFile, "--format", "json"], project);
    expect(drift.status).toBe(1);
    const report = JSON.parse(drift.stdout) as { stack: { bundles: { name: string; files: { path: string; status: string }[] }[] } };
    expect(report.stack.bundles.map((b) => [b.name, b.files.map((f) => `${f.path} ${f.status}`)])).toEqual([["m2", ["/etc/prometheus/rules/hpcdk-hosts.yml changed"]]]);
    onHost("m2", "sed -i 's/for: 99s/for: 25s/' /etc/prometheus/rules/hpcdk-hosts.yml");
  }, 240_000);

  it("power-off of the node running monitoring: the group fails over, NodeDown, NodeFenced and ClusterNodeOffline fire in time and resolve when it is back", async () => {
    const victim = holderOf("prometheus")!;
    const survivor = NODES.find((n) => n !== victim)!;
    const watcher = new AlertWatcher({ get: httpGet(ALERTMANAGER), intervalMs: 1000 });
    watcher.start();
    const before = notified.length;

    // What the survivors' Prometheus logs hold already (a survivor may have run it before).
    const logLines = Object.fromEntries(NODES.filter((n) => n !== victim).map((n) => [n, Number(onHost(n, "cat /var/log/prometheus/prometheus.log 2>/dev/null | wc -l").trim())]));

    // A power-off keeps the node off until the test powers it on. When the cluster notices the
    // loss (token + consensus) before the test's off is confirmed, it fences the node itself, by
    // default with a reboot, which powers it on again: a lab node boots in a second, rejoins, and
    // the group (its pool prefers m1) may start there again, so no survivor ever runs it. As the
    // power-off drill does (operations/drill/phases.ts holdStonithActionOff), the cluster's own
    // fencing is an off for the span.
    const actionBefore = onHost(survivor, "crm_attribute --type crm_config --name stonith-action --query --quiet 2>/dev/null || true").trim();
    onHost(survivor, "crm_attribute --type crm_config --name stonith-action --update off");
    const restoreAction = () =>
      onHost(survivor, actionBefore ? `crm_attribute --type crm_config --name stonith-action --update ${actionBefore}` : "crm_attribute --type crm_config --name stonith-action --delete");
    /** What the cluster and the fencer say, for a wait that timed out. */
    const clusterState = () => onLabNode(lab, survivor, "crm_mon -1 2>&1; stonith_admin --history '*' --verbose 2>&1 | tail -n 20");

    // WHEN the node running Prometheus, Alertmanager and the pool loses its power (fence_powerman).
    const t0 = Date.now();
    onHost(survivor, `stonith_admin --fence ${victim} --timeout 60`);
    const fencedAt = Date.now();

    // THEN the monitoring group runs elsewhere, with the pool, and Prometheus serves again
    // (Prometheus is the group's last member: Alertmanager runs before it starts).
    const newHolder = await until("the monitoring group on a survivor", 90_000, async () => {
      const h = onLabNode(lab, survivor, "crm_resource --locate --resource prometheus 2>&1 || true").match(/running on: (\S+)/)?.[1];
      return h && h !== victim ? h : undefined;
    }).catch((e: Error) => {
      throw new Error(`${e.message}\n${clusterState()}`);
    });
    expect(onLabNode(lab, survivor, "crm_resource --locate --resource zfs-tank")).toContain(`running on: ${newHolder}`);
    expect(onLabNode(lab, survivor, "crm_resource --locate --resource alertmanager")).toContain(`running on: ${newHolder}`);
    await until("Prometheus ready on the survivor", 120_000, async () => (await fetch(`${PROMETHEUS}/-/ready`)).ok);
    const backAt = Date.now();

    // AND the alerts reach Alertmanager by the time the rules promise, counted from the moment
    // the new Prometheus could see the condition (it is ready; the node was fenced): the first
    // scrape of each target comes within one scrape interval, the dead node's scrape fails after
    // the scrape timeout, the next evaluation sees it (pending), and the one after its for: fires
    // it (up to one interval late); Prometheus sends it to Alertmanager at once, which runs before
    // it starts. LATE_MS is what a loaded machine may add to that (process scheduling, this poll).
    const site = loadSiteFile(siteFile).spec.monitoring!;
    const scrape = site.prometheus.scrapeIntervalSec * 1000;
    const scrapeTimeout = site.prometheus.scrapeTimeoutSec * 1000;
    const evaluation = site.prometheus.evaluationIntervalSec * 1000;
    const LATE_MS = 5000;
    const promised = (forSec: number) => Math.max(backAt, fencedAt) + scrape + scrapeTimeout + forSec * 1000 + 2 * evaluation;
    const nodeDownFor = site.alerts.nodeDownForSec;
    const forOf = { NodeDown: nodeDownFor, NodeFenced: 0, ClusterNodeOffline: nodeDownFor } as const;
    const deadline = Math.max(...Object.values(forOf).map(promised)) + LATE_MS;
    /** When each alert was first seen in Alertmanager. */
    const arrived: Partial<Record<keyof typeof forOf, number>> = {};
    const firing = await until("NodeDown, NodeFenced and ClusterNodeOffline in Alertmanager", deadline - Date.now(), async () => {
      const alerts = (await getJson(`${ALERTMANAGER}/api/v2/alerts`)) as { labels: Record<string, string>; startsAt: string }[];
      const find = (name: string, label: string) => alerts.find((a) => a.labels.alertname === name && a.labels[label] === victim);
      const all = { NodeDown: find("NodeDown", "instance"), NodeFenced: find("NodeFenced", "node"), ClusterNodeOffline: find("ClusterNodeOffline", "node") };
      for (const [name, a] of Object.entries(all)) if (a) arrived[name as keyof typeof forOf] ??= Date.now();
      return Object.values(all).every(Boolean) ? all : undefined;
    }, 250);
    const startedAt = (name: keyof typeof firing) => Date.parse(firing[name]!.startsAt);
    for (const name of Object.keys(forOf) as (keyof typeof forOf)[]) {
      // Fired by Prometheus, and received by Alertmanager, in time.
      expect(startedAt(name), `${name} fired`).toBeLessThanOrEqual(promised(forOf[name]) + LATE_MS);
      expect(arrived[name], `${name} in Alertmanager`).toBeLessThanOrEqual(promised(forOf[name]) + LATE_MS);
    }
    // Nothing the new Prometheus fired was refused by an Alertmanager not yet listening (it would
    // be sent again only after Prometheus' resend delay, a minute later).
    expect(onHost(newHolder, `tail -n +${logLines[newHolder]! + 1} /var/log/prometheus/prometheus.log | grep 'Error sending alert' || true`)).toBe("");
    expect(firing.NodeDown!.labels.severity).toBe("critical");
    console.log(
      `monitoring lab: ${victim} fenced after ${((fencedAt - t0) / 1000).toFixed(1)} s, Prometheus back on ${newHolder} after ${((backAt - t0) / 1000).toFixed(1)} s; ` +
        `NodeFenced fired at +${((startedAt("NodeFenced") - t0) / 1000).toFixed(1)} s, NodeDown at +${((startedAt("NodeDown") - t0) / 1000).toFixed(1)} s, ` +
        `ClusterNodeOffline at +${((startedAt("ClusterNodeOffline") - t0) / 1000).toFixed(1)} s (for: ${nodeDownFor} s); all in Alertmanager at +${((Math.max(...Object.values(arrived)) - t0) / 1000).toFixed(1)} s, ` +
        `promised by +${((deadline - LATE_MS - t0) / 1000).toFixed(1)} s`,
    );

    // The victim's exporters are down too, and NodeDown inhibits those alerts: Alertmanager holds
    // them back, the receiver never hears of them.
    await until("ExporterDown inhibited", promised(site.alerts.serviceDownForSec) + LATE_MS - Date.now(), async () => {
      const alerts = (await getJson(`${ALERTMANAGER}/api/v2/alerts`)) as { labels: Record<string, string>; status: { state: string } }[];
      const ex = alerts.filter((a) => a.labels.alertname === "ExporterDown" && a.labels.instance === victim);
      return ex.length > 0 && ex.every((a) => a.status.state === "suppressed") ? true : undefined;
    });
    await until("the receiver notified of NodeDown and NodeFenced", 30_000, async () => {
      const got = notified.slice(before).filter((n) => n.status === "firing").map((n) => `${n.alertname} ${n.subject}`);
      return got.includes(`NodeDown ${victim}`) && got.includes(`NodeFenced ${victim}`) ? true : undefined;
    });
    expect(notified.slice(before).filter((n) => n.alertname === "ExporterDown")).toEqual([]);

    // WHEN the node is powered on again and rejoins,
    restoreAction();
    onHost(survivor, `stonith_admin --unfence ${victim} --timeout 60`);
    await until(`${victim} back in the cluster`, 120_000, async () => (onLabNode(lab, survivor, "crm_mon -1 2>&1") .match(/Online: \[ (.*) \]/)?.[1]?.split(" ").length === 3 ? true : undefined));
    // THEN every alert about it resolves.
    await until("the victim's alerts resolved", 120_000, async () => {
      const alerts = (await getJson(`${ALERTMANAGER}/api/v2/alerts`)) as { labels: Record<string, string> }[];
      return alerts.some((a) => a.labels.instance === victim || a.labels.node === victim) ? undefined : true;
    }, 1000);
    await until("the receiver notified of the resolutions", 60_000, async () => {
      const got = notified.slice(before).filter((n) => n.status === "resolved").map((n) => `${n.alertname} ${n.subject}`);
      return got.includes(`NodeDown ${victim}`) && got.includes(`NodeFenced ${victim}`) ? true : undefined;
    });

    // The alert timeline a drill report gets, from Alertmanager's API.
    const events: AlertEvent[] = await watcher.stop({ fromMs: t0 - 60_000 });
    const lines = events.map(describeEvent);
    for (const name of ["NodeDown", "NodeFenced", "ClusterNodeOffline"]) {
      expect(lines).toContain(`alert ${name} (${victim}) fired`);
      expect(lines).toContain(`alert ${name} (${victim}) resolved`);
    }
    console.log(`monitoring lab: alert timeline (s after the fault)\n${timelineOf(events, t0).map((e) => `  ${(e.atMs / 1000).toFixed(1).padStart(6)}  ${e.what}`).join("\n")}`);

    // Remote write goes on from the new Prometheus.
    const count = async () => ((await influxQl(`SELECT count("value") FROM "up" WHERE time > ${(Date.now() - 30_000) * 1e6}`, password())).results[0]?.series?.[0]?.values?.[0]?.[1] as number) ?? 0;
    expect(await until("fresh samples in InfluxDB", 60_000, async () => ((await count()) > 0 ? true : undefined))).toBe(true);
  }, 600_000);
});
