import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { addMetricsTimer } from "./metrics-timer.js";
import { TEXTFILE_DIR } from "./node-exporter.js";

export interface SlurmCollectorProps {
  /** The controllers' bundles (they have the Slurm commands and reach slurmctld and slurmdbd). */
  readonly hosts: readonly Bundle[];
  /** @default 60 */
  readonly intervalSec?: number;
  /** The site has slurmdbd: report whether it answers. @default false */
  readonly accounting?: boolean;
}

/**
 * Slurm metrics for node_exporter's textfile collector, from sinfo (--json), squeue, sdiag,
 * scontrol ping and sacctmgr on the controllers, every minute (a systemd timer): nodes per state,
 * the unavailable nodes with their reason, jobs per partition and state, the scheduler's cycles,
 * the queue towards slurmdbd, and whether slurmctld and slurmdbd answer. Needs jq.
 * @see https://slurm.schedmd.com/sdiag.html
 */
export class SlurmCollector extends Construct {
  static readonly SCRIPT = "/usr/local/libexec/hpcdk/slurm-metrics";
  readonly units: readonly string[];

  constructor(scope: Construct, id: string, props: SlurmCollectorProps) {
    super(scope, id);
    const intervalSec = props.intervalSec ?? 60;
    const units: string[] = [];
    for (const host of props.hosts) {
      host.addPackage({ debian: "jq", rhel: "jq" });
      new GeneratedFile(this, `script-${host.name}`, {
        bundle: host,
        path: SlurmCollector.SCRIPT,
        mode: 0o755,
        template: "monitoring/slurm-metrics.sh",
        // Each of the five commands may take a fifth of the interval: a run never outlasts it.
        context: { textfileDir: TEXTFILE_DIR, commandTimeoutSec: Math.max(5, Math.floor(intervalSec / 5)), accounting: props.accounting ?? false },
        impact: { kind: "none", detail: "the collector's next run uses it" },
      });
      const u = addMetricsTimer(this, {
        bundle: host,
        unit: "hpcdk-slurm-metrics",
        script: SlurmCollector.SCRIPT,
        description: "Slurm metrics for node_exporter (hpcdk)",
        reads: "sinfo, squeue, sdiag, scontrol ping, sacctmgr",
        intervalSec,
        after: ["munge.service"],
      });
      units.push(u.service, u.timer);
    }
    this.units = [...new Set(units)];
  }
}
