/**
 * The `streaming` section of a site: RDMA stream broker and storage daemons (a KerA-style stream
 * store: one coordinator, N brokers, a plasma object store beside each broker), the container
 * image they run from, how they are launched (a Slurm batch job or systemd units on fixed hosts),
 * and the host settings RDMA daemons need (locked memory, open files, libfabric provider).
 *
 * `checkStreaming` relates the section to the node groups: a broker host without InfiniBand when
 * the transport is InfiniBand, memory that does not fit a node, a broker count the group cannot
 * hold. Every violation names the field to fix.
 */
import { z } from "zod";
import { absolutePath as narrowedPath, narrowed, nicName, pathProblem, shown } from "./common.js";

export type Path = (string | number)[];
export type Report = (path: Path, message: string) => void;

export const quote = (s: string | number) => shown(s);

const port = z.int().min(1).max(65535);

/**
 * An absolute path, or one under the submitting user's home (`$HOME/...`): the batch script
 * expands `$HOME` and nothing else.
 */
const jobPath = narrowed((p) => {
  const home = p.startsWith("$HOME/");
  const why = pathProblem(home ? p.slice("$HOME".length) : p);
  return why === undefined ? undefined : `must be an absolute path or start with $HOME/: ${why.replace(/, got .*$/, "")}, got ${shown(p)}`;
}, "^(/|\\$HOME/)[A-Za-z0-9._+@~/-]*$");

const absolutePath = narrowedPath();

const hostName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
  error: (iss) => `must be a host name (lowercase letters, digits, "-"), got ${shown(iss.input)}`,
});

/** One daemon argument: no whitespace or shell metacharacters, so it can be rendered unquoted. */
const daemonArg = z.string().regex(/^[A-Za-z0-9_.,:=\/+-]{1,256}$/, {
  error: (iss) => `must be one argument of letters, digits and _ . , : = / + - (no spaces or shell characters), got ${shown(iss.input)}`,
});

/** libfabric providers (`fi_info -l`); tcp and tcp;ofi_rxm are refused, see checkStreaming. */
export const FABRIC_PROVIDERS = ["verbs", "verbs;ofi_rxm", "sockets", "tcp", "tcp;ofi_rxm", "psm2", "psm3", "opx", "efa", "cxi", "gni", "shm"] as const;
/** Providers the libfabric notes of the seed call broken for this kind of middleware. */
export const BROKEN_FABRIC_PROVIDERS: readonly string[] = ["tcp", "tcp;ofi_rxm"];
/** Providers that need an InfiniBand HCA. */
export const VERBS_PROVIDERS: readonly string[] = ["verbs", "verbs;ofi_rxm"];

const MofedSchema = z.strictObject({
  stack: z.literal("mofed"),
  version: z
    .string()
    .regex(/^\d+\.\d+-\d+(\.\d+)*$/, { error: (iss) => `must be a MOFED version such as "5.1-2.5.8.0", got ${shown(iss.input)}` })
    .describe("Mellanox OFED version: the installer directory is MLNX_OFED_LINUX-<version>-<distro>-<arch>."),
  distro: z
    .string()
    .regex(/^[a-z]+[0-9][0-9.]*$/, { error: (iss) => `must be a MOFED distribution tag such as "ubuntu18.04" or "debian11.3", got ${shown(iss.input)}` })
    .optional()
    .describe("MOFED distribution tag. @default derived from an ubuntu base image (ubuntu:18.04 → ubuntu18.04)"),
  kernel: z
    .string()
    .regex(/^\d+\.\d+\.\d+-[A-Za-z0-9.+-]+$/, { error: (iss) => `must be a kernel release such as "5.4.0-42-generic", got ${shown(iss.input)}` })
    .describe("Kernel the MOFED modules are built for (--kernel, --kernel-sources): the hosts' `uname -r`."),
});

const RdmaCoreSchema = z.strictObject({
  stack: z.literal("rdma-core").describe("Debian's/Ubuntu's rdma-core, libibverbs and ibverbs-providers instead of MOFED."),
});

export const StreamImageBuildSchema = z.strictObject({
  base: z
    .string()
    .regex(/^(ubuntu|debian):[a-z0-9._-]+$/, { error: (iss) => `must be an ubuntu:<tag> or debian:<tag> image (the build uses apt), got ${shown(iss.input)}` })
    .default("ubuntu:18.04")
    .describe("Base image of every stage. @default ubuntu:18.04"),
  arch: z.enum(["x86_64", "aarch64"]).default("x86_64").describe("CPU architecture of the hosts. @default x86_64"),
  rdma: z
    .discriminatedUnion("stack", [MofedSchema, RdmaCoreSchema], {
      error: (iss) =>
        iss.code === "invalid_union" ? `stack must be "mofed" or "rdma-core", got ${shown((iss.input as { stack?: unknown })?.stack)}` : undefined,
    })
    .default({ stack: "rdma-core" })
    .describe("The RDMA user-space stack in the image. @default rdma-core"),
  makeJobs: z.int().min(1).max(256).default(12).describe("make -j for the broker build. @default 12"),
  nodeGroup: z
    .string()
    .optional()
    .describe("Node group whose hosts get the build files (/usr/local/share/hpcdk/stream-image); build on one of them, where the runtime is. @default launch.nodeGroup"),
});

const CoordinatorSchema = z.strictObject({
  port: port.default(11100).describe("Coordinator port in its locator. @default 11100"),
  reset: z
    .boolean()
    .default(true)
    .describe("--reset: start a new cluster, deleting the coordinator's external storage workspace. @default true"),
  extraArgs: z.array(daemonArg).max(64).default(["-n"]).describe("More coordinator arguments. @default the seed's -n"),
});

const BrokerSchema = z.strictObject({
  port: port.default(11101).describe("Broker (master service) port in its locator. @default 11101"),
  replicas: z.int().min(0).max(8).default(0).describe("Backup replicas per segment (-r). 0 runs the brokers --masterOnly. @default 0"),
  storageDir: absolutePath.default("/tmp").describe("Directory of the broker's backup file (-f <dir>/storagemaster). @default /tmp"),
  memoryMB: z
    .int()
    .min(1024)
    .optional()
    .describe("Log memory per broker (--totalMasterMemory). @default node (or job) memory minus the plasma store and reserveMB"),
  reserveMB: z.int().min(0).default(2048).describe("Memory per node left to the broker process, the OS and the runtime. @default 2048"),
  maxCores: z.int().min(1).optional().describe("--maxCores of coordinator and brokers. @default the job's CPUs per task, or the node's cores"),
  cleanerBalancer: daemonArg.default("fixed:50").describe("--cleanerBalancer. @default fixed:50"),
  detectFailures: z.boolean().default(false).describe("--detectFailures. @default false"),
  hashTableMB: z.int().min(1).default(1).describe("Hash table size in MB (-h). @default 1"),
  activeGroupsPerStreamlet: z
    .int()
    .min(1)
    .default(1)
    .describe("--numberActiveGroupsPerStreamlet and --masterActiveGroupsPerStreamlet. @default 1"),
  extraArgs: z.array(daemonArg).max(64).default(["-D", "-d"]).describe("More server arguments. @default the seed's -D -d"),
});

export const PlasmaSchema = z.strictObject({
  socket: absolutePath.default("/tmp/plasma").describe("Unix socket of the plasma store (-s). @default /tmp/plasma"),
  memoryBytes: z.int().min(1 << 20).default(1_000_000_000).describe("Plasma store capacity (-m). @default 1000000000"),
});

export const FabricSchema = z.strictObject({
  provider: z
    .enum(FABRIC_PROVIDERS)
    .optional()
    .describe("FI_PROVIDER for libfabric users on the hosts. @default verbs with InfiniBand, sockets (the safe one) without"),
});

export const LimitsSchema = z.strictObject({
  memlockKB: z
    .union([z.literal("unlimited"), z.int().min(256)], {
      error: (iss) => `must be "unlimited" or at least 256 (KB of locked memory RDMA needs), got ${shown(iss.input)}`,
    })
    .default("unlimited")
    .describe("Locked memory (ulimit -l, KB): RDMA registers the broker's whole log. @default unlimited"),
  nofile: z.int().min(1024).default(65536).describe("Open files (ulimit -n), at least 1024. @default 65536"),
});

const SlurmLaunchSchema = z.strictObject({
  via: z.literal("slurm"),
  nodeGroup: z.string().describe("Node group the job runs on (a Slurm partition of it)."),
  brokers: z.int().min(1).default(2).describe("Brokers; the job takes one node more for the coordinator. @default 2"),
  partition: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).optional().describe("--partition. @default Slurm's default partition"),
  qos: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).optional().describe("--qos. @default the association's"),
  account: z.string().regex(/^[A-Za-z0-9_-]{1,63}$/).optional().describe("--account. @default the user's default account"),
  timeLimit: z
    .string()
    .regex(/^(\d{1,5}-)?\d{1,2}:\d{2}:\d{2}$/, { error: (iss) => `must be [D-]HH:MM:SS such as "0-00:15:00", got ${shown(iss.input)}` })
    .default("1-00:00:00")
    .describe("--time. @default 1-00:00:00"),
  cpusPerTask: z.int().min(1).optional().describe("--cpus-per-task (one task per node). @default every core of a node"),
  memPerCpuMB: z.int().min(1).optional().describe("--mem-per-cpu. @default --mem=0 (the whole node: brokers get exclusive nodes)"),
  jobName: z.string().regex(/^[A-Za-z0-9_.-]{1,128}$/).optional().describe("--job-name. @default hpcdk-stream-<clusterName>"),
  runDir: jobPath.default("$HOME/hpcdk-stream").describe("Shared directory for the daemons' logs; one subdirectory per job. @default $HOME/hpcdk-stream"),
  readyTimeoutSec: z.int().min(5).max(3600).default(300).describe("How long the job waits for each daemon to be ready. @default 300"),
  submitFrom: z.array(z.string()).max(256).default([]).describe("More node groups (login) that get the batch script. @default none"),
});

const SystemdLaunchSchema = z.strictObject({
  via: z.literal("systemd"),
  nodeGroup: z.string().describe("Node group of the fixed hosts."),
  coordinator: hostName.describe("Host that runs the coordinator."),
  brokers: z
    .string()
    .optional()
    .describe("Hosts that run a broker, as a hostlist expression. @default every other host of the group"),
  readyTimeoutSec: z.int().min(5).max(3600).default(300).describe("TimeoutStartSec: how long a start waits for the daemon to be ready. @default 300"),
});

export const StreamLaunchSchema = z.discriminatedUnion("via", [SlurmLaunchSchema, SystemdLaunchSchema], {
  error: (iss) =>
    iss.code === "invalid_union" ? `via must be "slurm" or "systemd", got ${shown((iss.input as { via?: unknown })?.via)}` : undefined,
});

export const StreamingSchema = z
  .strictObject({
    clusterName: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: (iss) => `must be 1-64 letters, digits, "_" or "-", got ${shown(iss.input)}` })
      .describe("--clusterName: brokers keep replicas under it; restart with the same name to reuse them."),
    runtime: z.enum(["apptainer", "singularity", "podman"]).default("apptainer").describe("Container runtime on the hosts. @default apptainer"),
    image: z
      .string()
      .min(1)
      .max(4095)
      .describe("The image: a SIF path for apptainer/singularity, an image reference for podman."),
    transport: z
      .enum(["infiniband", "tcp"])
      .default("infiniband")
      .describe("infiniband: infrc: locators on <host><hostSuffix>; tcp: tcp: locators on the host name. @default infiniband"),
    infiniband: z
      .strictObject({
        device: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/).default("mlx5_0").describe("HCA (dev= in the locator, ibv_devinfo -d). @default mlx5_0"),
        port: z.int().min(1).max(2).default(1).describe("HCA port that must be active. @default 1"),
        interface: nicName().default("ib0").describe("IPoIB interface. @default ib0"),
        hostSuffix: z.string().regex(/^[a-z0-9-]{0,32}$/).default("-ib0").describe("Appended to a host name to name its IPoIB address. @default -ib0"),
      })
      .prefault({}),
    build: StreamImageBuildSchema.prefault({}).describe("How the image is built. @default ubuntu:18.04 with rdma-core"),
    coordinator: CoordinatorSchema.prefault({}),
    broker: BrokerSchema.prefault({}),
    plasma: PlasmaSchema.prefault({}).describe("The plasma object store beside each broker."),
    fabric: FabricSchema.prefault({}),
    limits: LimitsSchema.prefault({}),
    launch: StreamLaunchSchema,
  })
  .transform((s) => ({
    ...s,
    fabric: { provider: s.fabric.provider ?? (s.transport === "infiniband" ? "verbs" : "sockets") },
  }))
  .describe("RDMA stream broker and storage daemons (coordinator, brokers, plasma stores) in a container.");

export type StreamingSpec = z.output<typeof StreamingSchema>;
export type StreamLaunchSpec = StreamingSpec["launch"];
