import type { Construct } from "constructs";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface NfsExportProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /** Exported directory. */
  readonly directory: string;
  /** Exactly one client (the agent takes one clientspec per resource). */
  readonly clientspec: string;
  /** Export options (man exports). */
  readonly options: string;
  /** Filesystem id: the same on every node, so file handles survive failover. */
  readonly fsid: string;
  /** Seconds between monitor operations. @default 10 */
  readonly monitorIntervalSec?: number;
}

/**
 * One directory exported to one client (ocf:heartbeat:exportfs).
 * @see https://github.com/ClusterLabs/resource-agents/blob/main/heartbeat/exportfs
 */
export class NfsExport extends Primitive {
  constructor(scope: Construct, id: string, props: NfsExportProps) {
    if (/\s/.test(props.clientspec)) {
      throw new Error(`NfsExport [${scope.node.path}/${id}]: one clientspec per resource, got "${props.clientspec}"`);
    }
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.ocf("heartbeat", "exportfs"),
      params: {
        directory: props.directory,
        clientspec: props.clientspec,
        options: props.options,
        fsid: props.fsid,
      },
      operations: [
        { name: "start", timeoutSec: 40 },
        { name: "stop", timeoutSec: 120 },
        { name: "monitor", intervalSec: props.monitorIntervalSec ?? 10, timeoutSec: 20 },
      ],
    });
  }
}
