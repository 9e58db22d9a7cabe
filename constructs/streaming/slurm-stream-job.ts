import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { ContainerRuntime, shellWords } from "./container-runtime.js";
import { RdmaHostSettings, STREAM_LIBEXEC } from "./rdma-host-settings.js";
import type { StreamBroker } from "./stream-broker.js";

export interface SlurmStreamJobProps {
  /** Bundle of the node group the job runs on: gets the task script and the batch script. */
  readonly bundle: Bundle;
  /** More bundles that get the batch script (login nodes users submit from). @default none */
  readonly submitBundles?: readonly Bundle[];
  readonly broker: StreamBroker;
  readonly settings: RdmaHostSettings;
  readonly runtime: ContainerRuntime;
  readonly image: string;
  /** Brokers; the job has one node more, for the coordinator. */
  readonly brokers: number;
  /** @default "hpcdk-stream-<clusterName>" */
  readonly jobName?: string;
  readonly partition?: string;
  readonly qos?: string;
  readonly account?: string;
  /** --time. @default "1-00:00:00" */
  readonly timeLimit?: string;
  /** --cpus-per-task. @default Slurm's (one CPU) */
  readonly cpusPerTask?: number;
  /** --mem-per-cpu; without it the job asks for whole nodes (--mem=0). */
  readonly memPerCpuMB?: number;
  /** --maxCores when it must not follow the CPUs per task. @default $SLURM_CPUS_PER_TASK */
  readonly maxCores?: number;
  /** --maxCores when the job has no CPUs per task. @default 2 */
  readonly defaultCores?: number;
  /** Shared directory for the daemons' logs, one subdirectory per job; may start with $HOME/. @default "$HOME/hpcdk-stream" */
  readonly runDir?: string;
  /** @default 300 */
  readonly readyTimeoutSec?: number;
}

/**
 * The stream cluster as a Slurm batch job: `sbatch <clusterName>.sbatch` checks every node
 * (stream-preflight), starts the coordinator on the first node, waits until it listens, starts one
 * broker per remaining node (`srun --ntasks-per-node=1 --relative=1`), waits until each has
 * enlisted, and fails as soon as a step ends. Also raises slurmd's own limits (systemd drop-in),
 * since jobs inherit them.
 * @see https://slurm.schedmd.com/sbatch.html
 * @see https://slurm.schedmd.com/srun.html
 */
export class SlurmStreamJob extends Construct {
  readonly jobName: string;
  readonly scriptPath: string;
  readonly taskPath = `${STREAM_LIBEXEC}/stream-task`;
  readonly slurmdDropInPath = "/etc/systemd/system/slurmd.service.d/50-hpcdk-stream-limits.conf";

  constructor(scope: Construct, id: string, props: SlurmStreamJobProps) {
    super(scope, id);
    const where = `SlurmStreamJob [${this.node.path}]`;
    const broker = props.broker;
    if (!Number.isInteger(props.brokers) || props.brokers < 1) throw new Error(`${where}: brokers must be at least 1, got ${props.brokers}`);
    this.jobName = props.jobName ?? `hpcdk-stream-${broker.clusterName}`;
    this.scriptPath = `/usr/local/share/hpcdk/stream/${broker.clusterName}.sbatch`;
    const runDir = props.runDir ?? "$HOME/hpcdk-stream";
    const nextJob = { kind: "none", detail: "used by the next stream job; running jobs keep theirs" } as const;

    const words = shellWords;
    const cores = props.maxCores !== undefined ? String(props.maxCores) : "${cores}";
    const launch = { host: "${node}", coordinatorHost: "${coordinator}", maxCores: cores, memoryMB: "${memory_mb}" };
    const run = props.runtime.runArgs({
      image: props.image,
      name: "hpcdk-stream-${SLURM_JOB_ID}-${role}-${SLURM_PROCID}",
      infiniband: broker.transport === "infiniband",
      binds: ["${HPCDK_STREAM_RUN_DIR}", broker.storageDir],
      envFile: "${HPCDK_STREAM_ETC}/fabric.env",
      env: ["HPCDK_STREAM_LOG_DIR=${HPCDK_STREAM_RUN_DIR}", "HPCDK_STREAM_TASK=${SLURM_PROCID}"],
      memlockKB: props.settings.memlockKB,
      nofile: props.settings.nofile,
    });
    const memory = broker.memory;
    new GeneratedFile(this, "task", {
      bundle: props.bundle,
      path: this.taskPath,
      template: "streaming/stream-task",
      mode: 0o755,
      context: {
        jobName: this.jobName,
        runtime: props.runtime.name,
        defaultCores: props.defaultCores ?? 2,
        storageDir: broker.storageDir,
        coordinatorArgs: words(broker.coordinatorArgs(launch)),
        storeArgs: words(broker.store.entrypointArgs),
        brokerArgs: words(broker.brokerArgs(launch)),
        fixedMemoryMB: memory.kind === "fixed" ? memory.mb : 0,
        nodeMB: memory.kind === "fromJob" ? (memory.nodeMB ?? 0) : 0,
        plasmaMB: broker.store.memoryMB,
        reserveMB: memory.kind === "fromJob" ? memory.reserveMB : 0,
        minMemoryMB: 1024,
        runCommand: words(run),
      },
      impact: nextJob,
    });

    const context = {
      jobName: this.jobName,
      nodes: props.brokers + 1,
      cpusPerTask: props.cpusPerTask ?? 0,
      memPerCpuMB: props.memPerCpuMB ?? 0,
      timeLimit: props.timeLimit ?? "1-00:00:00",
      partition: props.partition ?? "",
      qos: props.qos ?? "",
      account: props.account ?? "",
      clusterName: broker.clusterName,
      runtime: props.runtime.name,
      image: props.image,
      path: this.scriptPath,
      runDir,
      readyTimeoutSec: props.readyTimeoutSec ?? 300,
    };
    for (const bundle of [props.bundle, ...(props.submitBundles ?? [])]) {
      new GeneratedFile(this, `sbatch-${bundle.kind}-${bundle.name}`, {
        bundle,
        path: this.scriptPath,
        template: "streaming/stream.sbatch",
        mode: 0o755,
        context,
        impact: nextJob,
      });
    }

    new GeneratedFile(this, "slurmd-limits", {
      bundle: props.bundle,
      path: this.slurmdDropInPath,
      template: "streaming/slurmd-limits.conf",
      context: { limitMemlock: props.settings.systemdMemlock, nofile: props.settings.nofile },
      handlers: ["systemctl daemon-reload", "systemctl try-restart slurmd.service"],
      impact: { kind: "restart", detail: "restarts slurmd on the group's hosts (running jobs keep running)" },
    });
  }
}
