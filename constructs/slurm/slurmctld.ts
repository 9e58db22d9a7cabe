import { Construct } from "constructs";
import type { Bundle } from "../core/index.js";
import type { SlurmConfig } from "./slurm-config.js";
import { StateSaveMount } from "./state-save-mount.js";

export interface SlurmctldProps {
  /** The controller's bundle. */
  readonly host: Bundle;
  readonly config: SlurmConfig;
  /** The shared state on the HA NFS; without it the state stays on the controller's disk. @default local */
  readonly stateSave?: { readonly server: string; readonly export: string; readonly nfsGroup: string; readonly options: string };
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
      run: `install -d -o '${user}' -g '${user}' -m 0755 /var/log/slurm`,
    });
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
        run: `install -d -o '${user}' -g '${user}' -m 0700 '${config.stateSaveLocation}'`,
      });
    }
    host.addStep({
      id: "slurmctld-enable",
      phase: "after-files",
      description: "start slurmctld",
      run: "systemctl daemon-reload && systemctl enable --now slurmctld",
    });
  }
}
