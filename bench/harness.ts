/** What a benchmark module gives the runner (`bench/run.ts`): rows of measurements. */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";

export const ROOT = join(import.meta.dirname, "..");
export const OUT = join(ROOT, "bench", "out");
export const RUNS = Number(process.env.BENCH_RUNS ?? 5);

export interface Row {
  readonly what: string;
  readonly values: number[];
  readonly unit: string;
  /** The target, shown in the table. */
  readonly target?: string;
  /** The median (or with `limitOf: "max"`, every run) must stay below this (same unit); the runner fails when it does not. */
  readonly limit?: number;
  /** What `limit` applies to. @default "median" */
  readonly limitOf?: "median" | "max";
  /** The 1-minute load average when the row was measured. @default its benchmark's at start and end */
  readonly load?: number;
}

/** A benchmark module exports `title` and `run()`. */
export interface Bench {
  readonly title: string;
  run(): Promise<Row[]>;
}

export const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** True when a row meets its limit (or has none). */
export const withinLimit = (r: Row) => r.limit === undefined || (r.limitOf === "max" ? Math.max(...r.values) : median(r.values)) < r.limit;

/** A fresh output directory under bench/out. */
export function outDir(name: string): string {
  const d = join(OUT, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** What a fresh `hpcdk synth` process measured of itself (bench/measure-hook.mjs). */
export interface SynthRun {
  /** From the process's start to its exit (Node's start, loading the compiled CLI and the synthesis). */
  readonly ms: number;
  /** User + system CPU time of the process. */
  readonly cpuMs: number;
  readonly maxRssMB: number;
}

/**
 * `hpcdk synth` of site files as a user runs it: the package's bin (cli/bin/hpcdk.js, the
 * compiled CLI; no tsx), in a fresh process. Its time from start to exit, CPU time and peak RSS.
 * Throws when the synthesis fails, or when it takes longer than `timeoutMs` (then `timedOut`).
 */
export function synthInChild(files: string[], options: { out?: string; timeoutMs?: number } = {}): SynthRun {
  const measure = join(OUT, `measure-${process.pid}.json`);
  rmSync(measure, { force: true });
  const r = spawnSync(process.execPath, ["--import", join(ROOT, "bench", "measure-hook.mjs"), join(ROOT, "cli", "bin", "hpcdk.js"), "synth", "-q", "--out", options.out ?? outDir("synth"), ...files], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, HPCDK_BENCH_MEASURE: measure },
    ...(options.timeoutMs ? { timeout: options.timeoutMs } : {}),
  });
  if (r.signal) throw Object.assign(new Error(`hpcdk synth ${files.join(" ")} did not finish in ${options.timeoutMs} ms`), { timedOut: true });
  if (r.status !== 0) throw new Error(`hpcdk synth ${files.join(" ")} failed (exit ${r.status}): ${r.stderr.slice(-1500)}`);
  const run = JSON.parse(readFileSync(measure, "utf8")) as SynthRun;
  rmSync(measure, { force: true });
  return run;
}

/** Wall time of `hpcdk synth` as a user runs it (Node start included). */
export function cliWallMs(files: string[], out = outDir("cli")): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), "synth", "-q", "--out", out, ...files], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`hpcdk synth failed: ${r.stderr}`);
  return performance.now() - t0;
}
