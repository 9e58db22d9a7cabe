import { Construct } from "constructs";
import { GeneratedFile, SecretFile, type Bundle } from "../core/index.js";
import { RELOAD_PROMETHEUS, RULES_DIR } from "./alert-rules.js";
import { BlackboxExporter } from "./blackbox-exporter.js";
import { disableNow, enableNow, tryRestart } from "./service-control.js";
import { fileSdYaml, seconds, yamlFile, type TargetGroup } from "./yaml.js";

/** Where Prometheus and Alertmanager run and listen. */
export type ServerPlacement =
  | {
      /** Pacemaker runs them where the pool is imported (ocf:hpcdk:daemon); `address` is their floating IP. */
      readonly kind: "ha";
      readonly address: string;
      /** The dataset's mountpoint: prometheus/ and alertmanager/ go below it. */
      readonly dataDir: string;
    }
  | {
      /** systemd runs Debian's units on one host; `address` is the host's address they listen on. */
      readonly kind: "host";
      readonly address: string;
      readonly dataDir: string;
    };

/** A management node: scraped on its address, named by its node name. */
export interface ScrapedNode {
  readonly name: string;
  readonly address: string;
}

/** A node group: its hosts are scraped by name (the site's DNS), listed in a file_sd file. */
export interface ScrapedGroup {
  readonly name: string;
  readonly hosts: readonly string[];
}

export interface RemoteWriteTarget {
  readonly name: string;
  readonly url: string;
  /** Basic auth user; the password is the secret `remote-write-<name>-password`. */
  readonly username?: string;
}

export interface PrometheusServerProps {
  /** Every host that may run Prometheus: every management node (HA), or the one host. */
  readonly hosts: readonly Bundle[];
  readonly placement: ServerPlacement;
  /** @default 9090 */
  readonly port?: number;
  /** @default 15 */
  readonly scrapeIntervalSec?: number;
  /** @default 10 */
  readonly scrapeTimeoutSec?: number;
  /** @default 15 */
  readonly evaluationIntervalSec?: number;
  /** --storage.tsdb.retention.time. @default "30d" */
  readonly retentionTime?: string;
  /** --storage.tsdb.retention.size. @default none */
  readonly retentionSize?: string;
  readonly externalLabels: Readonly<Record<string, string>>;
  /** Alertmanager's host:port. */
  readonly alertmanager: string;
  readonly managementNodes: readonly ScrapedNode[];
  readonly nodeGroups: readonly ScrapedGroup[];
  /** The NFS groups' floating IPs, probed on the NFS port from every management node. @default none */
  readonly nfsGroups?: readonly { readonly name: string; readonly address: string }[];
  readonly ports: { readonly nodeExporter: number; readonly hacluster: number; readonly blackbox: number };
  /** @default none */
  readonly remoteWrite?: readonly RemoteWriteTarget[];
}

/** Scrape job names, which the alert rules name too. */
export const JOBS = { node: "node", hacluster: "hacluster", nfsProbe: "nfs-probe", prometheus: "prometheus", alertmanager: "alertmanager" } as const;

const CONFIG = "/etc/prometheus/prometheus.yml";
const FILE_SD = "/etc/prometheus/file_sd";
const SECRETS = "/etc/prometheus/secrets";
/** Pacemaker's copy keeps its PID here (ocf:hpcdk:daemon), which the reload handler reads. */
export const PROMETHEUS_PIDFILE = "/run/hpcdk-monitoring/prometheus.pid";

/** host:port, with brackets around an IPv6 address. */
export function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Prometheus (Debian's package) with hpcdk's configuration on every host that may run it:
 * `prometheus.yml` (scrape jobs for node_exporter on every host, the hacluster exporter, the NFS
 * probes, Prometheus and Alertmanager themselves; the alert rules; remote write), the targets in
 * `file_sd` files (one per node group, from its hostlist, so `prometheus.yml` stays small for
 * 10,000 nodes), and the remote-write passwords as secrets. A changed configuration or rule file
 * is checked with promtool and reloaded (SIGHUP); Prometheus rereads file_sd files by itself.
 *
 * HA placement: Pacemaker runs it (`args` go to the CIB), its TSDB on the pool's dataset, and
 * Debian's unit stays disabled. Host placement: Debian's unit with `args` in /etc/default/prometheus.
 * @see https://prometheus.io/docs/prometheus/2.42/configuration/configuration/
 */
export class PrometheusServer extends Construct {
  static readonly UNIT = "prometheus.service";
  readonly port: number;
  /** Prometheus' command line (after the binary). */
  readonly args: readonly string[];
  /** What clients use: http://<address>:<port>/ */
  readonly url: string;
  readonly dataDir: string;

  constructor(scope: Construct, id: string, props: PrometheusServerProps) {
    super(scope, id);
    const where = `PrometheusServer [${this.node.path}]`;
    this.port = props.port ?? 9090;
    const placement = props.placement;
    const listen = hostPort(placement.address, this.port);
    this.url = `http://${listen}/`;
    this.dataDir = `${placement.dataDir}/prometheus`;
    this.args = [
      `--config.file=${CONFIG}`,
      `--storage.tsdb.path=${this.dataDir}`,
      `--storage.tsdb.retention.time=${props.retentionTime ?? "30d"}`,
      ...(props.retentionSize ? [`--storage.tsdb.retention.size=${props.retentionSize}`] : []),
      `--web.listen-address=${listen}`,
      `--web.external-url=${this.url}`,
    ];
    const bad = this.args.find((a) => /[\s"'\\`$;&|<>]/.test(a));
    if (bad) throw new Error(`${where}: an argument holds a space or a shell character, got "${bad}"`);

    const scrapeIntervalSec = props.scrapeIntervalSec ?? 15;
    const scrapeTimeoutSec = props.scrapeTimeoutSec ?? 10;
    if (scrapeTimeoutSec > scrapeIntervalSec) throw new Error(`${where}: scrape timeout ${scrapeTimeoutSec} s is longer than the interval ${scrapeIntervalSec} s`);
    const remoteWrite = [...(props.remoteWrite ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
    const passwordFile = (name: string) => `${SECRETS}/remote-write-${name}-password`;
    // Target labels are named so that no exporter's own label is renamed to exported_*: node_role
    // (management or node) and node_group. The instance label is the host name: a file_sd target group sets it for management nodes
    // (scraped by address); a node-group host is scraped by name, which becomes its instance.
    const instanceFromAddress = { source_labels: ["instance", "__address__"], separator: ";", regex: ";([^:]+):\\d+", target_label: "instance", replacement: "$1" };
    const fileSd = (...names: string[]) => [{ files: names.map((n) => `${FILE_SD}/${n}.yml`), refresh_interval: "5m" }];
    const config = {
      global: {
        scrape_interval: seconds(scrapeIntervalSec),
        scrape_timeout: seconds(scrapeTimeoutSec),
        evaluation_interval: seconds(props.evaluationIntervalSec ?? 15),
        external_labels: Object.fromEntries(Object.entries(props.externalLabels).sort(([a], [b]) => (a < b ? -1 : 1))),
      },
      alerting: { alertmanagers: [{ static_configs: [{ targets: [props.alertmanager] }] }] },
      rule_files: [`${RULES_DIR}/*.yml`],
      scrape_configs: [
        { job_name: JOBS.prometheus, static_configs: [{ targets: [listen], labels: { instance: "prometheus" } }] },
        { job_name: JOBS.alertmanager, static_configs: [{ targets: [props.alertmanager], labels: { instance: "alertmanager" } }] },
        {
          job_name: JOBS.node,
          file_sd_configs: fileSd("node-management", ...props.nodeGroups.map((g) => `node-${g.name}`)),
          relabel_configs: [instanceFromAddress],
        },
        { job_name: JOBS.hacluster, file_sd_configs: fileSd("hacluster") },
        ...((props.nfsGroups ?? []).length > 0
          ? [
              {
                job_name: JOBS.nfsProbe,
                metrics_path: "/probe",
                params: { module: [BlackboxExporter.NFS_MODULE] },
                file_sd_configs: fileSd("nfs-probe"),
              },
            ]
          : []),
      ],
      ...(remoteWrite.length > 0
        ? {
            remote_write: remoteWrite.map((w) => ({
              name: w.name,
              url: w.url,
              ...(w.username !== undefined ? { basic_auth: { username: w.username, password_file: passwordFile(w.name) } } : {}),
            })),
          }
        : {}),
    };

    const mgmt = [...props.managementNodes].sort((a, b) => (a.name < b.name ? -1 : 1));
    const sdFiles: Record<string, TargetGroup[]> = {
      "node-management": mgmt.map((n) => ({ targets: [hostPort(n.address, props.ports.nodeExporter)], labels: { instance: n.name, node_role: "management" } })),
      // No node_role here: the exporter has labels of its own (role, group, node) it must keep.
      hacluster: mgmt.map((n) => ({ targets: [hostPort(n.address, props.ports.hacluster)], labels: { instance: n.name } })),
      ...Object.fromEntries(
        props.nodeGroups.map((g) => [`node-${g.name}`, [{ targets: g.hosts.map((h) => `${h}:${props.ports.nodeExporter}`), labels: { node_role: "node", node_group: g.name } }]]),
      ),
      ...((props.nfsGroups ?? []).length > 0
        ? {
            "nfs-probe": (props.nfsGroups ?? []).flatMap((g) =>
              mgmt.map((n) => ({
                targets: [hostPort(n.address, props.ports.blackbox)],
                labels: { instance: n.name, nfs_group: g.name, nfs_address: hostPort(g.address, 2049), __param_target: hostPort(g.address, 2049) },
              })),
            ),
          }
        : {}),
    };

    const sdBodies: Record<string, string> = {};
    let configBody: string | undefined;
    for (const host of props.hosts) {
      host.addPackage({ debian: "prometheus" });
      new GeneratedFile(this, `config-${host.name}`, {
        bundle: host,
        path: CONFIG,
        content: (header) => header + (configBody ??= yamlFile("", config)),
        handlers: [RELOAD_PROMETHEUS],
        impact: { kind: "reload", detail: "promtool check config, then Prometheus rereads it (SIGHUP): no restart, no gap in the data" },
      });
      for (const [name, groups] of Object.entries(sdFiles)) {
        // One rendering for every host: the file is the same on each.
        const body = (sdBodies[name] ??= fileSdYaml("", groups));
        new GeneratedFile(this, `file-sd-${name}-${host.name}`, {
          bundle: host,
          path: `${FILE_SD}/${name}.yml`,
          content: (header) => header + body,
          impact: { kind: "none", detail: "Prometheus rereads its file_sd files by itself: targets come and go at the next refresh" },
        });
      }
      for (const w of remoteWrite.filter((x) => x.username !== undefined)) {
        new SecretFile(this, `remote-write-${w.name}-${host.name}`, {
          bundle: host,
          path: passwordFile(w.name),
          secret: `remote-write-${w.name}-password`,
          // The site's own password goes into secrets/<site>/ in place of this generated one.
          generate: { password: 32 },
          owner: "prometheus",
          group: "prometheus",
          mode: 0o400,
          handlers: [RELOAD_PROMETHEUS],
          impact: { kind: "reload", detail: "Prometheus rereads its configuration (SIGHUP) and sends with the new password" },
        });
      }
      if (placement.kind === "ha") {
        host.addStep({
          id: "prometheus-pacemaker-only",
          phase: "after-files",
          description: "keep Debian's prometheus and prometheus-alertmanager units off: Pacemaker runs them where the pool is",
          run: disableNow(PrometheusServer.UNIT, "prometheus-alertmanager.service"),
          impact: { kind: "none", detail: "changes only what starts at boot (and stops the copies the packages started)" },
        });
      } else {
        new GeneratedFile(this, `defaults-${host.name}`, {
          bundle: host,
          path: "/etc/default/prometheus",
          template: "monitoring/server.default",
          context: { daemon: "Prometheus", unit: "/lib/systemd/system/prometheus.service", args: this.args.join(" ") },
          handlers: [tryRestart(PrometheusServer.UNIT)],
          impact: { kind: "restart", detail: "Prometheus restarts with the new arguments: a gap of a few scrapes, alerts re-evaluated" },
        });
        host.addStep({
          id: "prometheus-data-dir",
          phase: "after-files",
          description: `make Prometheus' data directory ${this.dataDir}`,
          run: `install -d -o prometheus -g prometheus -m 0750 ${this.dataDir}`,
          impact: { kind: "none", detail: "a directory's owner and mode" },
        });
        host.addStep({
          id: "prometheus-enable",
          phase: "after-files",
          description: "start Prometheus",
          run: enableNow(PrometheusServer.UNIT),
          impact: { kind: "none", detail: "starts Prometheus where it does not run" },
        });
      }
    }
  }
}
