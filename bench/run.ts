/**
 * `npm run bench [NAME...]`: runs every `bench/<name>.bench.ts` (or the ones named), prints one
 * Markdown table per benchmark (the numbers go into docs/benchmarks.md), writes
 * bench/out/results.json, and exits 1 when a median (or a maximum) misses its limit.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { median, OUT, ROOT, RUNS, withinLimit, type Bench, type Row } from "./harness.js";

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));

function table(rows: Row[]): string {
  return [
    "| measurement | median | min | max | target |",
    "| --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) => {
      const mark = r.limit === undefined ? "" : withinLimit(r) ? " ✔" : " ✘";
      return `| ${r.what} | ${fmt(median(r.values))} ${r.unit} | ${fmt(Math.min(...r.values))} | ${fmt(Math.max(...r.values))} | ${r.target ?? ""}${mark} |`;
    }),
  ].join("\n");
}

const wanted = process.argv.slice(2);
const names = readdirSync(join(ROOT, "bench"))
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .filter((n) => wanted.length === 0 || wanted.includes(n))
  .sort();
mkdirSync(OUT, { recursive: true });
process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; ${RUNS} runs each.\n`);
const results: Record<string, Row[]> = {};
let missed = false;
for (const name of names) {
  const bench = (await import(`./${name}.bench.ts`)) as Bench;
  const rows = await bench.run();
  results[name] = rows;
  missed ||= rows.some((r) => !withinLimit(r));
  process.stdout.write(`\n## ${bench.title} (${name})\n\n${table(rows)}\n`);
}
writeFileSync(join(OUT, "results.json"), JSON.stringify(results, null, 2) + "\n");
if (missed) process.exitCode = 1;
