/**
 * Rules that relate fields of a site to each other. Each violation is reported with the path of
 * the field to fix, and every violation is reported, not only the first.
 */
import type { z } from "zod";
import { CibId, XML_ID } from "../common/contracts/cib-ids.js";
import { countHostlist, expandHostlist, MAX_HOSTS } from "../common/hostlist.js";
import { hostAddressProblem, networkContains, networkOf, parseCidr, type Cidr } from "../common/net.js";
import { datasetComponentProblem, shown, uniqueness as unique } from "./common.js";
import { SiteObjectSchema, type SiteSpec } from "./site.js";
import { checkSlurm } from "./slurm-rules.js";
import { checkContainers } from "./containers-rules.js";
import { checkStreaming } from "./streaming-rules.js";
import { checkMonitoring, monitoringWarnings } from "./monitoring-rules.js";
import { mmpImportWaitSec } from "./multihost.js";

type Path = (string | number)[];

/** Smallest number of devices ZFS accepts per vdev type. */
const MIN_VDEV_DEVICES: Record<string, number> = { stripe: 1, mirror: 2, raidz1: 2, raidz2: 3, raidz3: 4 };

const quote = (s: string | number) => shown(s);

/** The most exportfs resources (exports × clients) a site may have: Pacemaker slows down with thousands of resources. */
export const MAX_EXPORT_RESOURCES = 2048;

// The rules relate fields to each other, so they run once the shape is right: problems with the
// shape are reported all together first, then every rule violation together.
export const SiteSchema = SiteObjectSchema.superRefine(checkSite, { when: (payload) => payload.issues.length === 0 }).describe(
  "An hpcdk site: an HA NFS service on ZFS run by Pacemaker/Corosync.",
);

export function checkSite(site: SiteSpec, ctx: z.RefinementCtx<SiteSpec>): void {
  const report = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  /** Reports a second use of a value that must be unique, naming where it was first used. */
  const uniqueness = (what: string) => unique(report, what);

  // The rules below expand hostlists: a site over the host cap is refused before any of them runs.
  if (!checkHostCount(site, report)) return;
  checkNodes(site, report, uniqueness);
  checkStorage(site, report, uniqueness);
  checkGroups(site, report, uniqueness);
  checkFencing(site, report, uniqueness);
  checkNodeGroups(site, report, uniqueness);
  checkDeploy(site, report);
  checkSlurm(site, report);
  checkContainers(site, report);
  checkStreaming(site, report);
  checkMonitoring(site, report);
  checkAcrossSections(site, report);
  checkCibIds(site, report);
}

/** At most MAX_HOSTS hosts in the node groups together, counted without expanding. */
function checkHostCount(site: SiteSpec, report: Report): boolean {
  let total = site.nodes.length;
  for (const [g, group] of site.nodeGroups.entries()) {
    total += countHostlist(group.hosts);
    if (total > MAX_HOSTS) {
      report(
        ["nodeGroups", g, "hosts"],
        `the site names more than ${MAX_HOSTS.toLocaleString("en")} hosts with this group, the most one site may have (the largest machine built, Fugaku, has 158,976 nodes)`,
      );
      return false;
    }
  }
  return true;
}

/**
 * The ids the CIB will hold are unique, XML ids, and none is also the id of another object's
 * attributes or operations (`zfs-tank-instance_attributes`): Pacemaker refuses such a CIB.
 */
function checkCibIds(site: SiteSpec, report: Report): void {
  const planned = plannedCibIds(site);
  const exportResources = planned.filter((p) => p.id.startsWith("export-")).length;
  if (exportResources > MAX_EXPORT_RESOURCES) {
    report(["nfs", "groups"], `the exports and their clients make ${exportResources} exportfs resources, more than ${MAX_EXPORT_RESOURCES}: export a parent directory, or name networks instead of hosts`);
    return;
  }
  const first = new Map<string, PlannedId>();
  for (const p of planned) {
    if (!XML_ID.test(p.id)) {
      report([...p.path], `makes the CIB id ${quote(p.id)} (${p.what}), which is not an XML id`);
      continue;
    }
    const other = first.get(p.id);
    if (other) report([...p.path], `makes the CIB id ${quote(p.id)} (${p.what}), which is already ${other.what} (${other.path.join(".")})`);
    else first.set(p.id, p);
  }
  for (const p of first.values()) {
    const owner = subIdClash(p.id, first);
    if (owner) report([...p.path], `makes the CIB id ${quote(p.id)} (${p.what}), which is also an attribute id of ${owner.what} (${owner.path.join(".")})`);
  }
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
  return [...node.addresses, ...node.serviceAddresses];
}

/**
 * Why ganesha cannot read a clientspec as one client, or undefined. ganesha's Clients takes no
 * quoted strings: each client is one token of its lexer (an address or network, "*", @netgroup,
 * a name that starts with a letter, or a wildcard pattern), so a name starting with a digit would
 * split into two tokens and ganesha would refuse its configuration at start.
 * @see https://github.com/nfs-ganesha/nfs-ganesha/blob/next/src/config_parsing/conf_lex.l
 */
export function ganeshaClientProblem(spec: string): string | undefined {
  if (spec === "*" || spec.startsWith("@") || typeof parseCidr(spec.includes("/") ? spec : `${spec}/${spec.includes(":") ? 128 : 32}`) !== "string") return undefined;
  if (/^[A-Za-z_]/.test(spec) || /[*?]/.test(spec)) return undefined;
  return `${quote(spec)} starts with a digit, which ganesha's configuration cannot hold as a client name (it would read a number first): use its address or a name that starts with a letter`;
}

function checkNodes(site: SiteSpec, report: Report, uniqueness: Uniqueness): void {
  const names = uniqueness("node name");
  const ids = uniqueness("node id");
  const addresses = uniqueness("address");
  const hostids = uniqueness("hostid");
  const plugs = uniqueness("power plug");
  const linkCount = site.nodes[0]!.addresses.length;
  const { cryptoCipher, cryptoHash } = site.cluster.corosync;
  if (cryptoCipher !== "none" && cryptoHash === "none") {
    report(["cluster", "corosync", "cryptoHash"], `crypto_cipher ${cryptoCipher} needs a crypto_hash (corosync refuses encryption without authentication), got "none"`);
  }
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
      node[field].forEach((a, j) => addresses(a.address, ["nodes", i, field, j])),
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
      const first = site.nodes[0]!.addresses[link]!;
      if (!networkContains(first, a.address)) {
        report(
          ["nodes", i, "addresses", link],
          `${quote(a.text)} is not in ${networkOf(first)}, the network of corosync link ${link} on ${site.nodes[0]!.name}`,
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
    site.nodes.flatMap((n, i) => [...n.addresses, ...n.serviceAddresses].map((a) => [a.address, `nodes.${i} (${n.name})`] as const)),
  );

  if (site.nfs.server === "ganesha" && site.cluster.mode !== "active-passive") {
    report(["nfs", "server"], "ganesha runs one server per node for all exports, and in active-active a failover puts two groups on one node, where two ganesha instances collide: hpcdk renders one ganesha per node, not one per group bound to its floating IP, and stopping one ganesha takes the NFS and MOUNT registrations out of rpcbind for the other (README, NFS server): use cluster.mode active-passive (one ganesha for every pool), or nfs.server kernel for active-active (one export set per group on the one kernel server, as real active/active NFS sites run)");
  }
  const { v4LeaseSec, v4GraceSec } = site.nfs;
  // The kernel's nfsd takes 10 to 3600 s for both (fs/nfsd/nfsctl.c); ganesha takes any lease
  // (its reaper then runs every lease/2), and the schema's floor of 5 s keeps a Linux client's
  // renewal (every 2/3 of the lease) 1.7 s ahead of its expiry.
  if (site.nfs.server === "kernel") {
    if (v4LeaseSec !== undefined && v4LeaseSec < 10) report(["nfs", "v4LeaseSec"], `the kernel NFS server takes a lease of 10 s or more, got ${v4LeaseSec} (a shorter one needs nfs.server: ganesha)`);
    if (v4GraceSec !== undefined && v4GraceSec < 10) report(["nfs", "v4GraceSec"], `the kernel NFS server takes a grace period of 10 s or more, got ${v4GraceSec} (a shorter one needs nfs.server: ganesha)`);
  }
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
        const bad = ex.path.split("/").filter(Boolean).find((part) => datasetComponentProblem(part) !== undefined);
        if (bad !== undefined) report(at("exports", e, "path"), `${datasetComponentProblem(bad)}, in ${quote(ex.path)}`);
      }
      const specs = uniqueness("client");
      ex.clients.forEach((c, k) => {
        specs(c.spec, at("exports", e, "clients", k, "spec"));
        if (site.nfs.server === "ganesha") {
          const why = ganeshaClientProblem(c.spec);
          if (why) report(at("exports", e, "clients", k, "spec"), why);
        }
      });
      // nfs-ganesha has no async option: the dataset's sync property stands for every client of
      // the export (HaNfsCluster sets sync=disabled for async ones), so they must agree.
      if (site.nfs.server === "ganesha") {
        const isAsync = (options: string) => options.split(",").includes("async");
        const first = ex.clients.findIndex((c) => isAsync(c.options) !== isAsync(ex.clients[0]!.options));
        if (first > 0) {
          report(
            at("exports", e, "clients", first, "options"),
            `${isAsync(ex.clients[first]!.options) ? "async" : "sync"}, but clients.0 of this export is ${isAsync(ex.clients[0]!.options) ? "async" : "sync"}: with nfs-ganesha the dataset's sync property decides for every client of ${quote(ex.path)}, so they must all be sync or all async`,
          );
        }
      }
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
    const notHost = hostAddressProblem(net);
    if (notHost) report(at("floatingIp", "address"), notHost);
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
    const levelNodes = uniqueness("node");
    level.nodes?.forEach((n, k) => {
      if (!nodeNames.includes(n)) report(["fencing", "levels", l, "nodes", k], `unknown node ${quote(n)} (nodes: ${nodeNames.join(", ")})`);
      levelNodes(n, ["fencing", "levels", l, "nodes", k]);
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

/** Something allowed that an admin must hear about at every synth; `path` is the field it is about. */
export interface SiteWarning {
  readonly path?: readonly (string | number)[];
  readonly message: string;
}

/** Things that are allowed but that an admin must hear about at every synth. */
export function siteWarnings(site: SiteSpec): SiteWarning[] {
  const warnings: SiteWarning[] = [];
  const say = (message: string) => warnings.push({ message });
  if (!site.fencing.stonith) {
    warnings.push({
      message: "fencing.stonith is false: Pacemaker will not fence a lost node, so a pool can be imported on two nodes at once and be corrupted",
    });
  }
  site.nfs.groups.forEach((g, gi) =>
    g.exports.forEach((ex, ei) =>
      ex.clients.forEach((c, ci) => {
        if (!EVERYONE.includes(c.spec)) return;
        const options = c.options.split(",");
        const risky = RISKY_EXPORT_OPTIONS.filter((o) => options.includes(o));
        if (risky.length === 0) return;
        say(
          `nfs.groups.${gi}.exports.${ei}.clients.${ci}: ${ex.path} is exported to everyone (${c.spec}) with ${risky.join(", ")}: any host that reaches ${g.floatingIp.address} can ${options.includes("no_root_squash") ? "act as root on the export" : "mount it from an unprivileged port"}`,
        );
      }),
    ),
  );
  const { cryptoCipher, cryptoHash } = site.cluster.corosync;
  if (cryptoCipher === "none" || cryptoHash === "none") {
    say(
      `cluster.corosync: crypto_cipher ${cryptoCipher}, crypto_hash ${cryptoHash}: cluster traffic is ${cryptoHash === "none" ? "not authenticated, so any host on the cluster network can join or disrupt the cluster" : "not encrypted"}`,
    );
  }
  if (site.cluster.noQuorumPolicy === "ignore" && site.nodes.length > 2) {
    say(`cluster.noQuorumPolicy is ignore with ${site.nodes.length} nodes: a partition without quorum keeps its resources, so both sides of a split can run a pool`);
  }
  if (site.cluster.maintenanceMode) {
    say("cluster.maintenanceMode is true: Pacemaker starts, stops and moves nothing, so no failover happens until it is turned off");
  }
  const api = site.slurm?.restApi;
  if (api) {
    const open = api.nginx.allow.length === 0 ? "everyone (no restApi.nginx.allow)" : api.nginx.allow.find((a) => OPEN_NETWORKS.includes(a));
    if (open) say(`slurm.restApi.nginx: the REST API on ${api.hosts.join(", ")} port ${api.nginx.port} is open to ${open}: name the networks that may reach it in allow`);
  }
  if (site.containers?.apptainer?.mountHostfs) {
    say("containers.apptainer.mountHostfs is true: every container sees every file system of the host");
  }
  for (const m of monitoringWarnings(site)) say(m);
  // A group described for Slurm (its hardware is what a Slurm node definition needs) that no
  // partition and no login list names is left out of slurm.conf: its hosts vanish from Slurm
  // without a word. A group meant to run no Slurm says so (slurm: false).
  const named = new Set([...(site.slurm?.partitions.flatMap((p) => p.nodeGroups) ?? []), ...(site.slurm?.loginGroups ?? [])]);
  site.nodeGroups.forEach((g, i) => {
    if (!g.hardware || g.slurm === false || named.has(g.name)) return;
    const count = expandHostlist(g.hosts).length;
    const hosts = `${count} host${count === 1 ? "" : "s"}, ${g.hosts}`;
    warnings.push({
      path: ["nodeGroups", i, "hardware"],
      message: site.slurm
        ? `node group ${quote(g.name)} (${hosts}) has Slurm hardware but is in no partition (slurm.partitions[].nodeGroups) and not in slurm.loginGroups: ` +
          `its hosts are left out of slurm.conf; add it to a partition, or set nodeGroups.${i}.slurm: false if it runs no Slurm`
        : `node group ${quote(g.name)} (${hosts}) has Slurm hardware but the site has no slurm section: its hosts run no Slurm; ` +
          `add the slurm section with a partition for it, or set nodeGroups.${i}.slurm: false if it runs no Slurm`,
    });
  });
  return warnings;
}

/** Clientspecs that name every host. */
const EVERYONE = ["*", "0.0.0.0/0", "::/0"];
/** Networks that hold every address. */
const OPEN_NETWORKS = ["0.0.0.0/0", "::/0", "0.0.0.0", "::"];
/** Export options that are dangerous for a world-wide export. */
const RISKY_EXPORT_OPTIONS = ["no_root_squash", "insecure"];

// ---------------------------------------------------------------------------------------------
// The ids of the CIB (common/contracts/cib-ids.ts names them): two objects with one id, or an id
// that is also the id of another object's attributes (`<resource>-instance_attributes`,
// `<resource>-monitor-interval-10s`), make a CIB that Pacemaker refuses; the rule reports them as
// site errors at the fields that made them.

/** What an attribute set, attribute or operation of an object with id `owner` is called: `<owner>-<suffix>`. */
const SUB_ID = /^(?:(?:instance_attributes|meta_attributes)(?:-.*)?|(?:start|stop|monitor)-interval-[0-9]+s)$/;

/** An id the CIB of a site will hold, what it names, and the site field it comes from. */
export interface PlannedId {
  readonly id: string;
  readonly what: string;
  readonly path: readonly (string | number)[];
}

/**
 * Every id of objects the site's CIB will hold, in the order the constructs make them. The
 * attribute and operation ids below them are `<id>-…` (see {@link subIdClash}).
 */
export function plannedCibIds(site: SiteSpec): PlannedId[] {
  const ids: PlannedId[] = [
    { id: CibId.clusterProperties, what: "the cluster properties", path: ["cluster"] },
    { id: CibId.resourceDefaults, what: "the resource defaults", path: ["cluster"] },
  ];
  const add = (id: string, what: string, path: readonly (string | number)[]) => ids.push({ id, what, path });
  site.storage.pools.forEach((p, i) => add(CibId.pool(p.name), `the pool resource of ${p.name}`, ["storage", "pools", i, "name"]));
  const ganesha = site.nfs.server === "ganesha";
  const shared = site.cluster.mode === "active-active" && !ganesha;
  if (shared) {
    add(CibId.sharedNfsServer, "the NFS server", ["nfs", "server"]);
    add(CibId.sharedNfsServerClone, "the NFS server clone", ["nfs", "server"]);
  }
  site.nfs.groups.forEach((g, gi) => {
    const at = (...rest: (string | number)[]) => ["nfs", "groups", gi, ...rest];
    add(CibId.group(g.name), `the resource group of NFS group ${g.name}`, at("name"));
    if (ganesha) add(CibId.ganesha(g.name), `the ganesha resource of NFS group ${g.name}`, at("name"));
    else if (!shared) add(CibId.nfsServer(g.name), `the NFS server of NFS group ${g.name}`, at("name"));
    if (!ganesha) {
      g.exports.forEach((ex, ei) =>
        ex.clients.forEach((c, ci) => add(CibId.export(ex.path, c.spec), `the export of ${ex.path} to ${c.spec}`, at("exports", ei, "clients", ci, "spec"))),
      );
    }
    add(CibId.floatingIp(g.name), `the floating IP of NFS group ${g.name}`, at("name"));
    if (!ganesha) add(CibId.notify(g.name), `the nfsnotify resource of NFS group ${g.name}`, at("name"));
    if (shared) {
      add(CibId.order(CibId.sharedNfsServerClone, CibId.group(g.name)), `the order of NFS group ${g.name} after the NFS server`, at("name"));
      add(CibId.colocation(CibId.group(g.name), CibId.sharedNfsServerClone), `the colocation of NFS group ${g.name} with the NFS server`, at("name"));
    }
    if (g.preferredNode) add(CibId.location(CibId.group(g.name), g.preferredNode), `the preferred node of NFS group ${g.name}`, at("preferredNode"));
  });
  site.fencing.devices.forEach((d, i) => add(d.name, `fence device ${d.name}`, ["fencing", "devices", i, "name"]));
  const nodeNames = site.nodes.map((n) => n.name);
  site.fencing.levels.forEach((level, l) => {
    (level.nodes ?? nodeNames).forEach((node, k) =>
      add(CibId.fencingLevel(node, l + 1), `fencing level ${l + 1} of ${node}`, level.nodes ? ["fencing", "levels", l, "nodes", k] : ["fencing", "levels", l]),
    );
  });
  const slurm = site.slurm;
  if (slurm?.controllerIp && slurm.stateSave) {
    const at = ["slurm", "controllerIp"];
    add(CibId.slurmctldGroup, "the group of the Pacemaker-run slurmctld", at);
    add(CibId.slurmState, "the mount of slurmctld's state", at);
    add(CibId.slurmctldIp, "slurmctld's floating IP", at);
    add(CibId.slurmctld, "the slurmctld resource", at);
    const nfsGroup = site.nfs.groups.find((g) => g.exports.some((e) => e.path === slurm.stateSave!.export));
    if (nfsGroup) add(CibId.order(CibId.group(nfsGroup.name), CibId.slurmctldGroup), "the order of slurmctld after its NFS group", at);
    for (const n of site.nodes) {
      if (!slurm.controllers.includes(n.name) || n.name === slurm.controllers[0]) {
        add(CibId.location(CibId.slurmctldGroup, n.name), `where slurmctld may run (${n.name})`, at);
      }
    }
  }
  return ids;
}

/**
 * The planned id whose attribute or operation ids `id` would be (`zfs-tank-instance_attributes`
 * of `zfs-tank`), or undefined.
 */
export function subIdClash(id: string, planned: ReadonlyMap<string, PlannedId>): PlannedId | undefined {
  for (let k = id.indexOf("-"); k > 0; k = id.indexOf("-", k + 1)) {
    const owner = planned.get(id.slice(0, k));
    if (owner && SUB_ID.test(id.slice(k + 1))) return owner;
  }
  return undefined;
}
