/**
 * One synthesis in a fresh process, as `hpcdk synth` does it; prints its time (excluding Node's
 * start) and the peak RSS of the whole process.
 */
import { performance } from "node:perf_hooks";
import { synthSiteFiles } from "../stacks/synth.js";

const [out, ...files] = process.argv.slice(2);
const t0 = performance.now();
synthSiteFiles(files, out!, false);
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024 }) + "\n");
