import { shWithVariables, Written } from "../core/index.js";
/**
 * How a container runtime starts the stream image: the command line before the entrypoint's own
 * arguments. Apptainer and Singularity run a SIF file; Podman runs an image reference.
 * @see https://apptainer.org/docs/user/latest/cli/apptainer_run.html
 * @see https://docs.podman.io/en/latest/markdown/podman-run.1.html
 */

export type ContainerRuntimeName = "apptainer" | "singularity" | "podman";

export interface RunOptions {
  /** SIF path (apptainer, singularity) or image reference (podman). */
  readonly image: string;
  /** Container name (podman only; may hold shell expressions such as `${SLURM_JOB_ID}`). */
  readonly name: string;
  /** Pass the InfiniBand devices and the host's verbs provider configuration into the container. */
  readonly infiniband: boolean;
  /** Host directories the daemons write to (logs, backup files), mounted at the same path. */
  readonly binds: readonly string[];
  /** An environment file read into the container (the fabric settings). */
  readonly envFile: string;
  /** Environment variables for the entrypoint, `NAME=value` (values may hold shell expressions). */
  readonly env: readonly string[];
  /** Locked-memory limit in KB, or "unlimited" (podman sets it on the container; the others inherit the caller's). */
  readonly memlockKB: number | "unlimited";
  /** Open-files limit (podman sets it on the container; the others inherit the caller's). */
  readonly nofile: number;
}

/** The host paths an InfiniBand container needs: the verbs devices and the provider configuration. */
export const INFINIBAND_BINDS = ["/dev/infiniband", "/etc/libibverbs.d"] as const;

/** A container runtime: build it with `ContainerRuntime.apptainer()`, `.singularity()` or `.podman()`. */
export class ContainerRuntime {
  static apptainer(): ContainerRuntime {
    return new ContainerRuntime("apptainer");
  }
  static singularity(): ContainerRuntime {
    return new ContainerRuntime("singularity");
  }
  static podman(): ContainerRuntime {
    return new ContainerRuntime("podman");
  }
  static of(name: ContainerRuntimeName): ContainerRuntime {
    return new ContainerRuntime(name);
  }

  private constructor(readonly name: ContainerRuntimeName) {}

  /** The command that runs the image: argv, without the entrypoint's arguments. */
  runArgs(o: RunOptions): string[] {
    if (this.name === "podman") {
      const memlock = o.memlockKB === "unlimited" ? "-1:-1" : `${o.memlockKB * 1024}:${o.memlockKB * 1024}`;
      return [
        "podman",
        "run",
        "--rm",
        "--replace",
        `--name=${o.name}`,
        // The daemons listen on the host's addresses (locators name the host) and share its IPC.
        "--network=host",
        "--ipc=host",
        ...(o.infiniband ? ["--device=/dev/infiniband", "--volume=/etc/libibverbs.d:/etc/libibverbs.d:ro"] : []),
        `--ulimit=memlock=${memlock}`,
        `--ulimit=nofile=${o.nofile}:${o.nofile}`,
        ...o.binds.map((b) => `--volume=${b}:${b}`),
        `--env-file=${o.envFile}`,
        ...o.env.map((e) => `--env=${e}`),
        o.image,
      ];
    }
    const binds = [...(o.infiniband ? INFINIBAND_BINDS : []), ...o.binds];
    return [
      this.name,
      "run",
      ...(binds.length > 0 ? ["--bind", binds.join(",")] : []),
      "--env-file",
      o.envFile,
      ...o.env.flatMap((e) => ["--env", e]),
      o.image,
    ];
  }
}

/**
 * The variables the Slurm job's scripts set for the daemons' arguments: an argument may expand
 * these (`infrc:host=${node}-ib0`) and nothing else; every other character is quoted.
 */
export const STREAM_JOB_VARIABLES = ["node", "coordinator", "cores", "memory_mb", "role", "SLURM_JOB_ID", "SLURM_PROCID", "HPCDK_STREAM_RUN_DIR", "HPCDK_STREAM_ETC"] as const;

/** Arguments as shell words (bash), each one word that expands only {@link STREAM_JOB_VARIABLES}. */
export function shellWords(args: readonly string[]): Written {
  return new Written("sh", args.map((a) => shWithVariables(a, STREAM_JOB_VARIABLES).text).join(" "));
}
