import type { Construct } from "constructs";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface FencePowermanProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /** Host running powermand. */
  readonly ip: string;
  /** @default 10101 */
  readonly ipport?: number;
  /** Node name → powerman plug. */
  readonly plugs: Readonly<Record<string, string>>;
  /** Seconds to wait before fencing (`delay`). @default the agent's */
  readonly delaySec?: number;
  /** Seconds to wait after a power change (`power_wait`). @default the agent's */
  readonly powerWaitSec?: number;
  /**
   * Random delay of up to this many seconds before fencing, so that two nodes that lose each
   * other do not shoot each other at the same moment. @default none
   */
  readonly randomDelayMaxSec?: number;
  /** @default 60 */
  readonly monitorIntervalSec?: number;
}

/**
 * Power fencing through powerman (stonith:fence_powerman). The host list is static: the agent's
 * `list` action is not used (it fails on Python 3 in fence-agents 4.12).
 * @see https://github.com/ClusterLabs/fence-agents/tree/main/agents/powerman
 */
export class FencePowerman extends Primitive {
  constructor(scope: Construct, id: string, props: FencePowermanProps) {
    const nodes = Object.keys(props.plugs).sort();
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.stonith("fence_powerman"),
      params: {
        ip: props.ip,
        ipport: String(props.ipport ?? 10101),
        pcmk_host_map: nodes.map((n) => `${n}:${props.plugs[n]}`).join(";"),
        pcmk_host_list: nodes.join(" "),
        pcmk_host_check: "static-list",
        ...(props.delaySec !== undefined ? { delay: String(props.delaySec) } : {}),
        ...(props.powerWaitSec !== undefined ? { power_wait: String(props.powerWaitSec) } : {}),
        ...(props.randomDelayMaxSec !== undefined ? { pcmk_delay_max: `${props.randomDelayMaxSec}s` } : {}),
      },
      operations: [{ name: "monitor", intervalSec: props.monitorIntervalSec ?? 60, timeoutSec: 20 }],
    });
  }
}
