import { Construct } from "constructs";
import { shell, type Bundle } from "../core/index.js";
import type { SlurmConfig } from "./slurm-config.js";

export interface SlurmdProps {
  /** The node group's bundle: rendered once for all its hosts. */
  readonly group: Bundle;
  readonly config: SlurmConfig;
  /** The group runs jobs (slurmd); otherwise it only gets the client commands. @default true */
  readonly runsJobs?: boolean;
}

/**
 * A node group's Slurm daemons: slurmd on groups that run jobs; login groups get only the
 * commands. SlurmCluster installs the shared configuration in every bundle.
 * @see https://slurm.schedmd.com/slurmd.html
 */
export class Slurmd extends Construct {
  readonly runsJobs: boolean;

  constructor(scope: Construct, id: string, props: SlurmdProps) {
    super(scope, id);
    const { group, config } = props;
    this.runsJobs = props.runsJobs ?? true;
    group.addPackage({ debian: "slurm-client", rhel: "slurm" });
    if (!this.runsJobs) return;
    group.addPackage({ debian: "slurmd", rhel: "slurm-slurmd" });
    group.addStep({
      id: "slurmd-log-dir",
      phase: "before-files",
      description: "create Slurm's log directory",
      run: shell`install -d -o ${config.slurmUser} -g ${config.slurmUser} -m 0755 /var/log/slurm`,
    });
    group.addStep({
      id: "slurmd-enable",
      phase: "after-files",
      description: "start slurmd",
      run: "systemctl enable --now slurmd",
    });
  }
}
