/**
 * Issue 8: `hpcdk diff` of two syntheses of the large benchmark site (8 nodes, 16 pools, 64
 * exports, ~210 Pacemaker resources). The edit touches every kind of change at once: the
 * corosync token (corosync.conf on every node), an export added to one group and a pool device
 * changed (the CIB, so crm_simulate plans the transition), and a pool property (scripts).
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { compareStacks } from "../operations/diff/compare.js";
import { readStackTree } from "../operations/diff/tree.js";
import { cliWallMs, outDir, ROOT, RUNS, type Row } from "./harness.js";
import { largeSiteYaml } from "./large-site.js";

export const title = "hpcdk diff";

function editedLargeSite(): string {
  const yaml = largeSiteYaml();
  const edits: [string, string][] = [
    ["  name: large\n", "  name: large\n  corosync:\n    tokenMs: 1000\n"],
    ["wwn-0x5000c50000000003", "wwn-0x5000c50099999999"],
    ["      exports:\n        - path: /export/pool01/share1\n", "      exports:\n        - path: /export/pool01/new\n          fsid: 999\n          clients:\n            - spec: 10.0.0.0/24\n        - path: /export/pool01/share1\n"],
  ];
  let out = yaml;
  for (const [from, to] of edits) {
    if (!out.includes(from)) throw new Error(`bench/diff: the large site has no ${JSON.stringify(from)}`);
    out = out.replace(from, to);
  }
  return out;
}

export async function run(): Promise<Row[]> {
  const dir = outDir("diff");
  const site = join(dir, "large.yaml");
  writeFileSync(site, largeSiteYaml());
  cliWallMs([site], join(dir, "old"));
  writeFileSync(site, editedLargeSite());
  cliWallMs([site], join(dir, "new"));

  const compare: number[] = [];
  let resources = 0;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const diff = await compareStacks(readStackTree(join(dir, "old"), "large"), readStackTree(join(dir, "new"), "large"), {});
    compare.push(performance.now() - t0);
    resources = diff.pacemaker?.transition.changes.length ?? 0;
    if (resources === 0 || diff.bundles.length !== 9) throw new Error("bench/diff: the edit did not show as expected");
  }

  const wall: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), "diff", site, "--against", join(dir, "old"), "--format", "markdown"], { cwd: ROOT, encoding: "utf8" });
    wall.push(performance.now() - t0);
    if (r.status !== 1) throw new Error(`hpcdk diff exited ${r.status}: ${r.stderr}`);
  }
  return [
    { what: `compare two syntheses of the large site in-process (files, secrets, Terraform, crm_simulate: ${resources} resources change)`, values: compare, unit: "ms", target: "< 3000 ms", limit: 3000 },
    // The issue asks that the diff finishes under 3 s: every run, not the median.
    { what: "`hpcdk diff large --against DIR --format markdown` wall (Node start, synth of the new side included)", values: wall, unit: "ms", target: "< 3000 ms, every run", limit: 3000, limitOf: "max" },
  ];
}
