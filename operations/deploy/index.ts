export * from "./apply.js";
export * from "./apply-output.js";
export * from "./bundle.js";
export * from "./markers.js";
export * from "./replace.js";
export * from "./result.js";
