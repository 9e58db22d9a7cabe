import { Construct } from "constructs";
import { envfileLiteral, GeneratedFile, type Bundle, type Impact, type Written } from "../core/index.js";
import type { ContainerRuntimeName } from "./container-runtime.js";
import type { StreamTransport } from "./locator.js";

/** Where hpcdk puts the stream daemons' helper scripts on the hosts. */
export const STREAM_LIBEXEC = "/usr/local/libexec/hpcdk";
/** Where the stream settings live on the hosts. */
export const STREAM_ETC = "/etc/hpcdk/stream";
/** The line a coordinator logs once it serves. */
export const COORDINATOR_READY = "coordinator: Listening on";
/** The line a broker logs once the coordinator has taken it in. */
export const BROKER_READY = "Enlisted; serverId";

export interface RdmaHostSettingsProps {
  /** The bundle of the hosts that run the daemons (a node group). */
  readonly bundle: Bundle;
  readonly transport: StreamTransport;
  /** @default "mlx5_0" */
  readonly device?: string;
  /** HCA port that must be active. @default 1 */
  readonly ibPort?: number;
  /** @default "ib0" */
  readonly ibInterface?: string;
  /** @default "-ib0" */
  readonly hostSuffix?: string;
  /** FI_PROVIDER. */
  readonly fabricProvider: string;
  /** Locked memory in KB, or "unlimited". @default "unlimited" */
  readonly memlockKB?: number | "unlimited";
  /** @default 65536 */
  readonly nofile?: number;
  readonly runtime: ContainerRuntimeName;
  readonly image: string;
  /** Directories the daemons write to (plasma socket directory, backup file directory). */
  readonly writableDirs: readonly string[];
  /** Commands that restart the daemons when the fabric settings change. @default none (they are read at the next job) */
  readonly restartHandlers?: readonly string[];
}

/**
 * What a host needs before RDMA daemons start on it: limits (locked memory for the registered
 * log, open files; /etc/security/limits.d), the libfabric provider (`fabric.env`), the RDMA
 * packages, a preflight script that checks all of it and says what is missing, and the health
 * check that reads the daemons' "Listening on" / "Enlisted" lines or probes a port.
 * @see https://man7.org/linux/man-pages/man5/limits.conf.5.html
 * @see https://ofiwg.github.io/libfabric/main/man/fabric.7.html
 */
export class RdmaHostSettings extends Construct {
  readonly limitsPath = "/etc/security/limits.d/90-hpcdk-stream.conf";
  readonly fabricEnvPath = `${STREAM_ETC}/fabric.env`;
  readonly preflightPath = `${STREAM_LIBEXEC}/stream-preflight`;
  readonly healthPath = `${STREAM_LIBEXEC}/stream-health`;
  readonly memlockKB: number | "unlimited";
  readonly nofile: number;
  /** LimitMEMLOCK= for systemd units. */
  readonly systemdMemlock: string;

  constructor(scope: Construct, id: string, props: RdmaHostSettingsProps) {
    super(scope, id);
    const where = `RdmaHostSettings [${this.node.path}]`;
    this.memlockKB = props.memlockKB ?? "unlimited";
    this.nofile = props.nofile ?? 65536;
    if (this.memlockKB !== "unlimited" && this.memlockKB < 256) throw new Error(`${where}: memlockKB must be at least 256 or "unlimited", got ${this.memlockKB}`);
    if (this.nofile < 1024) throw new Error(`${where}: nofile must be at least 1024, got ${this.nofile}`);
    this.systemdMemlock = this.memlockKB === "unlimited" ? "infinity" : `${this.memlockKB}K`;
    const infiniband = props.transport === "infiniband";
    const bundle = props.bundle;
    const nextStart: Impact = { kind: "none", detail: "read when the stream daemons next start" };

    if (infiniband) {
      bundle.addPackage({ debian: "rdma-core", rhel: "rdma-core" });
      bundle.addPackage({ debian: "ibverbs-providers", rhel: "libibverbs" });
      bundle.addPackage({ debian: "ibverbs-utils", rhel: "libibverbs-utils" });
    }
    bundle.addPackage({ debian: "libfabric-bin", rhel: "libfabric" });
    bundle.addPackage({ debian: "iproute2", rhel: "iproute" });

    new GeneratedFile(this, "limits", {
      bundle,
      path: this.limitsPath,
      template: "streaming/limits.conf",
      context: { memlock: this.memlockKB, nofile: this.nofile },
      impact: { kind: "none", detail: "applies to new login sessions and jobs; running daemons keep their limits" },
    });

    // apptainer and singularity read --env-file as shell (a ";" must be quoted); podman and
    // systemd take the value as written, quotes and all for podman: the envfile writer quotes
    // only for the shell readers.
    const shellEnv = props.runtime !== "podman";
    const value = (v: string) => (shellEnv ? v : envfileLiteral(v));
    const iface = props.ibInterface ?? "ib0";
    const extra: { name: string; value: string | Written }[] = [];
    if (infiniband) {
      // Keep libfabric on the InfiniBand interface, whichever provider it uses.
      extra.push({ name: "FI_VERBS_IFACE", value: value(iface) }, { name: "FI_SOCKETS_IFACE", value: value(iface) });
    }
    const providerNote =
      props.fabricProvider === "sockets"
        ? "sockets: the safest provider, works on any network that carries TCP/IP (including IPoIB)."
        : props.fabricProvider.startsWith("verbs")
          ? "verbs: RDMA over the InfiniBand HCA; set sockets (safe, slower) if verbs fails to start."
          : `${props.fabricProvider}: chosen by the site.`;
    new GeneratedFile(this, "fabric-env", {
      bundle,
      path: this.fabricEnvPath,
      template: "streaming/fabric.env",
      context: { provider: value(props.fabricProvider), extra, providerNote },
      handlers: props.restartHandlers ?? [],
      impact: props.restartHandlers?.length
        ? { kind: "restart", detail: "restarts the stream daemons on the hosts that run them" }
        : { kind: "none", detail: "read by the next stream job" },
    });

    new GeneratedFile(this, "preflight", {
      bundle,
      path: this.preflightPath,
      template: "streaming/stream-preflight",
      mode: 0o755,
      context: {
        infiniband,
        device: props.device ?? "mlx5_0",
        ibPort: props.ibPort ?? 1,
        ibInterface: iface,
        hostSuffix: props.hostSuffix ?? "-ib0",
        memlockUnlimited: this.memlockKB === "unlimited",
        memlockKB: this.memlockKB,
        nofile: this.nofile,
        runtime: props.runtime,
        podman: props.runtime === "podman",
        image: props.image,
        dirs: [...new Set(props.writableDirs)].sort(),
      },
      impact: nextStart,
    });

    new GeneratedFile(this, "health", {
      bundle,
      path: this.healthPath,
      template: "streaming/stream-health",
      mode: 0o755,
      context: { coordinatorReady: COORDINATOR_READY, brokerReady: BROKER_READY },
      impact: nextStart,
    });
  }
}
