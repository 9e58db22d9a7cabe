export * from "./bundle.js";
export * from "./deployment.js";
export * from "./generated-file.js";
export * from "./impact.js";
export * from "./renderer.js";
export * from "./secret-file.js";
export * from "./stack-file.js";
export * from "./languages.js";
