/**
 * The `slurm` section of a site file: Slurm on the management nodes (slurmctld, slurmdbd with
 * MariaDB, slurmrestd behind nginx) and slurmd on the node groups of its partitions.
 *
 * Field names speak slurm.conf's vocabulary in camelCase; plugin names are Slurm's own
 * (`select/cons_tres`), checked against the plugins the site's Slurm release ships, so a typo
 * is a site error instead of a slurmctld that does not start.
 * @see https://slurm.schedmd.com/slurm.conf.html
 */
import { isIP } from "node:net";
import { z } from "zod";
import { absolutePath, hostName, named as namedString, narrowed, nicName, ownedDirectory, port as portNumber, shown, SLURM_NAME, UNIX_NAME as UNIX_NAME_RE } from "./common.js";
import { parseCidr, siteCidr } from "../common/net.js";

/**
 * What each Slurm release ships that hpcdk configures by name. Add a row for a new release; the
 * rest of hpcdk reads plugin names from here.
 * - 22.05: Debian 12 (slurm-wlm 22.05.8), checked against the plugin directory of the package
 *   (`/usr/lib/x86_64-linux-gnu/slurm-wlm/openapi_*.so`).
 * - 23.02: from Slurm's 23.02 release notes (v0.0.36 removed, v0.0.39 added); not run here.
 * @see https://slurm.schedmd.com/rest_release_notes.html
 */
export const SLURM_RELEASES: Readonly<Record<string, { readonly openapi: readonly string[]; readonly defaultOpenapi: readonly string[] }>> = {
  "22.05": {
    openapi: ["openapi/v0.0.36", "openapi/v0.0.37", "openapi/v0.0.38", "openapi/dbv0.0.36", "openapi/dbv0.0.37", "openapi/dbv0.0.38"],
    defaultOpenapi: ["openapi/v0.0.38", "openapi/dbv0.0.38"],
  },
  "23.02": {
    openapi: ["openapi/v0.0.37", "openapi/v0.0.38", "openapi/v0.0.39", "openapi/dbv0.0.37", "openapi/dbv0.0.38", "openapi/dbv0.0.39"],
    defaultOpenapi: ["openapi/v0.0.39", "openapi/dbv0.0.39"],
  },
};

/**
 * Plugin names by slurm.conf option (Debian 12's slurm-wlm-basic-plugins ship every one). MPI
 * types are MpiDefault values: `mpi_<type>.so` in the plugin directory.
 */
export const SLURM_PLUGINS = {
  select: ["select/cons_tres", "select/cons_res", "select/linear"],
  proctrack: ["proctrack/cgroup", "proctrack/linuxproc", "proctrack/pgid"],
  task: ["task/affinity", "task/cgroup", "task/none"],
  jobacctGather: ["jobacct_gather/cgroup", "jobacct_gather/linux", "jobacct_gather/none"],
  scheduler: ["sched/backfill", "sched/builtin"],
  priority: ["priority/multifactor", "priority/basic"],
  mpi: ["none", "pmi2", "pmix", "pmix_v4", "cray_shasta"],
  /** slurm.conf/slurmdbd.conf AuthAltTypes (not slurmrestd's rest_auth/* plugins). */
  authAlt: ["auth/jwt"],
  /** slurmrestd -a. */
  restAuth: ["rest_auth/jwt", "rest_auth/local"],
  /** cgroup.conf CgroupPlugin. */
  cgroup: ["autodetect", "cgroup/v1", "cgroup/v2"],
} as const;

const UNIX_NAME = UNIX_NAME_RE;
/** slurm.conf time: minutes, min:sec, h:m:s, d-h, d-h:m, d-h:m:s, or UNLIMITED. */
const SLURM_TIME = /^(UNLIMITED|INFINITE|\d{1,9}(:\d{1,2}){0,2}|\d{1,9}-\d{1,2}(:\d{1,2}){0,2})$/;

export const quoted = (v: unknown) => shown(v);
const named = namedString;
const slurmTime = z.string().regex(SLURM_TIME, {
  error: (iss) => `must be a Slurm time (minutes, "hh:mm:ss", "days-hh:mm:ss" or "UNLIMITED"), got ${quoted(iss.input)}`,
});
const port = portNumber();

/** An IPv4 or IPv6 address. */
const ipAddress = narrowed((v) => (v.length <= 45 && isIP(v) !== 0 ? undefined : `must be an IPv4 or IPv6 address, got ${shown(v)}`), "^[0-9A-Fa-f.:]+$");
/** A network in CIDR form (ADDRESS/PREFIX). */
const cidrNetwork = narrowed((v) => {
  const parsed = parseCidr(v);
  return typeof parsed === "string" ? parsed : undefined;
}, "^[0-9A-Fa-f.:]+/[0-9]{1,3}$").transform(siteCidr);
/** An address or a network (nginx allow). */
const addressOrNetwork = narrowed((v) => {
  const parsed = parseCidr(v.includes("/") ? v : `${v}/${v.includes(":") ? 128 : 32}`);
  return typeof parsed === "string" ? `must be an IP address or a network ADDRESS/PREFIX: ${parsed}` : undefined;
}, "^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$");
/** NFS mount options: `word` or `word=value`, comma-separated (nfs(5)). */
const mountOptions = narrowed((v) => {
  const ok = v.length <= 1024 && v.split(",").every((o) => /^[a-z0-9_]+(=[A-Za-z0-9._:/@+-]+)?$/.test(o));
  return ok ? undefined : `must be comma-separated mount options like "vers=4.2,hard" (values of letters, digits and . _ : / @ + -), got ${shown(v)}`;
}, "^[a-z0-9_]+(=[A-Za-z0-9._:/@+-]+)?(,[a-z0-9_]+(=[A-Za-z0-9._:/@+-]+)?)*$");
const plugin = <T extends readonly [string, ...string[]]>(values: T) => z.enum(values);

const PartitionSchema = z.strictObject({
  name: named("a partition name", SLURM_NAME, "[a-z][a-z0-9_-]* (at most 63 characters)").describe("PartitionName."),
  nodeGroups: z.array(z.string()).min(1).max(256).describe("Node groups (nodeGroups[].name) whose hosts form the partition; they run slurmd."),
  default: z.boolean().default(false).describe("Default=YES: jobs that name no partition run here. @default false"),
  maxTime: slurmTime.default("UNLIMITED").describe("MaxTime. @default UNLIMITED"),
  defaultTime: slurmTime.optional().describe("DefaultTime. @default MaxTime"),
  priorityTier: z.int().min(0).max(65533).optional().describe("PriorityTier. @default 1"),
  oversubscribe: z.enum(["NO", "EXCLUSIVE", "YES", "FORCE"]).default("NO").describe("OverSubscribe. @default NO"),
  allowGroups: z.array(named("a group name", UNIX_NAME, "[a-z_][a-z0-9_-]*")).max(64).optional().describe("AllowGroups (Unix groups). @default ALL"),
  state: z.enum(["UP", "DOWN", "DRAIN", "INACTIVE"]).default("UP").describe("State. @default UP"),
});

const MariaDbSchema = z.strictObject({
  bufferPoolSizeMB: z.int().min(128).default(4096).describe("innodb_buffer_pool_size; Slurm suggests at least 1 GB, more for big job tables. @default 4096"),
  logFileSizeMB: z.int().min(48).default(64).describe("innodb_log_file_size. @default 64"),
  lockWaitTimeoutSec: z.int().min(50).default(900).describe("innodb_lock_wait_timeout; Slurm needs 900 for upgrades and purges. @default 900"),
  maxAllowedPacketMB: z.int().min(16).default(16).describe("max_allowed_packet. @default 16"),
});

const AccountingSchema = z.strictObject({
  host: z.string().describe("Management node running slurmdbd and MariaDB (DbdHost)."),
  database: named("a database name", /^[a-z][a-z0-9_]{0,63}$/, "[a-z][a-z0-9_]*").default("slurm_acct_db").describe("StorageLoc. @default slurm_acct_db"),
  storageUser: named("a database user", /^[a-z][a-z0-9_]{0,31}$/, "[a-z][a-z0-9_]*").default("slurm").describe("StorageUser: the MariaDB account slurmdbd uses. @default slurm"),
  enforce: z
    .array(z.enum(["associations", "limits", "nojobs", "nosteps", "qos", "safe", "wckeys"]))
    .default(["associations", "limits", "qos", "safe"])
    .describe("AccountingStorageEnforce. @default associations,limits,qos,safe"),
  mariadb: MariaDbSchema.prefault({}).describe("InnoDB settings from Slurm's accounting guide."),
});

const NginxSchema = z.strictObject({
  serverName: hostName().describe("server_name, and the self-signed certificate's CN."),
  port: port.default(443).describe("HTTPS port. @default 443"),
  tls: z
    .strictObject({ certificate: absolutePath(), key: absolutePath() })
    .optional()
    .describe("Certificate and key already on the hosts. @default a self-signed pair generated as a secret (labs)"),
  clientMaxBodySize: z.string().regex(/^\d+[km]?$/, { error: (iss) => `must be a size like 1m or 512k, got ${quoted(iss.input)}` }).default("1m").describe("client_max_body_size. @default 1m"),
  rateLimit: z
    .strictObject({
      requestsPerSecond: z.int().min(1).default(10).describe("@default 10"),
      burst: z.int().min(0).default(20).describe("@default 20"),
    })
    .prefault({})
    .describe("limit_req per client address."),
  allow: z.array(addressOrNetwork).max(256).default([]).describe("Networks allowed to reach the API (nginx allow); everything else is denied. @default everyone"),
});

const RestApiSchema = z.strictObject({
  hosts: z.array(z.string()).min(1).max(32).describe("Management nodes running slurmrestd and nginx."),
  user: named("a user name", UNIX_NAME, "[a-z_][a-z0-9_-]*").default("slurmrestd").describe("Unprivileged user slurmrestd runs as (never root or SlurmUser). @default slurmrestd"),
  openapiPlugins: z.array(z.string()).max(16).optional().describe("slurmrestd -s. @default the newest openapi and dbv plugins of the release"),
  authTypes: z.array(plugin(SLURM_PLUGINS.restAuth)).min(1).default(["rest_auth/jwt"]).describe("slurmrestd -a. @default rest_auth/jwt"),
  maxTokenLifespanSec: z.int().min(60).default(86400).describe("AuthAltParameters max_token_lifespan for user tokens. @default 86400"),
  nginx: NginxSchema,
});

export const SlurmSchema = z.strictObject({
  version: z.enum(Object.keys(SLURM_RELEASES) as [string, ...string[]]).default("22.05").describe("Slurm release on the hosts; picks the openapi plugins. @default 22.05 (Debian 12)"),
  clusterName: named("a cluster name", /^[a-z][a-z0-9_]{0,39}$/, "[a-z][a-z0-9_]* (at most 40, lower case)").optional().describe("ClusterName. @default cluster.name in lower case"),
  controllers: z.array(z.string()).min(1).max(4).describe("Management nodes running slurmctld (SlurmctldHost), primary first."),
  controllerIp: z
    .strictObject({
      address: ipAddress.describe("The address slurmd and the commands reach slurmctld on (SlurmctldAddr)."),
      cidr: z.int().min(1).max(128).describe("Prefix length (IPaddr2 cidr_netmask)."),
      nic: nicName().optional().describe("Interface. @default the one whose network holds the address"),
    })
    .optional()
    .describe(
      "Run slurmctld as a Pacemaker resource instead of Slurm's own primary/backup pair: one controller at a time, with this floating IP (SlurmctldAddr) and the state mounted by Pacemaker. Needs two or more controllers and slurm.stateSave. @default Slurm's own takeover",
    ),
  network: cidrNetwork.optional().describe("Network (CIDR) Slurm daemons talk on: controller and slurmdbd addresses are taken from it. @default host names, resolved by DNS"),
  stateSave: z
    .strictObject({
      export: absolutePath().describe("An export of the site's HA NFS (nfs.groups[].exports[].path), mounted through its group's floating IP."),
      mountpoint: ownedDirectory("every controller mounts the export there and gives it to SlurmUser (chown, chmod 0700)")
        .default("/var/spool/slurmctld")
        .describe("StateSaveLocation. @default /var/spool/slurmctld"),
      mountOptions: mountOptions.default("vers=4.2,hard,proto=tcp,timeo=600,retrans=2").describe("@default vers=4.2,hard,proto=tcp,timeo=600,retrans=2"),
    })
    .optional()
    .describe("StateSaveLocation on the HA NFS; required with two or more controllers. @default local /var/spool/slurmctld"),
  configless: z
    .boolean()
    .default(false)
    .describe(
      "Slurm's configless mode: slurm.conf (and cgroup.conf, gres.conf, plugstack.conf) only on the management nodes; slurmctld serves them (SlurmctldParameters=enable_configless) and the compute groups' slurmd fetch them at start (slurmd --conf-server, every controller). Login groups keep the files unless the site publishes a DNS SRV record (_slurmctld._tcp) and says so with configlessLoginGroups. @default false",
    ),
  configlessLoginGroups: z
    .enum(["files", "dns-srv"])
    .default("files")
    .describe(
      "With configless: how the login groups' commands find the configuration. files: they get slurm.conf as before (22.05 has no sackd); dns-srv: none, the commands ask the site's DNS for _slurmctld._tcp and fetch it from slurmctld (the site publishes the record). @default files",
    ),
  slurmUser: named("a user name", UNIX_NAME, "[a-z_][a-z0-9_-]*").default("slurm").describe("SlurmUser. @default slurm"),
  ports: z
    .strictObject({
      slurmctld: port.default(6817).describe("@default 6817"),
      slurmd: port.default(6818).describe("@default 6818"),
      slurmdbd: port.default(6819).describe("@default 6819"),
    })
    .prefault({}),
  slurmctldTimeoutSec: z
    .int()
    .min(5)
    .optional()
    .describe("SlurmctldTimeout: how long a backup waits before taking over. @default 120; 10 with controllerIp (Pacemaker runs one slurmctld at a time)"),
  slurmdTimeoutSec: z.int().min(5).default(300).describe("SlurmdTimeout. @default 300"),
  plugins: z
    .strictObject({
      select: plugin(SLURM_PLUGINS.select).default("select/cons_tres").describe("SelectType. @default select/cons_tres"),
      selectTypeParameters: z.enum(["CR_Core", "CR_Core_Memory", "CR_CPU", "CR_CPU_Memory", "CR_Socket", "CR_Socket_Memory", "CR_Memory"]).default("CR_Core_Memory").describe("@default CR_Core_Memory"),
      proctrack: plugin(SLURM_PLUGINS.proctrack).default("proctrack/cgroup").describe("ProctrackType. @default proctrack/cgroup"),
      task: z.array(plugin(SLURM_PLUGINS.task)).min(1).default(["task/cgroup", "task/affinity"]).describe("TaskPlugin. @default task/cgroup,task/affinity"),
      jobacctGather: plugin(SLURM_PLUGINS.jobacctGather).default("jobacct_gather/cgroup").describe("JobAcctGatherType. @default jobacct_gather/cgroup"),
      scheduler: plugin(SLURM_PLUGINS.scheduler).default("sched/backfill").describe("SchedulerType. @default sched/backfill"),
      priority: plugin(SLURM_PLUGINS.priority).default("priority/multifactor").describe("PriorityType. @default priority/multifactor"),
      mpiDefault: plugin(SLURM_PLUGINS.mpi).default("none").describe("MpiDefault. @default none (pmix for Open MPI 4+ built with PMIx)"),
      authAltTypes: z.array(plugin(SLURM_PLUGINS.authAlt)).default(["auth/jwt"]).describe("AuthAltTypes in slurm.conf and slurmdbd.conf. @default auth/jwt"),
    })
    .prefault({}),
  cgroup: z
    .strictObject({
      plugin: plugin(SLURM_PLUGINS.cgroup).default("autodetect").describe("CgroupPlugin. @default autodetect"),
      constrainCores: z.boolean().default(true).describe("@default true"),
      constrainRAMSpace: z.boolean().default(true).describe("@default true"),
      constrainSwapSpace: z.boolean().default(true).describe("@default true"),
      constrainDevices: z.boolean().default(true).describe("@default true"),
    })
    .prefault({}),
  partitions: z.array(PartitionSchema).min(1).max(128),
  loginGroups: z.array(z.string()).max(256).default([]).describe("Node groups that get the client configuration (sbatch, squeue) but run no slurmd. @default none"),
  accounting: AccountingSchema.optional().describe("slurmdbd with MariaDB. @default no accounting"),
  restApi: RestApiSchema.optional().describe("slurmrestd (JWT) behind nginx. @default none"),
});

export type SlurmSpec = z.output<typeof SlurmSchema>;
