/** What a benchmark module gives the runner (`bench/run.ts`): rows of measurements. */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
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

/** Synthesizes site files in a fresh Node process, as `hpcdk synth` would; its time and peak RSS. */
export function synthInChild(files: string[]): { ms: number; maxRssMB: number } {
  const stdout = execFileSync(process.execPath, ["--import", "tsx", join(ROOT, "bench", "synth-child.ts"), outDir("synth"), ...files], {
    cwd: ROOT,
    encoding: "utf8",
  });
  return JSON.parse(stdout.trim().split("\n").pop()!);
}

/** Wall time of `hpcdk synth` as a user runs it (Node start included). */
export function cliWallMs(files: string[], out = outDir("cli")): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), "synth", "-q", "--out", out, ...files], { cwd: ROOT });
  if (r.status !== 0) throw new Error(`hpcdk synth failed: ${r.stderr}`);
  return performance.now() - t0;
}
