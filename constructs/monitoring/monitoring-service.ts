import { Construct } from "constructs";
import type { Bundle } from "../core/index.js";
import { shQuote } from "../../common/shell.js";
import type { MONITORING_IDS, MonitoringServer, MonitoringSpec } from "../../schema/monitoring.js";
import { AlertRules } from "./alert-rules.js";
import { ALERTMANAGER_PIDFILE, Alertmanager } from "./alertmanager.js";
import { BlackboxExporter } from "./blackbox-exporter.js";
import { DaemonAgent, type DaemonResource } from "./daemon-agent.js";
import { GrafanaDashboards } from "./grafana-dashboards.js";
import { HaclusterExporter } from "./hacluster-exporter.js";
import { NodeExporter } from "./node-exporter.js";
import { PacemakerAlertAgent, type PacemakerAlertSpec } from "./pacemaker-alert-agent.js";
import { JOBS, PROMETHEUS_PIDFILE, PrometheusServer, type ServerPlacement } from "./prometheus-server.js";
import { SlurmCollector } from "./slurm-collector.js";
import { ZpoolCollector } from "./zpool-collector.js";

/** A management node as monitoring sees it. */
export interface MonitoredNode {
  readonly name: string;
  /** The address Prometheus scrapes it on. */
  readonly address: string;
  readonly bundle: Bundle;
  /** systemd units that must run there (corosync, pacemaker, Slurm's daemons): ServiceDown watches them. */
  readonly units: readonly string[];
}

/** A node group as monitoring sees it. */
export interface MonitoredGroup {
  readonly name: string;
  /** Its hosts, expanded from its hostlist. */
  readonly hosts: readonly string[];
  readonly bundle: Bundle;
  /** systemd units that must run on its hosts (munge, slurmd). */
  readonly units: readonly string[];
  /** Prometheus scrapes its hosts (monitoring.prometheus.nodeGroups). */
  readonly scraped: boolean;
}

export interface MonitoringServiceProps {
  readonly siteName: string;
  readonly monitoring: MonitoringSpec;
  /** Where Prometheus and Alertmanager run (schema/monitoring.ts monitoringServer). */
  readonly server: MonitoringServer;
  /** The labels Prometheus attaches to what it sends (schema/monitoring.ts externalLabels). */
  readonly externalLabels: Readonly<Record<string, string>>;
  /** The CIB ids of the monitoring group, its resources and the Pacemaker alert (schema/monitoring.ts MONITORING_IDS). */
  readonly ids: typeof MONITORING_IDS;
  readonly managementNodes: readonly MonitoredNode[];
  readonly nodeGroups: readonly MonitoredGroup[];
  /** The NFS groups and their floating IPs, probed from every management node. */
  readonly nfsGroups: readonly { readonly name: string; readonly address: string }[];
  /** The management nodes run the kernel NFS server (nfsd collector); ganesha has none. */
  readonly kernelNfsServer: boolean;
  /** The site keeps stonith-enabled on. */
  readonly stonithEnabled: boolean;
  /** Slurm, when the site has it: the controllers run the Slurm collector. */
  readonly slurm?: {
    readonly controllers: readonly string[];
    readonly accounting: boolean;
    /** Who takes over slurmctld: Slurm's own backup, or Pacemaker (slurm.controllerIp). */
    readonly takeover: "slurm" | "pacemaker";
  };
  /** The node group running the site's Grafana. @default none */
  readonly grafanaGroup?: Bundle;
}

/**
 * What the site's CIB needs for HA monitoring: a group of the monitoring floating IP, Prometheus
 * and Alertmanager, run with the pool that holds their data (colocated with it, started after it).
 * The stack builds the Pacemaker resources from it: a domain does not build another's.
 */
export interface MonitoringHaGroup {
  readonly groupId: string;
  readonly ip: { readonly resourceId: string; readonly address: string; readonly cidr: number; readonly nic?: string };
  /** In start order, after the IP. */
  readonly daemons: readonly DaemonResource[];
  /** The pool (storage.pools[].name) the group runs with. */
  readonly pool: string;
}

/**
 * Monitoring of a site: node_exporter on every host, the hacluster and blackbox exporters and the
 * zpool collector on the management nodes, the Slurm collector on the controllers, Pacemaker's
 * fencing events as metrics, Prometheus with the alert rules and Alertmanager with the site's
 * receivers, remote write to the site's database, and Grafana's dashboards.
 */
export class MonitoringService extends Construct {
  readonly prometheus: PrometheusServer;
  readonly alertmanager: Alertmanager;
  readonly rules: AlertRules;
  /** The Pacemaker alert that feeds the fencing metrics: the stack puts it in the CIB. */
  readonly pacemakerAlert: PacemakerAlertSpec;
  /** HA placement: the resource group the stack puts in the CIB. */
  readonly haGroup?: MonitoringHaGroup;

  constructor(scope: Construct, id: string, props: MonitoringServiceProps) {
    super(scope, id);
    const where = `MonitoringService [${this.node.path}]`;
    const m = props.monitoring;
    const server = props.server;
    const mgmt = props.managementNodes;
    const mgmtHosts = mgmt.map((n) => n.bundle);
    const hostOf = (name: string) => {
      const n = mgmt.find((x) => x.name === name);
      if (!n) throw new Error(`${where}: no management node ${name}`);
      return n;
    };

    const serverHosts = server.kind === "ha" ? mgmtHosts : [hostOf(server.host).bundle];
    const placement: ServerPlacement =
      server.kind === "ha"
        ? { kind: "ha", address: server.floatingIp.address, dataDir: server.dataDir }
        : { kind: "host", address: hostOf(server.host).address, dataDir: server.dataDir };

    // The textfile collectors and the exporters of the management nodes.
    const zpool = new ZpoolCollector(this, "zpool-collector", { hosts: mgmtHosts });
    const hacluster = new HaclusterExporter(this, "hacluster-exporter", { hosts: mgmtHosts, port: m.exporters.haclusterExporterPort });
    const blackbox = new BlackboxExporter(this, "blackbox-exporter", { hosts: mgmtHosts, port: m.exporters.blackboxExporterPort });
    const alertAgent = new PacemakerAlertAgent(this, "pacemaker-alert-agent", { hosts: mgmtHosts, alertId: props.ids.alert });
    this.pacemakerAlert = alertAgent.alert;
    const slurmHosts = (props.slurm?.controllers ?? []).map((c) => hostOf(c).bundle);
    const slurm = props.slurm
      ? new SlurmCollector(this, "slurm-collector", { hosts: slurmHosts, intervalSec: m.slurmCollector.intervalSec, accounting: props.slurm.accounting })
      : undefined;

    // node_exporter everywhere, watching the units that must run on each host.
    for (const n of mgmt) {
      const units = [
        ...n.units,
        HaclusterExporter.UNIT,
        BlackboxExporter.UNIT,
        ...zpool.units,
        ...(slurmHosts.includes(n.bundle) ? slurm!.units : []),
        ...(server.kind === "host" && server.host === n.name ? [PrometheusServer.UNIT, Alertmanager.UNIT] : []),
      ];
      new NodeExporter(this, `node-exporter-${n.name}`, {
        bundle: n.bundle,
        port: m.exporters.nodeExporterPort,
        nfsServer: props.kernelNfsServer,
        zfs: true,
        units,
        textfileWriters: "haclient",
      });
    }
    for (const g of props.nodeGroups) {
      new NodeExporter(this, `node-exporter-group-${g.name}`, {
        bundle: g.bundle,
        port: m.exporters.nodeExporterPort,
        nfsClient: true,
        units: g.units,
      });
    }

    this.alertmanager = new Alertmanager(this, "alertmanager", {
      hosts: serverHosts,
      placement,
      port: m.alertmanager.port,
      smtp: m.alertmanager.smtp,
      receivers: m.alertmanager.receivers.map((r) => ({
        name: r.name,
        ...(r.email ? { email: r.email } : {}),
        ...(r.webhook
          ? {
              webhook: {
                url: r.webhook.url,
                sendResolved: r.webhook.sendResolved,
                bearerToken: r.webhook.bearerToken,
                ...(r.webhook.basicAuth ? { basicAuthUser: r.webhook.basicAuth.username } : {}),
              },
            }
          : {}),
      })),
      route: m.alertmanager.route,
      resolveTimeoutSec: m.alertmanager.resolveTimeoutSec,
    });

    this.rules = new AlertRules(this, "rules", {
      hosts: serverHosts,
      nodeDownForSec: m.alerts.nodeDownForSec,
      serviceDownForSec: m.alerts.serviceDownForSec,
      groupNotPreferredForMin: m.alerts.groupNotPreferredForMin,
      poolFullPercent: m.alerts.poolFullPercent,
      clockSkewMs: m.alerts.clockSkewMs,
      stonithEnabled: props.stonithEnabled,
      nfsProbes: props.nfsGroups.length > 0,
      slurm: props.slurm
        ? { takeover: props.slurm.takeover, collectorIntervalSec: m.slurmCollector.intervalSec, accounting: props.slurm.accounting }
        : undefined,
      remoteWrite: m.remoteWrite.length > 0,
      jobs: JOBS,
    });

    this.prometheus = new PrometheusServer(this, "prometheus", {
      hosts: serverHosts,
      placement,
      port: m.prometheus.port,
      scrapeIntervalSec: m.prometheus.scrapeIntervalSec,
      scrapeTimeoutSec: m.prometheus.scrapeTimeoutSec,
      evaluationIntervalSec: m.prometheus.evaluationIntervalSec,
      retentionTime: m.prometheus.retention.time,
      retentionSize: m.prometheus.retention.size,
      externalLabels: props.externalLabels,
      alertmanager: this.alertmanager.target,
      managementNodes: mgmt.map((n) => ({ name: n.name, address: n.address })),
      nodeGroups: props.nodeGroups.filter((g) => g.scraped).map((g) => ({ name: g.name, hosts: g.hosts })),
      nfsGroups: props.nfsGroups,
      ports: { nodeExporter: m.exporters.nodeExporterPort, hacluster: hacluster.port, blackbox: blackbox.port },
      remoteWrite: m.remoteWrite.map((w) => ({ name: w.name, url: w.url, ...(w.basicAuth ? { username: w.basicAuth.username } : {}) })),
    });

    if (props.grafanaGroup) {
      new GrafanaDashboards(this, "grafana", {
        bundle: props.grafanaGroup,
        siteName: props.siteName,
        prometheusUrl: this.prometheus.url,
        provisioningDir: m.grafana!.provisioningDir,
        dashboardsDir: m.grafana!.dashboardsDir,
        slurm: props.slurm !== undefined,
      });
    }

    if (server.kind === "ha") {
      new DaemonAgent(this, "daemon-agent", { hosts: mgmtHosts });
      this.haGroup = {
        groupId: props.ids.group,
        ip: { resourceId: props.ids.ip, address: server.floatingIp.address, cidr: server.floatingIp.cidr, ...(server.floatingIp.nic ? { nic: server.floatingIp.nic } : {}) },
        pool: server.pool,
        // Alertmanager first: Prometheus sends an alert once when it fires and again only after
        // its resend delay (1 min). Started after Prometheus, Alertmanager missed what the new
        // Prometheus fired at its first evaluations after a failover (NodeFenced has no for:), and
        // those alerts reached it a minute late. Stopped in reverse: Prometheus goes first.
        daemons: [
          {
            id: props.ids.alertmanager,
            binary: "/usr/bin/prometheus-alertmanager",
            options: this.alertmanager.args,
            user: "prometheus",
            pidfile: ALERTMANAGER_PIDFILE,
            logfile: "/var/log/prometheus/alertmanager.log",
            readyUrl: `${this.alertmanager.url}-/ready`,
            dataDir: this.alertmanager.dataDir,
            startTimeoutSec: 120,
            stopTimeoutSec: 60,
            monitorIntervalSec: 15,
          },
          {
            id: props.ids.prometheus,
            binary: "/usr/bin/prometheus",
            options: this.prometheus.args,
            user: "prometheus",
            pidfile: PROMETHEUS_PIDFILE,
            logfile: "/var/log/prometheus/prometheus.log",
            readyUrl: `${this.prometheus.url}-/ready`,
            dataDir: this.prometheus.dataDir,
            // Replaying a large WAL after a failover takes minutes.
            startTimeoutSec: 600,
            stopTimeoutSec: 180,
            monitorIntervalSec: 15,
          },
        ],
      };
      if (server.quota !== undefined) {
        const dataset = shQuote(server.dataset);
        for (const host of mgmtHosts) {
          host.addStep({
            id: "monitoring-dataset-quota",
            phase: "after-files",
            description: `limit dataset ${server.dataset} to ${server.quota} where the pool is imported`,
            run: `if zfs list -H -o name ${dataset} >/dev/null 2>&1; then zfs set quota=${shQuote(server.quota)} ${dataset}; fi`,
            impact: { kind: "none", detail: "a ZFS property of the monitoring dataset" },
          });
        }
      }
    }
  }
}
