// Loaded with `node --import` before the hpcdk command a benchmark runs (bench/harness.ts): when
// the process exits, writes to $HPCDK_BENCH_MEASURE its time since the process started (Node's
// start included), its CPU time (user + system) and its peak RSS. Plain JavaScript, so the
// command runs as users run it (the compiled CLI, no tsx).
import { writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";

const file = process.env.HPCDK_BENCH_MEASURE;
if (file) {
  delete process.env.HPCDK_BENCH_MEASURE;
  process.on("exit", () => {
    const usage = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ ms: performance.now(), cpuMs: (usage.userCPUTime + usage.systemCPUTime) / 1000, maxRssMB: usage.maxRSS / 1024 }) + "\n");
  });
}
