import type { Construct } from "constructs";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface NfsNotifyProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /** The floating IP: NFSv3 clients are told to reclaim locks from this address. */
  readonly sourceHost: string;
}

/**
 * Sends NSM reboot notifications (sm-notify) after failover, from the floating IP, so NFSv3
 * clients reclaim their locks (ocf:heartbeat:nfsnotify).
 * @see https://github.com/ClusterLabs/resource-agents/blob/main/heartbeat/nfsnotify.in
 */
export class NfsNotify extends Primitive {
  constructor(scope: Construct, id: string, props: NfsNotifyProps) {
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.ocf("heartbeat", "nfsnotify"),
      params: { source_host: props.sourceHost },
      operations: [
        { name: "start", timeoutSec: 90 },
        { name: "stop", timeoutSec: 90 },
        { name: "monitor", intervalSec: 30, timeoutSec: 90 },
      ],
    });
  }
}
