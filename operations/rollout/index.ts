export * from "./corosync.js";
export * from "./format.js";
export * from "./plan.js";
export * from "./gather.js";
export * from "./cluster-ops.js";
export * from "./execute.js";
export * from "./slurm.js";
