import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { addMetricsTimer } from "./metrics-timer.js";
import { TEXTFILE_DIR } from "./node-exporter.js";

export interface ZpoolCollectorProps {
  /** The management nodes' bundles: each reports the pools it has imported. */
  readonly hosts: readonly Bundle[];
  /** @default 60 */
  readonly intervalSec?: number;
}

/**
 * Pool size, allocation, fragmentation and health for node_exporter's textfile collector, from
 * `zpool list -Hp` every minute (a systemd timer). node_exporter's own zfs collector gives the
 * ARC and I/O but not how full a pool is; the ZpoolDegraded and ZpoolFull rules read these.
 * @see https://openzfs.github.io/openzfs-docs/man/master/8/zpool-list.8.html
 */
export class ZpoolCollector extends Construct {
  static readonly SCRIPT = "/usr/local/libexec/hpcdk/zpool-metrics";
  /** The systemd units it adds (for the systemd collector's list). */
  readonly units: readonly string[];

  constructor(scope: Construct, id: string, props: ZpoolCollectorProps) {
    super(scope, id);
    const intervalSec = props.intervalSec ?? 60;
    const units: string[] = [];
    for (const host of props.hosts) {
      new GeneratedFile(this, `script-${host.name}`, {
        bundle: host,
        path: ZpoolCollector.SCRIPT,
        mode: 0o755,
        template: "monitoring/zpool-metrics.sh",
        context: { textfileDir: TEXTFILE_DIR },
        impact: { kind: "none", detail: "the collector's next run uses it" },
      });
      const u = addMetricsTimer(this, {
        bundle: host,
        unit: "hpcdk-zpool-metrics",
        script: ZpoolCollector.SCRIPT,
        description: "ZFS pool metrics for node_exporter (hpcdk)",
        reads: "zpool list",
        intervalSec,
      });
      units.push(u.service, u.timer);
    }
    this.units = [...new Set(units)];
  }
}
