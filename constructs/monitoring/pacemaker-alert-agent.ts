import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { TEXTFILE_DIR } from "./node-exporter.js";

export interface PacemakerAlertAgentProps {
  /** The management nodes' bundles. */
  readonly hosts: readonly Bundle[];
  /** The alert's CIB id. @default "hpcdk-metrics" */
  readonly alertId?: string;
}

/**
 * What the CIB must hold for the alert agent: an `<alert>` that runs it for fencing and node
 * events, with the textfile directory as its recipient. The stack adds it to the site's CIB.
 */
export interface PacemakerAlertSpec {
  readonly id: string;
  readonly path: string;
  readonly select: readonly ("fencing" | "nodes")[];
  readonly recipient: string;
  readonly timeoutSec: number;
}

/**
 * A Pacemaker alert agent that writes fencing and node membership events as node_exporter
 * textfile metrics (`hpcdk_pacemaker_node_fenced`, `hpcdk_pacemaker_fencing_failed`): the
 * hacluster exporter reports no fencing history, and Pacemaker's alerts are how the cluster tells
 * the world that it fenced a node. Pacemaker runs it as hacluster on every node that is up.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Administration/html/alerts.html
 */
export class PacemakerAlertAgent extends Construct {
  static readonly PATH = "/usr/local/libexec/hpcdk/pacemaker-alert-metrics";
  readonly alert: PacemakerAlertSpec;

  constructor(scope: Construct, id: string, props: PacemakerAlertAgentProps) {
    super(scope, id);
    this.alert = { id: props.alertId ?? "hpcdk-metrics", path: PacemakerAlertAgent.PATH, select: ["fencing", "nodes"], recipient: TEXTFILE_DIR, timeoutSec: 30 };
    for (const host of props.hosts) {
      new GeneratedFile(this, `agent-${host.name}`, {
        bundle: host,
        path: PacemakerAlertAgent.PATH,
        mode: 0o755,
        template: "monitoring/pacemaker-alert-metrics.sh",
        context: { alertId: this.alert.id, textfileDir: TEXTFILE_DIR },
        impact: { kind: "none", detail: "Pacemaker runs it at the next fencing or membership event" },
      });
    }
  }
}
