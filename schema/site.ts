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
import { DeploySchema } from "./deploy.js";
import { expandHostlist } from "../common/hostlist.js";
import { parseCidr } from "../common/net.js";
import { PACEMAKER_VERSIONS } from "./pacemaker-versions.js";
import { SlurmSchema } from "./slurm.js";
import { ContainersSchema } from "./containers.js";
import { StreamingSchema } from "./streaming.js";
import { LabSchema } from "./lab.js";
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

const NAME = /^[a-z][a-z0-9-]*$/;
const NODE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const POOL_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const ID_NAME = /^[A-Za-z][A-Za-z0-9_-]*$/;

const name = (what: string, re: RegExp, hint: string) =>
  z.string().regex(re, { error: (iss) => `${what} must match ${hint}, got ${JSON.stringify(iss.input)}` });

const absolutePath = z
  .string()
  .regex(/^\/(?:[^/\0\s]+\/?)*$/, { error: (iss) => `must be an absolute path without spaces, got ${JSON.stringify(iss.input)}` })
  .refine((p) => !p.split("/").includes(".."), { error: (iss) => `must not contain "..", got ${JSON.stringify(iss.input)}` });

const cidrAddress = z.string().superRefine((text, ctx) => {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed, input: text });
});

const ipAddress = z.union([z.ipv4(), z.ipv6()], {
  error: (iss) => `must be an IPv4 or IPv6 address, got ${JSON.stringify(iss.input)}`,
});

const stableDevice = z.string().regex(/^\/dev\/(disk\/by-id|mapper)\/[^/\s]+$/, {
  error: (iss) =>
    `must be a stable device path under /dev/disk/by-id/ or /dev/mapper/ (the same on every node), got ${JSON.stringify(iss.input)}`,
});

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
      .describe("Cluster-network addresses in CIDR form, one per corosync knet link (link 0 first)."),
    serviceAddresses: z
      .array(cidrAddress)
      .default([])
      .describe("Other addresses of the node in CIDR form (e.g. the network clients mount from). @default []"),
    hostid: z
      .union([
        z.string().regex(/^0x[0-9a-f]{8}$/, { error: (iss) => `must be 8 lowercase hex digits after 0x, got ${JSON.stringify(iss.input)}` }),
        // YAML reads an unquoted 0x1a2b3c4d as a number.
        z.int().min(1).max(0xffffffff).transform((n) => `0x${n.toString(16).padStart(8, "0")}`),
      ], { error: (iss) => `must be a non-zero 32-bit hex number such as 0x1a2b3c4d, got ${JSON.stringify(iss.input)}` })
      .refine((h) => h !== "0x00000000", { error: "must not be 0x00000000 (ZFS multihost needs a non-zero hostid)" })
      .optional()
      .describe("ZFS hostid written to /etc/hostid. @default derived from the node name"),
    power: z
      .strictObject({
        plug: z.string().regex(/^[A-Za-z0-9_.-]+$/).describe("Plug name as powermand knows it."),
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
  devices: z.array(stableDevice).min(1).describe("Shared LUNs (by-id or multipath /dev/mapper names)."),
});

export const PoolSchema = z.strictObject({
  name: name("a pool name", POOL_NAME, "[A-Za-z][A-Za-z0-9_.-]*"),
  vdevs: z.array(VdevSchema).min(1).describe("Vdev layout, e.g. one raidz1 over three LUNs."),
  mountpoint: absolutePath.optional().describe("Mountpoint of the pool's root dataset. @default /<name>"),
  ashift: z.int().min(9).max(16).default(12).describe("Pool sector size exponent. @default 12"),
  properties: z
    .record(z.string().regex(/^[a-z][a-z0-9_:.]*$/), z.string().regex(/^[^\s'"]+$/))
    .default({ compression: "lz4", atime: "off", xattr: "sa", acltype: "posixacl" })
    .describe("Dataset properties set at creation (zpool create -O). @default compression=lz4 atime=off xattr=sa acltype=posixacl"),
  importTimeoutSec: z.int().min(90).max(3600).default(90).describe("Start/stop timeout of the ZFS resource. @default 90"),
}).transform((pool) => ({ ...pool, mountpoint: pool.mountpoint ?? `/${pool.name}` }));

const ClientSchema = z.strictObject({
  spec: z
    .string()
    .regex(/^[^\s()]+$/, { error: (iss) => `must be one exportfs client (host, network/prefix or @netgroup) without spaces, got ${JSON.stringify(iss.input)}` })
    .describe("One exportfs clientspec: a host, a network/prefix, a wildcard or @netgroup."),
  options: z
    .string()
    .regex(/^[a-z_]+(=[^,\s]+)?(,[a-z_]+(=[^,\s]+)?)*$/, {
      error: (iss) => `must be comma-separated export options like "rw,sync", got ${JSON.stringify(iss.input)}`,
    })
    .default("rw,sync,no_subtree_check,root_squash")
    .describe("Export options (man exports). @default rw,sync,no_subtree_check,root_squash"),
});

export const ExportSchema = z.strictObject({
  path: absolutePath.describe("Directory to export; must lie under a pool of the same group."),
  fsid: z
    .union([z.int().min(0), z.uuid({ error: (iss) => `must be a whole number or a UUID, got ${JSON.stringify(iss.input)}` })], {
      error: (iss) => `must be a whole number or a UUID, got ${JSON.stringify(iss.input)}`,
    })
    .describe("Filesystem id, unique across the cluster so file handles survive failover."),
  clients: z.array(ClientSchema).min(1).describe("One exportfs resource is made per client."),
});

export const FloatingIpSchema = z.strictObject({
  address: ipAddress,
  cidr: z.int().min(1).max(128).describe("Prefix length of the floating IP's network."),
  nic: z
    .string()
    .regex(/^[A-Za-z0-9_.:-]{1,15}$/)
    .optional()
    .describe("Interface to put the address on. @default the interface holding a node address of that network"),
});

export const GroupSchema = z.strictObject({
  name: name("a group name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  pools: z.array(z.string()).min(1).describe("Pools this group imports (by name)."),
  floatingIp: FloatingIpSchema.describe("The address clients mount from; moves with the group."),
  exports: z.array(ExportSchema).min(1),
  preferredNode: z.string().optional().describe("Node the group runs on when it can. @default none"),
});

const FenceScsiSchema = z.strictObject({
  name: name("a fence device name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  agent: z.literal("fence_scsi"),
  devices: z
    .array(stableDevice)
    .optional()
    .describe("Devices to reserve. @default every device of every pool"),
  monitorIntervalSec: z.int().min(1).default(60).describe("@default 60"),
});

const FencePowermanSchema = z.strictObject({
  name: name("a fence device name", ID_NAME, "[A-Za-z][A-Za-z0-9_-]*"),
  agent: z.literal("fence_powerman"),
  ip: z.string().min(1).describe("Host running powermand."),
  ipport: z.int().min(1).max(65535).default(10101).describe("powermand port. @default 10101"),
  delaySec: z.int().min(0).optional().describe("Wait before fencing (fence_powerman delay). @default the agent's"),
  powerWaitSec: z.int().min(0).optional().describe("Wait after power on/off (power_wait). @default the agent's"),
  monitorIntervalSec: z.int().min(1).default(60).describe("@default 60"),
});

export const FenceDeviceSchema = z.discriminatedUnion("agent", [FenceScsiSchema, FencePowermanSchema], {
  error: (iss) =>
    iss.code === "invalid_union" ? `agent must be "fence_scsi" or "fence_powerman", got ${JSON.stringify((iss.input as { agent?: unknown })?.agent)}` : undefined,
});

export const FencingSchema = z.strictObject({
  stonith: z
    .boolean()
    .default(true)
    .describe("stonith-enabled. Turning it off is unsafe with shared pools and is warned about. @default true"),
  devices: z.array(FenceDeviceSchema).default([]),
  levels: z
    .array(
      z.strictObject({
        devices: z.array(z.string()).min(1).describe("Fence devices tried together at this level."),
        nodes: z.array(z.string()).optional().describe("Nodes this level applies to. @default every node"),
      }),
    )
    .default([])
    .describe("Fencing topology: level 1 is tried first. @default none (Pacemaker tries every device)"),
});

export const ClusterSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: (iss) => `must be 1-32 letters, digits, "_" or "-", got ${JSON.stringify(iss.input)}` })
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
    .min(10)
    .max(120)
    .optional()
    .describe("NFSv4 lease: how long a client's state lives without renewal. Shorter: faster recovery after failover, more renew traffic. @default the server's (kernel 90, ganesha 60)"),
  v4GraceSec: z
    .int()
    .min(10)
    .max(180)
    .optional()
    .describe("NFSv4 grace period after a (fail)over: writes and opens wait while clients reclaim state. Never shorter than the lease. @default the server's (kernel 90, ganesha 90)"),
  monitorIntervalSec: z
    .int()
    .min(1)
    .max(300)
    .default(10)
    .describe("Seconds between monitors of the pools, NFS server, exports and floating IPs: how soon a dead service is noticed. @default 10"),
  groups: z.array(GroupSchema).min(1),
});

/** A Slurm hostlist expression (`c[001-128]`, `login[1-2]`), checked by expanding it. */
export const hostlistExpression = z.string().superRefine((text, ctx) => {
  try {
    const hosts = expandHostlist(text);
    if (hosts.length === 0) ctx.addIssue({ code: "custom", message: "names no host", input: text });
    const bad = hosts.find((h) => !/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(h));
    if (bad !== undefined) ctx.addIssue({ code: "custom", message: `"${bad}" is not a valid host name (lowercase letters, digits, "-")`, input: text });
  } catch (err) {
    ctx.addIssue({ code: "custom", message: (err as Error).message, input: text });
  }
});

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
          .strictObject({ type: z.string().regex(/^[a-z0-9_]+$/), count: z.int().min(1), devices: z.string().default("/dev/nvidia[0-7]") })
          .optional()
          .describe("GPUs per host. @default none"),
      })
      .optional()
      .describe("What one host of the group has; needed by Slurm node definitions. @default unknown"),
  })
  .describe("Hosts that are not management nodes (login, compute, …), configured alike.");

/** The shape of a site file; `SiteSchema` adds the rules that relate fields to each other. */
export const SiteObjectSchema = z.strictObject({
  cluster: ClusterSchema,
  nodes: z.array(NodeSchema).min(2),
  storage: z.strictObject({ pools: z.array(PoolSchema).min(1), multihost: MultihostSchema.prefault({}) }),
  nfs: NfsSchema,
  fencing: FencingSchema.prefault({}),
  nodeGroups: z.array(NodeGroupSchema).default([]).describe("Login, compute and other hosts, by group. @default none"),
  deploy: DeploySchema.prefault({}).describe("How hpcdk reaches the hosts (SSH) and which Terraform resources carry the deployment."),
  slurm: SlurmSchema.optional().describe("Slurm: controllers, accounting, REST API, partitions of the node groups. @default no Slurm"),
  containers: ContainersSchema.optional().describe("HPC container runtimes per node group and their Slurm integration. @default none"),
  streaming: StreamingSchema.optional().describe("RDMA stream broker and storage daemons. @default none"),
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
