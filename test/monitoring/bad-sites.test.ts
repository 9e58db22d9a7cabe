/**
 * Bad monitoring sections: each case breaks the monitoring lab's site (test/fixtures/sites/
 * monitoring-lab.yaml) in one way and asserts the exact messages (file, line, field path, what was
 * expected), and that nothing is written.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { synthSiteFiles } from "../../stacks/synth.js";
import { FIXTURES, tempDir } from "../helpers.js";

const BASE = readFileSync(join(FIXTURES, "monitoring-lab.yaml"), "utf8");

interface BadCase {
  readonly name: string;
  readonly edits: readonly (readonly [string, string])[];
  readonly problems: readonly string[];
}

function apply(c: BadCase): string {
  return c.edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`case "${c.name}": the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, BASE);
}

const CASES: BadCase[] = [
  {
    name: "the server names neither a pool nor a host",
    edits: [["    pool: tank\n    floatingIp", "    floatingIp"]],
    problems: [
      "sites/bad.yaml:53:3: monitoring.server: name either pool (HA: Prometheus and Alertmanager on a dataset of the pool, with floatingIp) or host (one management node, not HA), not both or neither",
    ],
  },
  {
    name: "the server names a pool and a host",
    edits: [["    pool: tank\n", "    pool: tank\n    host: m3\n"]],
    problems: [
      "sites/bad.yaml:53:3: monitoring.server: name either pool (HA: Prometheus and Alertmanager on a dataset of the pool, with floatingIp) or host (one management node, not HA), not both or neither",
    ],
  },
  {
    name: "the pool is not a pool of the site",
    edits: [["    pool: tank\n", "    pool: tanks\n"]],
    problems: [
      "sites/bad.yaml:54:5: monitoring.server.pool: unknown pool \"tanks\" (pools: tank)",
    ],
  },
  {
    name: "an HA server has no floating IP",
    edits: [["    floatingIp: { address: 10.34.0.102, cidr: 24, nic: eth0 }\n  prometheus:", "  prometheus:"]],
    problems: [
      "sites/bad.yaml:54:5: monitoring.server.floatingIp: Prometheus and Alertmanager move with the pool: they need a floating IP of their own (server.floatingIp)",
    ],
  },
  {
    name: "an HA server names a local data directory",
    edits: [["    pool: tank\n", "    pool: tank\n    dataDir: /var/lib/prometheus\n"]],
    problems: [
      "sites/bad.yaml:55:5: monitoring.server.dataDir: is for server.host: with server.pool the data lives on the pool's dataset (server.dataset)",
    ],
  },
  {
    name: "a one-host server has a floating IP and a quota",
    edits: [["    pool: tank\n", "    host: m3\n    quota: 10G\n"]],
    problems: [
      "sites/bad.yaml:55:5: monitoring.server.quota: is for server.pool (HA); with server.host nothing moves",
      "sites/bad.yaml:56:5: monitoring.server.floatingIp: is for server.pool (HA); with server.host nothing moves",
    ],
  },
  {
    name: "the host is not a management node",
    edits: [["    pool: tank\n    floatingIp: { address: 10.34.0.102, cidr: 24, nic: eth0 }\n", "    host: m9\n"]],
    problems: [
      "sites/bad.yaml:54:5: monitoring.server.host: unknown management node \"m9\" (nodes: m1, m2, m3)",
    ],
  },
  {
    name: "a one-host server keeps its data on a pool",
    edits: [["    pool: tank\n    floatingIp: { address: 10.34.0.102, cidr: 24, nic: eth0 }\n", "    host: m3\n    dataDir: /tank/prometheus\n"]],
    problems: [
      "sites/bad.yaml:55:5: monitoring.server.dataDir: /tank/prometheus is on pool tank (/tank), which Pacemaker imports on one node at a time: use server.pool for HA, or a local directory",
    ],
  },
  {
    name: "a one-host server keeps its data where the site mounts NFS",
    edits: [["    pool: tank\n    floatingIp: { address: 10.34.0.102, cidr: 24, nic: eth0 }\n", "    host: m3\n    dataDir: /home/prometheus\n"], ["\ndeploy:", "\ncontainers:\n  sharedPaths: [/home]\n\ndeploy:"]],
    problems: [
      "sites/bad.yaml:55:5: monitoring.server.dataDir: /home/prometheus is under /home (containers.sharedPaths), where the site mounts NFS: Prometheus' TSDB does not support NFS",
    ],
  },
  {
    name: "the dataset would be inside an NFS export",
    edits: [["        - path: /tank/data\n", "        - path: /tank\n"]],
    problems: [
      "sites/bad.yaml:54:5: monitoring.server.dataset: /tank/monitoring would be inside NFS export /tank (nfs.groups.0.exports.0.path): Prometheus' TSDB must not be on NFS, choose another dataset",
    ],
  },
  {
    name: "the floating IP is outside the nodes' network",
    edits: [["address: 10.34.0.102, cidr: 24", "address: 10.35.0.102, cidr: 24"]],
    problems: [
      "sites/bad.yaml:55:19: monitoring.server.floatingIp.address: 10.35.0.102/24 is outside the networks of m1, m2, m3: every node that may import the pool needs an address in it",
    ],
  },
  {
    name: "the floating IP is the NFS group's",
    edits: [["address: 10.34.0.102, cidr: 24", "address: 10.34.0.100, cidr: 24"]],
    problems: [
      "sites/bad.yaml:55:19: monitoring.server.floatingIp.address: 10.34.0.100 is also the floating IP of NFS group \"nfs\"",
    ],
  },
  {
    name: "the floating IP is a node's address",
    edits: [["address: 10.34.0.102, cidr: 24", "address: 10.34.0.12, cidr: 24"]],
    problems: [
      "sites/bad.yaml:55:19: monitoring.server.floatingIp.address: 10.34.0.12 is also the address of m2: a floating IP must not belong to a node",
    ],
  },
  {
    name: "a node has no address in the scrape network",
    edits: [["  prometheus:\n    scrapeIntervalSec", "  network: 10.40.0.0/24\n  prometheus:\n    scrapeIntervalSec"]],
    problems: [
      "sites/bad.yaml:56:3: monitoring.network: m1, m2, m3 have no address in 10.40.0.0/24: Prometheus could not scrape them",
    ],
  },
  {
    name: "the scrape timeout is longer than the interval",
    edits: [["    scrapeTimeoutSec: 2\n", "    scrapeTimeoutSec: 3\n"]],
    problems: [
      "sites/bad.yaml:58:5: monitoring.prometheus.scrapeTimeoutSec: must not be longer than scrapeIntervalSec (2), got 3",
    ],
  },
  {
    name: "a scraped node group does not exist",
    edits: [["    evaluationIntervalSec: 2\n", "    evaluationIntervalSec: 2\n    nodeGroups: [compute]\n"]],
    problems: [
      "sites/bad.yaml:60:18: monitoring.prometheus.nodeGroups.0: unknown node group \"compute\" (nodeGroups: none)",
    ],
  },
  {
    name: "Alertmanager takes Prometheus' port",
    edits: [["  alertmanager:\n    receivers:", "  alertmanager:\n    port: 9090\n    receivers:"]],
    problems: [
      "sites/bad.yaml:61:5: monitoring.alertmanager.port: port 9090 is already used by monitoring.prometheus.port",
    ],
  },
  {
    name: "two receivers have one name",
    edits: [["        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n", "        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n      - name: lab\n        webhook: { url: \"http://10.34.0.253:19094/alerts\" }\n"]],
    problems: [
      "sites/bad.yaml:64:9: monitoring.alertmanager.receivers.1.name: receiver name \"lab\" is already used by monitoring.alertmanager.receivers.0.name",
    ],
  },
  {
    name: "a receiver sends nowhere",
    edits: [["        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n", "        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n      - name: nobody\n"]],
    problems: [
      "sites/bad.yaml:64:9: monitoring.alertmanager.receivers.1: receiver \"nobody\" sends nowhere: give it email or webhook",
    ],
  },
  {
    name: "an e-mail receiver has no SMTP relay",
    edits: [["        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n", "        email: { to: [ops@example.org] }\n"]],
    problems: [
      "sites/bad.yaml:63:9: monitoring.alertmanager.receivers.0.email: e-mail needs alertmanager.smtp (smarthost and from)",
    ],
  },
  {
    name: "a webhook has a bearer token and basic auth",
    edits: [["        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n", "        webhook: { url: \"http://10.34.0.253:19093/alerts\", bearerToken: true, basicAuth: { username: am } }\n"]],
    problems: [
      "sites/bad.yaml:63:9: monitoring.alertmanager.receivers.0.webhook: give bearerToken or basicAuth, not both",
    ],
  },
  {
    name: "the route names unknown receivers",
    edits: [["    route: { receiver: lab,", "    route: { routes: [{ severity: critical, receiver: pager }], receiver: labs,"]],
    problems: [
      "sites/bad.yaml:64:65: monitoring.alertmanager.route.receiver: unknown receiver \"labs\" (receivers: lab)",
      "sites/bad.yaml:64:45: monitoring.alertmanager.route.routes.0.receiver: unknown receiver \"pager\" (receivers: lab)",
    ],
  },
  {
    name: "two remote writes have one name",
    edits: [["      basicAuth: { username: prometheus }\n", "      basicAuth: { username: prometheus }\n    - name: influx\n      url: \"http://10.34.0.254:8087/api/v1/prom/write\"\n"]],
    problems: [
      "sites/bad.yaml:69:7: monitoring.remoteWrite.1.name: remote write name \"influx\" is already used by monitoring.remoteWrite.0.name",
    ],
  },
  {
    name: "Grafana's node group does not exist",
    edits: [["  alerts:\n    nodeDownForSec", "  grafana: { nodeGroup: ops }\n  alerts:\n    nodeDownForSec"]],
    problems: [
      "sites/bad.yaml:69:14: monitoring.grafana.nodeGroup: unknown node group \"ops\" (nodeGroups: none)",
    ],
  },
  {
    name: "an NFS group takes monitoring's resource ids",
    edits: [["    - name: nfs\n      pools: [tank]", "    - name: monitoring\n      pools: [tank]"]],
    problems: [
      "sites/bad.yaml:32:7: nfs.groups.0.name: NFS group \"monitoring\" would get the CIB id \"group-monitoring\", which monitoring uses: rename the group",
      "sites/bad.yaml:32:7: nfs.groups.0.name: NFS group \"monitoring\" would get the CIB id \"ip-monitoring\", which monitoring uses: rename the group",
    ],
  },
  {
    name: "a fence device takes monitoring's resource ids",
    edits: [["    - name: fence_pm\n", "    - name: prometheus\n"]],
    problems: [
      "sites/bad.yaml:45:7: fencing.devices.0.name: fence device name \"prometheus\" is a CIB id monitoring uses: rename the device",
    ],
  },
  {
    name: "a webhook URL carries credentials",
    edits: [["url: \"http://10.34.0.253:19093/alerts\"", "url: \"http://admin:secret@10.34.0.253:19093/alerts\""]],
    problems: [
      "sites/bad.yaml:63:20: monitoring.alertmanager.receivers.0.webhook.url: must not carry credentials (user:password@): they would be written into the rendered tree; use basicAuth, whose password is a secret, got \"http://10.34.0.253:19093/...\"",
    ],
  },
  {
    name: "a webhook URL holds a quote and a space",
    edits: [["url: \"http://10.34.0.253:19093/alerts\"", "url: \"http://10.34.0.253:19093/alerts?x='a b'\""]],
    problems: [
      "sites/bad.yaml:63:20: monitoring.alertmanager.receivers.0.webhook.url: must be an http:// or https:// URL without spaces, quotes or backslashes, got \"http://10.34.0.253:19093/alerts?x='a b'\"",
    ],
  },
  {
    name: "a remote write URL is not http",
    edits: [["url: \"http://10.34.0.254:8086/api/v1/prom/write?db=prometheus\"", "url: \"file:///etc/passwd\""]],
    problems: [
      "sites/bad.yaml:67:7: monitoring.remoteWrite.0.url: must be an http:// or https:// URL without spaces, quotes or backslashes, got \"file:///etc/passwd\"",
    ],
  },
  {
    name: "the retention is not a Prometheus duration or size",
    edits: [["    evaluationIntervalSec: 2\n", "    evaluationIntervalSec: 2\n    retention: { time: 30 days, size: 50G }\n"]],
    problems: [
      "sites/bad.yaml:60:18: monitoring.prometheus.retention.time: must be a Prometheus duration such as \"30d\", \"12h\" or \"1h30m\", got \"30 days\"",
      "sites/bad.yaml:60:33: monitoring.prometheus.retention.size: must be a size such as \"50GB\" or \"512MB\" (units B, KB, MB, GB, TB, PB), got \"50G\"",
    ],
  },
  {
    name: "an external label is reserved or its value has a quote",
    edits: [["    evaluationIntervalSec: 2\n", "    evaluationIntervalSec: 2\n    externalLabels: { __site: lab, dc: 'a\"b' }\n"]],
    problems: [
      "sites/bad.yaml:60:23: monitoring.prometheus.externalLabels.__site: must not start with \"__\" (reserved by Prometheus), got \"__site\"",
      "sites/bad.yaml:60:36: monitoring.prometheus.externalLabels.dc: must be 1-128 letters, digits and _ . : / @ + -, got \"a\\\"b\"",
    ],
  },
  {
    name: "the SMTP relay has no port and the addresses are not addresses",
    edits: [["        webhook: { url: \"http://10.34.0.253:19093/alerts\" }\n", "        email: { to: [ops] }\n"], ["  alertmanager:\n    receivers:", "  alertmanager:\n    smtp: { smarthost: mail.example.org, from: alerts }\n    receivers:"]],
    problems: [
      "sites/bad.yaml:61:13: monitoring.alertmanager.smtp.smarthost: must be host:port such as \"mail.example.org:587\", got \"mail.example.org\"",
      "sites/bad.yaml:61:42: monitoring.alertmanager.smtp.from: must be an e-mail address such as \"hpc-ops@example.org\", got \"alerts\"",
      "sites/bad.yaml:64:23: monitoring.alertmanager.receivers.0.email.to.0: must be an e-mail address such as \"hpc-ops@example.org\", got \"ops\"",
    ],
  },
  {
    name: "the dataset and the quota are malformed",
    edits: [["    pool: tank\n", "    pool: tank\n    dataset: mon/itoring\n    quota: 100GB\n"]],
    problems: [
      "sites/bad.yaml:55:5: monitoring.server.dataset: must be a ZFS dataset name below the pool (letters, digits, \"_\", \".\", \":\", \"-\"), got \"mon/itoring\"",
      "sites/bad.yaml:56:5: monitoring.server.quota: must be a ZFS size such as \"100G\" or \"2T\" (units K, M, G, T, P), got \"100GB\"",
    ],
  },
];

describe("bad monitoring sections", () => {
  it("accepts the fixture", () => {
    expect(parseSite(BASE, "sites/monitoring-lab.yaml").spec.monitoring?.server.pool).toBe("tank");
  });

  it.each(CASES.map((c) => [c.name, c] as const))("fails if %s", (_name, c) => {
    let problems: readonly string[] = [];
    try {
      parseSite(apply(c), "sites/bad.yaml");
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual(c.problems);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("writes nothing if %s", (_name, c) => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, apply(c));
    const out = join(dir, "cdktf.out");
    expect(() => synthSiteFiles([file], out, false)).toThrow(SiteError);
    expect(existsSync(out)).toBe(false);
  });
});
