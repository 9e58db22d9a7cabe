import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { enableNow, tryRestart } from "./service-control.js";

/** Where node_exporter's textfile collector reads `*.prom` files (Debian's default). */
export const TEXTFILE_DIR = "/var/lib/prometheus/node-exporter";

export interface NodeExporterProps {
  /** The host or node group bundle. */
  readonly bundle: Bundle;
  /** --web.listen-address port. @default 9100 */
  readonly port?: number;
  /** The hosts mount NFS (nfs collector). @default false */
  readonly nfsClient?: boolean;
  /** The hosts run the kernel NFS server (nfsd collector). @default false */
  readonly nfsServer?: boolean;
  /** The hosts import ZFS pools (zfs collector: ARC, pool I/O). @default false */
  readonly zfs?: boolean;
  /**
   * systemd units that must run on these hosts: the systemd collector reports their state (and
   * only theirs, so a 10,000-node site does not send every unit of every host).
   * @default none (the systemd collector is off)
   */
  readonly units?: readonly string[];
  /**
   * Group that may write the textfile directory besides root: `haclient` on management nodes,
   * where Pacemaker's alert agent (run as hacluster) writes the fencing metrics. @default root only
   */
  readonly textfileWriters?: string;
}

const UNIT = /^[A-Za-z0-9_@-]+\.(service|timer)$/;

/**
 * prometheus-node-exporter on every host of a bundle, from Debian's package and unit: its
 * arguments in `/etc/default/prometheus-node-exporter` (the unit's EnvironmentFile), the nfs,
 * nfsd, zfs and systemd collectors on where they apply, and the textfile collector reading the
 * metrics hpcdk's collectors write.
 * @see https://github.com/prometheus/node_exporter#collectors
 */
export class NodeExporter extends Construct {
  static readonly UNIT = "prometheus-node-exporter.service";
  readonly port: number;
  readonly args: readonly string[];

  constructor(scope: Construct, id: string, props: NodeExporterProps) {
    super(scope, id);
    const where = `NodeExporter [${this.node.path}]`;
    this.port = props.port ?? 9100;
    const units = [...new Set(props.units ?? [])].sort();
    const bad = units.find((u) => !UNIT.test(u));
    if (bad !== undefined) throw new Error(`${where}: not a systemd unit name, got "${bad}"`);
    const on = (enabled: boolean | undefined, collector: string) => (enabled ? `--collector.${collector}` : `--no-collector.${collector}`);
    this.args = [
      `--web.listen-address=:${this.port}`,
      `--collector.textfile.directory=${TEXTFILE_DIR}`,
      on(props.nfsClient, "nfs"),
      on(props.nfsServer, "nfsd"),
      on(props.zfs, "zfs"),
      ...(units.length > 0
        ? [
            "--collector.systemd",
            // node_exporter anchors the expression; [.] instead of \. keeps backslashes out of a
            // file that the unit's EnvironmentFile parsing and $ARGS splitting would both unescape.
            `--collector.systemd.unit-include=${units.map((u) => u.replace(".", "[.]")).join("|")}`,
          ]
        : ["--no-collector.systemd"]),
    ];
    const bundle = props.bundle;
    bundle.addPackage({ debian: "prometheus-node-exporter", rhel: "golang-github-prometheus-node-exporter" });
    // The systemd collector asks systemd over the system bus.
    if (units.length > 0) bundle.addPackage({ debian: "dbus", rhel: "dbus" });
    new GeneratedFile(this, "defaults", {
      bundle,
      path: "/etc/default/prometheus-node-exporter",
      template: "monitoring/node-exporter.default",
      context: { args: this.args.join(" "), units: units.join(", ") || "none" },
      handlers: [tryRestart(NodeExporter.UNIT)],
      impact: { kind: "restart", detail: "prometheus-node-exporter restarts with the new arguments: at most one scrape of the host is missed" },
    });
    const writers = props.textfileWriters;
    bundle.addStep({
      id: "node-exporter-textfile-dir",
      phase: "after-files",
      description: `make node_exporter's textfile directory ${TEXTFILE_DIR}${writers ? ` (writable by group ${writers})` : ""}`,
      run: writers
        ? `install -d -o root -g ${writers} -m 2775 ${TEXTFILE_DIR}`
        : `install -d -o root -g root -m 0755 ${TEXTFILE_DIR}`,
      impact: { kind: "none", detail: "a directory's owner and mode" },
    });
    bundle.addStep({
      id: "node-exporter-enable",
      phase: "after-files",
      description: "start prometheus-node-exporter",
      run: enableNow(NodeExporter.UNIT),
      impact: { kind: "none", detail: "starts prometheus-node-exporter where it does not run" },
    });
  }
}
