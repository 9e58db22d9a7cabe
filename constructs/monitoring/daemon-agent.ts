import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";

export interface DaemonAgentProps {
  /** Every management node: Pacemaker may start the daemons on any of them. */
  readonly hosts: readonly Bundle[];
}

/** One daemon Pacemaker runs with ocf:hpcdk:daemon: the resource's instance attributes. */
export interface DaemonResource {
  /** CIB resource id. */
  readonly id: string;
  readonly binary: string;
  readonly options: readonly string[];
  readonly user: string;
  readonly pidfile: string;
  readonly logfile: string;
  readonly readyUrl: string;
  readonly dataDir: string;
  readonly startTimeoutSec: number;
  readonly stopTimeoutSec: number;
  readonly monitorIntervalSec: number;
}

/** The resource agent's class, provider and type as the CIB names them. */
export const DAEMON_AGENT = { cls: "ocf", provider: "hpcdk", type: "daemon" } as const;

/** The instance attributes of a daemon resource. */
export function daemonParams(d: DaemonResource): Record<string, string> {
  return {
    binary: d.binary,
    options: d.options.join(" "),
    user: d.user,
    pidfile: d.pidfile,
    logfile: d.logfile,
    ready_url: d.readyUrl,
    data_dir: d.dataDir,
  };
}

/**
 * hpcdk's OCF agent `ocf:hpcdk:daemon` (/usr/lib/ocf/resource.d/hpcdk/daemon) on every management
 * node: it runs Prometheus and Alertmanager as the prometheus user under Pacemaker, in the same way
 * on systemd hosts and in the namespace lab (see the agent's header for why not
 * ocf:heartbeat:anything). It passes ocf-tester.
 */
export class DaemonAgent extends Construct {
  static readonly PATH = "/usr/lib/ocf/resource.d/hpcdk/daemon";

  constructor(scope: Construct, id: string, props: DaemonAgentProps) {
    super(scope, id);
    for (const host of props.hosts) {
      // The agent checks readiness over HTTP.
      host.addPackage({ debian: "curl", rhel: "curl" });
      new GeneratedFile(this, `agent-${host.name}`, {
        bundle: host,
        path: DaemonAgent.PATH,
        mode: 0o755,
        template: "monitoring/daemon-ocf.sh",
        impact: { kind: "none", detail: "the agent's next action uses it; the running daemons are untouched" },
      });
    }
  }
}
