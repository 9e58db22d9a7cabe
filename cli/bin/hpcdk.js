#!/usr/bin/env node
// The hpcdk command. The sources are TypeScript: they run from a bundle compiled on first use and
// whenever they change (./compiled.js), or through tsx when it cannot be built (a read-only
// checkout, no esbuild).
process.env.CHECKPOINT_DISABLE ??= "1";
let entry;
try {
  entry = await (await import("./compiled.js")).compiledEntry();
} catch {
  entry = undefined;
}
if (entry) {
  // Stack traces name the TypeScript sources, as under tsx.
  process.setSourceMapsEnabled(true);
  await import(entry);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../main.ts");
}
