import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import type { SitePackageSpec } from "../../schema/containers.js";
import { SitePackage } from "./site-package.js";

/** What an InfiniBand node needs inside every container: the verbs devices and provider files. */
export const INFINIBAND_BINDS = ["/dev/infiniband", "/etc/libibverbs.d"] as const;

export interface ApptainerProps {
  /** The node group's bundle. */
  readonly bundle: Bundle;
  /** Apptainer .deb/.rpm packages from the site (apptainer, and apptainer-suid for setuid mode). */
  readonly packages: readonly SitePackageSpec[];
  /** `unprivileged` (user namespaces only) or `setuid` (the setuid starter). @default "unprivileged" */
  readonly mode?: "unprivileged" | "setuid";
  /** The group's hosts have InfiniBand: bind /dev/infiniband and /etc/libibverbs.d. @default false */
  readonly infiniband?: boolean;
  /** Extra `bind path` entries, "/src" or "/src:/dst". @default [] */
  readonly bindPaths?: readonly string[];
  /** @default true */
  readonly mountHome?: boolean;
  /** @default false */
  readonly mountHostfs?: boolean;
  /** @default true */
  readonly allowPidNs?: boolean;
  /** @default 256 */
  readonly maxLoopDevices?: number;
  /** `limit container owners`, setuid mode only. @default [] */
  readonly limitContainerOwners?: readonly string[];
  /** `limit container paths`, setuid mode only. @default [] */
  readonly limitContainerPaths?: readonly string[];
}

/**
 * Apptainer (formerly Singularity) on one node group: the site's packages and
 * `/etc/apptainer/apptainer.conf`, root-owned and not writable by users (Apptainer refuses a
 * configuration others can change).
 * @see https://apptainer.org/docs/admin/main/configfiles.html
 */
export class Apptainer extends Construct {
  readonly mode: "unprivileged" | "setuid";
  readonly bindPaths: readonly string[];

  constructor(scope: Construct, id: string, props: ApptainerProps) {
    super(scope, id);
    const where = `Apptainer [${this.node.path}]`;
    this.mode = props.mode ?? "unprivileged";
    const owners = props.limitContainerOwners ?? [];
    const paths = props.limitContainerPaths ?? [];
    if (this.mode === "unprivileged" && (owners.length > 0 || paths.length > 0)) {
      throw new Error(`${where}: limit container owners/paths only apply in setuid mode`);
    }
    if (props.packages.length === 0) throw new Error(`${where}: needs at least one package (Apptainer is not in Debian 12)`);
    // Apptainer's defaults first, then the fabric, then the site's own.
    const binds = ["/etc/localtime", "/etc/hosts", ...(props.infiniband ? INFINIBAND_BINDS : []), ...(props.bindPaths ?? [])];
    const dup = binds.find((b, i) => binds.indexOf(b) !== i);
    if (dup) throw new Error(`${where}: bind path "${dup}" is given twice`);
    this.bindPaths = binds;
    const yesNo = (b: boolean) => (b ? "yes" : "no");

    props.packages.forEach((pkg, i) => new SitePackage(this, `package-${i}`, { bundle: props.bundle, package: pkg }));
    // Unprivileged mode runs SIF images through squashfuse; fuse2fs for ext3 overlays.
    props.bundle.addPackage({ debian: "squashfuse", rhel: "squashfuse" });
    props.bundle.addPackage({ debian: "fuse2fs", rhel: "e2fsprogs" });
    props.bundle.addPackage({ debian: "uidmap", rhel: "shadow-utils" });

    new GeneratedFile(this, "conf", {
      bundle: props.bundle,
      path: "/etc/apptainer/apptainer.conf",
      template: "containers/apptainer.conf",
      context: {
        modeComment:
          this.mode === "setuid"
            ? "setuid mode: the setuid starter (apptainer-suid) mounts images with loop devices."
            : "unprivileged mode: user namespaces only; images are mounted with squashfuse.",
        allowSetuid: yesNo(this.mode === "setuid"),
        maxLoopDevices: props.maxLoopDevices ?? 256,
        allowPidNs: yesNo(props.allowPidNs ?? true),
        mountHome: yesNo(props.mountHome ?? true),
        mountHostfs: yesNo(props.mountHostfs ?? false),
        bindPaths: binds,
        limitContainerOwners: owners.join(", "),
        limitContainerPaths: paths.join(", "),
      },
      mode: 0o644,
      impact: { kind: "none", detail: "read at every apptainer start; running containers keep their settings" },
    });
  }
}
