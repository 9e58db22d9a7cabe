import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import { CibId } from "../../common/contracts/cib-ids.js";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

/** One vdev of a pool: its type and its devices. */
export interface ZfsVdev {
  /** `stripe` means plain devices with no redundancy keyword. */
  readonly type: "stripe" | "mirror" | "raidz1" | "raidz2" | "raidz3";
  /** Stable device paths under `/dev/disk/by-id/` or `/dev/mapper/`. */
  readonly devices: readonly string[];
}

export interface ZfsPoolProps {
  readonly cluster: PacemakerCluster;
  /** Pool name as `zpool import` knows it. */
  readonly pool: string;
  readonly vdevs: readonly ZfsVdev[];
  /** Mountpoint of the pool's root dataset. @default "/<pool>" */
  readonly mountpoint?: string;
  /** @default 12 */
  readonly ashift?: number;
  /** Dataset properties set at creation. @default none */
  readonly properties?: Readonly<Record<string, string>>;
  /** Start and stop timeout: importing a pool with multihost=on waits for MMP. @default 90 */
  readonly importTimeoutSec?: number;
  /** Seconds between monitor operations. @default 10 */
  readonly monitorIntervalSec?: number;
  /** Hosts that get the one-time creation script `/usr/local/sbin/hpcdk-zpool-create-<pool>`. */
  readonly hosts: readonly Bundle[];
  /** Directories relative to the mountpoint that the script creates as datasets (the exports). @default none */
  readonly datasetDirs?: readonly string[];
  /**
   * Datasets (directories relative to the mountpoint) whose writes are acknowledged before they
   * are on stable storage: `zfs set sync=disabled`, what an `async` export asks of an NFS server
   * that has no such option (nfs-ganesha). A power cut loses up to a transaction group of them.
   * @default none
   */
  readonly syncDisabledDirs?: readonly string[];
}

/**
 * A shared ZFS pool that Pacemaker imports on one node at a time (ocf:heartbeat:ZFS), plus the
 * one-time script that creates it with `multihost=on` and `cachefile=none`.
 * @see https://github.com/ClusterLabs/resource-agents/blob/main/heartbeat/ZFS
 * @see https://openzfs.github.io/openzfs-docs/man/master/7/zpoolprops.7.html#multihost
 */
export class ZfsPool extends Primitive {
  readonly pool: string;
  readonly mountpoint: string;
  /** Every device of the pool, in layout order. */
  readonly devices: readonly string[];
  /** Directories `zpool import -d` searches: the parents of the devices. */
  readonly importDirs: readonly string[];
  /** Datasets the creation script makes, parents first: `tank/home`. */
  readonly datasets: readonly string[];

  constructor(scope: Construct, id: string, props: ZfsPoolProps) {
    const devices = props.vdevs.flatMap((v) => v.devices);
    const importDirs = [...new Set(devices.map((d) => d.slice(0, d.lastIndexOf("/"))))].sort();
    const timeoutSec = props.importTimeoutSec ?? 90;
    if (timeoutSec < 90) throw new Error(`ZfsPool [${scope.node.path}/${id}]: importTimeoutSec must be at least 90, got ${timeoutSec}`);
    super(scope, id, {
      cluster: props.cluster,
      resourceId: CibId.pool(props.pool),
      agent: ResourceAgent.ocf("heartbeat", "ZFS"),
      params: { pool: props.pool, importargs: importDirs.map((d) => `-d ${d}`).join(" ") },
      operations: [
        { name: "start", timeoutSec },
        { name: "stop", timeoutSec },
        { name: "monitor", intervalSec: props.monitorIntervalSec ?? 10, timeoutSec: 30 },
      ],
    });
    this.pool = props.pool;
    this.mountpoint = props.mountpoint ?? `/${props.pool}`;
    this.devices = devices;
    this.importDirs = importDirs;
    this.datasets = [...new Set((props.datasetDirs ?? []).map((dir) => `${props.pool}/${dir}`))].sort();

    const properties = Object.entries(props.properties ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`);
    const vdevs = props.vdevs.flatMap((v) => (v.type === "stripe" ? [...v.devices] : [v.type, ...v.devices]));
    for (const host of props.hosts) {
      new GeneratedFile(this, `create-script-${host.name}`, {
        bundle: host,
        path: `/usr/local/sbin/hpcdk-zpool-create-${props.pool}`,
        mode: 0o755,
        template: "pacemaker/zpool-create.sh",
        impact: { kind: "none", detail: "run by hand, once, to create the pool; each deploy runs it with --datasets-only (zfs create -p of new exports where the pool is imported)" },
        context: {
          pool: props.pool,
          ashift: props.ashift ?? 12,
          mountpoint: this.mountpoint,
          properties,
          vdevs,
          devices,
          importDirs,
          datasets: this.datasets,
          datasetsText: this.datasets.join(" "),
          // With an NFS server that has no async option, the datasets' sync property is hpcdk's:
          // sync=disabled for async exports, inherited (standard) for the others, so dropping
          // async from the site makes the writes stable again.
          syncManaged: props.syncDisabledDirs !== undefined,
          syncDisabled: [...new Set((props.syncDisabledDirs ?? []).map((dir) => `${props.pool}/${dir}`))].sort(),
        },
      });
      // Before the CIB step (it waits for every host): a new export's directory exists when its
      // exportfs resource starts.
      host.addStep({
        id: `zfs-datasets-${props.pool}`,
        phase: "after-files",
        description: `create missing datasets of pool ${props.pool} where it is imported`,
        run: shell`${`/usr/local/sbin/hpcdk-zpool-create-${props.pool}`} --datasets-only`,
        impact: { kind: "none", detail: "zfs create -p of missing datasets on the node holding the pool" },
      });
    }
  }
}
