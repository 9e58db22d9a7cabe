export * from "./report.js";
export * from "./site.js";
export { DiffInputError, type SynthesizeSite } from "./tree.js";
export type { BundleDiff, FileDiff, PackageDiff, SecretDiff, StackDiff, StepDiff, TerraformChange } from "./compare.js";
export type { SettingChange } from "./settings.js";
