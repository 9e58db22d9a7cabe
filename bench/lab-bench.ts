/**
 * What the lab benchmarks share: the example lab site (sites/minilab.yaml) renamed, moved to a
 * network of its own and grown to N management nodes, a namespace lab for it, and `hpcdk deploy`
 * and `hpcdk drill` run as a user runs them. Needs root, like the lab.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { labDown, labUp, type LabOptions, type LabState } from "../operations/lab/lab.js";
import { loadSiteFile } from "../schema/load.js";
import { outDir, ROOT } from "./harness.js";

export function requireRoot(bench: string): void {
  if (process.getuid?.() !== 0) throw new Error(`bench/${bench} runs a namespace lab: run it as root`);
}

/** sites/minilab.yaml as site `name` on 10.<net>.0.0/24 with `nodes` management nodes. */
export function labSiteYaml(name: string, net: number, nodes: number): string {
  const text = readFileSync(join(ROOT, "sites", "minilab.yaml"), "utf8");
  const nodeLines = Array.from({ length: nodes }, (_, i) => `  - { name: m${i + 1}, id: ${i + 1}, addresses: [10.30.0.${11 + i}/24] }`).join("\n");
  const replaced = text.replace(/^nodes:\n(?:  - .*\n)+/m, `nodes:\n${nodeLines}\n`).replace("name: minilab", `name: ${name.replace(/[^a-z0-9]/g, "")}`);
  if (replaced === text) throw new Error("bench: sites/minilab.yaml has no nodes list to replace");
  return replaced.replaceAll("10.30.0.", `10.${net}.0.`);
}

export interface LabProject {
  readonly dir: string;
  readonly site: string;
  readonly siteFile: string;
  readonly out: string;
  lab: LabState;
}

/** A project directory with the site, and its lab up (any earlier lab of that name goes first). */
export async function labProject(site: string, yaml: string, options: LabOptions = {}): Promise<LabProject> {
  const dir = outDir(site);
  mkdirSync(join(dir, "sites"), { recursive: true });
  const siteFile = join(dir, "sites", `${site}.yaml`);
  writeFileSync(siteFile, yaml);
  await labDown(site);
  const lab = await labUp(site, loadSiteFile(siteFile).spec, () => {}, [], options);
  return { dir, site, siteFile, out: join(dir, "cdktf.out"), lab };
}

export interface DeployRun {
  readonly wallMs: number;
  /** CPU time of hpcdk deploy and its children (Terraform, hpcdk apply-bundle). */
  readonly cpuMs: number;
  readonly timings: Record<string, number>;
  readonly terraform: string;
}

/** `hpcdk deploy <site> --inventory <lab's> --json`, timed from outside (Node start included). */
export function deploy(p: LabProject): DeployRun {
  const cpu0 = childrenCpuMs();
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", p.siteFile, "--out", p.out, "--inventory", p.lab.inventoryFile, "--json"], {
    cwd: p.dir,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1" },
    timeout: 600_000,
  });
  const wallMs = performance.now() - t0;
  if (r.status !== 0) throw new Error(`hpcdk deploy ${p.site} failed (exit ${r.status}): ${r.stdout.slice(-2000)} ${r.stderr.slice(-2000)}`);
  const summary = JSON.parse(r.stdout) as { timings: Record<string, number>; terraform: string };
  return { wallMs, cpuMs: childrenCpuMs() - cpu0, timings: summary.timings, terraform: summary.terraform };
}

/**
 * The CPU time (user + system, ms) of this process's waited-for children (cutime and cstime in
 * /proc/self/stat): after a spawnSync, what that command and its descendants used.
 */
export function childrenCpuMs(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ").map(Number);
  // cutime and cstime (fields 16 and 17 of stat(5)), in clock ticks of 10 ms.
  return (f[13]! + f[14]!) * 10;
}
