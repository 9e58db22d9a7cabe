import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import { mountUnitName } from "./systemd.js";

export interface StateSaveMountProps {
  /** The controller's bundle. */
  readonly host: Bundle;
  /** NFS server address: the floating IP of the NFS group that exports the state. */
  readonly server: string;
  /** The export's path on the server. */
  readonly export: string;
  /** Name of the NFS group, for the unit's comment. */
  readonly nfsGroup: string;
  /** StateSaveLocation: where the export is mounted. */
  readonly where: string;
  /** Mount options (nfs(5)). `_netdev` is added. */
  readonly options: string;
  /** SlurmUser: owns the state directory. */
  readonly slurmUser: string;
}

/**
 * slurmctld's StateSaveLocation mounted from the site's HA NFS: a systemd mount unit, and a
 * slurmctld drop-in (`RequiresMountsFor`) so the controller never starts on an empty local
 * directory.
 * @see https://slurm.schedmd.com/quickstart_admin.html#HA
 */
export class StateSaveMount extends Construct {
  readonly unitName: string;
  readonly what: string;
  /** Mounts the export and gives it to SlurmUser: needs the NFS group started. */
  readonly startCommands: readonly string[];

  constructor(scope: Construct, id: string, props: StateSaveMountProps) {
    super(scope, id);
    this.unitName = mountUnitName(props.where);
    const server = props.server.includes(":") ? `[${props.server}]` : props.server;
    this.what = `${server}:${props.export}`;
    const options = props.options.split(",").includes("_netdev") ? props.options : `${props.options},_netdev`;
    props.host.addPackage({ debian: "nfs-common", rhel: "nfs-utils" });
    new GeneratedFile(this, "unit", {
      bundle: props.host,
      path: `/etc/systemd/system/${this.unitName}`,
      template: "slurm/state-save.mount",
      context: { nfsGroup: props.nfsGroup, what: this.what, where: props.where, options },
      handlers: ["systemctl daemon-reload"],
      impact: { kind: "restart", detail: "takes effect at the next mount: restart slurmctld on one controller at a time, the other serves meanwhile" },
    });
    new GeneratedFile(this, "slurmctld-dropin", {
      bundle: props.host,
      path: "/etc/systemd/system/slurmctld.service.d/hpcdk-state-save.conf",
      template: "slurm/slurmctld-state.conf",
      context: { where: props.where },
      handlers: ["systemctl daemon-reload"],
      impact: { kind: "none", detail: "systemctl daemon-reload; applies when slurmctld next starts" },
    });
    // Run by the controller once the NFS group serves the export (an after-cib step).
    this.startCommands = [
      "systemctl daemon-reload",
      shell`systemctl enable --now ${this.unitName}`,
      // The export keeps the owner across controllers (Debian's slurm user has a fixed uid).
      shell`chown ${`${props.slurmUser}:${props.slurmUser}`} ${props.where}`,
      shell`chmod 0700 ${props.where}`,
    ];
  }
}
