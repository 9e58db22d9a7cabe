import type { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { TEXTFILE_DIR } from "./node-exporter.js";
import { enableNow } from "./service-control.js";

export interface MetricsTimerProps {
  readonly bundle: Bundle;
  /** Unit name without suffix, e.g. `hpcdk-zpool-metrics`. */
  readonly unit: string;
  /** The collector script. */
  readonly script: string;
  readonly description: string;
  /** What the collector reads, for the unit's comment. */
  readonly reads: string;
  readonly intervalSec: number;
  /** Units to start after (munge for the Slurm commands). @default none */
  readonly after?: readonly string[];
}

/**
 * A textfile collector's systemd service (oneshot, read-only file system except the textfile
 * directory) and the timer that runs it; the deploy enables the timer. Returns the two unit names.
 */
export function addMetricsTimer(scope: Construct, props: MetricsTimerProps): { service: string; timer: string } {
  const service = `${props.unit}.service`;
  const timer = `${props.unit}.timer`;
  const context = {
    description: props.description,
    script: props.script,
    reads: props.reads,
    textfileDir: TEXTFILE_DIR,
    intervalSec: props.intervalSec,
    timeoutSec: Math.max(30, props.intervalSec),
    after: [...(props.after ?? [])],
  };
  const reloadAndRestart = "if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi";
  new GeneratedFile(scope, `service-${props.bundle.kind}-${props.bundle.name}`, {
    bundle: props.bundle,
    path: `/etc/systemd/system/${service}`,
    template: "monitoring/metrics-collector.service",
    context,
    handlers: [reloadAndRestart],
    impact: { kind: "none", detail: "systemctl daemon-reload: the collector's next run uses it" },
  });
  new GeneratedFile(scope, `timer-${props.bundle.kind}-${props.bundle.name}`, {
    bundle: props.bundle,
    path: `/etc/systemd/system/${timer}`,
    template: "monitoring/metrics-collector.timer",
    context,
    handlers: [reloadAndRestart, `if [ -d /run/systemd/system ]; then systemctl try-restart ${timer}; fi`],
    impact: { kind: "reload", detail: "systemctl daemon-reload and the timer restarts with the new interval" },
  });
  props.bundle.addStep({
    id: `${props.unit}-enable`,
    phase: "after-files",
    description: `run ${props.script} every ${props.intervalSec} s`,
    run: enableNow(timer),
    impact: { kind: "none", detail: `starts ${timer} where it does not run` },
  });
  return { service, timer };
}
