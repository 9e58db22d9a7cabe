import { Construct } from "constructs";
import { GeneratedFile, MANAGED_MARKER, type Bundle } from "../core/index.js";
import { clusterDashboard, dashboardUid, nfsDashboard, slurmDashboard, zfsDashboard } from "./dashboards.js";
import { yamlFile } from "./yaml.js";

export interface GrafanaDashboardsProps {
  /** The node group running the site's Grafana. */
  readonly bundle: Bundle;
  readonly siteName: string;
  /** Prometheus' URL (the monitoring floating IP, or the host's address). */
  readonly prometheusUrl: string;
  /** @default /etc/grafana/provisioning */
  readonly provisioningDir?: string;
  /** @default /var/lib/grafana/dashboards/hpcdk */
  readonly dashboardsDir?: string;
  /** The site has Slurm: its dashboard too. @default false */
  readonly slurm?: boolean;
}

/**
 * The dashboards (cluster health, NFS, ZFS pools, Slurm) and the Prometheus data source for the
 * site's own Grafana, through Grafana's file provisioning. Grafana is not a Debian package: the
 * site installs it (Grafana's apt repository); hpcdk only writes the files it reads. Grafana
 * rereads dashboard files by itself; a data source change needs a restart of grafana-server.
 * @see https://grafana.com/docs/grafana/latest/administration/provisioning/
 */
export class GrafanaDashboards extends Construct {
  readonly datasourceUid: string;
  /** Dashboard file name → dashboard JSON model. */
  readonly dashboards: Readonly<Record<string, object>>;

  constructor(scope: Construct, id: string, props: GrafanaDashboardsProps) {
    super(scope, id);
    const provisioning = props.provisioningDir ?? "/etc/grafana/provisioning";
    const dir = props.dashboardsDir ?? "/var/lib/grafana/dashboards/hpcdk";
    this.datasourceUid = dashboardUid(props.siteName, "prometheus");
    const ctx = { siteName: props.siteName, datasourceUid: this.datasourceUid };
    this.dashboards = {
      "cluster-health.json": clusterDashboard(ctx),
      "nfs.json": nfsDashboard(ctx),
      "zfs-pools.json": zfsDashboard(ctx),
      ...(props.slurm ? { "slurm.json": slurmDashboard(ctx) } : {}),
    };
    const bundle = props.bundle;
    new GeneratedFile(this, "datasource", {
      bundle,
      path: `${provisioning}/datasources/hpcdk-${props.siteName}.yaml`,
      content: (header) =>
        yamlFile(header, {
          apiVersion: 1,
          datasources: [
            {
              name: `hpcdk ${props.siteName}`,
              uid: this.datasourceUid,
              type: "prometheus",
              access: "proxy",
              url: props.prometheusUrl,
              editable: false,
              jsonData: { httpMethod: "POST" },
            },
          ],
        }),
      handlers: ["if systemctl is-active --quiet grafana-server 2>/dev/null; then systemctl restart grafana-server; fi"],
      impact: { kind: "restart", detail: "grafana-server restarts to read the data source (dashboards stay open in browsers)" },
    });
    new GeneratedFile(this, "dashboard-provider", {
      bundle,
      path: `${provisioning}/dashboards/hpcdk-${props.siteName}.yaml`,
      content: (header) =>
        yamlFile(header, {
          apiVersion: 1,
          providers: [
            {
              name: `hpcdk ${props.siteName}`,
              folder: `hpcdk ${props.siteName}`,
              type: "file",
              disableDeletion: true,
              allowUiUpdates: false,
              updateIntervalSeconds: 60,
              options: { path: dir, foldersFromFilesStructure: false },
            },
          ],
        }),
      handlers: ["if systemctl is-active --quiet grafana-server 2>/dev/null; then systemctl restart grafana-server; fi"],
      impact: { kind: "restart", detail: "grafana-server restarts to read the dashboard provider" },
    });
    for (const [file, model] of Object.entries(this.dashboards)) {
      new GeneratedFile(this, `dashboard-${file}`, {
        bundle,
        path: `${dir}/${file}`,
        header: "none",
        // JSON has no comments: the managed marker goes into the dashboard's description.
        content: () => {
          const described = { ...model, description: `${(model as { description: string }).description} ${MANAGED_MARKER} from ${bundle.source}: change the site file, not this dashboard.` };
          return `${JSON.stringify(described, null, 2)}\n`;
        },
        impact: { kind: "none", detail: "Grafana rereads provisioned dashboards within a minute" },
      });
    }
  }
}
