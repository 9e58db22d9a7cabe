/** Shared test helpers: temporary directories, synthesis of fixture sites, reading output trees. */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll } from "vitest";
import { loadSiteFiles, parseSite, type LoadedSite } from "../schema/load.js";
import { synthesize, type BuiltApp } from "../stacks/synth.js";

export const ROOT = join(import.meta.dirname, "..");
export const FIXTURES = join(ROOT, "test", "fixtures", "sites");
export const EXAMPLES = ["lab", "minilab", "radon"] as const;

const made: string[] = [];
afterAll(() => {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A temporary directory removed after the test file. */
export function tempDir(prefix = "hpcdk-test-"): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Loads example sites (`sites/<name>.yaml`) with the same display names as the CLI uses. */
export function loadExamples(names: readonly string[] = EXAMPLES): LoadedSite[] {
  const cwd = process.cwd();
  process.chdir(ROOT);
  try {
    return loadSiteFiles(names.map((n) => `sites/${n}.yaml`));
  } finally {
    process.chdir(cwd);
  }
}

/** Validates site text given as a file name (`test/fixtures/sites/x.yaml`) and its content. */
export function siteFromText(text: string, file = "sites/test.yaml"): LoadedSite {
  return parseSite(text, file);
}

/**
 * Synthesizes sites into `<project>/cdktf.out` of a fresh temporary project (or the one given):
 * the secrets go to `<project>/secrets/`, as they would beside a real output directory.
 */
export function synthTo(sites: readonly LoadedSite[], project = tempDir("hpcdk-synth-")): { out: string; built: BuiltApp } {
  const out = join(project, "cdktf.out");
  const built = synthesize(sites, out);
  return { out, built };
}

/** Every file under `dir`, by path relative to it, sorted. */
export function readTree(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p));
    }
  };
  if (existsSync(dir)) walk(dir);
  return files;
}

/** Runs the hpcdk command as a user would. */
export function hpcdk(args: string[], cwd = ROOT): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), ...args], {
    cwd,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1" },
  });
}

/** True when a program is on PATH. */
export function have(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`]).status === 0;
}
