import { posix } from "node:path";
import { Construct } from "constructs";
import { bundleOf, shell, type Bundle } from "../core/index.js";
import { expandHostlist } from "../../common/hostlist.js";
import type { SiteSpec } from "../../schema/site.js";
import { ContainerRuntime } from "./container-runtime.js";
import { RdmaHostSettings } from "./rdma-host-settings.js";
import { SlurmStreamJob } from "./slurm-stream-job.js";
import { StorageDaemon } from "./storage-daemon.js";
import { BrokerMemory, StreamBroker } from "./stream-broker.js";
import { StreamImage } from "./stream-image.js";
import { SystemdStreamUnits } from "./systemd-stream-units.js";

export interface StreamingServiceProps {
  /** The validated site; its `streaming` section must be present. */
  readonly site: SiteSpec;
  /** One bundle per node group, by group name. */
  readonly groups: Readonly<Record<string, Bundle>>;
  /** What the schema works out of the site (the stack hands it): the broker's log memory when known at synth, the launch group's cores. */
  readonly sizing: { readonly brokerMemoryMB?: number; readonly launchGroupCores?: number };
}

/**
 * The RDMA stream broker cluster of a site, assembled from its `streaming` section: the daemons'
 * flags (StreamBroker, StorageDaemon), the image (StreamImage), the host settings on the node
 * group (RdmaHostSettings), and the launch: a Slurm batch job (SlurmStreamJob) or systemd units
 * on fixed hosts (SystemdStreamUnits).
 */
export class StreamingService extends Construct {
  readonly broker: StreamBroker;
  readonly store: StorageDaemon;
  readonly image: StreamImage;
  readonly settings: RdmaHostSettings;
  readonly job?: SlurmStreamJob;
  readonly units?: SystemdStreamUnits;

  constructor(scope: Construct, id: string, props: StreamingServiceProps) {
    super(scope, id);
    const site = props.site;
    const s = site.streaming;
    if (!s) throw new Error(`StreamingService [${this.node.path}]: the site has no streaming section`);
    const where = `StreamingService [${this.node.path}]`;
    const group = site.nodeGroups.find((g) => g.name === s.launch.nodeGroup);
    const bundle = bundleOf(props.groups, s.launch.nodeGroup, "node group", where);
    if (!group) throw new Error(`${where}: the site has no node group ${s.launch.nodeGroup}`);
    const runtime = ContainerRuntime.of(s.runtime);

    this.store = new StorageDaemon(this, "plasma", { socket: s.plasma.socket, memoryBytes: s.plasma.memoryBytes });
    const fixed = props.sizing.brokerMemoryMB;
    const memory =
      s.launch.via === "systemd" || s.broker.memoryMB !== undefined
        ? BrokerMemory.fixed(fixed!)
        : BrokerMemory.fromJob(s.broker.reserveMB, group.hardware?.memoryMB);
    this.broker = new StreamBroker(this, "broker", {
      clusterName: s.clusterName,
      transport: s.transport,
      device: s.infiniband.device,
      hostSuffix: s.infiniband.hostSuffix,
      coordinatorPort: s.coordinator.port,
      brokerPort: s.broker.port,
      store: this.store,
      memory,
      replicas: s.broker.replicas,
      storageDir: s.broker.storageDir,
      cleanerBalancer: s.broker.cleanerBalancer,
      detectFailures: s.broker.detectFailures,
      hashTableMB: s.broker.hashTableMB,
      activeGroupsPerStreamlet: s.broker.activeGroupsPerStreamlet,
      extraArgs: s.broker.extraArgs,
      coordinatorReset: s.coordinator.reset,
      coordinatorExtraArgs: s.coordinator.extraArgs,
    });

    const buildBundle = bundleOf(props.groups, s.build.nodeGroup ?? s.launch.nodeGroup, "node group", where);
    this.image = new StreamImage(this, "image", {
      bundle: buildBundle,
      clusterName: s.clusterName,
      runtime: s.runtime,
      image: s.image,
      base: s.build.base,
      arch: s.build.arch,
      rdma: s.build.rdma,
      makeJobs: s.build.makeJobs,
      store: this.store,
    });

    const hosts = expandHostlist(group.hosts);
    const coordinatorHost = s.launch.via === "systemd" ? s.launch.coordinator : undefined;
    const brokerHosts =
      s.launch.via === "systemd"
        ? s.launch.brokers !== undefined
          ? expandHostlist(s.launch.brokers)
          : hosts.filter((h) => h !== coordinatorHost)
        : [];
    const unitNames = [
      ...(coordinatorHost ? ["hpcdk-stream-coordinator.service"] : []),
      ...brokerHosts.map((h) => `hpcdk-stream-broker-${h}.service`),
    ].sort();

    this.settings = new RdmaHostSettings(this, "host-settings", {
      bundle,
      transport: s.transport,
      device: s.infiniband.device,
      ibPort: s.infiniband.port,
      ibInterface: s.infiniband.interface,
      hostSuffix: s.infiniband.hostSuffix,
      fabricProvider: s.fabric.provider,
      memlockKB: s.limits.memlockKB,
      nofile: s.limits.nofile,
      runtime: s.runtime,
      image: s.image,
      writableDirs: [posix.dirname(s.plasma.socket), s.broker.storageDir],
      restartHandlers: s.launch.via === "systemd" ? [shell`systemctl try-restart ${unitNames}`] : undefined,
    });

    const cores = props.sizing.launchGroupCores;
    if (s.launch.via === "slurm") {
      const launch = s.launch;
      this.job = new SlurmStreamJob(this, "slurm-job", {
        bundle,
        submitBundles: launch.submitFrom.filter((g) => g !== group.name).map((g) => props.groups[g]!),
        broker: this.broker,
        settings: this.settings,
        runtime,
        image: s.image,
        brokers: launch.brokers,
        jobName: launch.jobName,
        partition: launch.partition,
        qos: launch.qos,
        account: launch.account,
        timeLimit: launch.timeLimit,
        cpusPerTask: launch.cpusPerTask ?? cores,
        memPerCpuMB: launch.memPerCpuMB,
        maxCores: s.broker.maxCores,
        defaultCores: cores,
        runDir: launch.runDir,
        readyTimeoutSec: launch.readyTimeoutSec,
      });
    } else {
      this.units = new SystemdStreamUnits(this, "units", {
        bundle,
        group: group.name,
        broker: this.broker,
        settings: this.settings,
        runtime,
        image: s.image,
        coordinatorHost: coordinatorHost!,
        brokerHosts,
        maxCores: s.broker.maxCores ?? cores ?? 2,
        readyTimeoutSec: s.launch.readyTimeoutSec,
      });
    }
  }
}
