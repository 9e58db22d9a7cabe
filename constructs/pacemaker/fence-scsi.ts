import type { Construct } from "constructs";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface FenceScsiProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /** Shared devices to reserve: every device of every pool. */
  readonly devices: readonly string[];
  /** Nodes this device can fence. */
  readonly hosts: readonly string[];
  /** @default 60 */
  readonly monitorIntervalSec?: number;
  /**
   * Random delay of up to this many seconds before fencing (`pcmk_delay_max`), so that the two
   * nodes of a two-node cluster that lose each other do not both fence at once. @default none
   */
  readonly randomDelayMaxSec?: number;
}

/**
 * SCSI persistent-reservation fencing (stonith:fence_scsi): a fenced node loses its registration
 * on the shared LUNs and can no longer write to them. `provides=unfencing` makes Pacemaker
 * register each node before it runs resources.
 * @see https://github.com/ClusterLabs/fence-agents/tree/main/agents/scsi
 */
export class FenceScsi extends Primitive {
  constructor(scope: Construct, id: string, props: FenceScsiProps) {
    if (props.devices.length === 0) throw new Error(`FenceScsi [${scope.node.path}/${id}]: needs at least one device`);
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.stonith("fence_scsi"),
      params: {
        devices: [...props.devices].join(","),
        pcmk_host_list: [...props.hosts].join(" "),
        ...(props.randomDelayMaxSec !== undefined ? { pcmk_delay_max: `${props.randomDelayMaxSec}s` } : {}),
      },
      meta: { provides: "unfencing" },
      operations: [{ name: "monitor", intervalSec: props.monitorIntervalSec ?? 60, timeoutSec: 20 }],
    });
  }
}
