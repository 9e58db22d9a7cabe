import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { subordinateIdLines, type SubordinateIdsSpec } from "./subordinate-ids.js";

export const PODMAN_USER_STORAGE = "/usr/local/sbin/hpcdk-podman-user-storage";
export const PODMAN_PROFILE = "/etc/profile.d/hpcdk-podman.sh";
export const PODMAN_TASK_PROLOG = "/usr/local/libexec/hpcdk/podman-task-prolog";

export interface PodmanProps {
  readonly bundle: Bundle;
  /** The site users' uids and how many subordinate ids each gets. */
  readonly subordinateIds: SubordinateIdsSpec;
  /** OCI runtime. @default "runc" (crun refuses hybrid cgroup layouts) */
  readonly runtime?: "runc" | "crun";
  /** @default "overlay" */
  readonly storageDriver?: "overlay" | "vfs";
  /** @default "/var/lib/containers/storage" */
  readonly graphroot?: string;
  /** @default "/run/containers/storage" */
  readonly runroot?: string;
  /** Local directory with one store per user: rootless_storage_path = <this>/$UID/storage. @default "/var/lib/containers/users" */
  readonly rootlessStorageRoot?: string;
  /** @default "cgroupfs" (containers stay in the Slurm job's cgroup) */
  readonly cgroupManager?: "cgroupfs" | "systemd";
  /** Default network of containers. @default "host" */
  readonly network?: "host" | "slirp4netns";
  /** The group's hosts have InfiniBand: every container gets /dev/infiniband and /etc/libibverbs.d. @default false */
  readonly infiniband?: boolean;
}

/**
 * Rootless Podman on one node group: storage.conf with every image store on local disk (never
 * NFS home directories), containers.conf (runtime, cgroup manager, network, InfiniBand devices),
 * /etc/subuid and /etc/subgid generated from the site's uid ranges, a per-user store directory
 * for every uid, and XDG_RUNTIME_DIR handling for login shells and Slurm tasks.
 * @see https://github.com/containers/podman/blob/main/docs/tutorials/rootless_tutorial.md
 */
export class Podman extends Construct {
  readonly runtime: "runc" | "crun";
  readonly rootlessStoragePath: string;
  /** A Slurm TaskProlog that gives tasks a private XDG_RUNTIME_DIR on the node. */
  readonly taskProlog = PODMAN_TASK_PROLOG;

  constructor(scope: Construct, id: string, props: PodmanProps) {
    super(scope, id);
    const where = `Podman [${this.node.path}]`;
    this.runtime = props.runtime ?? "runc";
    const driver = props.storageDriver ?? "overlay";
    const graphroot = props.graphroot ?? "/var/lib/containers/storage";
    const runroot = props.runroot ?? "/run/containers/storage";
    const root = props.rootlessStorageRoot ?? "/var/lib/containers/users";
    for (const p of [graphroot, runroot, root]) {
      if (!/^\/[^"'\\\s$]*$/.test(p)) throw new Error(`${where}: storage paths must be absolute without quotes, spaces or $, got "${p}"`);
    }
    this.rootlessStoragePath = `${root}/$UID/storage`;
    let lines: string[];
    try {
      lines = subordinateIdLines(props.subordinateIds);
    } catch (err) {
      throw new Error(`${where}: ${(err as Error).message}`);
    }

    const b = props.bundle;
    b.addPackage({ debian: "podman", rhel: "podman" });
    b.addPackage({ debian: this.runtime, rhel: this.runtime });
    // newuidmap/newgidmap map the subordinate ids into the user namespace.
    b.addPackage({ debian: "uidmap", rhel: "shadow-utils" });
    if (props.network === "slirp4netns") b.addPackage({ debian: "slirp4netns", rhel: "slirp4netns" });

    const restartNothing = { kind: "none", detail: "read at every podman start; running containers keep their settings" } as const;
    new GeneratedFile(this, "storage-conf", {
      bundle: b,
      path: "/etc/containers/storage.conf",
      template: "containers/storage.conf",
      context: { driver, graphroot, runroot, rootlessStorageRoot: root, rootlessStoragePath: this.rootlessStoragePath, overlay: driver === "overlay" },
      // A new driver or store path hides the images already pulled (they stay on disk).
      impact: { kind: "none", detail: "read at every podman start; a new driver or path hides images pulled before" },
    });
    const network = props.network ?? "host";
    new GeneratedFile(this, "containers-conf", {
      bundle: b,
      path: "/etc/containers/containers.conf",
      template: "containers/containers.conf",
      context: {
        netns: network === "host" ? "host" : "slirp4netns",
        networkComment:
          network === "host"
            ? "The host's network: MPI, RDMA and the site's services work as outside the container."
            : "A private network per container through slirp4netns.",
        devices: props.infiniband ? ["/dev/infiniband"] : [],
        volumes: props.infiniband ? ["/etc/libibverbs.d:/etc/libibverbs.d:ro"] : [],
        runtime: this.runtime,
        cgroupManager: props.cgroupManager ?? "cgroupfs",
      },
      impact: restartNothing,
    });
    for (const file of ["subuid", "subgid"] as const) {
      new GeneratedFile(this, file, {
        bundle: b,
        path: `/etc/${file}`,
        // shadow's newuidmap and Podman skip lines that are not entries: the header may stay.
        content: (header) => header + lines.join("\n") + "\n",
        impact: { kind: "none", detail: "read when a user's container starts; running containers keep their mapping" },
      });
    }
    new GeneratedFile(this, "runtime-dir", {
      bundle: b,
      path: PODMAN_PROFILE,
      template: "containers/podman-runtime-dir.sh",
      impact: { kind: "none", detail: "read by new login shells" },
    });
    new GeneratedFile(this, "task-prolog", {
      bundle: b,
      path: PODMAN_TASK_PROLOG,
      template: "containers/podman-task-prolog.sh",
      context: { profile: PODMAN_PROFILE },
      mode: 0o755,
      impact: { kind: "none", detail: "run by slurmd before every task (TaskProlog)" },
    });
    new GeneratedFile(this, "user-storage", {
      bundle: b,
      path: PODMAN_USER_STORAGE,
      template: "containers/podman-user-storage.sh",
      context: { root, ranges: props.subordinateIds.uidRanges },
      mode: 0o755,
      impact: { kind: "none", detail: "run by the deploy" },
    });
    b.addStep({
      id: "20-podman-user-storage",
      phase: "after-files",
      description: `create a private image store directory per site user under ${root}`,
      run: PODMAN_USER_STORAGE,
    });
  }
}
