export * from "./corosync.js";
export * from "./format.js";
export * from "./plan.js";
export * from "./gather.js";
export * from "./slurm.js";
