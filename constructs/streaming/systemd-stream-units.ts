import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import { ContainerRuntime } from "./container-runtime.js";
import { BROKER_READY, COORDINATOR_READY, RdmaHostSettings, STREAM_LIBEXEC } from "./rdma-host-settings.js";
import type { StreamBroker } from "./stream-broker.js";

export interface SystemdStreamUnitsProps {
  /** Bundle of the node group of the fixed hosts: every host gets every unit (ConditionHost picks). */
  readonly bundle: Bundle;
  /** Name of the node group, for the units' descriptions. */
  readonly group: string;
  readonly broker: StreamBroker;
  readonly settings: RdmaHostSettings;
  readonly runtime: ContainerRuntime;
  readonly image: string;
  readonly coordinatorHost: string;
  readonly brokerHosts: readonly string[];
  /** --maxCores. */
  readonly maxCores: number;
  /** @default 300 */
  readonly readyTimeoutSec?: number;
}

/** The system user apptainer and singularity run the daemons as (podman runs rootful). */
export const STREAM_USER = "hpcdk-stream";
const LOG_DIR = "/var/log/hpcdk-stream";

/**
 * The stream cluster on fixed hosts: a coordinator unit and one broker unit per broker host, each
 * running the image with the container runtime. Each unit checks its host first
 * (ExecStartPre=stream-preflight), counts as started only once the daemon logs that it serves
 * (ExecStartPost=stream-health), and restarts when a daemon stops (the entrypoint fails then).
 * @see https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html
 */
export class SystemdStreamUnits extends Construct {
  /** Unit names, sorted. */
  readonly units: readonly string[];

  constructor(scope: Construct, id: string, props: SystemdStreamUnitsProps) {
    super(scope, id);
    const broker = props.broker;
    const podman = props.runtime.name === "podman";
    const user = podman ? "" : STREAM_USER;
    const memory = broker.memory;
    if (memory.kind !== "fixed") throw new Error(`SystemdStreamUnits [${this.node.path}]: brokers on fixed hosts need a fixed memory size`);
    const readyTimeoutSec = props.readyTimeoutSec ?? 300;
    const units: string[] = [];

    const unit = (role: "coordinator" | "broker", host: string, args: string[], logs: string[], readyLog: string) => {
      const name = role === "coordinator" ? "hpcdk-stream-coordinator.service" : `hpcdk-stream-broker-${host}.service`;
      units.push(name);
      const run = props.runtime.runArgs({
        image: props.image,
        name: name.replace(/\.service$/, ""),
        infiniband: broker.transport === "infiniband",
        binds: [...new Set([LOG_DIR, broker.storageDir])],
        envFile: props.settings.fabricEnvPath,
        env: [`HPCDK_STREAM_LOG_DIR=${LOG_DIR}`, "HPCDK_STREAM_TASK=0"],
        memlockKB: props.settings.memlockKB,
        nofile: props.settings.nofile,
      });
      run[0] = `/usr/bin/${run[0]}`;
      new GeneratedFile(this, name, {
        bundle: props.bundle,
        path: `/etc/systemd/system/${name}`,
        template: "streaming/stream-daemon.service",
        context: {
          role,
          host,
          group: props.group,
          clusterName: broker.clusterName,
          readyLine: role === "coordinator" ? COORDINATOR_READY : BROKER_READY,
          after: "",
          user,
          envFile: props.settings.fabricEnvPath,
          limitMemlock: props.settings.systemdMemlock,
          nofile: props.settings.nofile,
          logsDirectory: LOG_DIR.slice("/var/log/".length),
          documentation: `file:${STREAM_LIBEXEC}/stream-preflight`,
          preflight: props.settings.preflightPath,
          health: props.settings.healthPath,
          logFiles: logs,
          execStart: [...run, role, ...args],
          readyTimeoutSec,
          readyLog,
          // Preflight, image start and the ready wait all fit in the start timeout.
          timeoutStartSec: readyTimeoutSec + 60,
        },
        handlers: ["systemctl daemon-reload", shell`systemctl try-restart ${name}`],
        impact: { kind: "restart", detail: `restarts ${name} on ${host}` },
      });
    };

    const values = { coordinatorHost: props.coordinatorHost, maxCores: String(props.maxCores), memoryMB: String(memory.mb) };
    unit("coordinator", props.coordinatorHost, broker.coordinatorArgs({ ...values, host: props.coordinatorHost }), [`${LOG_DIR}/coordinator.out`], `${LOG_DIR}/coordinator.out`);
    for (const host of props.brokerHosts) {
      unit(
        "broker",
        host,
        [...broker.store.entrypointArgs, "--", ...broker.brokerArgs({ ...values, host })],
        [`${LOG_DIR}/plasma-0.out`, `${LOG_DIR}/server-0.out`],
        `${LOG_DIR}/server-0.out`,
      );
    }
    this.units = units.sort();

    if (!podman) {
      props.bundle.addStep({
        id: "stream-user",
        phase: "before-files",
        description: `create the system user ${STREAM_USER} the stream daemons run as`,
        run: shell`getent passwd ${STREAM_USER} >/dev/null || useradd --system --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ${STREAM_USER}`,
      });
    }
    if (!["/tmp", "/var/tmp"].includes(broker.storageDir)) {
      props.bundle.addStep({
        id: "stream-storage-dir",
        phase: "after-files",
        description: `create the brokers' storage directory ${broker.storageDir}`,
        run: podman ? shell`install -d -m 0750 ${broker.storageDir}` : shell`install -d -m 0750 -o ${STREAM_USER} -g ${STREAM_USER} ${broker.storageDir}`,
      });
    }
    props.bundle.addStep({
      id: "stream-units",
      phase: "after-files",
      description: "enable and start the stream units (each runs only on its host)",
      run: shell`systemctl daemon-reload && systemctl enable ${this.units} && systemctl start ${this.units}`,
    });
  }
}
