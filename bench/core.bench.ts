/** Issue 2: synthesis of the example and the large site, and crm_simulate of every node failure. */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { simulateCib } from "../operations/simulate/index.js";
import { cliWallMs, outDir, RUNS, synthInChild, type Row } from "./harness.js";
import { largeSiteYaml } from "./large-site.js";

export const title = "Synthesis core and HA NFS cluster";

export async function run(): Promise<Row[]> {
  const large = join(outDir("large-site"), "large.yaml");
  writeFileSync(large, largeSiteYaml());
  const rows: Row[] = [];
  for (const [name, files, isLarge] of [
    ["example sites (sites/*.yaml)", ["sites/lab.yaml", "sites/radon.yaml"], false],
    ["large site (8 nodes, 16 pools, 64 exports)", [large], true],
  ] as const) {
    const runs = Array.from({ length: RUNS }, () => synthInChild([...files]));
    rows.push({ what: `synth ${name}: \`hpcdk synth\` (compiled CLI), process start to exit`, values: runs.map((r) => r.ms), unit: "ms", ...(isLarge ? { target: "< 2000 ms", limit: 2000 } : {}) });
    rows.push({ what: `synth ${name}: CPU time (user + system)`, values: runs.map((r) => r.cpuMs), unit: "ms" });
    rows.push({ what: `synth ${name}: peak RSS`, values: runs.map((r) => r.maxRssMB), unit: "MB", ...(isLarge ? { target: "< 300 MB", limit: 300 } : {}) });
    const wall = Array.from({ length: RUNS }, () => cliWallMs([...files]));
    rows.push({ what: `synth ${name}: \`hpcdk synth\` wall (Node start included)`, values: wall, unit: "ms", ...(isLarge ? { target: "< 2000 ms", limit: 2000 } : {}) });
  }

  const out = outDir("core-simulate");
  cliWallMs([large], out);
  const cib = readFileSync(join(out, "stacks", "large", "cluster", "cib.xml"), "utf8");
  const resources = (cib.match(/<primitive /g) ?? []).length;
  const sims: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const report = await simulateCib(cib);
    sims.push(performance.now() - t0);
    if (!report.ok || report.failures.length !== 8) throw new Error("the large site does not fail over safely");
  }
  rows.push({ what: `crm_simulate: bring-up + all 8 single-node failures (${resources} resources)`, values: sims, unit: "ms", target: "< 2000 ms", limit: 2000 });
  return rows;
}
