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
  // Node's source maps stay off (they cost every start ~0.2 s of CPU: cdktf has one inline in
  // each of its files): a bug's stack is mapped to the TypeScript sources when it is printed
  // (sourceMappedStack in common/errors.ts).
  await import(entry);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../main.ts");
}
