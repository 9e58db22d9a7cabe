/**
 * The `containers` section of a site: which HPC container runtimes each node group gets
 * (Apptainer, Charliecloud, rootless Podman, Sarus, Shifter) and how they plug into Slurm.
 *
 * Shapes live here; rules that relate the section to the rest of the site (node groups exist,
 * container storage is never on an NFS path, subordinate id ranges do not overlap, the Shifter
 * gateway runs on exactly one host) live in `checkContainers`, called from schema/rules.ts.
 */
import { z } from "zod";
import { absolutePath as narrowedPath, narrowed, ownedDirectory, pathProblem, shown } from "./common.js";

export const quote = (v: unknown) => shown(v);

const absolutePath = narrowedPath();

/** The variables a per-user path may hold, as `$NAME` or `${NAME}`: the runtime (or the login shell) expands them. */
export const USER_PATH_VARIABLES = ["USER", "UID"] as const;

/**
 * Splits a per-user path into literal text and variables: `/var/tmp/$USER.ch` →
 * ["/var/tmp/", {USER}, ".ch"]. Throws on a `$` that is not one of {@link USER_PATH_VARIABLES}.
 */
export function userPathParts(p: string): (string | { variable: string })[] {
  const parts: (string | { variable: string })[] = [];
  let text = "";
  for (let i = 0; i < p.length; i++) {
    if (p[i] !== "$") {
      text += p[i];
      continue;
    }
    const m = /^\$(?:\{([A-Za-z_]+)\}|([A-Za-z_]+))/.exec(p.slice(i, i + 40));
    const variable = m?.[1] ?? m?.[2];
    if (!m || !(USER_PATH_VARIABLES as readonly string[]).includes(variable!)) throw new Error(`may only use the variables $USER and $UID, got ${shown(p)}`);
    if (text !== "") parts.push(text);
    text = "";
    parts.push({ variable: variable! });
    i += m[0].length - 1;
  }
  if (text !== "") parts.push(text);
  return parts;
}

/**
 * A path that may use `$USER` or `$UID`, expanded per user by the runtime or the login shell.
 * `$HOME` passes the shape so that the rules can say why it is refused (home directories are on
 * NFS). With the variables taken as names, it is an absolute path as {@link pathProblem} says.
 */
const userPath = narrowed((p) => {
  if (/^\$\{?HOME\b/.test(p) && p.length <= 4095) return undefined;
  let parts: ReturnType<typeof userPathParts>;
  try {
    parts = userPathParts(p);
  } catch (err) {
    return (err as Error).message;
  }
  const asPath = parts.map((x) => (typeof x === "string" ? x : `${x.variable}`)).join("");
  const why = pathProblem(asPath);
  return why === undefined ? undefined : why.replace(shown(asPath), shown(p));
}, "^[$A-Za-z0-9._+@~/{}-]+$");

const groupName = z.string().regex(/^[a-z][a-z0-9-]{0,62}$/, { error: (iss) => `must be a node group name, got ${quote(iss.input)}` });
const groups = (what: string) =>
  z
    .array(groupName)
    .min(1, { error: `name at least one node group that gets ${what}` })
    .max(256)
    .describe(`Node groups (nodeGroups[].name) that get ${what}.`);

const userName = z.string().regex(/^[a-z_][a-z0-9_-]{0,31}\$?$/, { error: (iss) => `must be a user name, got ${quote(iss.input)}` });

/** A bind path of apptainer.conf: "/src" or "/src:/dst", both absolute paths. */
const bindPath = narrowed((v) => {
  const [src, dst, more] = v.split(":");
  const why = more !== undefined ? "one \":\" at most" : pathProblem(src!) ?? (dst === undefined ? undefined : pathProblem(dst));
  return why === undefined ? undefined : `must be "/src" or "/src:/dst" with absolute paths (${why}), got ${shown(v)}`;
}, "^/[A-Za-z0-9._+@~/-]*(:/[A-Za-z0-9._+@~/-]*)?$");

/** Formats a site package can come in, by file name. */
export const SITE_PACKAGE_FORMATS = ["deb", "rpm", "tar"] as const;
export type SitePackageFormat = (typeof SITE_PACKAGE_FORMATS)[number];

export function sitePackageFormat(url: string): SitePackageFormat | undefined {
  if (/\.deb$/.test(url)) return "deb";
  if (/\.rpm$/.test(url)) return "rpm";
  if (/\.(tar\.gz|tgz|tar\.xz|tar\.bz2)$/.test(url)) return "tar";
  return undefined;
}

export { sitePackageName } from "../common/site-package.js";

export const SitePackageSchema = z
  .strictObject({
    url: z
      .string()
      .regex(/^(https?|file):\/\/[A-Za-z0-9._~:/?#@!&()*+,;=%-]{1,2040}$/, {
        error: (iss) => `must be an http(s):// or file:// URL of at most 2048 characters, without spaces, quotes, "$" or "\\", got ${quote(iss.input)}`,
      })
      .refine((u) => sitePackageFormat(u) !== undefined, {
        error: (iss) => `must name a .deb, .rpm or .tar.gz/.tgz/.tar.xz/.tar.bz2 file, got ${quote(iss.input)}`,
      })
      .describe("Where the hosts download the package: the site's mirror or a file on shared storage."),
    sha256: z
      .string({
        error: (iss) =>
          typeof iss.input === "number"
            ? "must be quoted: YAML reads a sha256 of only digits (or digits, one e, digits) as a number"
            : undefined,
      })
      .regex(/^[0-9a-f]{64}$/, { error: (iss) => `must be 64 lowercase hex digits (sha256sum), got ${quote(iss.input)}` })
      .describe("sha256 of the file; the deploy refuses a download that does not match."),
  })
  .describe("A package the site provides (not in the distribution), verified by its sha256 before it is installed.")
  // Parsed once: the constructs take the format from here (the refine above made it known).
  .transform((p) => ({ ...p, format: sitePackageFormat(p.url)! }));
export type SitePackageSpec = z.output<typeof SitePackageSchema>;

export const ApptainerSchema = z.strictObject({
  groups: groups("Apptainer"),
  packages: z
    .array(SitePackageSchema)
    .min(1, { error: "Apptainer is not in Debian 12: give the site's apptainer .deb/.rpm (and apptainer-suid for setuid mode)" })
    .max(32)
    .describe("Apptainer packages (.deb or .rpm) from the site's package source."),
  mode: z
    .enum(["unprivileged", "setuid"])
    .default("unprivileged")
    .describe("unprivileged: user namespaces only (allow setuid = no); setuid: the setuid starter (needs the apptainer-suid package). @default unprivileged"),
  bindPaths: z
    .array(bindPath)
    .max(256)
    .default([])
    .describe("Extra `bind path` entries (after /etc/localtime, /etc/hosts and, on InfiniBand groups, /dev/infiniband and /etc/libibverbs.d). @default []"),
  mountHome: z.boolean().default(true).describe("`mount home`. @default true"),
  mountHostfs: z.boolean().default(false).describe("`mount hostfs`: bind every host filesystem into containers. @default false"),
  allowPidNs: z.boolean().default(true).describe("`allow pid ns`. @default true"),
  maxLoopDevices: z.int().min(1).max(4096).default(256).describe("`max loop devices`. @default 256"),
  limitContainerOwners: z.array(userName).max(256).default([]).describe("`limit container owners` (setuid mode only). @default [] (any owner)"),
  limitContainerPaths: z.array(absolutePath).max(256).default([]).describe("`limit container paths` (setuid mode only). @default [] (anywhere)"),
});

export const CharliecloudSchema = z.strictObject({
  groups: groups("Charliecloud"),
  storageDir: userPath
    .default("/var/tmp/$USER.ch")
    .describe("CH_IMAGE_STORAGE: where ch-image keeps images, on local disk; $USER is expanded per user. @default /var/tmp/$USER.ch"),
});

const UidRangeSchema = z.strictObject({
  first: z.int().min(1).max(4294967294).describe("First uid of the range."),
  last: z.int().min(1).max(4294967294).describe("Last uid of the range (inclusive)."),
});

export const PodmanSchema = z.strictObject({
  groups: groups("rootless Podman"),
  runtime: z
    .enum(["runc", "crun"])
    .default("runc")
    .describe("OCI runtime. crun refuses hybrid cgroup v1/v2 hosts; runc runs everywhere. @default runc"),
  storageDriver: z.enum(["overlay", "vfs"]).default("overlay").describe("containers/storage driver. @default overlay"),
  graphroot: ownedDirectory("Podman keeps root's images there").default("/var/lib/containers/storage").describe("Root's image store, on local disk. @default /var/lib/containers/storage"),
  runroot: ownedDirectory("Podman keeps root's runtime state there").default("/run/containers/storage").describe("Root's runtime state, on tmpfs. @default /run/containers/storage"),
  rootlessStorageRoot: ownedDirectory("the deploy makes it root's, mode 0755, with one private store per user in it")
    .default("/var/lib/containers/users")
    .describe("Local directory holding one image store per user (rootless_storage_path = <this>/$UID/storage), never a home directory on NFS. @default /var/lib/containers/users"),
  cgroupManager: z
    .enum(["cgroupfs", "systemd"])
    .default("cgroupfs")
    .describe("cgroupfs keeps containers inside the Slurm job's cgroup; systemd would move them into the user's systemd slice, out of the job's limits. @default cgroupfs"),
  network: z
    .enum(["host", "slirp4netns"])
    .default("host")
    .describe("Default network of rootless containers: host (MPI and RDMA work as on the host) or slirp4netns (private). @default host"),
  subordinateIds: z
    .strictObject({
      uidRanges: z.array(UidRangeSchema).min(1).max(1024).describe("The uids of the site's users (local and LDAP), e.g. [{first: 10000, last: 19999}]."),
      start: z.int().min(1).max(4294967294).default(100000).describe("First subordinate id handed out. @default 100000"),
      count: z.int().min(65536).max(4294967294).default(65536).describe("Subordinate uids/gids per user (65536 covers every id an image may use). @default 65536"),
    })
    .describe("/etc/subuid and /etc/subgid: every uid of the ranges gets `count` ids of its own, in uid order from `start`."),
});

const SarusMountSchema = z.strictObject({
  source: absolutePath,
  destination: absolutePath.optional().describe("@default the source path"),
  readonly: z.boolean().default(false).describe("@default false"),
});

export const SarusSchema = z.strictObject({
  groups: groups("Sarus"),
  version: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, { error: (iss) => `must be a version like 1.7.0, got ${quote(iss.input)}` })
    .describe("Sarus release, e.g. 1.7.0; names the install prefix."),
  package: SitePackageSchema.describe("The Sarus standalone archive (.tar.gz) or a site-built .deb/.rpm."),
  prefixDir: ownedDirectory("the deploy unpacks Sarus there, replacing what it held, and chowns it to root (chown -R)")
    .optional()
    .describe("Installation prefix: a directory of its own. @default /opt/sarus/<version>"),
  localRepositoryBaseDir: absolutePath
    .default("/home")
    .describe("Base of the users' image repositories (<this>/<user>/.sarus), visible on every node. @default /home"),
  centralizedRepositoryDir: absolutePath.optional().describe("Read-only image repository the admins fill. @default none"),
  tempDir: absolutePath.default("/tmp").describe("@default /tmp"),
  ramFilesystemType: z.enum(["tmpfs", "ramfs"]).default("tmpfs").describe("@default tmpfs"),
  siteMounts: z.array(SarusMountSchema).max(256).default([]).describe("Bind mounts into every container (home, scratch). @default []"),
  infinibandDevices: z
    .array(absolutePath)
    .max(64)
    .default(["/dev/infiniband/rdma_cm", "/dev/infiniband/uverbs0"])
    .describe("siteDevices on InfiniBand groups (with /etc/libibverbs.d mounted). @default [/dev/infiniband/rdma_cm, /dev/infiniband/uverbs0]"),
  mpi: z
    .strictObject({
      libs: z.array(absolutePath).min(1).max(256).describe("MPI_LIBS: the host's MPICH-ABI libraries (full paths with version numbers)."),
      dependencyLibs: z.array(absolutePath).max(256).default([]).describe("MPI_DEPENDENCY_LIBS. @default []"),
      bindMounts: z.array(absolutePath).max(256).default([]).describe("BIND_MOUNTS: files and devices the host MPI needs. @default []"),
    })
    .optional()
    .describe("The native MPI hook (`sarus run --mpi`). @default none"),
  gpuHook: z
    .strictObject({
      path: absolutePath.default("/usr/bin/nvidia-container-runtime-hook").describe("@default /usr/bin/nvidia-container-runtime-hook"),
      libnvidiaContainerPath: absolutePath.default("/usr").describe("Prefix of libnvidia-container (bin/, lib/). @default /usr"),
    })
    .prefault({})
    .describe("The NVIDIA Container Toolkit hook, configured on groups with GPUs (nodeGroups[].hardware.gpus)."),
});

const PortSchema = z.int().min(1).max(65535);

export const ShifterSchema = z.strictObject({
  groups: groups("the Shifter runtime (compute nodes and the login nodes users submit from)"),
  packages: z.array(SitePackageSchema).min(1, { error: "Shifter is not in Debian 12: give the site's shifter runtime package" }).max(32).describe("Shifter runtime packages (udiRoot, the SPANK plugin)."),
  udiRootPath: absolutePath.default("/opt/shifter/udiRoot").describe("Installation prefix of the runtime. @default /opt/shifter/udiRoot"),
  system: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, { error: (iss) => `must be a system name like "stc", got ${quote(iss.input)}` })
    .optional()
    .describe("System name: the gateway's platform and udiRoot.conf `system`. @default cluster.name"),
  imagePath: absolutePath.describe("Where the gateway writes images and every node reads them: on shared storage (under containers.sharedPaths)."),
  siteFs: z
    .array(z.strictObject({ from: absolutePath, to: absolutePath.optional().describe("@default the same path") }))
    .max(256)
    .optional()
    .describe("Bind mounts into every container. @default every containers.sharedPaths entry at the same path"),
  siteResources: absolutePath.default("/opt/shifter/site-resources").describe("@default /opt/shifter/site-resources"),
  allowLibcPwdCalls: z.boolean().default(true).describe("`allowLibcPwdCalls`. @default true"),
  maxLoop: z.int().min(8).max(4096).default(128).describe("max_loop for the loop module, preloaded with squashfs by the prologue. @default 128"),
  maxGroupCount: z.int().min(1).max(65536).default(31).describe("`maxGroupCount`. @default 31"),
  mungeSocket: absolutePath.default("/run/munge/munge.socket.2").describe("Munge socket the gateway authenticates with. @default /run/munge/munge.socket.2"),
  gateway: z.strictObject({
    group: groupName.describe("Node group of the image gateway host: exactly one host (MongoDB is bound to 127.0.0.1)."),
    packages: z
      .array(SitePackageSchema)
      .min(1, { error: "give the site's packages for the image gateway (shifter-imagegw with its Python environment, MongoDB)" })
      .max(32)
      .describe("Gateway packages: shifter-imagegw with its Python environment, mongodb-org-server, mongosh."),
    prefix: absolutePath.default("/opt/shifter/imagegw").describe("Gateway install prefix (holds the Python virtualenv `venv`). @default /opt/shifter/imagegw"),
    replicas: z.int().min(1).max(16).default(3).describe("API processes on consecutive ports from basePort (the seed ran 3 for 4096 nodes). @default 3"),
    basePort: PortSchema.default(5000).describe("@default 5000"),
    celeryConcurrency: z.int().min(1).max(256).default(24).describe("Celery worker concurrency (the seed raised 6 to 24). @default 24"),
    cacheDirectory: ownedDirectory("the deploy makes it the shifter user's (install -d -o shifter -m 0750)").default("/var/lib/shifter/cache").describe("@default /var/lib/shifter/cache"),
    expandDirectory: ownedDirectory("the deploy makes it the shifter user's (install -d -o shifter -m 0750)").default("/var/lib/shifter/expand").describe("@default /var/lib/shifter/expand"),
    mongodbPort: PortSchema.default(27017).describe("@default 27017"),
    redisPort: PortSchema.default(6379).describe("@default 6379"),
    defaultImageLocation: z.string().regex(/^[a-z0-9.-]{1,253}(:\d{1,5})?$/).default("registry-1.docker.io").describe("@default registry-1.docker.io"),
    passwdRefreshMin: z.int().min(1).max(1440).default(10).describe("Minutes between refreshes of the cached passwd/group files. @default 10"),
  }),
});

export const SlurmContainersSchema = z.strictObject({
  groups: groups("Slurm's container support (oci.conf for srun --container, PMIx)"),
  ociRuntime: z.enum(["runc", "crun"]).default("runc").describe("Runtime oci.conf calls. @default runc"),
  ociStateDir: ownedDirectory("systemd-tmpfiles makes it mode 1777 (every job user runs containers there)").default("/run/slurm-oci").describe("The runtime's --root: state of running containers, on tmpfs. @default /run/slurm-oci"),
});

export const ContainersSchema = z
  .strictObject({
    sharedPaths: z
      .array(absolutePath)
      .max(64)
      .default(["/home"])
      .describe("Where the node groups mount network filesystems (NFS home directories, project space). Container storage is refused there as on the site's NFS exports. @default [/home]"),
    apptainer: ApptainerSchema.optional(),
    charliecloud: CharliecloudSchema.optional(),
    podman: PodmanSchema.optional(),
    sarus: SarusSchema.optional(),
    shifter: ShifterSchema.optional(),
    slurm: SlurmContainersSchema.optional().describe("srun --container (oci.conf) and PMIx. @default none"),
  })
  .describe("HPC container runtimes per node group, and their Slurm integration.");

export type ContainersSpec = z.output<typeof ContainersSchema>;
export type ApptainerSpec = z.output<typeof ApptainerSchema>;
export type CharliecloudSpec = z.output<typeof CharliecloudSchema>;
export type PodmanSpec = z.output<typeof PodmanSchema>;
export type SarusSpec = z.output<typeof SarusSchema>;
export type ShifterSpec = z.output<typeof ShifterSchema>;
export type SlurmContainersSpec = z.output<typeof SlurmContainersSchema>;
