/**
 * `npm run bench`: synthesis time and peak memory for the example sites and the large site, and
 * crm_simulate of every single-node failure of the large site. Prints a Markdown table (the
 * numbers go into docs/benchmarks.md) and writes bench/out/results.json.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { simulateCib } from "../operations/simulate.js";
import { largeSiteYaml } from "./large-site.js";

const ROOT = join(import.meta.dirname, "..");
const OUT = join(ROOT, "bench", "out");
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

interface Row {
  readonly what: string;
  readonly target: string;
  readonly values: number[];
  readonly unit: string;
  readonly limit?: number;
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));

function synthInChild(files: string[]): { ms: number; maxRssMB: number } {
  const out = join(OUT, "synth");
  rmSync(out, { recursive: true, force: true });
  const stdout = execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "bench", "synth-child.ts"), out, ...files], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

function cliWallMs(files: string[]): number {
  const out = join(OUT, "cli");
  rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), "synth", "-q", "--out", out, ...files], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`hpcdk synth failed: ${r.stderr}`);
  return performance.now() - t0;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const large = join(OUT, "large.yaml");
  writeFileSync(large, largeSiteYaml());
  const rows: Row[] = [];
  for (const [name, files] of [
    ["example sites (lab + radon)", ["sites/lab.yaml", "sites/radon.yaml"]],
    ["large site (8 nodes, 16 pools, 64 exports)", [large]],
  ] as const) {
    const runs = Array.from({ length: RUNS }, () => synthInChild([...files]));
    const isLarge = name.startsWith("large");
    rows.push({ what: `synth ${name}: in-process`, target: isLarge ? "< 2000 ms" : "", values: runs.map((r) => r.ms), unit: "ms", limit: isLarge ? 2000 : undefined });
    rows.push({ what: `synth ${name}: peak RSS`, target: isLarge ? "< 300 MB" : "", values: runs.map((r) => r.maxRssMB), unit: "MB", limit: isLarge ? 300 : undefined });
    const wall = Array.from({ length: RUNS }, () => cliWallMs([...files]));
    rows.push({ what: `synth ${name}: \`hpcdk synth\` wall (Node + tsx start included)`, target: isLarge ? "< 2000 ms" : "", values: wall, unit: "ms", limit: isLarge ? 2000 : undefined });
  }

  cliWallMs([large]);
  const cib = readFileSync(join(OUT, "cli", "stacks", "large", "cluster", "cib.xml"), "utf8");
  const resources = (cib.match(/<primitive /g) ?? []).length;
  const sims: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const report = await simulateCib(cib);
    sims.push(performance.now() - t0);
    if (!report.ok || report.failures.length !== 8) throw new Error("the large site does not fail over safely");
  }
  rows.push({ what: `crm_simulate: bring-up + all 8 single-node failures (${resources} resources)`, target: "< 2000 ms", values: sims, unit: "ms", limit: 2000 });

  const lines = [
    `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; ${RUNS} runs each.`,
    "",
    "| measurement | median | min | max | target |",
    "| --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) => {
      const ok = r.limit === undefined ? "" : median(r.values) < r.limit ? " ✔" : " ✘";
      return `| ${r.what} | ${fmt(median(r.values))} ${r.unit} | ${fmt(Math.min(...r.values))} | ${fmt(Math.max(...r.values))} | ${r.target}${ok} |`;
    }),
  ];
  process.stdout.write(lines.join("\n") + "\n");
  writeFileSync(join(OUT, "results.json"), JSON.stringify(rows, null, 2) + "\n");
  if (rows.some((r) => r.limit !== undefined && median(r.values) >= r.limit)) process.exitCode = 1;
}

await main();
