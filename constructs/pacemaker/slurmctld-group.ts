import { Construct } from "constructs";
import { CibId, type NfsGroupResources } from "../../common/contracts/cib-ids.js";
import { FloatingIp } from "./floating-ip.js";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

/** A slurmctld that Pacemaker runs, as Slurm describes it (`SlurmCluster.pacemakerController`). */
export interface PacemakerSlurmctld {
  /** The CIB id of its group (the controllers' drop-in names it). */
  readonly groupId: string;
  /** The state directory mounted from the HA NFS (ocf:heartbeat:Filesystem). */
  readonly stateMount: {
    /** `server:/export`, an IPv6 server in brackets. */
    readonly device: string;
    readonly directory: string;
    readonly options: string;
  };
  /** slurmctld's floating IP (SlurmctldAddr). */
  readonly ip: { readonly address: string; readonly cidr: number; readonly nic?: string };
  /** The controllers that may run it, the primary first. */
  readonly controllers: readonly string[];
}

export interface SlurmctldGroupProps {
  readonly cluster: PacemakerCluster;
  readonly slurmctld: PacemakerSlurmctld;
  /** The NFS group that serves the state: it starts first when both start together. */
  readonly stateGroup: NfsGroupResources;
  /** Every node of the cluster; those that are not controllers never run slurmctld. */
  readonly nodes: readonly string[];
  /** The location score of the primary controller (cluster.preferredNodeScore). */
  readonly preferredNodeScore: number;
}

/**
 * slurmctld as a Pacemaker group on one controller at a time: the state export mounted
 * (ocf:heartbeat:Filesystem, through the NFS group's floating IP), the controller's floating IP
 * (SlurmctldAddr), then the systemd unit. The NFS group starts first when both start together;
 * a move of the NFS group leaves slurmctld running (its hard mount waits for the grace period).
 * Built by the stack from Slurm's typed description, so the Slurm domain imports no Pacemaker.
 */
export class SlurmctldGroup extends Construct {
  readonly groupId: string;

  constructor(scope: Construct, id: string, props: SlurmctldGroupProps) {
    super(scope, id);
    const { cluster: cib, slurmctld } = props;
    const members = [
      new Primitive(this, "pcmk-state", {
        cluster: cib,
        resourceId: CibId.slurmState,
        agent: ResourceAgent.ocf("heartbeat", "Filesystem"),
        params: {
          device: slurmctld.stateMount.device,
          directory: slurmctld.stateMount.directory,
          fstype: "nfs",
          options: slurmctld.stateMount.options,
        },
        operations: [
          { name: "start", timeoutSec: 60 },
          { name: "stop", timeoutSec: 60 },
          { name: "monitor", intervalSec: 20, timeoutSec: 40 },
        ],
      }),
      new FloatingIp(this, "pcmk-ip", { cluster: cib, resourceId: CibId.slurmctldIp, address: slurmctld.ip.address, cidr: slurmctld.ip.cidr, nic: slurmctld.ip.nic }),
      new Primitive(this, "pcmk-slurmctld", {
        cluster: cib,
        resourceId: CibId.slurmctld,
        agent: ResourceAgent.systemd("slurmctld"),
        params: {},
        operations: [
          { name: "start", timeoutSec: 120 },
          { name: "stop", timeoutSec: 120 },
          { name: "monitor", intervalSec: 30, timeoutSec: 60 },
        ],
      }),
    ];
    const group = (this.groupId = slurmctld.groupId);
    cib.addGroup(group, members);
    cib.addOrder(props.stateGroup.groupId, group, "Optional");
    // Only the controllers run it; the primary (the first) when it can.
    for (const n of props.nodes) if (!slurmctld.controllers.includes(n)) cib.addLocation(group, n, -1_000_000);
    cib.addLocation(group, slurmctld.controllers[0]!, props.preferredNodeScore);
  }
}
