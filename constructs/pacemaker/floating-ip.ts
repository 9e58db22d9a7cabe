import type { Construct } from "constructs";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface FloatingIpProps {
  readonly cluster: PacemakerCluster;
  /** Resource id. */
  readonly resourceId: string;
  /** The address clients use. */
  readonly address: string;
  /** Prefix length (IPaddr2 `cidr_netmask`). */
  readonly cidr: number;
  /** Interface. @default found by IPaddr2 from the routing table */
  readonly nic?: string;
  /** Seconds between monitor operations. @default 10 */
  readonly monitorIntervalSec?: number;
}

/**
 * An address that moves with its group (ocf:heartbeat:IPaddr2).
 * @see https://github.com/ClusterLabs/resource-agents/blob/main/heartbeat/IPaddr2
 */
export class FloatingIp extends Primitive {
  readonly address: string;

  constructor(scope: Construct, id: string, props: FloatingIpProps) {
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.ocf("heartbeat", "IPaddr2"),
      params: {
        ip: props.address,
        cidr_netmask: String(props.cidr),
        ...(props.nic ? { nic: props.nic } : {}),
      },
      operations: [
        { name: "start", timeoutSec: 20 },
        { name: "stop", timeoutSec: 20 },
        { name: "monitor", intervalSec: props.monitorIntervalSec ?? 10, timeoutSec: 20 },
      ],
    });
    this.address = props.address;
  }
}
