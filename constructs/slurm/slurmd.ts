import { Construct } from "constructs";
import { GeneratedFile, MANAGED_MARKER, shell, type Bundle } from "../core/index.js";
import type { SlurmConfig } from "./slurm-config.js";

/** The files slurmctld serves in configless mode that hpcdk renders (Slurm 22.05 serves these and more). */
export const CONFIGLESS_FILES = ["/etc/slurm/slurm.conf", "/etc/slurm/cgroup.conf", "/etc/slurm/gres.conf", "/etc/slurm/plugstack.conf"] as const;

/** The drop-in that starts slurmd configless. */
export const CONFIGLESS_DROPIN = "/etc/systemd/system/slurmd.service.d/40-hpcdk-configless.conf";

export interface SlurmdProps {
  /** The node group's bundle: rendered once for all its hosts. */
  readonly group: Bundle;
  readonly config: SlurmConfig;
  /** The group runs jobs (slurmd); otherwise it only gets the client commands. @default true */
  readonly runsJobs?: boolean;
  /**
   * Configless: where slurmd fetches its files, `host[:port]` comma-separated, the primary
   * controller first (slurmd --conf-server). @default none: the group holds the files
   */
  readonly confServer?: string;
  /** Configless without slurmd (a login group with DNS SRV): the commands find slurmctld through DNS. @default false */
  readonly configless?: boolean;
}

/**
 * A node group's Slurm daemons: slurmd on groups that run jobs; login groups get only the
 * commands. SlurmCluster installs the shared configuration in every bundle that is not configless.
 *
 * Configless (`confServer`): slurmd is started with `--conf-server` by a drop-in of Debian's unit
 * (which otherwise starts only when /etc/slurm/slurm.conf exists), fetches the files from
 * slurmctld, caches them in its spool directory and links /run/slurm/conf to them, where this
 * host's commands read them. A copy of slurm.conf hpcdk left there before would take precedence
 * for the commands (/etc/slurm/slurm.conf is read first): it is removed.
 * @see https://slurm.schedmd.com/slurmd.html
 * @see https://slurm.schedmd.com/configless_slurm.html
 */
export class Slurmd extends Construct {
  readonly runsJobs: boolean;
  readonly confServer?: string;

  constructor(scope: Construct, id: string, props: SlurmdProps) {
    super(scope, id);
    const { group, config } = props;
    this.runsJobs = props.runsJobs ?? true;
    if (props.confServer !== undefined) this.confServer = props.confServer;
    group.addPackage({ debian: "slurm-client", rhel: "slurm" });
    if (props.confServer !== undefined || props.configless) {
      // Only files hpcdk wrote (its header) are removed: a file the site put there by hand stays.
      group.addStep({
        id: "slurm-configless-old-files",
        phase: "before-files",
        description: "remove the Slurm files hpcdk wrote before configless mode (slurmctld serves them now)",
        run: `for f in ${CONFIGLESS_FILES.join(" ")}; do if [ -f "$f" ] && grep -qF ${shell`${MANAGED_MARKER}`} "$f"; then rm -f "$f"; fi; done`,
        impact: { kind: "none", detail: "removes copies hpcdk no longer manages; slurmd and the commands read the fetched files" },
      });
    }
    if (!this.runsJobs) return;
    group.addPackage({ debian: "slurmd", rhel: "slurm-slurmd" });
    group.addStep({
      id: "slurmd-log-dir",
      phase: "before-files",
      description: "create Slurm's log directory",
      run: shell`install -d -o ${config.slurmUser} -g ${config.slurmUser} -m 0755 /var/log/slurm`,
    });
    if (props.confServer !== undefined) {
      new GeneratedFile(this, "configless-dropin", {
        bundle: group,
        path: CONFIGLESS_DROPIN,
        template: "slurm/slurmd-configless.conf",
        context: { confServer: props.confServer },
        handlers: ["systemctl daemon-reload"],
        impact: { kind: "restart", detail: "slurmd restarts with --conf-server (running jobs continue); the deploy's Slurm wave restarts it after the controllers" },
      });
    }
    group.addStep({
      id: "slurmd-enable",
      phase: "after-files",
      description: "start slurmd",
      run: "systemctl enable --now slurmd",
    });
  }
}
