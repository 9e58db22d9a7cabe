import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { seconds, yamlFile } from "./yaml.js";

export type Severity = "critical" | "warning" | "info";

/**
 * One alerting rule. `summary` says what is wrong and what to do first; `description` gives the
 * commands. Both may use Prometheus' template language (`{{ $labels.instance }}`, `{{ $value }}`).
 * @see https://prometheus.io/docs/prometheus/2.42/configuration/alerting_rules/
 */
export interface AlertRule {
  readonly alert: string;
  readonly expr: string;
  /** How long the expression must hold before the alert fires (0: at once). */
  readonly forSec: number;
  /** `by-role`: critical for a management node, warning for a node-group host. */
  readonly severity: Severity | "by-role";
  /**
   * `host-service`: the alert is about a daemon or exporter on one host (label `instance`);
   * Alertmanager drops it while NodeDown fires for that host.
   */
  readonly scope?: "host-service";
  readonly summary: string;
  readonly description: string;
}

/** One rule file: a rule group Prometheus evaluates together. */
export interface RuleGroup {
  /** File name under /etc/prometheus/rules/ (without .yml). */
  readonly file: string;
  /** The group's name in Prometheus. */
  readonly name: string;
  readonly rules: readonly AlertRule[];
}

/** What the rules need to know about the site. */
export interface AlertRulesProps {
  /** Every Prometheus server host (HA: every management node; else the one host). */
  readonly hosts: readonly Bundle[];
  /** @default 60 */
  readonly nodeDownForSec?: number;
  /** @default 120 */
  readonly serviceDownForSec?: number;
  /** @default 10 */
  readonly groupNotPreferredForMin?: number;
  /** @default 80 */
  readonly poolFullPercent?: number;
  /** @default 500 */
  readonly clockSkewMs?: number;
  /** The site keeps stonith on: an off stonith-enabled is a hand change. @default true */
  readonly stonithEnabled?: boolean;
  /** The site has NFS groups probed by the blackbox job. @default true */
  readonly nfsProbes?: boolean;
  /** Slurm: who takes over slurmctld (Slurm's own backup, or Pacemaker); omit without Slurm. */
  readonly slurm?: { readonly takeover: "slurm" | "pacemaker"; readonly collectorIntervalSec: number; readonly accounting: boolean };
  /** The site writes samples to remote endpoints. @default false */
  readonly remoteWrite?: boolean;
  /** The prometheus job's and alertmanager job's names. */
  readonly jobs: { readonly node: string; readonly hacluster: string; readonly nfsProbe: string; readonly prometheus: string; readonly alertmanager: string };
}

/** Where the rule files go; prometheus.yml loads `<dir>/*.yml`. */
export const RULES_DIR = "/etc/prometheus/rules";

/**
 * The alert rules an admin of a Pacemaker + ZFS + NFS + Slurm site expects, one file per area:
 * hosts, the cluster, storage and NFS, Slurm, and the monitoring itself. Every rule is tested with
 * `promtool test rules` (test/monitoring/rules/): it fires on the series that mean trouble after
 * its `for:` time and stays silent on healthy ones. A rule file change reloads Prometheus.
 */
export class AlertRules extends Construct {
  readonly groups: readonly RuleGroup[];
  readonly files: readonly string[];

  constructor(scope: Construct, id: string, props: AlertRulesProps) {
    super(scope, id);
    this.groups = ruleGroups(props);
    const names = this.groups.flatMap((g) => g.rules.map((r) => r.alert));
    const twice = names.find((n, i) => names.indexOf(n) !== i);
    if (twice) throw new Error(`AlertRules [${this.node.path}]: alert ${twice} is defined twice`);
    this.files = this.groups.map((g) => `${RULES_DIR}/${g.file}.yml`);
    // One rendering for every host: the files are the same on each.
    const bodies = new Map<RuleGroup, string>();
    const body = (group: RuleGroup) => bodies.get(group) ?? bodies.set(group, yamlFile("", { groups: [renderGroup(group)] })).get(group)!;
    for (const host of props.hosts) {
      for (const group of this.groups) {
        new GeneratedFile(this, `${group.file}-${host.name}`, {
          bundle: host,
          path: `${RULES_DIR}/${group.file}.yml`,
          content: (header) => header + body(group),
          handlers: [RELOAD_PROMETHEUS],
          impact: { kind: "reload", detail: "promtool check rules, then Prometheus rereads its rules (SIGHUP): no restart, no gap in the data" },
        });
      }
    }
  }
}

/**
 * Checks Prometheus' whole configuration (rules included), then sends SIGHUP to the Prometheus
 * that runs here, if one does: Pacemaker's copy (its PID file) or Debian's unit. A failed check
 * fails the handler, and the deploy puts the previous files back.
 */
export const RELOAD_PROMETHEUS =
  "promtool check config --syntax-only /etc/prometheus/prometheus.yml >/dev/null && " +
  "if pid=$(cat /run/hpcdk-monitoring/prometheus.pid 2>/dev/null) && kill -0 \"$pid\" 2>/dev/null; then kill -HUP \"$pid\"; " +
  "elif [ -d /run/systemd/system ]; then systemctl try-reload-or-restart prometheus.service; fi";

/** A management node is critical, a login or compute node a warning (Slurm works around it). */
const BY_ROLE = '{{ if eq $labels.node_role "management" }}critical{{ else }}warning{{ end }}';

function renderGroup(group: RuleGroup): object {
  return {
    name: group.name,
    rules: group.rules.map((r) => ({
      alert: r.alert,
      expr: r.expr,
      ...(r.forSec > 0 ? { for: seconds(r.forSec) } : {}),
      labels: { severity: r.severity === "by-role" ? BY_ROLE : r.severity, ...(r.scope ? { scope: r.scope } : {}) },
      annotations: { summary: r.summary, description: r.description },
    })),
  };
}

/** The rule groups for a site. Exported for the tests, which check every rule with promtool. */
export function ruleGroups(props: AlertRulesProps): RuleGroup[] {
  const nodeDown = props.nodeDownForSec ?? 60;
  const serviceDown = props.serviceDownForSec ?? 120;
  const preferredMin = props.groupNotPreferredForMin ?? 10;
  const poolFull = props.poolFullPercent ?? 80;
  const skewMs = props.clockSkewMs ?? 500;
  const { jobs } = props;
  // Every management node's exporter reports the whole cluster as it sees it. Only the view of a
  // node that is scraped now and is in the partition with quorum counts: a node in a minority
  // partition sees the others gone, and after Prometheus itself failed over, the last samples of
  // the node that died with it (its own view, from before) stay visible for the 5 minutes of
  // query lookback, because the new Prometheus never scraped it and so wrote no staleness marker.
  const quorate = (selector: string) =>
    `(${selector} and on (instance) (ha_cluster_corosync_quorate == 1) and on (instance) (up{job="${jobs.hacluster}"} == 1))`;
  // The same for metrics of node_exporter's textfile collector (zpool, Slurm): only hosts scraped now.
  const scraped = (selector: string) => `(${selector} and on (instance) (up{job="${jobs.node}"} == 1))`;

  const hosts: AlertRule[] = [
    {
      alert: "NodeDown",
      expr: `up{job="${jobs.node}"} == 0`,
      forSec: nodeDown,
      severity: "by-role",
      summary: "{{ $labels.instance }} does not answer: check its console or BMC, then whether prometheus-node-exporter runs on it",
      description:
        "Prometheus has not scraped node_exporter on {{ $labels.instance }} for " +
        `${nodeDown} s. The host is down, cut off from the monitoring network, or its exporter stopped: ping it and ssh to it; ` +
        "if it answers, `systemctl status prometheus-node-exporter`. A management node that is down is fenced and its resources move (see ClusterNodeOffline).",
    },
    {
      alert: "ExporterDown",
      expr: `up{job!="${jobs.node}"} == 0`,
      forSec: serviceDown,
      severity: "warning",
      scope: "host-service",
      summary: "Prometheus cannot scrape {{ $labels.job }} on {{ $labels.instance }}: restart the exporter there",
      description:
        "The {{ $labels.job }} target {{ $labels.instance }} has failed every scrape for " +
        `${serviceDown} s while the host itself answers. Check the daemon (\`systemctl status\`, its log) and that nothing else holds its port.`,
    },
    {
      alert: "ServiceDown",
      expr: 'node_systemd_unit_state{state="active", type!="oneshot"} == 0',
      forSec: serviceDown,
      severity: "critical",
      scope: "host-service",
      summary: "{{ $labels.name }} is not running on {{ $labels.instance }}: `systemctl status {{ $labels.name }}`, fix the cause, start it",
      description:
        "systemd reports {{ $labels.name }} inactive or failed on {{ $labels.instance }}; hpcdk deployed it to run there (munge, slurmctld, slurmdbd, slurmd, slurmrestd, " +
        "nginx, corosync, pacemaker, the exporters). Read `journalctl -u {{ $labels.name }}` before starting it again.",
    },
    {
      alert: "ServiceFailed",
      expr: 'node_systemd_unit_state{state="failed"} == 1',
      forSec: 0,
      severity: "warning",
      scope: "host-service",
      summary: "{{ $labels.name }} failed on {{ $labels.instance }}: `journalctl -u {{ $labels.name }}`, then `systemctl reset-failed {{ $labels.name }}`",
      description:
        "A unit hpcdk runs on {{ $labels.instance }} is in the failed state; for the metric collectors (hpcdk-*-metrics) their metrics are stale until the next good run.",
    },
    {
      alert: "TextfileCollectorError",
      expr: "node_textfile_scrape_error == 1",
      forSec: serviceDown,
      severity: "warning",
      scope: "host-service",
      summary: "node_exporter cannot read a *.prom file on {{ $labels.instance }}: check the files in /var/lib/prometheus/node-exporter",
      description:
        "A file of the textfile directory is malformed or unreadable, so node_exporter drops the metrics of the collectors that write there (zpool, Slurm, Pacemaker alerts). " +
        "`journalctl -u prometheus-node-exporter` names the file.",
    },
    {
      alert: "ManagementClockSkew",
      expr:
        `(max(node_time_seconds{node_role="management"} - timestamp(node_time_seconds{node_role="management"}))` +
        ` - min(node_time_seconds{node_role="management"} - timestamp(node_time_seconds{node_role="management"}))) * 1000 > ${skewMs}`,
      forSec: 300,
      severity: "warning",
      summary: "The management nodes' clocks differ by {{ $value | printf \"%.0f\" }} ms: check chrony/NTP on every management node",
      description:
        `The clocks of the management nodes are more than ${skewMs} ms apart (measured against the Prometheus server's clock at each scrape). ` +
        "Pacemaker's and corosync's logs stop lining up, Slurm's munge credentials expire early, and TLS may fail: `chronyc tracking` on each node.",
    },
    {
      alert: "ClockNotSynchronised",
      // Unsynchronised through the whole 5-minute window, for 10 minutes: 15 minutes in all.
      expr: 'max_over_time(node_timex_sync_status{node_role="management"}[5m]) == 0',
      forSec: 600,
      severity: "warning",
      scope: "host-service",
      summary: "The clock of {{ $labels.instance }} is not synchronised: check its NTP daemon",
      description: "The kernel reports the clock of {{ $labels.instance }} unsynchronised for 15 minutes: `timedatectl`, `chronyc sources`.",
    },
  ];

  const clusterOnline = `max by (node) ${quorate('ha_cluster_pacemaker_nodes{type="member", status="online"}')}`;
  const cluster: AlertRule[] = [
    {
      alert: "ClusterNodeOffline",
      expr: `${clusterOnline} == 0`,
      forSec: nodeDown,
      severity: "critical",
      summary: "Pacemaker counts {{ $labels.node }} offline: find out why it left, bring it back, check that its resources run elsewhere",
      description:
        "No management node's Pacemaker sees {{ $labels.node }} online. If it was lost it is fenced (see NodeFenced) and its resources moved; " +
        "`crm_mon -1` on a survivor shows where they run. Bring the node back (power, cluster start) so the cluster has its spare again.",
    },
    {
      alert: "ClusterNodeUnclean",
      expr: `max by (node) ${quorate('ha_cluster_pacemaker_nodes{type="member", status="unclean"}')} == 1`,
      forSec: 60,
      severity: "critical",
      summary: "{{ $labels.node }} is unclean and not fenced yet: its resources cannot move until fencing succeeds, check the fence device",
      description:
        "Pacemaker must fence {{ $labels.node }} before it starts its resources elsewhere, and has not managed to for a minute. " +
        "`stonith_admin --history {{ $labels.node }}` shows the attempts; check the fence device (powerman, SCSI reservations) from a survivor.",
    },
    {
      alert: "NodeFenced",
      expr: 'label_replace(max by (target) (hpcdk_pacemaker_node_fenced) == 1, "node", "$1", "target", "(.+)")',
      forSec: 0,
      severity: "critical",
      summary: "{{ $labels.node }} was fenced: find out why it was lost, then bring it back into the cluster",
      description:
        "Pacemaker fenced {{ $labels.node }} (reported by its alert agent on the surviving nodes); the alert resolves when the node rejoins the cluster. " +
        "Read the survivors' `journalctl -u corosync -u pacemaker` around the time and `stonith_admin --history {{ $labels.node }}`.",
    },
    {
      alert: "FencingFailed",
      expr: 'label_replace(max by (target) (hpcdk_pacemaker_fencing_failed) == 1, "node", "$1", "target", "(.+)")',
      forSec: 0,
      severity: "critical",
      summary: "Fencing {{ $labels.node }} failed: its resources stay stopped until fencing works, check the fence device now",
      description:
        "A fencing operation against {{ $labels.node }} failed; Pacemaker keeps retrying. `stonith_admin --history {{ $labels.node }} --verbose` shows the error; " +
        "check the fence device's reachability and credentials. If the node is certainly off, `stonith_admin --confirm {{ $labels.node }}` (only then).",
    },
    {
      alert: "ClusterNotQuorate",
      expr: "ha_cluster_corosync_quorate == 0",
      forSec: 60,
      severity: "critical",
      summary: "{{ $labels.instance }} is in a cluster partition without quorum: it stops its resources; restore the links between the nodes",
      description:
        "corosync on {{ $labels.instance }} has no quorum (no-quorum-policy applies). `corosync-quorumtool -s` shows the votes; " +
        "`corosync-cfgtool -s` the links. Check the cluster network (switch, cables, firewall).",
    },
    {
      alert: "CorosyncLinkErrors",
      expr: "ha_cluster_corosync_ring_errors > 0",
      forSec: 60,
      severity: "warning",
      scope: "host-service",
      summary: "corosync on {{ $labels.instance }} reports {{ $value }} faulty link(s): check its cluster network interfaces and cabling",
      description:
        "A knet link of {{ $labels.instance }} is down; with one link left the cluster has no redundancy. `corosync-cfgtool -s` names the link; " +
        "fix the NIC, cable or switch port, then `corosync-cfgtool -r` if it does not recover by itself.",
    },
    ...(props.stonithEnabled !== false
      ? [
          {
            alert: "StonithDisabled",
            expr: `max ${quorate("ha_cluster_pacemaker_stonith_enabled")} == 0`,
            forSec: 60,
            severity: "critical" as const,
            summary: "stonith-enabled is false in the live cluster although the site enables it: a lost node is not fenced, shared pools are at risk; redeploy or set it back",
            description:
              "Someone turned fencing off by hand (`pcs property`). Without fencing a pool can be imported on two nodes at once and be corrupted. " +
              "`hpcdk diff --live` shows the change; `hpcdk deploy` puts the site's CIB back.",
          },
        ]
      : []),
    {
      alert: "ResourceFailed",
      expr: `max by (resource, node) ${quorate('ha_cluster_pacemaker_resources{status="failed"}')} == 1`,
      forSec: 0,
      severity: "critical",
      summary: "Resource {{ $labels.resource }} failed on {{ $labels.node }}: read the agent's log, fix the cause, then `crm_resource --cleanup --resource {{ $labels.resource }}`",
      description:
        "Pacemaker records a failed operation of {{ $labels.resource }} on {{ $labels.node }}. `crm_mon -1 --failcounts` and `journalctl -u pacemaker` on {{ $labels.node }} show which and why.",
    },
    {
      alert: "ResourceFailCount",
      expr: `max by (resource, node) ${quorate("ha_cluster_pacemaker_fail_count")} > 0`,
      forSec: 60,
      severity: "warning",
      summary: "{{ $labels.resource }} has failed {{ $value }} time(s) on {{ $labels.node }}: find the cause, then `crm_resource --cleanup --resource {{ $labels.resource }} --node {{ $labels.node }}`",
      description:
        "A fail count above 0 keeps counting towards migration-threshold: the next failures move the resource away from {{ $labels.node }} for good. " +
        "Clean it up once the cause is fixed.",
    },
    {
      alert: "ResourceGroupNotPreferred",
      expr: [
        `max by (resource, node) ${quorate("ha_cluster_pacemaker_location_constraints > 0")}`,
        `unless on (resource, node) label_replace(max by (group, node) ${quorate('ha_cluster_pacemaker_resources{role="started", status="active", group!=""} == 1')}, "resource", "$1", "group", "(.+)")`,
        `unless on (resource, node) label_replace(max by (clone, node) ${quorate('ha_cluster_pacemaker_resources{role="started", status="active", clone!=""} == 1')}, "resource", "$1", "clone", "(.+)")`,
        `unless on (resource, node) max by (resource, node) ${quorate('ha_cluster_pacemaker_resources{role="started", status="active"} == 1')}`,
      ].join("\n"),
      forSec: preferredMin * 60,
      severity: "warning",
      summary: `{{ $labels.resource }} has not run on its preferred node {{ $labels.node }} for ${preferredMin} minutes: when {{ $labels.node }} is healthy, move it back in a quiet moment`,
      description:
        "The site prefers {{ $labels.node }} for {{ $labels.resource }} (a location constraint), but it runs elsewhere, usually after a failover (stickiness keeps it there). " +
        "Check {{ $labels.node }}, then `crm_resource --move --resource {{ $labels.resource }} --node {{ $labels.node }}` and `crm_resource --clear --resource {{ $labels.resource }}` " +
        "(NFS clients see a short outage).",
    },
  ];

  const storage: AlertRule[] = [
    {
      alert: "ZpoolDegraded",
      expr: `${scraped('hpcdk_zpool_health{health!="ONLINE"}')} == 1`,
      forSec: 0,
      severity: "critical",
      summary: "Pool {{ $labels.pool }} is {{ $labels.health }} on {{ $labels.instance }}: `zpool status -x {{ $labels.pool }}`, replace the failed device",
      description:
        "ZFS reports {{ $labels.pool }} {{ $labels.health }}: a device failed or went missing (multipath path, SAN LUN). `zpool status -v {{ $labels.pool }}` names it; " +
        "fix the path or `zpool replace`. A DEGRADED raidz has no redundancy left against the next failure.",
    },
    {
      alert: "ZpoolFull",
      expr: `${scraped("hpcdk_zpool_allocated_bytes / hpcdk_zpool_size_bytes * 100")} > ${poolFull}`,
      forSec: 900,
      severity: "warning",
      summary: `Pool {{ $labels.pool }} is {{ $value | printf "%.0f" }}% full (over ${poolFull}%): free space or add a vdev before ZFS slows down`,
      description:
        "ZFS gets slow and fragmented as a pool fills, and writes fail at 100%. `zfs list -o space -r {{ $labels.pool }}` shows who uses it; " +
        "delete snapshots or data, set quotas, or add a vdev.",
    },
    {
      alert: "ZpoolMetricsFailing",
      expr: `${scraped("hpcdk_zpool_collector_success")} == 0`,
      forSec: serviceDown,
      severity: "warning",
      scope: "host-service",
      summary: "`zpool list` fails on {{ $labels.instance }}: the pool metrics are stale, run it by hand and fix what it says",
      description: "hpcdk-zpool-metrics (a systemd timer) could not list the pools on {{ $labels.instance }}: `systemctl status hpcdk-zpool-metrics`, `zpool list`.",
    },
    ...(props.nfsProbes !== false
      ? [
          {
            alert: "NfsNotAnswering",
            // Only probers scraped now: the last sample of a prober that died with Prometheus would say "up" for 5 minutes.
            expr: `max by (nfs_group, nfs_address) (probe_success{job="${jobs.nfsProbe}"} and on (instance, job) (up{job="${jobs.nfsProbe}"} == 1)) == 0`,
            forSec: serviceDown,
            severity: "critical" as const,
            summary: "NFS on {{ $labels.nfs_address }} (group {{ $labels.nfs_group }}) answers no management node: check the group's resources in `crm_mon -1`",
            description:
              "A TCP connection to the NFS server's port on the floating IP fails from every management node. The NFS server or the IP is down, " +
              "or the group is stuck in a failover: `crm_mon -1`, the server's log, `ip addr` on the node that should hold the IP.",
          },
        ]
      : []),
    {
      alert: "FloatingIpNotRunning",
      expr: `max by (resource) ${quorate('ha_cluster_pacemaker_resources{agent="ocf:heartbeat:IPaddr2", status="active"}')} == 0`,
      forSec: serviceDown,
      severity: "critical",
      summary: "Floating IP {{ $labels.resource }} runs on no node: clients cannot reach its service, check its group in `crm_mon -1`",
      description:
        "Pacemaker runs {{ $labels.resource }} nowhere: the group stopped (a failed member, a constraint, target-role Stopped, no quorum). " +
        "`crm_mon -1 --failcounts`, then fix and clean up the failed member.",
    },
  ];

  const slurm: AlertRule[] = props.slurm
    ? [
        {
          alert: "SlurmctldDown",
          expr: `max ${scraped("hpcdk_slurm_slurmctld_up")} == 0`,
          forSec: serviceDown,
          severity: "critical",
          summary: "No slurmctld answers: jobs cannot start or be submitted, start slurmctld on a controller",
          description:
            props.slurm.takeover === "pacemaker"
              ? "Pacemaker runs slurmctld (group-slurmctld) and `scontrol ping` reaches none: `crm_mon -1` shows whether the group runs and why not; " +
                "`journalctl -u slurmctld` on its node."
              : "Neither the primary nor the backup slurmctld answers `scontrol ping`: `systemctl status slurmctld` on the controllers; " +
                "check that the state directory (the HA NFS export) is mounted.",
        },
        ...(props.slurm.takeover === "slurm"
          ? [
              {
                alert: "SlurmctldControllerDown",
                expr: `max by (controller, role) ${scraped("hpcdk_slurm_slurmctld_up")} == 0`,
                forSec: serviceDown,
                severity: "warning" as const,
                summary: "slurmctld ({{ $labels.role }}) on {{ $labels.controller }} does not answer: Slurm has no controller to take over, start it",
                description: "`scontrol ping` shows {{ $labels.controller }} DOWN. `systemctl status slurmctld` and `journalctl -u slurmctld` there.",
              },
            ]
          : []),
        ...(props.slurm.accounting
          ? [
              {
                alert: "SlurmdbdDown",
                expr: `max ${scraped("hpcdk_slurm_slurmdbd_up")} == 0`,
                forSec: serviceDown,
                severity: "critical" as const,
                summary: "slurmdbd does not answer: accounting records queue up in slurmctld, start slurmdbd (and MariaDB) on the accounting host",
                description:
                  "`sacctmgr show cluster` fails from the controllers. slurmctld keeps the records in its agent queue (see hpcdk_slurm_dbd_agent_queue_size) " +
                  "until slurmdbd is back; if the queue overflows, records are lost. `systemctl status slurmdbd mariadb` on the accounting host.",
              },
            ]
          : []),
        {
          alert: "SlurmNodesDown",
          expr: `max by (node, state, reason) ${scraped('hpcdk_slurm_node_unavailable{state=~"(down|unknown).*|.*(fail|not_responding).*"}')} == 1`,
          forSec: 300,
          severity: "warning",
          summary: "Slurm node {{ $labels.node }} is {{ $labels.state }} ({{ $labels.reason }}): check slurmd and munge there, then `scontrol update nodename={{ $labels.node }} state=resume`",
          description: "`scontrol show node {{ $labels.node }}` gives the reason and time; `systemctl status slurmd munge` on the node.",
        },
        {
          alert: "SlurmNodesDrained",
          expr: `max by (node, state, reason) ${scraped('hpcdk_slurm_node_unavailable{state=~".*drain.*"}')} == 1`,
          forSec: 3600,
          severity: "info",
          summary: "Slurm node {{ $labels.node }} has been {{ $labels.state }} for an hour ({{ $labels.reason }}): repair it and resume it, or keep it drained on purpose",
          description: "A drained node runs no new jobs. `scontrol show node {{ $labels.node }}`; `scontrol update nodename={{ $labels.node }} state=resume` when it is fixed.",
        },
        {
          alert: "SlurmMetricsStale",
          expr: `time() - max(hpcdk_slurm_collector_last_success_timestamp_seconds) > ${props.slurm.collectorIntervalSec * 3}`,
          forSec: 0,
          severity: "warning",
          summary: "The Slurm metrics are {{ $value | printf \"%.0f\" }} s old: check hpcdk-slurm-metrics.timer on the controllers",
          description:
            "No controller's Slurm collector has succeeded for three intervals, so the Slurm alerts see old data. `systemctl status hpcdk-slurm-metrics.service` and run " +
            "/usr/local/libexec/hpcdk/slurm-metrics by hand.",
        },
      ]
    : [];

  const monitoring: AlertRule[] = [
    {
      alert: "PrometheusConfigReloadFailed",
      expr: "prometheus_config_last_reload_successful == 0",
      forSec: 300,
      severity: "warning",
      summary: "Prometheus runs an old configuration: the last reload failed, run `promtool check config /etc/prometheus/prometheus.yml` on {{ $labels.instance }}",
      description: "A configuration or rule file was changed by hand or is broken; Prometheus keeps the previous one until a reload succeeds. `hpcdk diff --live` shows hand edits.",
    },
    {
      alert: "AlertmanagerConfigReloadFailed",
      expr: "alertmanager_config_last_reload_successful == 0",
      forSec: 300,
      severity: "warning",
      summary: "Alertmanager runs an old configuration: run `amtool check-config /etc/prometheus/alertmanager.yml`",
      description: "Alertmanager keeps its previous receivers and routes until a reload succeeds.",
    },
    {
      alert: "AlertmanagerUnreachable",
      expr: "rate(prometheus_notifications_errors_total[5m]) > 0",
      forSec: serviceDown,
      severity: "critical",
      summary: "Prometheus cannot send alerts to Alertmanager {{ $labels.alertmanager }}: alerts are not delivered, check the alertmanager resource",
      description: "Sending to Alertmanager fails. `crm_mon -1` shows whether the alertmanager resource runs; its log is /var/log/prometheus/alertmanager.log.",
    },
    {
      alert: "NotificationsFailing",
      expr: "rate(alertmanager_notifications_failed_total[5m]) > 0",
      forSec: 600,
      severity: "critical",
      summary: "Alertmanager cannot deliver {{ $labels.integration }} notifications: nobody hears about alerts, check the receiver (SMTP relay, webhook URL, secrets)",
      description: "The receiver's endpoint refuses or is unreachable. The Alertmanager log names the error; the SMTP and webhook secrets are in secrets/<site>/.",
    },
    ...(props.remoteWrite
      ? [
          {
            alert: "RemoteWriteFailing",
            expr: "rate(prometheus_remote_storage_samples_failed_total[5m]) > 0",
            forSec: 600,
            severity: "warning" as const,
            summary: "Prometheus cannot write samples to {{ $labels.remote_name }} ({{ $labels.url }}): check the endpoint and its credentials",
            description: "Remote write fails; Prometheus keeps about two hours in its WAL and drops samples after that. The Prometheus log names the error.",
          },
          {
            alert: "RemoteWriteBehind",
            expr:
              "max(prometheus_remote_storage_highest_timestamp_in_seconds) - ignoring (remote_name, url) group_right " +
              "max by (remote_name, url) (prometheus_remote_storage_queue_highest_sent_timestamp_seconds) > 300",
            forSec: 900,
            severity: "warning" as const,
            summary: "Remote write to {{ $labels.remote_name }} is {{ $value | printf \"%.0f\" }} s behind: check the endpoint's load and the network to it",
            description: "The endpoint accepts samples more slowly than Prometheus takes them; check its load and the network.",
          },
        ]
      : []),
  ];

  return [
    { file: "hpcdk-hosts", name: "hpcdk-hosts", rules: hosts },
    { file: "hpcdk-cluster", name: "hpcdk-cluster", rules: cluster },
    { file: "hpcdk-storage", name: "hpcdk-storage", rules: storage },
    ...(props.slurm ? [{ file: "hpcdk-slurm", name: "hpcdk-slurm", rules: slurm }] : []),
    { file: "hpcdk-monitoring", name: "hpcdk-monitoring", rules: monitoring },
  ];
}
