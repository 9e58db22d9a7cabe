import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { enableNow, tryReload, tryRestart } from "./service-control.js";
import { yamlFile } from "./yaml.js";

export interface BlackboxExporterProps {
  /** The management nodes' bundles: each probes the NFS floating IPs from where it stands. */
  readonly hosts: readonly Bundle[];
  /** @default 9115 */
  readonly port?: number;
  /** Seconds a probe may take. @default 5 */
  readonly timeoutSec?: number;
}

/**
 * prometheus-blackbox-exporter on every management node, with one module: a TCP connect to the
 * NFS server's port on a floating IP (`nfs_tcp`). Prometheus asks each node's exporter to probe
 * each NFS group's floating IP, so "NFS does not answer" means no management node reaches it.
 * @see https://github.com/prometheus/blackbox_exporter/blob/master/CONFIGURATION.md
 */
export class BlackboxExporter extends Construct {
  static readonly UNIT = "prometheus-blackbox-exporter.service";
  static readonly CONFIG = "/etc/prometheus/blackbox.yml";
  /** The module name Prometheus' probe job asks for. */
  static readonly NFS_MODULE = "nfs_tcp";
  readonly port: number;

  constructor(scope: Construct, id: string, props: BlackboxExporterProps) {
    super(scope, id);
    this.port = props.port ?? 9115;
    const timeout = props.timeoutSec ?? 5;
    const config = { modules: { [BlackboxExporter.NFS_MODULE]: { prober: "tcp", timeout: `${timeout}s` } } };
    for (const host of props.hosts) {
      host.addPackage({ debian: "prometheus-blackbox-exporter" });
      new GeneratedFile(this, `config-${host.name}`, {
        bundle: host,
        path: BlackboxExporter.CONFIG,
        content: (header) => yamlFile(header, config),
        handlers: [tryReload(BlackboxExporter.UNIT)],
        impact: { kind: "reload", detail: "prometheus-blackbox-exporter rereads its modules on SIGHUP" },
      });
      new GeneratedFile(this, `defaults-${host.name}`, {
        bundle: host,
        path: "/etc/default/prometheus-blackbox-exporter",
        template: "monitoring/blackbox-exporter.default",
        context: { args: `--config.file=${BlackboxExporter.CONFIG} --web.listen-address=:${this.port}` },
        handlers: [tryRestart(BlackboxExporter.UNIT)],
        impact: { kind: "restart", detail: "prometheus-blackbox-exporter restarts: at most one probe is missed" },
      });
      host.addStep({
        id: "blackbox-exporter-enable",
        phase: "after-files",
        description: "start prometheus-blackbox-exporter",
        run: enableNow(BlackboxExporter.UNIT),
        impact: { kind: "none", detail: "starts the blackbox exporter where it does not run" },
      });
    }
  }
}
