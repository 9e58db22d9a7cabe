/**
 * The site file: one typed description of a site, validated by zod.
 *
 * Field names speak the upstream vocabulary (Pacemaker, corosync, ZFS, exportfs) in camelCase;
 * units are in the names (`tokenMs`, `timeoutSec`). Every optional field states its default.
 * Structural rules live in the shapes; rules that relate fields to each other live in
 * `checkSite` (schema/rules.ts), which reports every violation with its field path.
 */
import { z } from "zod";
import { createHash } from "node:crypto";
import {
  absolutePath,
  hostOrAddress,
  named,
  narrowed,
  nicName,
  ownedDirectory,
  poolName,
  shown,
  stableDevice,
} from "./common.js";
import { DeploySchema } from "./deploy.js";
import { countHostlist, expandHostlist, MAX_HOSTS, tooManyHosts } from "../common/hostlist.js";
import { hostAddressProblem, parseCidr, siteCidr } from "../common/net.js";
import { PACEMAKER_VERSIONS } from "./pacemaker-versions.js";
import { SlurmSchema } from "./slurm.js";
import { ContainersSchema } from "./containers.js";
import { StreamingSchema } from "./streaming.js";
import { LabSchema } from "./lab.js";
import { MonitoringSchema } from "./monitoring.js";
import { MultihostSchema } from "./multihost.js";
import { DrillSchema } from "./drill.js";

/**
 * The hostid a node gets when the site names none: stable for the node's name (renaming the
 * cluster does not change it), never zero. Uniqueness is checked with the other rules.
 */
export function defaultHostid(nodeName: string): string {
  const value = createHash("sha256").update(`hpcdk-hostid:${nodeName}`).digest().readUInt32BE(0) || 1;
  return `0x${value.toString(16).padStart(8, "0")}`;
}

const NAME = /^[a-z][a-z0-9-]{0,62}$/;
const NODE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
/** Names that become part of Pacemaker ids (groups, fence devices): XML ids, at most 64 characters. */
const ID_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

const name = named;

/** A node's address on one of its networks, "ADDRESS/PREFIX": a host address, not the network's own or its broadcast. */
const cidrAddress = narrowed((text) => {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") return parsed;
  return hostAddressProblem(parsed);
}, "^[0-9A-Fa-f.:]+/[0-9]{1,3}$");

export const ipAddress = z.union([z.ipv4(), z.ipv6()], {
  error: (iss) => `must be an IPv4 or IPv6 address, got ${shown(iss.input)}`,
});

/**
 * ZFS dataset properties a pool sets at creation (`zpool create -O k=v`): a property name (user
 * properties have a ":") and a value of letters, digits and `. _ : @ + = , / -`. The mountpoint is
 * its own field, multihost and cachefile are hpcdk's.
 */
const POOL_PROPERTY_KEY = /^[a-z][a-z0-9_:.]{0,255}$/;
const RESERVED_POOL_PROPERTIES = ["mountpoint", "multihost", "cachefile", "ashift"];
const poolPropertyKey = narrowed((k) => {
  if (!POOL_PROPERTY_KEY.test(k)) return `must be a ZFS property name (lowercase letters, digits, "_", ":" and "."), got ${shown(k)}`;
  if (RESERVED_POOL_PROPERTIES.includes(k)) return `${shown(k)} is set by hpcdk (${k === "mountpoint" ? "storage.pools[].mountpoint" : "pool creation"}), not as a dataset property`;
  return undefined;
}, POOL_PROPERTY_KEY.source);
const poolPropertyValue = narrowed(
  (v) => (/^[A-Za-z0-9._:@+=,/-]{1,1024}$/.test(v) ? undefined : `must be a ZFS property value of letters, digits and . _ : @ + = , / - (at most 1024 characters), got ${shown(v)}`),
  "^[A-Za-z0-9._:@+=,/-]+$",
);

/**
 * Export options exports(5) documents. hpcdk renders them into the exportfs resources (kernel
 * server) or maps them to ganesha's Access_Type and Squash, so an unknown word is refused here
 * instead of failing at the first start of the export.
 * @see https://manpages.debian.org/bookworm/nfs-kernel-server/exports.5.en.html
 */
export const EXPORT_OPTIONS: readonly string[] = [
  "secure", "insecure", "rw", "ro", "async", "sync", "no_wdelay", "wdelay", "nohide", "hide", "crossmnt", "no_subtree_check",
  "subtree_check", "insecure_locks", "no_auth_nlm", "secure_locks", "auth_nlm", "mountpoint", "mp", "fsid", "nordirplus",
  "refer", "replicas", "pnfs", "no_pnfs", "security_label", "sec", "root_squash", "no_root_squash", "all_squash",
  "no_all_squash", "anonuid", "anongid", "no_acl", "acl",
];

/** Why an exports(5) option list is refused, or undefined: `word` or `word=value`, comma-separated. */
function exportOptionsProblem(options: string): string | undefined {
  const expected = `must be comma-separated export options like "rw,sync" (exports(5) words, values of letters, digits and . _ : / @ + -)`;
  if (options.length === 0 || options.length > 1024) return `${expected}, got ${shown(options)}`;
  for (const option of options.split(",")) {
    const eq = option.indexOf("=");
    const word = eq < 0 ? option : option.slice(0, eq);
    if (!EXPORT_OPTIONS.includes(word)) return `${expected}, got ${shown(options)} (${shown(word)} is not an exports(5) option)`;
    if (eq >= 0 && !/^[A-Za-z0-9._:/@+-]+$/.test(option.slice(eq + 1))) return `${expected}, got ${shown(options)}`;
    if (word === "fsid") return `${shown(options)}: the fsid is its own field (nfs.groups[].exports[].fsid), not an option`;
  }
  return undefined;
}

/**
 * Why a clientspec is refused, or undefined. One exportfs client, in a form both the kernel's
 * exportfs and ganesha read: an IPv4/IPv6 address or network (ADDRESS/PREFIX), `*`, a host name
 * (wildcards `*` and `?` allowed), or `@netgroup`.
 */
export function clientSpecProblem(spec: string): string | undefined {
  const expected = `must be one NFS client: an IP address, a network ADDRESS/PREFIX, "*", a host name (wildcards * and ? allowed) or @netgroup`;
  if (spec.length === 0 || spec.length > 253) return `${expected}, got ${shown(spec)}`;
  if (spec === "*") return undefined;
  if (spec.startsWith("@")) return /^@[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(spec) ? undefined : `${expected}, got ${shown(spec)}`;
  if (/^[0-9A-Fa-f.:]+(\/[0-9]{1,3})?$/.test(spec) && (spec.includes(":") || /^[0-9./]+$/.test(spec))) {
    const parsed = parseCidr(spec.includes("/") ? spec : `${spec}/${spec.includes(":") ? 128 : 32}`);
    return typeof parsed === "string" ? `${expected}, got ${shown(spec)}: ${parsed}` : undefined;
  }
  for (const label of spec.split(".")) {
    if (label.length === 0 || label.length > 63 || !/^[A-Za-z0-9*?-]+$/.test(label) || label.startsWith("-") || label.endsWith("-")) {
      return `${expected}, got ${shown(spec)}`;
    }
  }
  return undefined;
}

export const NodeSchema = z
  .strictObject({
    name: name("a node name", NODE_NAME, "[a-z][a-z0-9-]* (the host's short name)").describe(
      "Host name as corosync and Pacemaker know it (uname -n).",
    ),
    id: z.int().min(1).max(2 ** 31 - 1).describe("Corosync nodeid: fixed, never derived from list order."),
    addresses: z
      .array(cidrAddress)
      .min(1)
      .max(8)
      .describe("Cluster-network addresses in CIDR form, one per corosync knet link (link 0 first).")
      // Parsed once here: constructs and operations take the address, prefix and family.
      .transform((list) => list.map(siteCidr)),
    serviceAddresses: z
      .array(cidrAddress)
      .default([])
      .describe("Other addresses of the node in CIDR form (e.g. the network clients mount from). @default []")
      // After the default, so the JSON Schema keeps it.
      .transform((list) => list.map(siteCidr)),
    hostid: z
      .union([
        z.string().regex(/^0x[0-9a-f]{8}$/, { error: (iss) => `must be 8 lowercase hex digits after 0x, got ${shown(iss.input)}` }),
        // YAML reads an unquoted 0x1a2b3c4d as a number.
        z.int().min(1).max(0xffffffff).transform((n) => `0x${n.toString(16).padStart(8, "0")}`),
      ], { error: (iss) => `must be a non-zero 32-bit hex number such as 0x1a2b3c4d, got ${shown(iss.input)}` })
      .refine((h) => h !== "0x00000000", { error: "must not be 0x00000000 (ZFS multihost needs a non-zero hostid)" })
      .optional()
      .describe("ZFS hostid written to /etc/hostid. @default derived from the node name"),
    power: z
      .strictObject({
        plug: name("a power plug", /^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, \"_\", \".\" or \"-\"").describe("Plug name as powermand knows it."),
      })
      .optional()
      .describe("Power control of this node through powerman. @default plug = node name"),
  })
  .transform((node) => ({
    ...node,
    hostid: node.hostid ?? defaultHostid(node.name),
    power: node.power ?? { plug: node.name },
  }))
  .describe("A management node of the HA cluster.");

const VdevSchema = z.strictObject({
  type: z.enum(["stripe", "mirror", "raidz1", "raidz2", "raidz3"]).describe("ZFS vdev type."),
  devices: z.array(stableDevice()).min(1).max(255).describe("Shared LUNs (by-id or multipath /dev/mapper names)."),
});

export const PoolSchema = z.strictObject({
  name: poolName(),
  vdevs: z.array(VdevSchema).min(1).max(64).describe("Vdev layout, e.g. one raidz1 over three LUNs."),
  mountpoint: ownedDirectory("ZFS mounts the pool there, over what the directory held")
    .optional()
    .describe("Mountpoint of the pool's root dataset. @default /<name>"),
  ashift: z.int().min(9).max(16).default(12).describe("Pool sector size exponent. @default 12"),
  properties: z
    .record(poolPropertyKey, poolPropertyValue)
    .default({ compression: "lz4", atime: "off", xattr: "sa", acltype: "posixacl" })
    .describe("Dataset properties set at creation (zpool create -O). @default compression=lz4 atime=off xattr=sa acltype=posixacl"),
  importTimeoutSec: z.int().min(90).max(3600).default(90).describe("Start/stop timeout of the ZFS resource. @default 90"),
}).transform((pool) => ({ ...pool, mountpoint: pool.mountpoint ?? `/${pool.name}` }));

const ClientSchema = z.strictObject({
  spec: narrowed(clientSpecProblem, "^[A-Za-z0-9*?@_.:/-]+$").describe("One exportfs clientspec: a host, a network/prefix, a wildcard or @netgroup."),
  options: narrowed(exportOptionsProblem, "^[a-z_]+(=[A-Za-z0-9._:/@+-]+)?(,[a-z_]+(=[A-Za-z0-9._:/@+-]+)?)*$")
    .default("rw,sync,no_subtree_check,root_squash")
    .describe("Export options (man exports). @default rw,sync,no_subtree_check,root_squash"),
});

export const ExportSchema = z.strictObject({
  path: absolutePath().describe("Directory to export; must lie under a pool of the same group."),
  fsid: z
    .union([z.int().min(0).max(2 ** 32 - 1), z.uuid({ error: (iss) => `must be a whole number or a UUID, got ${shown(iss.input)}` })], {
      error: (iss) => `must be a whole number or a UUID, got ${shown(iss.input)}`,
    })
    .describe("Filesystem id, unique across the cluster so file handles survive failover."),
  clients: z.array(ClientSchema).min(1).max(64).describe("One exportfs resource is made per client."),
});

export const FloatingIpSchema = z.strictObject({
  address: ipAddress,
  cidr: z.int().min(1).max(128).describe("Prefix length of the floating IP's network."),
  nic: nicName()
    .optional()
    .describe("Interface to put the address on. @default the interface holding a node address of that network"),
});

export const GroupSchema = z.strictObject({
  name: name("a group name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  pools: z.array(z.string()).min(1).max(64).describe("Pools this group imports (by name)."),
  floatingIp: FloatingIpSchema.describe("The address clients mount from; moves with the group."),
  exports: z.array(ExportSchema).min(1).max(1024),
  preferredNode: z.string().optional().describe("Node the group runs on when it can. @default none"),
});

const FenceScsiSchema = z.strictObject({
  name: name("a fence device name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  agent: z.literal("fence_scsi"),
  devices: z
    .array(stableDevice())
    .min(1)
    .max(1024)
    .optional()
    .describe("Devices to reserve. @default every device of every pool"),
  monitorIntervalSec: z.int().min(1).default(60).describe("@default 60"),
});

const FencePowermanSchema = z.strictObject({
  name: name("a fence device name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  agent: z.literal("fence_powerman"),
  ip: hostOrAddress().describe("Host running powermand (a host name or an IP address)."),
  ipport: z.int().min(1).max(65535).default(10101).describe("powermand port. @default 10101"),
  delaySec: z.int().min(0).optional().describe("Wait before fencing (fence_powerman delay). @default the agent's"),
  powerWaitSec: z.int().min(0).optional().describe("Wait after power on/off (power_wait). @default the agent's"),
  monitorIntervalSec: z.int().min(1).default(60).describe("@default 60"),
});

export const FenceDeviceSchema = z.discriminatedUnion("agent", [FenceScsiSchema, FencePowermanSchema], {
  error: (iss) =>
    iss.code === "invalid_union" ? `agent must be "fence_scsi" or "fence_powerman", got ${shown((iss.input as { agent?: unknown })?.agent)}` : undefined,
});

export const FencingSchema = z.strictObject({
  stonith: z
    .boolean()
    .default(true)
    .describe("stonith-enabled. Turning it off is unsafe with shared pools and is warned about. @default true"),
  devices: z.array(FenceDeviceSchema).max(32).default([]),
  levels: z
    .array(
      z.strictObject({
        devices: z.array(z.string()).min(1).max(32).describe("Fence devices tried together at this level."),
        nodes: z.array(z.string()).max(32).optional().describe("Nodes this level applies to. @default every node"),
      }),
    )
    .max(16)
    .default([])
    .describe("Fencing topology: level 1 is tried first. @default none (Pacemaker tries every device)"),
});

export const ClusterSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: (iss) => `must be 1-32 letters, digits, "_" or "-", got ${shown(iss.input)}` })
    .describe("Corosync cluster_name."),
  pacemakerVersion: z
    .enum(Object.keys(PACEMAKER_VERSIONS) as [string, ...string[]])
    .default("2.1.5")
    .describe("Pacemaker version on the hosts; sets the CIB feature set and schema. @default 2.1.5 (Debian 12)"),
  mode: z
    .enum(["active-passive", "active-active"])
    .default("active-passive")
    .describe("active-passive: one group holds everything; active-active: one group per pool, each with its own IP."),
  stickiness: z.int().min(0).default(100).describe("resource-stickiness. @default 100"),
  preferredNodeScore: z
    .int()
    .min(1)
    .default(50)
    .describe("Location score for a group's preferred node; below stickiness means no automatic failback. @default 50"),
  noQuorumPolicy: z.enum(["stop", "freeze", "ignore", "demote", "suicide"]).default("stop").describe("@default stop"),
  maintenanceMode: z
    .boolean()
    .default(false)
    .describe("maintenance-mode: Pacemaker neither starts nor stops resources (first deploys, hardware work). @default false"),
  dcDeadtimeSec: z
    .int()
    .min(1)
    .max(600)
    .optional()
    .describe("dc-deadtime: how long a starting node waits for a DC before electing one. @default Pacemaker's 20"),
  corosync: z
    .strictObject({
      tokenMs: z.int().min(100).max(600000).default(3000).describe("totem token timeout. @default 3000"),
      cryptoCipher: z.enum(["aes256", "aes192", "aes128", "none"]).default("aes256").describe("@default aes256"),
      cryptoHash: z.enum(["sha256", "sha384", "sha512", "sha1", "md5", "none"]).default("sha256").describe("@default sha256"),
    })
    .prefault({}),
});

export const NfsSchema = z.strictObject({
  server: z
    .enum(["kernel", "ganesha"])
    .default("kernel")
    .describe(
      "NFS server run by Pacemaker: kernel (ocf:heartbeat:nfsserver with exportfs resources) or ganesha (nfs-ganesha in user space, ocf:hpcdk:ganesha, exports in ganesha.conf; active-passive only). @default kernel",
    ),
  v4LeaseSec: z
    .int()
    .min(5)
    .max(120)
    .optional()
    .describe(
      "NFSv4 lease: how long a client's state lives without renewal. Shorter: faster recovery after failover, more renew traffic, and a client silent for longer than the lease (a network hiccup, a paused VM) loses its opens and locks. At least 10 with the kernel server (nfsd refuses less), 5 with ganesha. @default the server's (kernel 90, ganesha 60)",
    ),
  v4GraceSec: z
    .int()
    .min(5)
    .max(180)
    .optional()
    .describe("NFSv4 grace period after a (fail)over: writes and opens wait while clients reclaim state. Never shorter than the lease. At least 10 with the kernel server, 5 with ganesha. @default the server's (kernel 90, ganesha 90)"),
  monitorIntervalSec: z
    .int()
    .min(1)
    .max(300)
    .default(10)
    .describe("Seconds between monitors of the pools, NFS server, exports and floating IPs: how soon a dead service is noticed. @default 10"),
  groups: z.array(GroupSchema).min(1).max(64),
});

/**
 * A Slurm hostlist expression (`c[001-128]`, `login[1-2]`): counted first (at most
 * {@link MAX_HOSTS}), then expanded to check every name.
 */
export const hostlistExpression = narrowed((text) => {
  if (text.length > 65536) return `must be a hostlist expression of at most 65536 characters, got ${shown(text)}`;
  try {
    const count = countHostlist(text);
    if (count > MAX_HOSTS) return tooManyHosts(count, MAX_HOSTS);
    const hosts = expandHostlist(text);
    if (hosts.length === 0) return "names no host";
    const bad = hosts.find((h) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(h));
    if (bad !== undefined) return `${shown(bad)} is not a valid host name (lowercase letters, digits, "-", at most 63 characters)`;
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}, "^[a-z0-9,\\[\\]-]+$");

/**
 * GPU device files of a node (gres.conf File=): a /dev path, with a hostlist-style range of numbers
 * at the end (`/dev/nvidia[0-7]`).
 */
export const gpuDevices = narrowed((text) => {
  const expected = `must be device files under /dev, such as "/dev/nvidia[0-3]" (letters, digits, "_", "-", "/" and one [range] at the end)`;
  if (text.length > 256 || !/^\/dev\/[A-Za-z0-9_/-]+(\[[0-9,-]+\])?$/.test(text) || text.includes("//") || text.endsWith("/")) return `${expected}, got ${shown(text)}`;
  try {
    if (countHostlist(text) > 64) return `names more than 64 device files, got ${shown(text)}`;
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}, "^/dev/[A-Za-z0-9_/-]+(\\[[0-9,-]+\\])?$");

export const NodeGroupSchema = z
  .strictObject({
    name: name("a node group name", NAME, "[a-z][a-z0-9-]*"),
    hosts: hostlistExpression.describe("The group's hosts as a Slurm hostlist expression, e.g. c[001-128]."),
    infiniband: z.boolean().default(false).describe("The hosts have InfiniBand HCAs (ib0, /dev/infiniband). @default false"),
    hardware: z
      .strictObject({
        sockets: z.int().min(1).default(1).describe("@default 1"),
        coresPerSocket: z.int().min(1),
        threadsPerCore: z.int().min(1).default(1).describe("@default 1"),
        memoryMB: z.int().min(1).describe("Memory of one host in MB (Slurm RealMemory)."),
        gpus: z
          .strictObject({
            type: name("a GPU type", /^[a-z0-9_]{1,32}$/, "1-32 lowercase letters, digits or \"_\""),
            count: z.int().min(1).max(64),
            devices: gpuDevices.default("/dev/nvidia[0-7]"),
          })
          .optional()
          .describe("GPUs per host. @default none"),
      })
      .optional()
      .describe("What one host of the group has; needed by Slurm node definitions. @default unknown"),
    slurm: z
      .boolean()
      .optional()
      .describe(
        "false: the group runs no Slurm (an image gateway, a data mover), so its hardware in no partition is meant and not warned about. @default whether a partition or slurm.loginGroups names it",
      ),
  })
  .describe("Hosts that are not management nodes (login, compute, …), configured alike.");

/** The shape of a site file; `SiteSchema` adds the rules that relate fields to each other. */
export const SiteObjectSchema = z.strictObject({
  cluster: ClusterSchema,
  nodes: z.array(NodeSchema).min(2).max(32).describe("The management nodes: 2 to 32 (the most nodes Pacemaker distributions support in one cluster)."),
  storage: z.strictObject({ pools: z.array(PoolSchema).min(1).max(64), multihost: MultihostSchema.prefault({}) }),
  nfs: NfsSchema,
  fencing: FencingSchema.prefault({}),
  nodeGroups: z.array(NodeGroupSchema).max(256).default([]).describe("Login, compute and other hosts, by group. @default none"),
  deploy: DeploySchema.prefault({}).describe("How hpcdk reaches the hosts (SSH) and which Terraform resources carry the deployment."),
  slurm: SlurmSchema.optional().describe("Slurm: controllers, accounting, REST API, partitions of the node groups. @default no Slurm"),
  containers: ContainersSchema.optional().describe("HPC container runtimes per node group and their Slurm integration. @default none"),
  streaming: StreamingSchema.optional().describe("RDMA stream broker and storage daemons. @default none"),
  monitoring: MonitoringSchema.optional().describe(
    "Prometheus and Alertmanager (HA on a site pool, or on one host), exporters on every host, tested alert rules, remote write, Grafana dashboards. @default no monitoring",
  ),
  drill: DrillSchema.prefault({}),
  lab: LabSchema.optional().describe("The site's lab (hpcdk lab vagrantfile): VM box, emulation, memory. Shapes only the lab, nothing deployed. @default every default"),
});

// The shape only: schema/rules.ts composes it with the rules into SiteSchema (so no rule file
// imports a file that imports it back).

/** The site as written (defaults not yet filled). */
export type SiteInput = z.input<typeof SiteObjectSchema>;
/** The validated site with every default filled. */
export type SiteSpec = z.output<typeof SiteObjectSchema>;
export type NodeSpec = SiteSpec["nodes"][number];
export type PoolSpec = SiteSpec["storage"]["pools"][number];
export type GroupSpec = SiteSpec["nfs"]["groups"][number];
export type ExportSpec = GroupSpec["exports"][number];
export type FenceDeviceSpec = SiteSpec["fencing"]["devices"][number];
export type NodeGroupSpec = SiteSpec["nodeGroups"][number];

/**
 * The exported directories of a pool, relative to its mountpoint, sorted: the datasets its
 * creation script makes (and the labs' stand-ins create). An export of the mountpoint itself
 * needs none.
 */
export function exportDirsOnPool(site: SiteSpec, pool: PoolSpec): string[] {
  const root = `${pool.mountpoint.replace(/\/+$/, "")}/`;
  const dirs = site.nfs.groups.flatMap((g) => g.exports.map((e) => e.path)).filter((path) => path.startsWith(root));
  return [...new Set(dirs.map((path) => path.slice(root.length).replace(/\/+$/, "")))].sort();
}
