import { Construct } from "constructs";
import { GeneratedFile, type Bundle, type Impact } from "../core/index.js";
import type { ContainerRuntimeName } from "./container-runtime.js";
import type { StorageDaemon } from "./storage-daemon.js";

/**
 * The RDMA user-space stack in the image:
 * - `mofed`: Mellanox OFED, installed with the seed's flags for the hosts' kernel;
 * - `rdma-core`: the distribution's rdma-core, libibverbs and providers.
 */
export type RdmaStack =
  | { readonly stack: "mofed"; readonly version: string; readonly kernel: string; readonly distro?: string }
  | { readonly stack: "rdma-core" };

export interface StreamImageProps {
  /** Where the build files go: a node group with the runtime (the image is built on one of its hosts). */
  readonly bundle: Bundle;
  /** Broker cluster name, for labels. */
  readonly clusterName: string;
  readonly runtime: ContainerRuntimeName;
  /** The SIF path (apptainer, singularity) or image reference (podman) the build produces. */
  readonly image: string;
  /** Base image of every stage (apt-based). @default "ubuntu:18.04" */
  readonly base?: string;
  /** @default "x86_64" */
  readonly arch?: "x86_64" | "aarch64";
  /** @default { stack: "rdma-core" } */
  readonly rdma?: RdmaStack;
  /** make -j. @default 12 */
  readonly makeJobs?: number;
  /** The plasma store's defaults baked into the entrypoint. */
  readonly store: StorageDaemon;
  /** Directory of the build files on the host. @default "/usr/local/share/hpcdk/stream-image" */
  readonly dir?: string;
}

/** Where KerA installs its binaries in the image. */
export const KERA_BIN_DIR = "/opt/kera/install/bin";

/** Build dependencies of DFI, KerArrow and KerA (the seed's list, without what only MOFED or debugging needs). */
const BUILD_PACKAGES = [
  "autoconf",
  "automake",
  "build-essential",
  "ca-certificates",
  "cmake",
  "curl",
  "default-jdk-headless",
  "doxygen",
  "git",
  "libaio-dev",
  "libboost-all-dev",
  "libcppunit-dev",
  "libcrypto++-dev",
  "libevent-dev",
  "libgtest-dev",
  "libnuma-dev",
  "libpcre3-dev",
  "libprotobuf-dev",
  "libssl-dev",
  "libtool",
  "libzmq3-dev",
  "libzookeeper-mt-dev",
  "pkg-config",
  "procps",
  "protobuf-compiler",
  "python3",
  "unzip",
  "zip",
];

/** What mlnxofedinstall needs to build kernel support without DKMS (the seed's list, trimmed). */
const mofedPackages = (kernel: string) => [
  "bison",
  "chrpath",
  "debhelper",
  "ethtool",
  "flex",
  "gfortran",
  "graphviz",
  "kmod",
  "libmnl0",
  "libnl-3-dev",
  "libnl-route-3-dev",
  "lsb-release",
  "lsof",
  `linux-headers-${kernel}`,
  "pciutils",
  "perl",
  "python3",
  "swig",
  "tcl",
  "tk",
  "udev",
];

const RDMA_CORE_BUILD = ["ibverbs-providers", "libibverbs-dev", "librdmacm-dev", "rdma-core"];
const RDMA_CORE_RUNTIME = ["ibverbs-providers", "libibverbs1", "librdmacm1"];
/** Runtime packages every image gets: the entrypoint's tools. */
const RUNTIME_BASE = ["ca-certificates", "numactl", "procps"];

/**
 * The image the stream daemons run from: a multi-stage Containerfile and an Apptainer definition
 * with the same stages (RDMA stack → build → runtime with only what the daemons load), the
 * entrypoint, the build and staging scripts, and build-image.sh, which runs the build and
 * converts the image to a SIF file.
 * @see https://apptainer.org/docs/user/latest/definition_files.html
 * @see https://docs.nvidia.com/networking/display/mlnxofedv51258060/installing+mlnx_ofed
 */
export class StreamImage extends Construct {
  readonly dir: string;
  readonly base: string;
  readonly rdma: RdmaStack;
  /** MOFED's directory name, `MLNX_OFED_LINUX-<version>-<distro>-<arch>`, when the stack is MOFED. */
  readonly mofedDir?: string;
  /** Name of the Apptainer definition file. */
  readonly defName = "stream-broker.def";

  constructor(scope: Construct, id: string, props: StreamImageProps) {
    super(scope, id);
    const where = `StreamImage [${this.node.path}]`;
    this.dir = props.dir ?? "/usr/local/share/hpcdk/stream-image";
    this.base = props.base ?? "ubuntu:18.04";
    if (!/^(ubuntu|debian):[a-z0-9._-]+$/.test(this.base)) throw new Error(`${where}: base must be ubuntu:<tag> or debian:<tag> (the build uses apt), got "${this.base}"`);
    this.rdma = props.rdma ?? { stack: "rdma-core" };
    const arch = props.arch ?? "x86_64";
    let mofedFlags: string[] = [];
    if (this.rdma.stack === "mofed") {
      const distro = this.rdma.distro ?? (this.base.startsWith("ubuntu:") ? `ubuntu${this.base.slice("ubuntu:".length)}` : undefined);
      if (!distro) throw new Error(`${where}: MOFED needs a distribution tag for base "${this.base}"`);
      this.mofedDir = `MLNX_OFED_LINUX-${this.rdma.version}-${distro}-${arch}`;
      mofedFlags = [
        "--skip-unsupported-devices-check",
        "--without-dkms",
        "--add-kernel-support",
        "--kernel",
        this.rdma.kernel,
        "--kernel-sources",
        `/usr/src/linux-headers-${this.rdma.kernel}/`,
        "--without-fw-update",
        "--force",
      ];
    }
    const mofed = this.rdma.stack === "mofed";
    const sif = props.runtime !== "podman";
    const rdmaSummary = this.rdma.stack === "mofed" ? `Mellanox OFED ${this.rdma.version} for kernel ${this.rdma.kernel}` : "the distribution's rdma-core";
    const context = {
      base: this.base,
      clusterName: props.clusterName,
      runtime: props.runtime,
      sifBuilder: props.runtime === "podman" ? "apptainer" : props.runtime,
      image: props.image,
      sif,
      tag: sif ? `localhost/hpcdk-stream-${props.clusterName.toLowerCase()}:latest` : props.image,
      defName: this.defName,
      mofed,
      mofedDir: this.mofedDir ?? "",
      mofedFlags,
      rdmaSummary,
      rdmaPackages: mofed ? mofedPackages((this.rdma as { kernel: string }).kernel) : RDMA_CORE_BUILD,
      buildPackages: BUILD_PACKAGES,
      runtimePackages: [...RUNTIME_BASE, ...(mofed ? [] : RDMA_CORE_RUNTIME)].sort(),
      makeJobs: props.makeJobs ?? 12,
      binDir: KERA_BIN_DIR,
      plasmaSocket: props.store.socket,
      plasmaMemoryBytes: props.store.memoryBytes,
    };
    const rebuild: Impact = { kind: "none", detail: "takes effect when the image is rebuilt with build-image.sh" };
    const file = (name: string, template: string, mode = 0o644) =>
      new GeneratedFile(this, name, { bundle: props.bundle, path: `${this.dir}/${name}`, template: `streaming/${template}`, context, mode, impact: rebuild });
    file("Containerfile", "Containerfile");
    file(this.defName, "stream.def");
    file("docker-entrypoint.sh", "docker-entrypoint.sh", 0o755);
    file("build-broker.sh", "build-broker.sh", 0o755);
    file("stage-runtime.sh", "stage-runtime.sh", 0o755);
    file("build-image.sh", "build-image.sh", 0o755);
  }
}
