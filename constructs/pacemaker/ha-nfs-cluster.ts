import { Construct } from "constructs";
import { CibId, idPart, type NfsGroupResources } from "../../common/contracts/cib-ids.js";
import { bundleOf, GeneratedFile, type Bundle } from "../core/index.js";
import type { SiteSpec } from "../../schema/site.js";
import { CorosyncCluster } from "./corosync-cluster.js";
import { FencePowerman } from "./fence-powerman.js";
import { FenceScsi } from "./fence-scsi.js";
import { FloatingIp } from "./floating-ip.js";
import { NfsExport } from "./nfs-export.js";
import { NfsGanesha } from "./nfs-ganesha.js";
import { NfsNotify } from "./nfs-notify.js";
import { NfsServer } from "./nfs-server.js";
import { PacemakerCluster, type CibTarget } from "./pacemaker-cluster.js";
import type { Primitive } from "./primitive.js";
import { ZfsHost } from "./zfs-host.js";
import { ZfsPool } from "./zfs-pool.js";

export interface HaNfsClusterProps {
  /** The validated site. */
  readonly site: SiteSpec;
  /** One bundle per management node, by node name. */
  readonly hosts: Readonly<Record<string, Bundle>>;
  /** The bundle that receives the CIB. */
  readonly cluster: Bundle;
  /** The feature set and schema of the site's Pacemaker version (cluster.pacemakerVersion). */
  readonly cibTarget: CibTarget;
  /** Each pool's exported directories, relative to its mountpoint (the schema's exportDirsOnPool), by pool name. */
  readonly exportDirs: Readonly<Record<string, readonly string[]>>;
  /**
   * More datasets to create on pools, by pool name: directories relative to the pool's mountpoint
   * (the monitoring dataset). @default none
   */
  readonly extraDatasets?: Readonly<Record<string, readonly string[]>>;
}

export { idPart } from "../../common/contracts/cib-ids.js";

/**
 * Exports of a pool that some client mounts `async`, as directories relative to its mountpoint.
 * nfs-ganesha has no async option (it always honours stable writes and COMMIT): the dataset's
 * `sync=disabled` gives the same acknowledged-before-stable writes. Every client of such an
 * export must agree: one dataset cannot be both.
 */
function asyncExportDirs(site: SiteSpec, pool: SiteSpec["storage"]["pools"][number]): string[] {
  const root = `${pool.mountpoint.replace(/\/+$/, "")}/`;
  const out: string[] = [];
  for (const e of site.nfs.groups.flatMap((g) => g.exports)) {
    if (!e.path.startsWith(root)) continue;
    const modes = new Set(e.clients.map((c) => (c.options.split(",").includes("async") ? "async" : "sync")));
    if (modes.size > 1) throw new Error(`HaNfsCluster: export ${e.path} has sync and async clients: with nfs-ganesha the dataset's sync property decides for every client, got "${e.clients.map((c) => c.options).join('", "')}"`);
    if (modes.has("async")) out.push(e.path.slice(root.length).replace(/\/+$/, ""));
  }
  return out;
}

/**
 * The highly available NFS service on ZFS: corosync membership, the Pacemaker CIB and the
 * per-node files both need. One resource group per NFS group of the site, started in the order
 * pool → NFS server → exports → floating IP → nfsnotify, so an export never outlives its pool
 * and a pool is never exported while the NFS server holds it.
 *
 * Active/passive: one group holds the pools, the NFS server (its state on the first pool), the
 * exports and the IP. Active/active: one group per pool with its own IP; the kernel NFS server
 * is a clone on every node (a node can host both groups after a failover, and there is one
 * kernel nfsd per node), so NFSv4 clients of a moved group reclaim their state in the grace
 * period instead of finding it on the pool.
 */
export class HaNfsCluster extends Construct {
  readonly corosync: CorosyncCluster;
  readonly pacemaker: PacemakerCluster;
  readonly pools: readonly ZfsPool[];
  /** Each NFS group as the CIB runs it (ids, address, pools, exports), in the site's order: what other domains are handed. */
  readonly groups: readonly NfsGroupResources[];
  private readonly hosts: Readonly<Record<string, Bundle>>;

  constructor(scope: Construct, id: string, props: HaNfsClusterProps) {
    super(scope, id);
    const site = props.site;
    this.hosts = props.hosts;
    const hostOf = (name: string) => bundleOf(props.hosts, name, "management node", `HaNfsCluster [${this.node.path}]`);
    const allHosts = site.nodes.map((n) => hostOf(n.name));

    this.corosync = new CorosyncCluster(this, "corosync", {
      clusterName: site.cluster.name,
      tokenMs: site.cluster.corosync.tokenMs,
      cryptoCipher: site.cluster.corosync.cryptoCipher,
      cryptoHash: site.cluster.corosync.cryptoHash,
      nodes: site.nodes.map((n) => ({
        name: n.name,
        nodeid: n.id,
        addresses: n.addresses.map((a) => a.address),
        host: hostOf(n.name),
      })),
    });

    for (const n of site.nodes) new ZfsHost(this, `zfs-host-${n.name}`, { host: hostOf(n.name), hostid: n.hostid, multihost: site.storage.multihost });

    const pacemaker = (this.pacemaker = new PacemakerCluster(this, "pacemaker", {
      bundle: props.cluster,
      target: props.cibTarget,
      nodes: site.nodes.map((n) => ({ id: n.id, name: n.name })),
      stonithEnabled: site.fencing.stonith,
      noQuorumPolicy: site.cluster.noQuorumPolicy,
      stickiness: site.cluster.stickiness,
      maintenanceMode: site.cluster.maintenanceMode,
      dcDeadtimeSec: site.cluster.dcDeadtimeSec,
    }));

    const pools = new Map(
      site.storage.pools.map((p) => [
        p.name,
        new ZfsPool(this, `pool-${p.name}`, {
          cluster: pacemaker,
          pool: p.name,
          vdevs: p.vdevs,
          mountpoint: p.mountpoint,
          ashift: p.ashift,
          properties: p.properties,
          importTimeoutSec: p.importTimeoutSec,
          monitorIntervalSec: site.nfs.monitorIntervalSec,
          hosts: allHosts,
          datasetDirs: [...props.exportDirs[p.name]!, ...(props.extraDatasets?.[p.name] ?? [])],
          ...(site.nfs.server === "ganesha" ? { syncDisabledDirs: asyncExportDirs(site, p) } : {}),
        }),
      ]),
    );
    this.pools = [...pools.values()];

    const monitorIntervalSec = site.nfs.monitorIntervalSec;
    const ganesha = site.nfs.server === "ganesha";
    const activeActive = site.cluster.mode === "active-active";
    if (!ganesha) this.kernelNfsSettings(allHosts, site.nfs.v4LeaseSec, site.nfs.v4GraceSec);
    const sharedServer = activeActive && !ganesha
      ? new NfsServer(this, "nfs-server", { cluster: pacemaker, resourceId: CibId.sharedNfsServer, hosts: allHosts, monitorIntervalSec })
      : undefined;
    if (sharedServer) pacemaker.addClone(CibId.sharedNfsServerClone, sharedServer, { interleave: "true" });

    const groups: NfsGroupResources[] = [];
    for (const g of site.nfs.groups) {
      const groupId = CibId.group(g.name);
      const groupPools = g.pools.map((p) => pools.get(p)!);
      const members: Primitive[] = [...groupPools];
      const stateDir = `${groupPools[0]!.mountpoint}/.nfs-state`;
      if (ganesha) {
        // ganesha serves every export of the group itself; there is no NLM to notify.
        members.push(
          new NfsGanesha(this, `nfs-ganesha-${g.name}`, {
            cluster: pacemaker,
            resourceId: CibId.ganesha(g.name),
            group: g.name,
            floatingIp: g.floatingIp.address,
            exports: g.exports.map((e) => ({ path: e.path, fsid: String(e.fsid), clients: e.clients })),
            recoveryRoot: `${stateDir}/ganesha`,
            leaseSec: site.nfs.v4LeaseSec,
            graceSec: site.nfs.v4GraceSec,
            monitorIntervalSec,
            hosts: allHosts,
          }),
        );
      } else if (!sharedServer) {
        members.push(
          new NfsServer(this, `nfs-server-${g.name}`, {
            cluster: pacemaker,
            resourceId: CibId.nfsServer(g.name),
            sharedInfoDir: stateDir,
            floatingIp: g.floatingIp.address,
            hosts: allHosts,
            monitorIntervalSec,
          }),
        );
      }
      if (!ganesha) {
        for (const ex of g.exports) {
          for (const client of ex.clients) {
            members.push(
              new NfsExport(this, `export-${g.name}-${idPart(ex.path)}-${idPart(client.spec)}`, {
                cluster: pacemaker,
                resourceId: CibId.export(ex.path, client.spec),
                directory: ex.path,
                clientspec: client.spec,
                options: client.options,
                fsid: String(ex.fsid),
                monitorIntervalSec,
              }),
            );
          }
        }
      }
      const ip = new FloatingIp(this, `ip-${g.name}`, {
        cluster: pacemaker,
        resourceId: CibId.floatingIp(g.name),
        address: g.floatingIp.address,
        cidr: g.floatingIp.cidr,
        nic: g.floatingIp.nic,
        monitorIntervalSec,
      });
      members.push(ip);
      if (!ganesha) {
        members.push(new NfsNotify(this, `notify-${g.name}`, { cluster: pacemaker, resourceId: CibId.notify(g.name), sourceHost: ip.address }));
      }
      pacemaker.addGroup(groupId, members);
      if (sharedServer) {
        pacemaker.addOrder(CibId.sharedNfsServerClone, groupId);
        pacemaker.addColocation(groupId, CibId.sharedNfsServerClone);
      }
      if (g.preferredNode) pacemaker.addLocation(groupId, g.preferredNode, site.cluster.preferredNodeScore);
      const resources: NfsGroupResources = { name: g.name, groupId, ipResourceId: ip.resourceId, address: ip.address, pools: [...g.pools], exports: g.exports.map((e) => e.path) };
      groups.push(resources);
      props.cluster.recordNfsGroup(resources);
    }
    this.groups = groups;

    this.addFencing(site);
  }

  /** The kernel server's NFSv4 lease and grace (nfs.conf), read when nfsd starts. */
  private kernelNfsSettings(hosts: readonly Bundle[], leaseSec?: number, graceSec?: number): void {
    if (leaseSec === undefined && graceSec === undefined) return;
    const lines = ["[nfsd]", ...(leaseSec !== undefined ? [`lease-time=${leaseSec}`] : []), ...(graceSec !== undefined ? [`grace-time=${graceSec}`] : [])];
    for (const host of hosts) {
      new GeneratedFile(this, `nfs-conf-${host.name}`, {
        bundle: host,
        path: "/etc/nfs.conf.d/hpcdk.conf",
        content: (header) => `${header}${lines.join("\n")}\n`,
        impact: { kind: "restart", detail: "nfsd reads it at start: the NFS server restarts (a failover, with its grace period)" },
      });
    }
  }

  private addFencing(site: SiteSpec): void {
    const nodeNames = site.nodes.map((n) => n.name);
    const allPoolDevices = site.storage.pools.flatMap((p) => p.vdevs.flatMap((v) => v.devices));
    // Two nodes that lose each other would fence each other at once: a random delay breaks the tie.
    const randomDelayMaxSec = site.nodes.length === 2 ? 15 : undefined;
    if (site.fencing.devices.length > 0) {
      // Debian has every agent in fence-agents; RHEL's fence-agents-all has fence_scsi (not powerman).
      for (const n of site.nodes) this.hosts[n.name]!.addPackage({ debian: "fence-agents", rhel: "fence-agents-all" });
    }
    for (const d of site.fencing.devices) {
      if (d.agent === "fence_scsi") {
        new FenceScsi(this, `fence-${d.name}`, {
          cluster: this.pacemaker,
          resourceId: d.name,
          devices: d.devices ?? allPoolDevices,
          hosts: nodeNames,
          monitorIntervalSec: d.monitorIntervalSec,
          randomDelayMaxSec,
        });
      } else {
        new FencePowerman(this, `fence-${d.name}`, {
          cluster: this.pacemaker,
          resourceId: d.name,
          ip: d.ip,
          ipport: d.ipport,
          plugs: Object.fromEntries(site.nodes.map((n) => [n.name, n.power.plug])),
          delaySec: d.delaySec,
          powerWaitSec: d.powerWaitSec,
          randomDelayMaxSec,
          monitorIntervalSec: d.monitorIntervalSec,
        });
      }
    }
    site.fencing.levels.forEach((level, i) => {
      for (const target of level.nodes ?? nodeNames) this.pacemaker.addFencingLevel(target, i + 1, level.devices);
    });
  }
}
