/**
 * Grafana dashboards of a site, as the JSON Grafana's file provisioning reads: cluster health,
 * NFS, ZFS pools and Slurm. They are built here, in the model Grafana publishes
 * (`@grafana/schema`'s Dashboard: the test checks the rendered files against it), on the data
 * source hpcdk provisions beside them.
 * @see https://grafana.com/docs/grafana/latest/dashboards/build-dashboards/view-dashboard-json-model/
 */
import { createHash } from "node:crypto";

/** The dashboard JSON schema version the panels are written in (Grafana 10 and 11). */
const SCHEMA_VERSION = 39;

export interface DashboardContext {
  readonly siteName: string;
  /** The provisioned Prometheus data source's uid. */
  readonly datasourceUid: string;
}

type Panel = Record<string, unknown>;

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly type: "timeseries" | "stat" | "table" | "bargauge";
  readonly targets: readonly { readonly expr: string; readonly legend?: string; readonly instant?: boolean }[];
  /** Grid width (of 24) and height. */
  readonly w: number;
  readonly h: number;
  readonly unit?: string;
  readonly min?: number;
  readonly max?: number;
  /** Stacked areas (timeseries). */
  readonly stacked?: boolean;
  /** Stat thresholds: value at or above which the panel turns red (below: green). */
  readonly redFrom?: number;
  /** Stat: a value of 0 is bad (red), anything else good. */
  readonly zeroIsBad?: boolean;
}

/** A stable dashboard uid (Grafana allows 40 characters). */
export function dashboardUid(siteName: string, kind: string): string {
  const plain = `hpcdk-${siteName}-${kind}`;
  return plain.length <= 40 ? plain : `hpcdk-${createHash("sha256").update(siteName).digest("hex").slice(0, 12)}-${kind}`;
}

function layout(ctx: DashboardContext, specs: readonly PanelSpec[]): Panel[] {
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  return specs.map((s, i) => {
    if (x + s.w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    const gridPos = { h: s.h, w: s.w, x, y };
    x += s.w;
    rowHeight = Math.max(rowHeight, s.h);
    const datasource = { type: "prometheus", uid: ctx.datasourceUid };
    const defaults: Record<string, unknown> = {
      ...(s.unit ? { unit: s.unit } : {}),
      ...(s.min !== undefined ? { min: s.min } : {}),
      ...(s.max !== undefined ? { max: s.max } : {}),
      thresholds: {
        mode: "absolute",
        steps: s.zeroIsBad
          ? [{ color: "red", value: null }, { color: "green", value: 1 }]
          : s.redFrom !== undefined
            ? [{ color: "green", value: null }, { color: "red", value: s.redFrom }]
            : [{ color: "green", value: null }],
      },
      ...(s.type === "timeseries" ? { custom: { drawStyle: "line", lineWidth: 1, fillOpacity: s.stacked ? 30 : 10, stacking: { mode: s.stacked ? "normal" : "none", group: "A" } } } : {}),
    };
    const options: Record<string, unknown> =
      s.type === "timeseries"
        ? { legend: { displayMode: "list", placement: "bottom", showLegend: true, calcs: [] }, tooltip: { mode: "multi", sort: "desc" } }
        : s.type === "stat"
          ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "background", graphMode: "none", justifyMode: "auto", orientation: "auto", textMode: "auto" }
          : s.type === "bargauge"
            ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, displayMode: "gradient", orientation: "horizontal", showUnfilled: true }
            : { showHeader: true, cellHeight: "sm", footer: { show: false, reducer: ["sum"], countRows: false } };
    return {
      id: i + 1,
      type: s.type,
      title: s.title,
      description: s.description,
      datasource,
      gridPos,
      targets: s.targets.map((t, k) => ({
        refId: String.fromCharCode(65 + k),
        datasource,
        expr: t.expr,
        ...(t.legend !== undefined ? { legendFormat: t.legend } : {}),
        ...(t.instant || s.type === "table" ? { instant: true, range: false, format: "table" } : { range: true }),
      })),
      fieldConfig: { defaults, overrides: [] },
      options,
      ...(s.type === "table" ? { transformations: [{ id: "organize", options: { excludeByName: { Time: true, Value: true } } }] } : {}),
    };
  });
}

function dashboard(ctx: DashboardContext, kind: string, title: string, description: string, specs: readonly PanelSpec[]): object {
  return {
    uid: dashboardUid(ctx.siteName, kind),
    title: `${title} (${ctx.siteName})`,
    description,
    tags: ["hpcdk", ctx.siteName],
    editable: false,
    graphTooltip: 1,
    timezone: "browser",
    refresh: "1m",
    time: { from: "now-6h", to: "now" },
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    links: [{ title: "hpcdk dashboards", type: "dashboards", tags: ["hpcdk", ctx.siteName], asDropdown: true, includeVars: false, keepTime: true, targetBlank: false, icon: "external link", tooltip: "", url: "" }],
    annotations: { list: [] },
    templating: { list: [] },
    panels: layout(ctx, specs),
  };
}

/** Pacemaker, corosync, fencing, hosts and the alerts that fire. */
export function clusterDashboard(ctx: DashboardContext): object {
  return dashboard(ctx, "cluster", "Cluster health", "The HA cluster: nodes, quorum, fencing, resources and where they run, hosts and clocks.", [
    { title: "Nodes online", description: "Management nodes Pacemaker counts online.", type: "stat", w: 4, h: 4, targets: [{ expr: 'count(max by (node) (ha_cluster_pacemaker_nodes{type="member", status="online"}) == 1)' }] },
    { title: "Quorum", description: "1: every reporting node's partition has quorum.", type: "stat", w: 4, h: 4, zeroIsBad: true, targets: [{ expr: "min(ha_cluster_corosync_quorate)" }] },
    { title: "Fencing enabled", description: "stonith-enabled in the live CIB.", type: "stat", w: 4, h: 4, zeroIsBad: true, targets: [{ expr: "min(ha_cluster_pacemaker_stonith_enabled)" }] },
    { title: "Failed resources", description: "Resources with a failed operation.", type: "stat", w: 4, h: 4, redFrom: 1, targets: [{ expr: 'count(max by (resource, node) (ha_cluster_pacemaker_resources{status="failed"}) == 1) or vector(0)' }] },
    { title: "Alerts firing", description: "Critical and warning alerts firing now.", type: "stat", w: 4, h: 4, redFrom: 1, targets: [{ expr: 'count(ALERTS{alertstate="firing", severity=~"critical|warning"}) or vector(0)' }] },
    { title: "Hosts down", description: "Hosts whose node_exporter does not answer.", type: "stat", w: 4, h: 4, redFrom: 1, targets: [{ expr: 'count(up{job="node"} == 0) or vector(0)' }] },
    { title: "Where the resources run", description: "Every started resource, its group and node (crm_mon).", type: "table", w: 12, h: 10, targets: [{ expr: 'max by (resource, group, node, agent) (ha_cluster_pacemaker_resources{role="started", status="active"}) == 1' }] },
    { title: "Fail counts", description: "Fail count per resource and node: clean up once the cause is fixed.", type: "timeseries", w: 12, h: 10, min: 0, targets: [{ expr: "max by (resource, node) (ha_cluster_pacemaker_fail_count) > 0", legend: "{{resource}} on {{node}}" }] },
    { title: "Nodes online (Pacemaker)", description: "1 while Pacemaker counts the node online.", type: "timeseries", w: 8, h: 8, min: 0, max: 1, targets: [{ expr: 'max by (node) (ha_cluster_pacemaker_nodes{type="member", status="online"})', legend: "{{node}}" }] },
    { title: "Fenced nodes", description: "1 from a fencing until the node rejoins (Pacemaker alert agent).", type: "timeseries", w: 8, h: 8, min: 0, max: 1, targets: [{ expr: "max by (target) (hpcdk_pacemaker_node_fenced)", legend: "{{target}}" }] },
    { title: "corosync link errors", description: "Faulty knet links per node.", type: "timeseries", w: 8, h: 8, min: 0, targets: [{ expr: "ha_cluster_corosync_ring_errors", legend: "{{instance}}" }] },
    { title: "Hosts up", description: "Hosts answering node_exporter scrapes, by role and group.", type: "timeseries", w: 12, h: 8, min: 0, stacked: true, targets: [{ expr: 'sum by (node_role, node_group) (up{job="node"})', legend: "{{node_role}} {{node_group}}" }] },
    { title: "Clock offset of the management nodes", description: "Each node's clock minus the Prometheus server's at the scrape.", type: "timeseries", w: 12, h: 8, unit: "s", targets: [{ expr: 'node_time_seconds{node_role="management"} - timestamp(node_time_seconds{node_role="management"})', legend: "{{instance}}" }] },
  ]);
}

/** The NFS service: probes of the floating IPs, the server's and the clients' operations. */
export function nfsDashboard(ctx: DashboardContext): object {
  return dashboard(ctx, "nfs", "NFS", "The HA NFS service: does each floating IP answer, how fast, and what the servers and clients do.", [
    { title: "NFS answers", description: "1 when some management node reaches the NFS port on the group's floating IP.", type: "stat", w: 8, h: 4, zeroIsBad: true, targets: [{ expr: 'max by (nfs_group) (probe_success{job="nfs-probe"})', legend: "{{nfs_group}}" }] },
    { title: "Floating IPs running", description: "IPaddr2 resources Pacemaker runs.", type: "stat", w: 8, h: 4, targets: [{ expr: 'count(max by (resource) (ha_cluster_pacemaker_resources{agent="ocf:heartbeat:IPaddr2", role="started", status="active"}) == 1)' }] },
    { title: "Probe failures (1 h)", description: "Failed probes of the NFS port in the last hour, all probers.", type: "stat", w: 8, h: 4, redFrom: 1, targets: [{ expr: 'sum(count_over_time((probe_success{job="nfs-probe"} == 0)[1h:])) or vector(0)' }] },
    { title: "Probe duration", description: "Time to connect to the NFS port, from each management node.", type: "timeseries", w: 12, h: 8, unit: "s", targets: [{ expr: 'probe_duration_seconds{job="nfs-probe"}', legend: "{{nfs_group}} from {{instance}}" }] },
    { title: "Probe success", description: "Per prober and group.", type: "timeseries", w: 12, h: 8, min: 0, max: 1, targets: [{ expr: 'probe_success{job="nfs-probe"}', legend: "{{nfs_group}} from {{instance}}" }] },
    { title: "Server operations (kernel nfsd)", description: "NFS requests the kernel server handles, by version and operation.", type: "timeseries", w: 12, h: 8, unit: "reqps", stacked: true, targets: [{ expr: 'sum by (proto, method) (rate(node_nfsd_requests_total{node_role="management"}[5m])) > 0', legend: "v{{proto}} {{method}}" }] },
    { title: "Server RPC errors", description: "Bad RPCs the kernel server saw.", type: "timeseries", w: 12, h: 8, unit: "reqps", targets: [{ expr: 'sum by (instance, error) (rate(node_nfsd_rpc_errors_total{node_role="management"}[5m]))', legend: "{{instance}} {{error}}" }] },
    { title: "Client operations", description: "NFS requests the clients send, by node group.", type: "timeseries", w: 12, h: 8, unit: "reqps", stacked: true, targets: [{ expr: 'sum by (node_group) (rate(node_nfs_requests_total{node_role="node"}[5m]))', legend: "{{node_group}}" }] },
    { title: "Client retransmissions", description: "RPC retransmissions of the clients: a slow or failing-over server.", type: "timeseries", w: 12, h: 8, unit: "reqps", targets: [{ expr: 'sum by (node_group) (rate(node_nfs_rpc_retransmissions_total{node_role="node"}[5m]))', legend: "{{node_group}}" }] },
    { title: "Management network traffic", description: "Bytes received and sent by the management nodes.", type: "timeseries", w: 24, h: 8, unit: "Bps", targets: [{ expr: 'sum by (instance) (rate(node_network_receive_bytes_total{node_role="management", device!="lo"}[5m]))', legend: "{{instance}} in" }, { expr: 'sum by (instance) (rate(node_network_transmit_bytes_total{node_role="management", device!="lo"}[5m]))', legend: "{{instance}} out" }] },
  ]);
}

/** The ZFS pools: fill, health, ARC and dataset I/O. */
export function zfsDashboard(ctx: DashboardContext): object {
  return dashboard(ctx, "zfs", "ZFS pools", "The shared pools: how full, how healthy, the ARC, and the I/O of the datasets.", [
    { title: "Pool used", description: "Allocated share of each pool (zpool list), on the node that imports it.", type: "bargauge", w: 12, h: 6, unit: "percentunit", min: 0, max: 1, redFrom: 0.8, targets: [{ expr: "max by (pool) (hpcdk_zpool_allocated_bytes / hpcdk_zpool_size_bytes)", legend: "{{pool}}" }] },
    { title: "Pool health", description: "Each pool's health and the node holding it.", type: "table", w: 12, h: 6, targets: [{ expr: "max by (pool, health, instance) (hpcdk_zpool_health) == 1" }] },
    { title: "Free space", description: "Free bytes per pool.", type: "timeseries", w: 12, h: 8, unit: "bytes", targets: [{ expr: "max by (pool) (hpcdk_zpool_free_bytes)", legend: "{{pool}}" }] },
    { title: "Fragmentation", description: "Free-space fragmentation per pool.", type: "timeseries", w: 12, h: 8, unit: "percentunit", min: 0, max: 1, targets: [{ expr: "max by (pool) (hpcdk_zpool_fragmentation_ratio)", legend: "{{pool}}" }] },
    { title: "ARC size", description: "ZFS' cache in memory, and its target.", type: "timeseries", w: 12, h: 8, unit: "bytes", targets: [{ expr: 'node_zfs_arc_size{node_role="management"}', legend: "{{instance}} size" }, { expr: 'node_zfs_arc_c{node_role="management"}', legend: "{{instance}} target" }] },
    { title: "ARC hit ratio", description: "Reads served from memory.", type: "timeseries", w: 12, h: 8, unit: "percentunit", min: 0, max: 1, targets: [{ expr: 'rate(node_zfs_arc_hits{node_role="management"}[5m]) / (rate(node_zfs_arc_hits{node_role="management"}[5m]) + rate(node_zfs_arc_misses{node_role="management"}[5m]))', legend: "{{instance}}" }] },
    { title: "Dataset reads", description: "Bytes read per dataset.", type: "timeseries", w: 12, h: 8, unit: "Bps", targets: [{ expr: "sum by (dataset) (rate(node_zfs_zpool_dataset_nread[5m]))", legend: "{{dataset}}" }] },
    { title: "Dataset writes", description: "Bytes written per dataset.", type: "timeseries", w: 12, h: 8, unit: "Bps", targets: [{ expr: "sum by (dataset) (rate(node_zfs_zpool_dataset_nwritten[5m]))", legend: "{{dataset}}" }] },
  ]);
}

/** Slurm: nodes, jobs, the scheduler and the daemons. */
export function slurmDashboard(ctx: DashboardContext): object {
  return dashboard(ctx, "slurm", "Slurm", "Nodes per state, jobs per partition and state, the scheduler's cycles and whether slurmctld and slurmdbd answer.", [
    { title: "slurmctld", description: "Controllers answering scontrol ping.", type: "stat", w: 6, h: 4, zeroIsBad: true, targets: [{ expr: "sum(max by (controller) (hpcdk_slurm_slurmctld_up))" }] },
    { title: "slurmdbd", description: "1 when sacctmgr reaches slurmdbd.", type: "stat", w: 6, h: 4, zeroIsBad: true, targets: [{ expr: "max(hpcdk_slurm_slurmdbd_up)" }] },
    { title: "Jobs running", description: "Running jobs, all partitions.", type: "stat", w: 6, h: 4, targets: [{ expr: 'sum(max by (partition) (hpcdk_slurm_jobs{state="running"})) or vector(0)' }] },
    { title: "Jobs pending", description: "Pending jobs, all partitions.", type: "stat", w: 6, h: 4, targets: [{ expr: 'sum(max by (partition) (hpcdk_slurm_jobs{state="pending"})) or vector(0)' }] },
    { title: "Nodes per state", description: "Slurm nodes by state and flags.", type: "timeseries", w: 12, h: 9, stacked: true, min: 0, targets: [{ expr: "max by (state) (hpcdk_slurm_nodes)", legend: "{{state}}" }] },
    { title: "Jobs per state and partition", description: "Jobs slurmctld knows.", type: "timeseries", w: 12, h: 9, stacked: true, min: 0, targets: [{ expr: "max by (partition, state) (hpcdk_slurm_jobs)", legend: "{{partition}} {{state}}" }] },
    { title: "Scheduler cycle", description: "Last and mean main scheduler cycle, last backfill cycle.", type: "timeseries", w: 12, h: 8, unit: "s", targets: [{ expr: "max(hpcdk_slurm_scheduler_last_cycle_seconds)", legend: "main, last" }, { expr: "max(hpcdk_slurm_scheduler_mean_cycle_seconds)", legend: "main, mean" }, { expr: "max(hpcdk_slurm_backfill_last_cycle_seconds)", legend: "backfill, last" }] },
    { title: "Queues", description: "slurmctld's RPC agent queue and its queue towards slurmdbd.", type: "timeseries", w: 12, h: 8, min: 0, targets: [{ expr: "max(hpcdk_slurm_agent_queue_size)", legend: "agent" }, { expr: "max(hpcdk_slurm_dbd_agent_queue_size)", legend: "slurmdbd" }] },
    { title: "Unavailable nodes", description: "Nodes that are down, drained, failing or not responding, with the reason.", type: "table", w: 24, h: 10, targets: [{ expr: "max by (node, state, reason) (hpcdk_slurm_node_unavailable) == 1" }] },
  ]);
}
