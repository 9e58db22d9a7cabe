/**
 * The rendered monitoring files, fed to the programs that read them (the lab test runs the
 * daemons; these are the quick, per-file checks): promtool check config (and its service
 * discovery, which runs the file_sd files through the relabelling), promtool check rules, amtool
 * check-config, the blackbox exporter's --config.check, the command lines of Prometheus,
 * Alertmanager and node_exporter parsed by the programs themselves, systemd-analyze verify on the
 * collectors' units, shellcheck on every script, and the collectors' output linted by promtool
 * check metrics. Each check also fails once on a broken input.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, loadExamples, readTree, siteFromText, synthTo, tempDir } from "../helpers.js";

// The examples (HA on lab, one host on radon), the lab's fixture, and a site whose slurmctld
// Pacemaker runs, monitored from one host.
const slurmPacemaker = siteFromText(
  readFileSync(join(FIXTURES, "slurm-pacemaker.yaml"), "utf8") +
    "\nmonitoring:\n  server: { host: stc3 }\n  alertmanager:\n    receivers: [{ name: ops, webhook: { url: \"https://hooks.example.org/a\" } }]\n    route: { receiver: ops }\n",
  "sites/slurm-monitored.yaml",
);
const SITES = [...loadExamples(["lab", "radon"]), loadSiteFile(join(FIXTURES, "monitoring-lab.yaml")), slurmPacemaker];
const { out } = synthTo(SITES);
const trees = Object.fromEntries(SITES.map((s) => [s.name, readTree(join(out, "stacks", s.name))]));
const all = Object.entries(trees).flatMap(([site, tree]) => [...tree.keys()].map((path) => ({ site, path, text: () => tree.get(path)!.toString() })));
const named = (re: RegExp) => all.filter((f) => re.test(f.path)).map((f) => [`${f.site}/${f.path}`, f] as const);

/** /etc/prometheus of one host, moved into a temporary directory (every path rewritten, each rewrite must match). */
function prometheusDir(site: string, host: string): { dir: string; config: string; alertmanager?: string } {
  const tree = trees[site]!;
  const prefix = `hosts/${host}/etc/prometheus/`;
  const dir = tempDir("hpcdk-prom-");
  for (const [path, bytes] of tree) {
    if (!path.startsWith(prefix)) continue;
    const target = join(dir, path.slice(prefix.length));
    mkdirSync(dirname(target), { recursive: true });
    const text = bytes.toString();
    writeFileSync(target, path.endsWith("prometheus.yml") || path.endsWith("alertmanager.yml") ? rebase(text, dir) : text);
  }
  // The secrets are files the deploy installs from secrets/<site>/.
  mkdirSync(join(dir, "secrets"), { recursive: true });
  for (const name of ["remote-write-influx-password", "alertmanager-smtp-password", "alertmanager-webhook-chat-token", "alertmanager-webhook-tickets-password"]) {
    writeFileSync(join(dir, "secrets", name), "secret\n");
  }
  const am = join(dir, "alertmanager.yml");
  return { dir, config: join(dir, "prometheus.yml"), ...(tree.has(`${prefix}alertmanager.yml`) ? { alertmanager: am } : {}) };
}

function rebase(text: string, dir: string): string {
  if (!text.includes("/etc/prometheus/")) return text;
  return text.replaceAll("/etc/prometheus/", `${dir}/`);
}

/** The management node that holds Prometheus' files: the first (HA) or the one host. */
const serverHost = (site: string) => [...trees[site]!.keys()].find((p) => p.endsWith("/etc/prometheus/prometheus.yml"))!.split("/")[1]!;

describe.each(SITES.map((s) => s.name))("site %s: the monitoring files, checked by the programs that read them", (site) => {
  const host = serverHost(site);

  it("has a prometheus.yml that promtool check config accepts, with its rule files", () => {
    const { config } = prometheusDir(site, host);
    const r = spawnSync("promtool", ["check", "config", config], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/SUCCESS: \d+ rule files found/);
    expect(r.stdout).toContain("is valid prometheus config file syntax");
    expect(r.status).toBe(0);
  });

  it("names every node_exporter target by its host name after relabelling (promtool check service-discovery)", () => {
    const { config } = prometheusDir(site, host);
    const r = spawnSync("promtool", ["check", "service-discovery", "--timeout=5s", config, "node"], { encoding: "utf8" });
    expect(r.status).toBe(0);
    const targets = JSON.parse(r.stdout) as { labels: Record<string, string> }[];
    const spec = SITES.find((s) => s.name === site)!.spec;
    const groups = spec.nodeGroups.length;
    expect(targets.length).toBeGreaterThanOrEqual(spec.nodes.length + groups);
    for (const t of targets) {
      // c001:9100 -> c001; a management node keeps its name, scraped on its address.
      expect(t.labels.instance).toMatch(/^[a-z][a-z0-9-]*$/);
      expect(t.labels.__address__).toMatch(/:9100$/);
      expect(["management", "node"]).toContain(t.labels.node_role);
    }
    expect(targets.filter((t) => t.labels.node_role === "management").map((t) => t.labels.instance).sort()).toEqual(spec.nodes.map((n) => n.name).sort());
  });

  it("has rule files that promtool check rules accepts", () => {
    const { dir } = prometheusDir(site, host);
    const rules = [...trees[site]!.keys()].filter((p) => p.startsWith(`hosts/${host}/etc/prometheus/rules/`)).map((p) => join(dir, "rules", p.split("/").pop()!));
    expect(rules.length).toBeGreaterThanOrEqual(4);
    const r = spawnSync("promtool", ["check", "rules", ...rules], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("has an alertmanager.yml that amtool check-config accepts", () => {
    const { alertmanager } = prometheusDir(site, host);
    const r = spawnSync("amtool", ["check-config", alertmanager!], { encoding: "utf8" });
    expect(r.stdout).toContain("SUCCESS");
    expect(r.stdout).toMatch(/- 3 inhibit rules/);
    expect(r.status).toBe(0);
  });

  it("has a blackbox.yml that the blackbox exporter accepts (--config.check)", () => {
    const file = join(tempDir(), "blackbox.yml");
    writeFileSync(file, trees[site]!.get(`hosts/${host}/etc/prometheus/blackbox.yml`)!);
    const r = spawnSync("prometheus-blackbox-exporter", ["--config.check", `--config.file=${file}`], { encoding: "utf8" });
    expect(r.stderr).toContain("Config file is ok exiting");
    expect(r.status).toBe(0);
  });

  it("gives Prometheus, Alertmanager and node_exporter command lines the programs parse", () => {
    const tree = trees[site]!;
    const argsOf = (text: string) => /^ARGS="(.*)"$/m.exec(text)![1]!.split(" ");
    const cib = tree.get("cluster/cib.xml")!.toString();
    const option = (rsc: string) => new RegExp(`id="${rsc}-instance_attributes-options" name="options" value="([^"]*)"`).exec(cib)?.[1]?.split(" ");
    const prometheus = option("prometheus") ?? argsOf(tree.get(`hosts/${host}/etc/default/prometheus`)!.toString());
    const alertmanager = option("alertmanager") ?? argsOf(tree.get(`hosts/${host}/etc/default/prometheus-alertmanager`)!.toString());
    const nodeExporters = [...tree.keys()].filter((p) => p.endsWith("/etc/default/prometheus-node-exporter")).map((p) => argsOf(tree.get(p)!.toString()));
    expect(nodeExporters.length).toBeGreaterThanOrEqual(2);
    for (const [program, args] of [["prometheus", prometheus], ["prometheus-alertmanager", alertmanager], ...nodeExporters.map((a) => ["prometheus-node-exporter", a] as const)] as const) {
      const r = spawnSync(program, [...args, "--version"], { encoding: "utf8" });
      expect(r.stderr, `${program} ${args.join(" ")}`).not.toMatch(/error/i);
      expect(r.status).toBe(0);
    }
  });

  const units = [...trees[site]!.keys()].filter((p) => /\/etc\/systemd\/system\/hpcdk-[a-z]+-metrics\.(service|timer)$/.test(p));
  it.each(units.filter((u) => u.endsWith(".service")))("has a %s that systemd-analyze verify accepts, with its timer", (path) => {
    const dir = tempDir("hpcdk-units-");
    const tree = trees[site]!;
    const service = tree.get(path)!.toString();
    const script = /^ExecStart=(\S+)$/m.exec(service)![1]!;
    // The collector script is where the unit says on the hosts; here, in the temporary directory.
    writeFileSync(join(dir, "collector"), tree.get(`${path.split("/etc/")[0]}${script}`)!);
    chmodSync(join(dir, "collector"), 0o755);
    const name = path.split("/").pop()!;
    writeFileSync(join(dir, name), service.replace(`ExecStart=${script}`, `ExecStart=${join(dir, "collector")}`).replace(/^ReadWritePaths=.*$/m, `ReadWritePaths=${dir}`));
    writeFileSync(join(dir, name.replace(".service", ".timer")), tree.get(path.replace(".service", ".timer"))!);
    const r = spawnSync("systemd-analyze", ["verify", join(dir, name), join(dir, name.replace(".service", ".timer"))], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it.each(named(new RegExp(`^(hosts|groups)/[^/]+/(usr/local/libexec/hpcdk/[a-z-]+-metrics|usr/lib/ocf/resource.d/hpcdk/daemon)$`)).filter(([k]) => k.startsWith(`${site}/`)))(
    "has a %s that shellcheck accepts",
    (_name, f) => {
      const file = join(tempDir(), "script");
      writeFileSync(file, f.text());
      const r = spawnSync("shellcheck", ["--severity=style", file], { encoding: "utf8" });
      expect(r.stdout).toBe("");
      expect(r.status).toBe(0);
    },
  );
});

describe("the collectors' output, linted by promtool check metrics", () => {
  const lab = trees["lab"]!;
  const script = (name: string) => {
    const dir = tempDir("hpcdk-collector-");
    const textfile = join(dir, "textfile");
    mkdirSync(textfile);
    // The textfile directory is where the script writes: point it at the temporary one.
    const text = lab.get(`hosts/stc1/usr/local/libexec/hpcdk/${name}`)!.toString();
    if (!text.includes("/var/lib/prometheus/node-exporter")) throw new Error(`${name} writes elsewhere`);
    writeFileSync(join(dir, name), text.replaceAll("/var/lib/prometheus/node-exporter", textfile));
    chmodSync(join(dir, name), 0o755);
    return { dir, textfile, run: join(dir, name) };
  };
  const lint = (text: string) => spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });

  it("zpool-metrics: every pool of zpool list -Hp, its health and fill (zpool is a stub: no ZFS here)", () => {
    const { dir, textfile, run } = script("zpool-metrics");
    // What OpenZFS 2.1 prints for zpool list -Hp -o name,size,allocated,free,fragmentation,health.
    mkdirSync(join(dir, "bin"));
    writeFileSync(
      join(dir, "bin", "zpool"),
      '#!/bin/sh\n[ "$*" = "list -Hp -o name,size,allocated,free,fragmentation,health" ] || exit 2\n' +
        "printf 'stc2_pool\\t11939101048832\\t9551280838656\\t2387820210176\\t17\\tDEGRADED\\n'\nprintf 'scratch\\t1099511627776\\t0\\t1099511627776\\t-\\tONLINE\\n'\n",
    );
    chmodSync(join(dir, "bin", "zpool"), 0o755);
    const r = spawnSync(run, [], { encoding: "utf8", env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` } });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    const prom = readFileSync(join(textfile, "hpcdk-zpool.prom"), "utf8");
    expect(lint(prom).stdout + lint(prom).stderr).toBe("");
    const samples = prom.split("\n").filter((l) => l && !l.startsWith("#"));
    expect(samples).toEqual(
      expect.arrayContaining([
        'hpcdk_zpool_size_bytes{pool="stc2_pool"} 11939101048832',
        'hpcdk_zpool_allocated_bytes{pool="stc2_pool"} 9551280838656',
        'hpcdk_zpool_fragmentation_ratio{pool="stc2_pool"} 0.17',
        'hpcdk_zpool_health{pool="stc2_pool",health="DEGRADED"} 1',
        'hpcdk_zpool_health{pool="stc2_pool",health="ONLINE"} 0',
        'hpcdk_zpool_health{pool="scratch",health="ONLINE"} 1',
        "hpcdk_zpool_collector_success 1",
      ]),
    );
    expect(samples.some((l) => l.startsWith('hpcdk_zpool_fragmentation_ratio{pool="scratch"}'))).toBe(false);
  });

  it("zpool-metrics: says so when zpool list fails, and still writes a valid file", () => {
    const { dir, textfile, run } = script("zpool-metrics");
    mkdirSync(join(dir, "bin"));
    writeFileSync(join(dir, "bin", "zpool"), "#!/bin/sh\necho 'The ZFS modules are not loaded.' >&2\nexit 1\n");
    chmodSync(join(dir, "bin", "zpool"), 0o755);
    const r = spawnSync(run, [], { encoding: "utf8", env: { ...process.env, PATH: `${join(dir, "bin")}:${process.env.PATH}` } });
    expect(r.stderr).toContain("zpool-metrics: zpool list failed: The ZFS modules are not loaded.");
    const prom = readFileSync(join(textfile, "hpcdk-zpool.prom"), "utf8");
    expect(lint(prom).status).toBe(0);
    expect(prom).toContain("hpcdk_zpool_collector_success 0\n");
  });

  it("pacemaker-alert-metrics: a fencing, a failed fencing, the node's return, as Pacemaker runs it", () => {
    const { textfile, run } = script("pacemaker-alert-metrics");
    const event = (env: Record<string, string>) => {
      const r = spawnSync(run, [], { encoding: "utf8", env: { PATH: process.env.PATH!, CRM_alert_recipient: textfile, ...env } });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    };
    const value = (file: string, metric: string) => new RegExp(`^${metric}\\{target="[a-z0-9]+"\\} (\\S+)$`, "m").exec(readFileSync(join(textfile, file), "utf8"))?.[1];
    event({ CRM_alert_kind: "fencing", CRM_alert_node: "stc1", CRM_alert_rc: "0", CRM_alert_task: "reboot", CRM_alert_desc: "Operation reboot of stc1 by stc2 for pacemaker-controld.1234@stc2: OK", CRM_alert_timestamp_epoch: "1700000000" });
    event({ CRM_alert_kind: "fencing", CRM_alert_node: "stc4", CRM_alert_rc: "1", CRM_alert_task: "reboot", CRM_alert_timestamp_epoch: "1700000010" });
    // A resource event is not the agent's business; a hostile node name writes nothing.
    event({ CRM_alert_kind: "resource", CRM_alert_node: "stc3", CRM_alert_rsc: "ip-nfs" });
    event({ CRM_alert_kind: "fencing", CRM_alert_node: "../../etc/x", CRM_alert_rc: "0" });
    expect(value("hpcdk-pacemaker-stc1.prom", "hpcdk_pacemaker_node_fenced")).toBe("1");
    expect(value("hpcdk-pacemaker-stc1.prom", "hpcdk_pacemaker_last_fenced_timestamp_seconds")).toBe("1700000000");
    expect(value("hpcdk-pacemaker-stc4.prom", "hpcdk_pacemaker_fencing_failed")).toBe("1");
    expect(value("hpcdk-pacemaker-stc4.prom", "hpcdk_pacemaker_last_fencing_failure_timestamp_seconds")).toBe("1700000010");
    // stc1 rejoins: fenced goes back to 0, the time of the fencing stays.
    event({ CRM_alert_kind: "node", CRM_alert_node: "stc1", CRM_alert_desc: "member", CRM_alert_timestamp_epoch: "1700000100" });
    expect(value("hpcdk-pacemaker-stc1.prom", "hpcdk_pacemaker_node_fenced")).toBe("0");
    expect(value("hpcdk-pacemaker-stc1.prom", "hpcdk_pacemaker_last_fenced_timestamp_seconds")).toBe("1700000000");
    const files = spawnSync("ls", ["-A", textfile], { encoding: "utf8" }).stdout.trim().split("\n").sort();
    expect(files).toEqual([".hpcdk-pacemaker.lock", "hpcdk-pacemaker-stc1.prom", "hpcdk-pacemaker-stc4.prom"]);
    // node_exporter reads every file of the directory as one exposition: lint them together.
    const together = ["hpcdk-pacemaker-stc1.prom", "hpcdk-pacemaker-stc4.prom"].map((f) => readFileSync(join(textfile, f), "utf8")).join("");
    const r = lint(together.replace(/^# (HELP|TYPE) .*\n/gm, (line, _k, offset: number) => (together.indexOf(line) === offset ? line : "")));
    expect(r.stdout + r.stderr).toBe("");
  });

  it("the lint fails on a malformed file", () => {
    expect(lint("hpcdk_zpool_size_bytes{pool=stc2_pool} 1\n").status).not.toBe(0);
  });
});

describe("the monitoring validators", () => {
  const lab = prometheusDir("lab", "stc1");

  it("fail if prometheus.yml has a broken relabelling", () => {
    writeFileSync(lab.config, readFileSync(lab.config, "utf8").replace("regex: ;([^:]+):\\d+", "regex: ;([^:]+:\\d+"));
    const r = spawnSync("promtool", ["check", "config", lab.config], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toContain("error parsing regexp");
  });

  it("fail if a rule's expression does not parse", () => {
    const file = join(lab.dir, "rules", "hpcdk-hosts.yml");
    writeFileSync(file, readFileSync(file, "utf8").replace('up{job="node"} == 0', 'up{job="node" == 0'));
    const r = spawnSync("promtool", ["check", "rules", file], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("NodeDown");
  });

  it("fail if the route names a receiver that does not exist", () => {
    writeFileSync(lab.alertmanager!, readFileSync(lab.alertmanager!, "utf8").replace("receiver: oncall", "receiver: nobody"));
    const r = spawnSync("amtool", ["check-config", lab.alertmanager!], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain('undefined receiver "nobody"');
  });

  it("fail if a blackbox module has an unknown key (0.23's --config.check does not look at the prober's name)", () => {
    const file = join(tempDir(), "blackbox.yml");
    writeFileSync(file, trees["lab"]!.get("hosts/stc1/etc/prometheus/blackbox.yml")!.toString().replace("timeout: 5s", "timeoutx: 5s"));
    const r = spawnSync("prometheus-blackbox-exporter", ["--config.check", `--config.file=${file}`], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("field timeoutx not found");
  });

  it("fail if a command line has an unknown flag", () => {
    const r = spawnSync("prometheus", ["--storage.tsdb.retentionx=30d", "--version"], { encoding: "utf8" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown long flag");
  });

  it("fail if a unit has an unknown key", () => {
    const dir = tempDir("hpcdk-units-");
    writeFileSync(join(dir, "x.service"), "[Service]\nType=oneshot\nExecStart=/bin/true\nRestartEverySoOften=5\n");
    const r = spawnSync("systemd-analyze", ["verify", join(dir, "x.service")], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
    expect(r.stderr).toContain("Unknown key 'RestartEverySoOften' in section [Service]");
  });
});
