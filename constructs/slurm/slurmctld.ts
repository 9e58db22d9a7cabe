import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import type { SlurmConfig } from "./slurm-config.js";
import { StateSaveMount } from "./state-save-mount.js";

export interface SlurmctldProps {
  /** The controller's bundle. */
  readonly host: Bundle;
  /** The cluster bundle: with the state on the HA NFS, slurmctld starts after the CIB step. */
  readonly cluster: Bundle;
  readonly config: SlurmConfig;
  /** The shared state on the HA NFS; without it the state stays on the controller's disk. @default local */
  readonly stateSave?: {
    readonly server: string;
    readonly export: string;
    readonly nfsGroup: string;
    /** The CIB id of the NFS group's floating IP: the mount waits for it. */
    readonly ipResourceId: string;
    readonly options: string;
  };
  /**
   * Pacemaker runs slurmctld (and mounts the state): the unit stays disabled at boot and takes
   * the mounted state directory as its own. @default systemd starts it (Slurm's own takeover)
   */
  readonly pacemaker?: { readonly group: string; readonly address: string };
}

/**
 * slurmctld on one management node (the stack installs the shared configuration): the JWT key, the state directory
 * (mounted from the HA NFS when the site has two controllers) and the daemon started.
 * @see https://slurm.schedmd.com/slurmctld.html
 */
export class Slurmctld extends Construct {
  readonly stateSaveMount?: StateSaveMount;

  constructor(scope: Construct, id: string, props: SlurmctldProps) {
    super(scope, id);
    const { host, config } = props;
    host.addPackage({ debian: "slurmctld", rhel: "slurm-slurmctld" });
    host.addPackage({ debian: "slurm-client", rhel: "slurm" });
    const user = config.slurmUser;
    host.addStep({
      id: "slurmctld-log-dir",
      phase: "before-files",
      description: "create Slurm's log directory",
      run: shell`install -d -o ${user} -g ${user} -m 0755 /var/log/slurm`,
    });
    if (props.pacemaker) {
      new GeneratedFile(this, "pacemaker-dropin", {
        bundle: host,
        path: "/etc/systemd/system/slurmctld.service.d/hpcdk-pacemaker.conf",
        template: "slurm/slurmctld-pacemaker.conf",
        context: { group: props.pacemaker.group, address: props.pacemaker.address, slurmUser: user, owner: `${user}:${user}`, where: config.stateSaveLocation },
        handlers: ["systemctl daemon-reload"],
        impact: { kind: "none", detail: "systemctl daemon-reload; applies when Pacemaker next starts slurmctld" },
      });
      host.addStep({
        id: "slurmctld-disable-at-boot",
        phase: "after-files",
        description: "leave slurmctld to Pacemaker",
        run: "systemctl daemon-reload && systemctl disable slurmctld",
        impact: { kind: "none", detail: "boot only: Pacemaker starts slurmctld" },
      });
      return;
    }
    if (props.stateSave) {
      this.stateSaveMount = new StateSaveMount(this, "state-save", {
        host,
        server: props.stateSave.server,
        export: props.stateSave.export,
        nfsGroup: props.stateSave.nfsGroup,
        where: config.stateSaveLocation,
        options: props.stateSave.options,
        slurmUser: user,
      });
    } else {
      host.addStep({
        id: "slurmctld-state-dir",
        phase: "before-files",
        description: "create slurmctld's state directory",
        run: shell`install -d -o ${user} -g ${user} -m 0700 ${config.stateSaveLocation}`,
      });
    }
    const enable = "systemctl enable --now slurmctld";
    if (this.stateSaveMount) {
      // The export is served through the NFS group's floating IP, which exists once the CIB step
      // has run: the mount, then slurmctld, start after it.
      props.cluster.addStep({
        id: `slurmctld-${host.name}`,
        phase: "after-cib",
        hosts: [host.name],
        // The NFS group's floating IP starts last but nfsnotify: the export is served then.
        waitFor: [props.stateSave!.ipResourceId],
        description: `mount ${this.stateSaveMount.what} on ${config.stateSaveLocation} and start slurmctld on ${host.name}`,
        // The mount's commands start with systemctl daemon-reload.
        run: [...this.stateSaveMount.startCommands, enable].join(" && "),
        impact: { kind: "none", detail: "starts what is stopped; a running slurmctld is left alone" },
      });
    } else {
      host.addStep({ id: "slurmctld-enable", phase: "after-files", description: "start slurmctld", run: `systemctl daemon-reload && ${enable}` });
    }
  }
}
