/**
 * The monitoring constructs as the stack builds them from a site: where Prometheus and
 * Alertmanager run (Pacemaker on the pool's node, or systemd on one host), which exporters and
 * collectors each host gets and which units its node_exporter watches, the file_sd files, the
 * secrets, the rules that depend on the site, and the impact every file declares.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import type { BundleManifest } from "../../constructs/core/index.js";
import { dashboardUid, fileSdYaml, hostPort, ruleGroups, yamlFile, JOBS } from "../../constructs/monitoring/index.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, loadExamples, readTree, siteFromText, synthTo } from "../helpers.js";

const LAB_SITE = loadSiteFile(join(FIXTURES, "monitoring-lab.yaml"));
const { out } = synthTo([...loadExamples(["lab", "radon"]), LAB_SITE]);
const tree = (site: string) => readTree(join(out, "stacks", site));
const text = (site: string, path: string) => {
  const bytes = tree(site).get(path);
  if (!bytes) throw new Error(`${site} renders no ${path}`);
  return bytes.toString();
};
const manifest = (site: string, bundle: string) => JSON.parse(text(site, `manifests/${bundle}.json`)) as BundleManifest;

describe("HA monitoring (sites/lab.yaml: Prometheus and Alertmanager on stc2_pool)", () => {
  const cib = text("lab", "cluster/cib.xml");

  // Alertmanager before Prometheus: an alert the new Prometheus fires at once after a failover
  // (NodeFenced) is sent once, then again only after the resend delay (1 min).
  it("puts the floating IP, Alertmanager and Prometheus in one group, in that order, run by ocf:hpcdk:daemon", () => {
    const group = /<group id="group-monitoring">([\s\S]*?)<\/group>/.exec(cib)![1]!;
    expect([...group.matchAll(/<primitive id="([^"]+)" class="([^"]+)" provider="([^"]+)" type="([^"]+)"/g)].map((m) => m.slice(1).join(":"))).toEqual([
      "ip-monitoring:ocf:heartbeat:IPaddr2",
      "alertmanager:ocf:hpcdk:daemon",
      "prometheus:ocf:hpcdk:daemon",
    ]);
    expect(group).toContain('name="options" value="--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/stc2_pool/monitoring/prometheus --storage.tsdb.retention.time=90d --storage.tsdb.retention.size=150GB --web.listen-address=172.16.0.102:9090 --web.external-url=http://172.16.0.102:9090/"');
    expect(group).toContain('name="user" value="prometheus"');
  });

  it("runs the group where the pool is imported, and only after it", () => {
    expect(cib).toContain('<rsc_colocation id="colocation-group-monitoring-with-zfs-stc2_pool" rsc="group-monitoring" with-rsc="zfs-stc2_pool" score="INFINITY"/>');
    expect(cib).toContain('<rsc_order id="order-zfs-stc2_pool-then-group-monitoring" first="zfs-stc2_pool" first-action="start" then="group-monitoring" then-action="start" kind="Mandatory"/>');
  });

  it("makes the dataset with the pool's other datasets, and limits it where the pool is imported", () => {
    expect(text("lab", "hosts/stc1/usr/local/sbin/hpcdk-zpool-create-stc2_pool")).toContain("DATASETS='stc2_pool/apps stc2_pool/home stc2_pool/monitoring stc2_pool/slurm'");
    const quota = manifest("lab", "hosts/stc3").steps.find((s) => s.id === "monitoring-dataset-quota")!;
    expect(quota.run).toBe("if zfs list -H -o name 'stc2_pool/monitoring' >/dev/null 2>&1; then zfs set quota='200G' 'stc2_pool/monitoring'; fi");
  });

  it("tells Pacemaker's alert agent about fencing and node events", () => {
    expect(cib).toMatch(/<alert id="hpcdk-metrics" path="\/usr\/local\/libexec\/hpcdk\/pacemaker-alert-metrics">[\s\S]*<select_fencing\/>\s*<select_nodes\/>[\s\S]*<recipient id="hpcdk-metrics-recipient-1" value="\/var\/lib\/prometheus\/node-exporter"\/>/);
  });

  it("gives every management node the configuration, the agent, and Debian's units kept off", () => {
    for (const host of ["stc1", "stc2", "stc3", "stc4"]) {
      const m = manifest("lab", `hosts/${host}`);
      const paths = m.files.map((f) => f.path);
      for (const p of ["/etc/prometheus/prometheus.yml", "/etc/prometheus/alertmanager.yml", "/usr/lib/ocf/resource.d/hpcdk/daemon", "/etc/ha_cluster_exporter.yaml", "/etc/prometheus/blackbox.yml"]) expect(paths).toContain(p);
      expect(paths).not.toContain("/etc/default/prometheus");
      expect(m.steps.find((s) => s.id === "prometheus-pacemaker-only")!.run).toContain("systemctl disable --now");
      expect(m.packages.map((p) => p.debian)).toEqual(expect.arrayContaining(["prometheus", "prometheus-alertmanager", "prometheus-node-exporter", "prometheus-hacluster-exporter", "prometheus-blackbox-exporter", "curl"]));
    }
  });

  it("keeps the passwords and the token out of the rendered tree: Prometheus and Alertmanager read them from files", () => {
    const m = manifest("lab", "hosts/stc1");
    expect(m.secretFiles.filter((s) => s.path.startsWith("/etc/prometheus/secrets/")).map((s) => [s.path, s.owner, s.mode])).toEqual([
      ["/etc/prometheus/secrets/alertmanager-smtp-password", "prometheus", "0400"],
      ["/etc/prometheus/secrets/alertmanager-webhook-chat-token", "prometheus", "0400"],
      ["/etc/prometheus/secrets/remote-write-influx-password", "prometheus", "0400"],
    ]);
    expect(parse(text("lab", "hosts/stc1/etc/prometheus/prometheus.yml")).remote_write).toEqual([
      { name: "influx", url: "http://influx.stc.example.org:8086/api/v1/prom/write?db=prometheus", basic_auth: { username: "prometheus", password_file: "/etc/prometheus/secrets/remote-write-influx-password" } },
    ]);
    expect(parse(text("lab", "hosts/stc1/etc/prometheus/alertmanager.yml")).global.smtp_auth_password_file).toBe("/etc/prometheus/secrets/alertmanager-smtp-password");
  });
});

describe("monitoring on one host (sites/radon.yaml: radon4, not HA)", () => {
  it("puts no monitoring resources in the CIB, only the alert agent", () => {
    const cib = text("radon", "cluster/cib.xml");
    expect(cib).not.toContain("group-monitoring");
    expect(cib).toContain('<alert id="hpcdk-metrics"');
  });

  it("runs Debian's units on radon4 with their arguments in /etc/default, on its own address", () => {
    expect(/^ARGS="(.*)"$/m.exec(text("radon", "hosts/radon4/etc/default/prometheus"))![1]).toBe(
      "--config.file=/etc/prometheus/prometheus.yml --storage.tsdb.path=/var/lib/prometheus/prometheus --storage.tsdb.retention.time=30d --web.listen-address=10.20.0.4:9090 --web.external-url=http://10.20.0.4:9090/",
    );
    const steps = manifest("radon", "hosts/radon4").steps.map((s) => s.id);
    expect(steps).toEqual(expect.arrayContaining(["prometheus-enable", "alertmanager-enable", "prometheus-data-dir", "alertmanager-data-dir"]));
    for (const host of ["radon1", "radon3"]) expect([...tree("radon").keys()].filter((p) => p.startsWith(`hosts/${host}/etc/prometheus/prometheus.yml`))).toEqual([]);
  });

  it("says at every synth that it is not HA", () => {
    expect(loadExamples(["radon"])[0]!.warnings).toEqual([
      "monitoring.server.host: Prometheus and Alertmanager run on radon4 alone, not HA: when radon4 fails nobody is alerted (name a pool and a floating IP in monitoring.server for HA)",
    ]);
  });

  it("watches the units that must run on radon4, including Prometheus and Alertmanager", () => {
    expect(text("radon", "hosts/radon4/etc/default/prometheus-node-exporter")).toContain(
      "--collector.systemd.unit-include=corosync[.]service|ha_cluster_exporter[.]service|hpcdk-zpool-metrics[.]service|hpcdk-zpool-metrics[.]timer|pacemaker[.]service|prometheus-alertmanager[.]service|prometheus-blackbox-exporter[.]service|prometheus[.]service",
    );
    expect(text("radon", "hosts/radon1/etc/default/prometheus-node-exporter")).not.toContain("prometheus[.]service");
  });
});

describe("exporters and collectors on the hosts of sites/lab.yaml", () => {
  const args = (path: string) => /^ARGS="(.*)"$/m.exec(text("lab", path))![1]!.split(" ");

  it("runs node_exporter on every host, with the collectors that apply there", () => {
    expect(args("hosts/stc1/etc/default/prometheus-node-exporter").slice(0, 5)).toEqual([
      "--web.listen-address=:9100",
      "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
      "--no-collector.nfs",
      "--collector.nfsd",
      "--collector.zfs",
    ]);
    expect(args("groups/compute/etc/default/prometheus-node-exporter")).toEqual([
      "--web.listen-address=:9100",
      "--collector.textfile.directory=/var/lib/prometheus/node-exporter",
      "--collector.nfs",
      "--no-collector.nfsd",
      "--no-collector.zfs",
      "--collector.systemd",
      "--collector.systemd.unit-include=munge[.]service|slurmd[.]service",
    ]);
    // A group that runs no Slurm and no other unit hpcdk watches: no systemd collector.
    expect(args("groups/ops/etc/default/prometheus-node-exporter")).toContain("--no-collector.systemd");
  });

  it("watches on each management node the units its roles run (Slurm's own takeover: slurmctld on both controllers)", () => {
    const units = (host: string) => args(`hosts/${host}/etc/default/prometheus-node-exporter`).find((a) => a.startsWith("--collector.systemd.unit-include="))!.split("=")[1]!.split("|");
    expect(units("stc1")).toEqual(expect.arrayContaining(["slurmctld[.]service", "munge[.]service", "hpcdk-slurm-metrics[.]timer"]));
    expect(units("stc3")).toEqual(expect.arrayContaining(["slurmdbd[.]service", "mariadb[.]service", "slurmrestd[.]service", "nginx[.]service"]));
    expect(units("stc3")).not.toContain("slurmctld[.]service");
    expect(units("stc4")).not.toContain("slurmdbd[.]service");
  });

  it("runs the Slurm collector on the controllers only, and the zpool collector on every management node", () => {
    const has = (bundle: string, path: string) => tree("lab").has(`${bundle}${path}`);
    for (const host of ["stc1", "stc2"]) expect(has(`hosts/${host}`, "/usr/local/libexec/hpcdk/slurm-metrics")).toBe(true);
    for (const host of ["stc3", "stc4"]) expect(has(`hosts/${host}`, "/usr/local/libexec/hpcdk/slurm-metrics")).toBe(false);
    for (const host of ["stc1", "stc2", "stc3", "stc4"]) expect(has(`hosts/${host}`, "/usr/local/libexec/hpcdk/zpool-metrics")).toBe(true);
    expect(manifest("lab", "hosts/stc1").packages.map((p) => p.debian)).toContain("jq");
  });

  it("lets Pacemaker's alert agent (hacluster) write the management nodes' textfile directory", () => {
    expect(manifest("lab", "hosts/stc2").steps.find((s) => s.id === "node-exporter-textfile-dir")!.run).toBe("install -d -o root -g haclient -m 2775 /var/lib/prometheus/node-exporter");
    expect(manifest("lab", "groups/compute").steps.find((s) => s.id === "node-exporter-textfile-dir")!.run).toBe("install -d -o root -g root -m 0755 /var/lib/prometheus/node-exporter");
  });
});

describe("the scrape targets", () => {
  it("lists each node group's hosts in a file_sd file of its own, named by host", () => {
    const compute = parse(text("lab", "hosts/stc1/etc/prometheus/file_sd/node-compute.yml")) as { targets: string[]; labels: Record<string, string> }[];
    expect(compute).toHaveLength(1);
    expect(compute[0]!.targets).toHaveLength(128);
    expect(compute[0]!.targets[0]).toBe("c001:9100");
    expect(compute[0]!.labels).toEqual({ node_role: "node", node_group: "compute" });
  });

  it("scrapes the management nodes on monitoring.network, named by node", () => {
    expect(parse(text("lab", "hosts/stc1/etc/prometheus/file_sd/node-management.yml"))).toEqual(
      ["stc1", "stc2", "stc3", "stc4"].map((n, i) => ({ targets: [`10.10.0.1${i + 1}:9100`], labels: { instance: n, node_role: "management" } })),
    );
  });

  it("probes each NFS group's floating IP from every management node", () => {
    const probes = parse(text("lab", "hosts/stc1/etc/prometheus/file_sd/nfs-probe.yml")) as { targets: string[]; labels: Record<string, string> }[];
    expect(probes.map((p) => [p.targets[0], p.labels.instance, p.labels.__param_target])).toEqual([
      ["10.10.0.11:9115", "stc1", "172.16.0.100:2049"],
      ["10.10.0.12:9115", "stc2", "172.16.0.100:2049"],
      ["10.10.0.13:9115", "stc3", "172.16.0.100:2049"],
      ["10.10.0.14:9115", "stc4", "172.16.0.100:2049"],
    ]);
  });

  it("keeps prometheus.yml the same size for 10,000 hosts: they go to file_sd files", () => {
    const base = readFileSync(join(FIXTURES, "monitoring-lab.yaml"), "utf8");
    const big = siteFromText(base.replace("\nmonitoring:", "\nnodeGroups:\n  - { name: compute, hosts: \"c[00001-10000]\" }\n\nmonitoring:"), "sites/bigmon.yaml");
    const { out: o } = synthTo([big]);
    const bigTree = readTree(join(o, "stacks", "bigmon"));
    const yml = bigTree.get("hosts/m1/etc/prometheus/prometheus.yml")!.toString();
    expect(yml.split("\n").length).toBeLessThan(200);
    expect((parse(bigTree.get("hosts/m1/etc/prometheus/file_sd/node-compute.yml")!.toString()) as { targets: string[] }[])[0]!.targets).toHaveLength(10000);
  });
});

describe("the alert rules a site gets", () => {
  const names = (props: Parameters<typeof ruleGroups>[0]) => ruleGroups(props).flatMap((g) => g.rules.map((r) => r.alert));
  const base = { hosts: [], jobs: JOBS } as const;

  it("leave out StonithDisabled when the site itself turns stonith off, and the Slurm and remote write rules without them", () => {
    const all = names({ ...base, stonithEnabled: true, remoteWrite: true, slurm: { takeover: "slurm", collectorIntervalSec: 60, accounting: true } });
    const none = names({ ...base, stonithEnabled: false });
    expect(all.filter((a) => !none.includes(a)).sort()).toEqual(
      ["RemoteWriteBehind", "RemoteWriteFailing", "SlurmNodesDown", "SlurmNodesDrained", "SlurmMetricsStale", "SlurmctldControllerDown", "SlurmctldDown", "SlurmdbdDown", "StonithDisabled"].sort(),
    );
  });

  it("watch one slurmctld when Pacemaker runs it: no per-controller alert (the standby runs none)", () => {
    const groups = ruleGroups({ ...base, slurm: { takeover: "pacemaker", collectorIntervalSec: 60, accounting: false } });
    const slurm = groups.find((g) => g.file === "hpcdk-slurm")!.rules;
    expect(slurm.map((r) => r.alert)).toEqual(["SlurmctldDown", "SlurmNodesDown", "SlurmNodesDrained", "SlurmMetricsStale"]);
    expect(slurm[0]!.description).toContain("Pacemaker runs slurmctld (group-slurmctld)");
  });

  it("take their durations and thresholds from the site", () => {
    const rules = ruleGroups({ ...base, nodeDownForSec: 10, poolFullPercent: 90, groupNotPreferredForMin: 5 }).flatMap((g) => g.rules);
    const rule = (a: string) => rules.find((r) => r.alert === a)!;
    expect(rule("NodeDown").forSec).toBe(10);
    expect(rule("ClusterNodeOffline").forSec).toBe(10);
    expect(rule("ZpoolFull").expr).toContain("> 90");
    expect(rule("ResourceGroupNotPreferred").forSec).toBe(300);
  });

  it("every alert has a summary that says what to do", () => {
    for (const r of ruleGroups({ ...base, remoteWrite: true, slurm: { takeover: "slurm", collectorIntervalSec: 60, accounting: true } }).flatMap((g) => g.rules)) {
      expect(r.summary, r.alert).toMatch(/: .*(\b(check|find|start|restart|run|read|repair|move|free|fix|redeploy|replace|restore|bring)\b|`)/);
    }
  });
});

describe("impacts and helpers", () => {
  it("declares the impact of every file monitoring renders (none is left to the outage default)", () => {
    for (const site of ["lab", "radon", "monitoring-lab"]) {
      for (const path of [...tree(site).keys()].filter((p) => p.startsWith("manifests/"))) {
        const m = JSON.parse(tree(site).get(path)!.toString()) as BundleManifest;
        for (const f of m.files.filter((x) => /prometheus|alertmanager|grafana|hpcdk\/daemon|-metrics|ha_cluster/.test(x.path))) {
          expect(f.impact.kind, `${site} ${m.name} ${f.path}`).not.toBe("outage");
        }
        const ours = /^(node-exporter|hacluster-exporter|blackbox-exporter|hpcdk-[a-z]+-metrics|prometheus|alertmanager|monitoring)-/;
        for (const s of m.steps.filter((x) => ours.test(x.id))) expect(s.impact, `${site} ${m.name} step ${s.id}`).toBeDefined();
      }
    }
  });

  it("quotes what YAML 1.1 (Prometheus' yaml.v2) would read as something else", () => {
    expect(yamlFile("", { external_labels: { a: "yes", b: "on", c: "1:30", d: "no" } })).toBe('external_labels:\n  a: "yes"\n  b: "on"\n  c: "1:30"\n  d: "no"\n');
  });

  it("writes file_sd files a YAML reader reads back as written, whatever the strings", () => {
    const groups: { targets: string[]; labels: Record<string, string> }[] = [
      { targets: ["c001:9100", "[fd00::1]:9100", "12:30", "yes"], labels: { instance: "on", y: "no", node_group: 'a"b\\c' } },
      { targets: [], labels: {} },
    ];
    const text = fileSdYaml("# header\n", groups);
    const read = (t: unknown) => (t as { targets: string[]; labels?: Record<string, string> }[]).map((g) => ({ targets: g.targets, labels: g.labels ?? {} }));
    expect(read(parse(text, { version: "1.1" }))).toEqual(groups);
    expect(read(parse(text))).toEqual(groups);
    expect(text).toContain('\n    instance: "on"\n    "y": "no"\n');
  });

  it("writes IPv6 listen addresses in brackets and keeps Grafana uids within 40 characters", () => {
    expect(hostPort("fd00::102", 9090)).toBe("[fd00::102]:9090");
    expect(hostPort("10.34.0.102", 9090)).toBe("10.34.0.102:9090");
    expect(dashboardUid("lab", "cluster")).toBe("hpcdk-lab-cluster");
    const long = dashboardUid("a-very-long-site-name-for-a-machine-room", "prometheus");
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long).toMatch(/^hpcdk-[0-9a-f]{12}-prometheus$/);
  });
});
