/**
 * `npm run bench [NAME...]`: runs every `bench/<name>.bench.ts` (or the ones named; `-NAME` leaves
 * one out), compiled like the hpcdk command (bench/bin.mjs), prints one Markdown table per
 * benchmark (the numbers go into docs/benchmarks.md) with the machine's load average beside each
 * row, writes bench/out/results.json, and exits 1 when a median (or a maximum) misses its limit.
 *
 * The load: each row shows the 1-minute load average when its benchmark started and ended
 * (`start → end`), or the one its benchmark took when it measured the row (`Row.load`). On a
 * shared machine the wall times follow the load; CPU-time rows much less.
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { median, OUT, ROOT, RUNS, withinLimit, type Bench, type Row } from "./harness.js";

const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(2));

const load = () => loadavg()[0]!;

function table(rows: Row[], loads: string): string {
  return [
    "| measurement | median | min | max | target | load |",
    "| --- | ---: | ---: | ---: | --- | --- |",
    ...rows.map((r) => {
      const mark = r.limit === undefined ? "" : withinLimit(r) ? " ✔" : " ✘";
      return `| ${r.what} | ${fmt(median(r.values))} ${r.unit} | ${fmt(Math.min(...r.values))} | ${fmt(Math.max(...r.values))} | ${r.target ?? ""}${mark} | ${r.load === undefined ? loads : r.load.toFixed(1)} |`;
    }),
  ].join("\n");
}

const args = process.argv.slice(2);
const wanted = args.filter((a) => !a.startsWith("-"));
const left = args.filter((a) => a.startsWith("-")).map((a) => a.slice(1));
const names = readdirSync(join(ROOT, "bench"))
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .filter((n) => (wanted.length === 0 || wanted.includes(n)) && !left.includes(n))
  .sort();
mkdirSync(OUT, { recursive: true });
process.stdout.write(
  `Machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, Node ${process.version}; ${RUNS} runs each; ${new Date().toISOString()}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}.\n`,
);
const results: Record<string, (Omit<Row, "load"> & { load: number | string })[]> = {};
let missed = false;
for (const name of names) {
  const bench = (await import(`./${name}.bench.ts`)) as Bench;
  const before = load();
  const rows = await bench.run();
  const loads = `${before.toFixed(1)} → ${load().toFixed(1)}`;
  results[name] = rows.map((r) => ({ ...r, load: r.load ?? loads }));
  missed ||= rows.some((r) => !withinLimit(r));
  process.stdout.write(`\n## ${bench.title} (${name})\n\n${table(rows, loads)}\n`);
}
writeFileSync(join(OUT, "results.json"), JSON.stringify(results, null, 2) + "\n");
if (missed) process.exitCode = 1;
