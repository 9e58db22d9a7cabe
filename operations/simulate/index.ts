export * from "./failover.js";
export * from "./transition.js";
export { cibNodes, type CibNode } from "../pacemaker/cib.js";
export type { Placement } from "../pacemaker/crm-mon.js";
export { operationDigest, withOnlineStatus } from "../pacemaker/status.js";
