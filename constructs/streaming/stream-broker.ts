import { Construct } from "constructs";
import { Locator, type StreamTransport } from "./locator.js";
import type { StorageDaemon } from "./storage-daemon.js";

/**
 * How much log memory a broker gets (--totalMasterMemory, MB):
 * - `fixed`: a number known at synth (systemd units on fixed hosts);
 * - `fromJob`: computed in the job from Slurm's memory (SLURM_MEM_PER_CPU × CPUs per task, or
 *   SLURM_MEM_PER_NODE), minus the plasma store and a reserve; `nodeMB` is used when the job
 *   exposes neither.
 */
export type BrokerMemory =
  | { readonly kind: "fixed"; readonly mb: number }
  | { readonly kind: "fromJob"; readonly reserveMB: number; readonly nodeMB?: number };

export const BrokerMemory = {
  fixed: (mb: number): BrokerMemory => ({ kind: "fixed", mb }),
  fromJob: (reserveMB: number, nodeMB?: number): BrokerMemory => ({ kind: "fromJob", reserveMB, nodeMB }),
};

export interface StreamBrokerProps {
  /** --clusterName: brokers store replicas under it. */
  readonly clusterName: string;
  readonly transport: StreamTransport;
  /** HCA in infrc: locators. @default "mlx5_0" */
  readonly device?: string;
  /** Appended to host names in infrc: locators. @default "-ib0" */
  readonly hostSuffix?: string;
  /** @default 11100 */
  readonly coordinatorPort?: number;
  /** @default 11101 */
  readonly brokerPort?: number;
  /** The object store beside each broker. */
  readonly store: StorageDaemon;
  readonly memory: BrokerMemory;
  /** Backup replicas per segment (-r); 0 runs --masterOnly. @default 0 */
  readonly replicas?: number;
  /** Directory of the backup file (-f). @default "/tmp" */
  readonly storageDir?: string;
  /** @default "fixed:50" */
  readonly cleanerBalancer?: string;
  /** @default false */
  readonly detectFailures?: boolean;
  /** -h. @default 1 */
  readonly hashTableMB?: number;
  /** --numberActiveGroupsPerStreamlet and --masterActiveGroupsPerStreamlet. @default 1 */
  readonly activeGroupsPerStreamlet?: number;
  /** @default ["-D", "-d"] */
  readonly extraArgs?: readonly string[];
  /** --reset on the coordinator. @default true */
  readonly coordinatorReset?: boolean;
  /** @default ["-n"] */
  readonly coordinatorExtraArgs?: readonly string[];
}

/** Where the daemons' values come from at launch: literal values or shell expressions / systemd specifiers. */
export interface LaunchValues {
  /** This host's name (`${node}`, `%l`, `c001`). */
  readonly host: string;
  /** The coordinator's host name. */
  readonly coordinatorHost: string;
  /** --maxCores. */
  readonly maxCores: string;
  /** --totalMasterMemory in MB (brokers only). */
  readonly memoryMB?: string;
}

/**
 * A KerA stream broker cluster: one coordinator and N brokers (master services), each broker
 * beside its plasma store. Resolves every daemon flag the seed uses; the launch constructs
 * (Slurm job, systemd units) put them on command lines.
 * @see https://gitlab.uni.lu/ocm/kera
 */
export class StreamBroker extends Construct {
  readonly clusterName: string;
  readonly transport: StreamTransport;
  readonly device: string;
  readonly hostSuffix: string;
  readonly coordinatorPort: number;
  readonly brokerPort: number;
  readonly store: StorageDaemon;
  readonly memory: BrokerMemory;
  readonly replicas: number;
  readonly storageDir: string;
  /** The broker's backup file (-f). */
  readonly backupFile: string;
  private readonly props: StreamBrokerProps;

  constructor(scope: Construct, id: string, props: StreamBrokerProps) {
    super(scope, id);
    this.props = props;
    const where = `StreamBroker [${this.node.path}]`;
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(props.clusterName)) throw new Error(`${where}: clusterName must be 1-64 letters, digits, "_" or "-", got "${props.clusterName}"`);
    this.clusterName = props.clusterName;
    this.transport = props.transport;
    this.device = props.device ?? "mlx5_0";
    this.hostSuffix = props.hostSuffix ?? "-ib0";
    this.coordinatorPort = props.coordinatorPort ?? 11100;
    this.brokerPort = props.brokerPort ?? 11101;
    if (this.coordinatorPort === this.brokerPort) throw new Error(`${where}: coordinator and broker ports must differ, got ${this.brokerPort} for both`);
    this.store = props.store;
    this.memory = props.memory;
    if (this.memory.kind === "fixed" && (!Number.isInteger(this.memory.mb) || this.memory.mb < 1024)) {
      throw new Error(`${where}: a broker needs at least 1024 MB of log memory, got ${this.memory.mb}`);
    }
    this.replicas = props.replicas ?? 0;
    this.storageDir = props.storageDir ?? "/tmp";
    this.backupFile = `${this.storageDir.replace(/\/+$/, "")}/storagemaster`;
  }

  /** The coordinator's locator on a host (-C). */
  coordinatorLocator(host: string): Locator {
    return Locator.of(this.transport, { host, port: this.coordinatorPort, device: this.device, hostSuffix: this.hostSuffix });
  }

  /** A broker's locator on a host (-L). */
  brokerLocator(host: string): Locator {
    return Locator.of(this.transport, { host, port: this.brokerPort, device: this.device, hostSuffix: this.hostSuffix });
  }

  /** The coordinator's arguments, in the seed's order. */
  coordinatorArgs(v: LaunchValues): string[] {
    return [
      "-C",
      this.coordinatorLocator(v.coordinatorHost).toString(),
      "--maxCores",
      v.maxCores,
      ...(this.props.coordinatorExtraArgs ?? ["-n"]),
      ...((this.props.coordinatorReset ?? true) ? ["--reset"] : []),
      "--clusterName",
      this.clusterName,
    ];
  }

  /** A broker server's arguments, in the seed's order. */
  brokerArgs(v: LaunchValues): string[] {
    if (v.memoryMB === undefined) throw new Error(`StreamBroker [${this.node.path}]: brokerArgs needs memoryMB`);
    const groups = String(this.props.activeGroupsPerStreamlet ?? 1);
    return [
      "-L",
      this.brokerLocator(v.host).toString(),
      "--totalMasterMemory",
      v.memoryMB,
      "-C",
      this.coordinatorLocator(v.coordinatorHost).toString(),
      "--cleanerBalancer",
      this.props.cleanerBalancer ?? "fixed:50",
      ...(this.props.extraArgs ?? ["-D", "-d"]),
      "--detectFailures",
      (this.props.detectFailures ?? false) ? "1" : "0",
      "-h",
      String(this.props.hashTableMB ?? 1),
      "-f",
      this.backupFile,
      "--maxCores",
      v.maxCores,
      "--clusterName",
      this.clusterName,
      "-r",
      String(this.replicas),
      // Without replicas there is nothing to back up: the brokers run the master service only.
      ...(this.replicas === 0 ? ["--masterOnly"] : []),
      "--numberActiveGroupsPerStreamlet",
      groups,
      "--masterActiveGroupsPerStreamlet",
      groups,
    ];
  }
}
