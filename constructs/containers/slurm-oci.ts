import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";

export interface SlurmOciProps {
  readonly bundle: Bundle;
  /**
   * Where oci.conf goes. Slurm's configless mode: the controllers' bundles (slurmctld serves it to
   * the slurmd, whose slurmstepd reads the fetched copy, not the node's). @default [bundle]
   */
  readonly ociConfBundles?: readonly Bundle[];
  /** @default "runc" */
  readonly runtime?: "runc" | "crun";
  /** The runtime's --root, on tmpfs. @default "/run/slurm-oci" */
  readonly stateDir?: string;
}

/**
 * Slurm's OCI container support on the nodes that run slurmd: `/etc/slurm/oci.conf` for
 * `srun --container` (the runtime's query/kill/delete/run commands, rootless) and the runtime's
 * state directory (systemd-tmpfiles). Written for the Slurm of Debian 12 (22.05), whose oci.conf
 * knows RunTime{Query,Create,Start,Kill,Delete,Run}, ContainerPath and CreateEnvFile, and whose
 * patterns have no %U: the state directory is shared, sticky, with per-user container ids.
 * @see https://slurm.schedmd.com/containers.html
 */
export class SlurmOci extends Construct {
  readonly runtime: "runc" | "crun";
  readonly stateDir: string;

  constructor(scope: Construct, id: string, props: SlurmOciProps) {
    super(scope, id);
    this.runtime = props.runtime ?? "runc";
    this.stateDir = props.stateDir ?? "/run/slurm-oci";
    if (!/^\/[A-Za-z0-9._/+@~-]+$/.test(this.stateDir)) {
      throw new Error(`SlurmOci [${this.node.path}]: stateDir must be an absolute path of letters, digits and . _ - + @ ~, got "${this.stateDir}"`);
    }
    props.bundle.addPackage({ debian: this.runtime, rhel: this.runtime });
    for (const bundle of props.ociConfBundles ?? [props.bundle]) {
      new GeneratedFile(this, bundle === props.bundle ? "oci-conf" : `oci-conf-${bundle.name}`, {
      bundle,
      path: "/etc/slurm/oci.conf",
      template: "containers/oci.conf",
      context: { runtime: this.runtime, runtimePath: `/usr/bin/${this.runtime}`, rootOption: `--root=${this.stateDir}`, slurmVersion: "22.05" },
      impact: { kind: "none", detail: "read by slurmstepd at every step with --container" },
    });
    }
    new GeneratedFile(this, "tmpfiles", {
      bundle: props.bundle,
      path: "/etc/tmpfiles.d/hpcdk-slurm-oci.conf",
      template: "containers/slurm-oci-tmpfiles.conf",
      context: { runtime: this.runtime, stateDir: this.stateDir },
      handlers: ["systemd-tmpfiles --create /etc/tmpfiles.d/hpcdk-slurm-oci.conf"],
      impact: { kind: "none", detail: "creates the state directory (systemd-tmpfiles --create)" },
    });
  }
}

export interface PmixProps {
  readonly bundle: Bundle;
}

/**
 * PMIx for MPI jobs under Slurm (`MpiDefault=pmix` in slurm.conf, owned by the Slurm part):
 * the PMIx library Slurm's mpi/pmix plugin and containerized MPI libraries use to wire up.
 * @see https://slurm.schedmd.com/mpi_guide.html#pmix
 */
export class Pmix extends Construct {
  /** The slurm.conf value these nodes support. */
  readonly mpiDefault = "pmix";

  constructor(scope: Construct, id: string, props: PmixProps) {
    super(scope, id);
    props.bundle.addPackage({ debian: "libpmix2", rhel: "pmix" });
    props.bundle.addPackage({ debian: "libpmix-bin", rhel: "pmix-tools" });
  }
}
