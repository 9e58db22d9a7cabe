import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { enableNow, tryRestart } from "./service-control.js";
import { yamlFile } from "./yaml.js";

export interface HaclusterExporterProps {
  /** The management nodes' bundles. */
  readonly hosts: readonly Bundle[];
  /** @default 9664 */
  readonly port?: number;
}

/**
 * prometheus-hacluster-exporter (ClusterLabs' ha_cluster_exporter) on every management node:
 * Pacemaker's nodes, resources, fail counts, location constraints and stonith-enabled from
 * crm_mon and cibadmin; corosync's quorum and ring status from corosync-quorumtool and
 * corosync-cfgtool. It reads `/etc/ha_cluster_exporter.yaml` (Debian's unit passes no flags).
 * Every node's exporter reports the whole cluster as that node sees it; the alert rules take the
 * view of the partition that has quorum.
 * @see https://github.com/ClusterLabs/ha_cluster_exporter/blob/main/doc/metrics.md
 */
export class HaclusterExporter extends Construct {
  static readonly UNIT = "ha_cluster_exporter.service";
  readonly port: number;

  constructor(scope: Construct, id: string, props: HaclusterExporterProps) {
    super(scope, id);
    this.port = props.port ?? 9664;
    const config = {
      web: { "listen-address": `:${this.port}`, "telemetry-path": "/metrics" },
      log: { level: "info", format: "logfmt" },
      "crm-mon-path": "/usr/sbin/crm_mon",
      "cibadmin-path": "/usr/sbin/cibadmin",
      "corosync-cfgtoolpath-path": "/usr/sbin/corosync-cfgtool",
      "corosync-quorumtool-path": "/usr/sbin/corosync-quorumtool",
    };
    for (const host of props.hosts) {
      host.addPackage({ debian: "prometheus-hacluster-exporter" });
      new GeneratedFile(this, `config-${host.name}`, {
        bundle: host,
        path: "/etc/ha_cluster_exporter.yaml",
        content: (header) => yamlFile(header, config),
        handlers: [tryRestart(HaclusterExporter.UNIT)],
        impact: { kind: "restart", detail: "ha_cluster_exporter restarts: at most one scrape of the cluster's state is missed" },
      });
      host.addStep({
        id: "hacluster-exporter-enable",
        phase: "after-files",
        description: "start prometheus-hacluster-exporter",
        run: enableNow(HaclusterExporter.UNIT),
        impact: { kind: "none", detail: "starts ha_cluster_exporter where it does not run" },
      });
    }
  }
}
