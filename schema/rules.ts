/**
 * Rules that relate fields of a site to each other. Each violation is reported with the path of
 * the field to fix, and every violation is reported, not only the first.
 */
import type { z } from "zod";
import { expandHostlist } from "../common/hostlist.js";
import { networkContains, networkOf, parseCidr, type Cidr } from "../common/net.js";
import { SiteObjectSchema, type SiteSpec } from "./site.js";
import { checkSlurm } from "./slurm-rules.js";
import { checkContainers } from "./containers-rules.js";
import { checkStreaming } from "./streaming-rules.js";
import { mmpImportWaitSec } from "./multihost.js";

type Path = (string | number)[];

/** Smallest number of devices ZFS accepts per vdev type. */
const MIN_VDEV_DEVICES: Record<string, number> = { stripe: 1, mirror: 2, raidz1: 2, raidz2: 3, raidz3: 4 };

const quote = (s: string | number) => JSON.stringify(s);
const dotted = (p: Path) => p.join(".");

// The rules relate fields to each other, so they run once the shape is right: problems with the
// shape are reported all together first, then every rule violation together.
export const SiteSchema = SiteObjectSchema.superRefine(checkSite, { when: (payload) => payload.issues.length === 0 }).describe(
  "An hpcdk site: an HA NFS service on ZFS run by Pacemaker/Corosync.",
);

export function checkSite(site: SiteSpec, ctx: z.RefinementCtx<SiteSpec>): void {
  const report = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  /** Reports a second use of a value that must be unique, naming where it was first used. */
  const uniqueness = (what: string) => {
    const seen = new Map<string, Path>();
    return (value: string, path: Path) => {
      const first = seen.get(value);
      if (first) report(path, `${what} ${quote(value)} is already used by ${dotted(first)}`);
      else seen.set(value, path);
    };
  };

  checkNodes(site, report, uniqueness);
  checkStorage(site, report, uniqueness);
  checkGroups(site, report, uniqueness);
  checkFencing(site, report, uniqueness);
  checkNodeGroups(site, report, uniqueness);
  checkDeploy(site, report);
  checkSlurm(site, report);
  checkContainers(site, report);
  checkStreaming(site, report);
  checkAcrossSections(site, report);
}

/**
 * Rules between the domains' sections: what one needs from another (a domain never reads
 * another's section itself).
 */
function checkAcrossSections(site: SiteSpec, report: Report): void {
  const s = site.streaming;
  if (!s) return;
  const group = s.launch.nodeGroup;
  // When hpcdk installs the container runtimes, the brokers' must be on their hosts. (A site
  // without a containers section installs its runtimes some other way.)
  const runtime = s.runtime === "podman" ? "podman" : "apptainer";
  const installs = site.containers?.[runtime]?.groups ?? [];
  if (site.containers && !installs.includes(group)) {
    report(
      ["streaming", "runtime"],
      `${quote(s.runtime)} is not installed on node group ${quote(group)}: add it to containers.${runtime}.groups`,
    );
  }
  if (s.launch.via === "slurm") {
    const launch = s.launch;
    // Likewise only when hpcdk configures Slurm: the partition must exist and hold the group.
    if (!site.slurm) return;
    const partition = site.slurm.partitions.find((p) => p.name === launch.partition);
    if (launch.partition !== undefined && !partition) {
      report(
        ["streaming", "launch", "partition"],
        `unknown Slurm partition ${quote(launch.partition)} (partitions: ${site.slurm.partitions.map((p) => p.name).join(", ")})`,
      );
    } else if (partition && !partition.nodeGroups.includes(group)) {
      report(["streaming", "launch", "partition"], `partition ${quote(partition.name)} does not hold node group ${quote(group)}`);
    }
  }
}

function checkDeploy(site: SiteSpec, report: Report): void {
  const known = new Set([...site.nodes.map((n) => n.name), ...site.nodeGroups.flatMap((g) => expandHostlist(g.hosts))]);
  for (const host of Object.keys(site.deploy.hosts).sort()) {
    if (!known.has(host)) report(["deploy", "hosts", host], `unknown host ${quote(host)}: not a management node or a node-group host`);
  }
}

type Report = (path: Path, message: string) => void;
type Uniqueness = (what: string) => (value: string, path: Path) => void;

function nodeNetworks(node: SiteSpec["nodes"][number]): Cidr[] {
  return [...node.addresses, ...node.serviceAddresses]
    .map((a) => parseCidr(a))
    .filter((c): c is Cidr => typeof c !== "string");
}

function checkNodes(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const names = uniqueness("node name");
  const ids = uniqueness("node id");
  const addresses = uniqueness("address");
  const hostids = uniqueness("hostid");
  const plugs = uniqueness("power plug");
  const linkCount = site.nodes[0]!.addresses.length;
  site.nodes.forEach((node, i) => {
    names(node.name, ["nodes", i, "name"]);
    ids(String(node.id), ["nodes", i, "id"]);
    // The hostid and the plug default to values derived from the name: a repeated name is
    // reported once, not three times.
    if (site.nodes.findIndex((n) => n.name === node.name) === i) {
      hostids(node.hostid, ["nodes", i, "hostid"]);
      plugs(node.power.plug, ["nodes", i, "power", "plug"]);
    }
    (["addresses", "serviceAddresses"] as const).forEach((field) =>
      node[field].forEach((a, j) => addresses(a.split("/")[0]!, ["nodes", i, field, j])),
    );
    if (node.addresses.length !== linkCount) {
      report(
        ["nodes", i, "addresses"],
        `has ${node.addresses.length} address(es) but nodes.0 has ${linkCount}: every node needs one address per corosync link`,
      );
      return;
    }
    if (i === 0) return;
    node.addresses.forEach((a, link) => {
      const first = parseCidr(site.nodes[0]!.addresses[link]!);
      const mine = parseCidr(a);
      if (typeof first === "string" || typeof mine === "string") return;
      if (!networkContains(first, mine.address)) {
        report(
          ["nodes", i, "addresses", link],
          `${quote(a)} is not in ${networkOf(first)}, the network of corosync link ${link} on ${site.nodes[0]!.name}`,
        );
      }
    });
  });
}

function checkStorage(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const pools = uniqueness("pool name");
  const devices = uniqueness("device");
  const mountpoints = uniqueness("mountpoint");
  site.storage.pools.forEach((pool, i) => {
    pools(pool.name, ["storage", "pools", i, "name"]);
    mountpoints(pool.mountpoint, ["storage", "pools", i, "mountpoint"]);
    pool.vdevs.forEach((vdev, v) => {
      const min = MIN_VDEV_DEVICES[vdev.type]!;
      if (vdev.devices.length < min) {
        report(["storage", "pools", i, "vdevs", v, "devices"], `a ${vdev.type} vdev needs at least ${min} devices, got ${vdev.devices.length}`);
      }
      vdev.devices.forEach((d, k) => devices(d, ["storage", "pools", i, "vdevs", v, "devices", k]));
    });
    // An import after a failover waits for MMP's activity check: a start timeout shorter than
    // that fails every failover start (and then fences the node it ran on).
    const waitSec = mmpImportWaitSec(site.storage.multihost);
    if (pool.importTimeoutSec < waitSec + 30) {
      report(["storage", "pools", i, "importTimeoutSec"], `${pool.importTimeoutSec} s is too short for an import that waits ${waitSec} s for MMP (storage.multihost): give it at least ${Math.ceil(waitSec + 30)}`);
    }
  });
}

function checkGroups(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const groups = site.nfs.groups;
  const poolsByName = new Map(site.storage.pools.map((p) => [p.name, p]));
  const nodeNames = site.nodes.map((n) => n.name);
  const groupNames = uniqueness("group name");
  const poolOwners = uniqueness("pool");
  const exportPaths = uniqueness("export path");
  const fsids = uniqueness("fsid");
  const ips = uniqueness("floating IP");
  const nodeAddresses = new Map(
    site.nodes.flatMap((n, i) => [...n.addresses, ...n.serviceAddresses].map((a) => [a.split("/")[0]!, `nodes.${i} (${n.name})`] as const)),
  );

  if (site.nfs.server === "ganesha" && site.cluster.mode !== "active-passive") {
    report(["nfs", "server"], "ganesha runs one server for all exports: it needs cluster.mode active-passive (use the kernel server for active-active)");
  }
  const { v4LeaseSec, v4GraceSec } = site.nfs;
  if (v4LeaseSec !== undefined && v4GraceSec !== undefined && v4GraceSec < v4LeaseSec) {
    report(["nfs", "v4GraceSec"], `must not be shorter than the lease (nfs.v4LeaseSec: ${v4LeaseSec}), got ${v4GraceSec}: clients could not reclaim their state in time`);
  }
  if (site.cluster.mode === "active-passive" && groups.length !== 1) {
    report(["nfs", "groups"], `active-passive runs exactly one group, got ${groups.length} (set cluster.mode: active-active for one group per pool)`);
  }
  if (site.cluster.mode === "active-active" && groups.length < 2) {
    report(["nfs", "groups"], `active-active needs at least two groups (one per pool), got ${groups.length} (or set cluster.mode: active-passive)`);
  }

  groups.forEach((group, g) => {
    const at = (...rest: Path): Path => ["nfs", "groups", g, ...rest];
    groupNames(group.name, at("name"));
    if (site.cluster.mode === "active-active" && group.pools.length !== 1) {
      report(at("pools"), `in active-active mode each group holds exactly one pool, got ${group.pools.length}`);
    }
    group.pools.forEach((p, k) => {
      if (!poolsByName.has(p)) report(at("pools", k), `unknown pool ${quote(p)} (pools: ${[...poolsByName.keys()].join(", ")})`);
      else poolOwners(p, at("pools", k));
    });
    if (group.preferredNode !== undefined && !nodeNames.includes(group.preferredNode)) {
      report(at("preferredNode"), `unknown node ${quote(group.preferredNode)} (nodes: ${nodeNames.join(", ")})`);
    }

    const mountpoints = group.pools.flatMap((p) => (poolsByName.get(p) ? [poolsByName.get(p)!.mountpoint] : []));
    group.exports.forEach((ex, e) => {
      exportPaths(ex.path, at("exports", e, "path"));
      fsids(String(ex.fsid), at("exports", e, "fsid"));
      if (mountpoints.length > 0 && !mountpoints.some((m) => ex.path === m || ex.path.startsWith(m.endsWith("/") ? m : `${m}/`))) {
        report(at("exports", e, "path"), `${quote(ex.path)} is not on a pool of this group (mountpoints: ${mountpoints.join(", ")})`);
      } else {
        // The pool's creation script makes each exported directory a dataset of the same name.
        const bad = ex.path.split("/").filter(Boolean).find((part) => !/^[A-Za-z0-9_.:-]+$/.test(part));
        if (bad !== undefined) {
          report(at("exports", e, "path"), `${quote(bad)} cannot name a ZFS dataset (letters, digits and _ . : - only), in ${quote(ex.path)}`);
        }
      }
      const specs = uniqueness("client");
      ex.clients.forEach((c, k) => specs(c.spec, at("exports", e, "clients", k, "spec")));
    });

    const ip = group.floatingIp;
    ips(ip.address, at("floatingIp", "address"));
    const owner = nodeAddresses.get(ip.address);
    if (owner) report(at("floatingIp", "address"), `${ip.address} is also the address of ${owner}: a floating IP must not belong to a node`);
    const family = ip.address.includes(":") ? 6 : 4;
    if (family === 4 && ip.cidr > 32) {
      report(at("floatingIp", "cidr"), `must be at most 32 for an IPv4 address, got ${ip.cidr}`);
      return;
    }
    const net: Cidr = { address: ip.address, prefix: ip.cidr, family };
    const outside = site.nodes.filter((n) => !nodeNetworks(n).some((c) => networkContains(net, c.address)));
    if (outside.length > 0) {
      report(
        at("floatingIp", "address"),
        `${ip.address}/${ip.cidr} is outside the networks of ${outside.map((n) => n.name).join(", ")}: every node that may run the group needs an address in ${networkOf(net)}`,
      );
    }
  });

  site.storage.pools.forEach((pool, i) => {
    if (!groups.some((g) => g.pools.includes(pool.name))) {
      report(["storage", "pools", i, "name"], `pool ${quote(pool.name)} is in no nfs group, so Pacemaker would never import it`);
    }
  });
}

function checkFencing(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const fencing = site.fencing;
  const names = uniqueness("fence device name");
  const nodeNames = site.nodes.map((n) => n.name);
  fencing.devices.forEach((d, i) => names(d.name, ["fencing", "devices", i, "name"]));

  if (fencing.stonith && fencing.devices.length === 0) {
    report(
      ["fencing", "devices"],
      "stonith is enabled but no fence device is configured: add a fence_scsi or fence_powerman device (fencing.stonith: false runs without fencing, which is unsafe with shared pools)",
    );
  }

  const scsi = fencing.devices.flatMap((d, i) => (d.agent === "fence_scsi" ? [{ d, i }] : []));
  const explicit = scsi.filter(({ d }) => d.devices !== undefined);
  if (explicit.length > 0 && explicit.length === scsi.length) {
    const covered = new Set(explicit.flatMap(({ d }) => d.devices ?? []));
    site.storage.pools.forEach((pool, p) =>
      pool.vdevs.forEach((vdev, v) =>
        vdev.devices.forEach((dev, k) => {
          if (!covered.has(dev)) {
            report(
              ["fencing", "devices", explicit[0]!.i, "devices"],
              `does not cover ${quote(dev)} (storage.pools.${p}.vdevs.${v}.devices.${k}): fence_scsi must reserve every device of every pool`,
            );
          }
        }),
      ),
    );
  }

  const deviceNames = fencing.devices.map((d) => d.name);
  fencing.levels.forEach((level, l) => {
    const inLevel = uniqueness("fence device");
    level.devices.forEach((d, k) => {
      if (!deviceNames.includes(d)) report(["fencing", "levels", l, "devices", k], `unknown fence device ${quote(d)} (devices: ${deviceNames.join(", ") || "none"})`);
      inLevel(d, ["fencing", "levels", l, "devices", k]);
    });
    level.nodes?.forEach((n, k) => {
      if (!nodeNames.includes(n)) report(["fencing", "levels", l, "nodes", k], `unknown node ${quote(n)} (nodes: ${nodeNames.join(", ")})`);
    });
  });
}

function checkNodeGroups(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const names = uniqueness("node group name");
  const managementNodes = new Set(site.nodes.map((n) => n.name));
  const owner = new Map<string, string>();
  site.nodeGroups.forEach((group, g) => {
    names(group.name, ["nodeGroups", g, "name"]);
    for (const host of expandHostlist(group.hosts)) {
      if (managementNodes.has(host)) {
        report(["nodeGroups", g, "hosts"], `${quote(host)} is a management node (nodes): a host is either a management node or in one node group`);
        break;
      }
      const first = owner.get(host);
      if (first) {
        report(["nodeGroups", g, "hosts"], `${quote(host)} is already in node group ${quote(first)}`);
        break;
      }
      owner.set(host, group.name);
    }
  });
}

/** Things that are allowed but that an admin must hear about at every synth. */
export function siteWarnings(site: SiteSpec): string[] {
  const warnings: string[] = [];
  if (!site.fencing.stonith) {
    warnings.push(
      "fencing.stonith is false: Pacemaker will not fence a lost node, so a pool can be imported on two nodes at once and be corrupted",
    );
  }
  return warnings;
}
