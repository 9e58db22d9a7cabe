#!/usr/bin/env node
// `npm run bench [NAME...]`: compiles the benchmarks (bench/run.ts and every bench/*.bench.ts,
// with the hpcdk code they import) the way the hpcdk command is compiled (cli/bin/compiled.js:
// esbuild, tsx's settings, the sources' import.meta), then runs them with plain Node: a row
// measured in the benchmark's own process runs the same compiled code as the command, not tsx's
// loader. The build goes to bench/out/compiled/ and is made again at every run (~1 s).
import { rmSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import { compileOptions } from "../cli/bin/compiled.js";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const outdir = join(ROOT, "bench", "out", "compiled");
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({ ...compileOptions(), entryPoints: { run: join(ROOT, "bench", "run.ts") }, outdir, logLevel: "warning" });
// Node's source maps stay off, as in the command (they would slow down every row measured here).
await import(pathToFileURL(join(outdir, "run.js")).href);
