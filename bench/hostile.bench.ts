/**
 * Issue 13: what hostile site input costs. A group of 100,000 hosts synthesizes in under 5 s (the
 * hostlist is counted before it is expanded and compressed in linear time: it was 415 s); a site
 * of 1,000,000 hosts is refused at once with the cap's message (200,000 hosts a site, checked
 * before expanding); an export path that made the old regex backtrack is refused at once.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { parseSite, SiteError } from "../schema/load.js";
import { outDir, ROOT, RUNS, synthInChild, type Row } from "./harness.js";

export const title = "Hostile site input: cost bounds";

const TWO = readFileSync(join(ROOT, "test", "fixtures", "sites", "two-node.yaml"), "utf8");
const withGroup = (hosts: string) => TWO.replace("fencing:\n", `nodeGroups:\n  - name: compute\n    hosts: ${hosts}\nfencing:\n`);

export async function run(): Promise<Row[]> {
  const dir = outDir("hostile");
  const big = join(dir, "big.yaml");
  writeFileSync(big, withGroup("c[000001-100000]"));
  const huge = join(dir, "huge.yaml");
  writeFileSync(huge, withGroup("c[0000001-1000000]"));
  const rows: Row[] = [];

  const synth = Array.from({ length: RUNS }, () => synthInChild([big]));
  rows.push({ what: "synth a site with 100,000 hosts in one group: `hpcdk synth` (compiled CLI), start to exit", values: synth.map((r) => r.ms), unit: "ms", target: "< 5000 ms", limit: 5000 });
  rows.push({ what: "synth a site with 100,000 hosts in one group: peak RSS", values: synth.map((r) => r.maxRssMB), unit: "MB", target: "< 1024 MB", limit: 1024 });

  const refused: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [join(ROOT, "cli", "bin", "hpcdk.js"), "synth", "-q", "--out", join(dir, "out"), huge], { cwd: ROOT, encoding: "utf8" });
    refused.push(performance.now() - t0);
    if (r.status !== 1 || !r.stderr.includes("the most one site may have")) throw new Error(`a 1,000,000-host site was not refused with the cap's message: exit ${r.status}, ${r.stderr.slice(0, 400)}`);
  }
  rows.push({ what: "`hpcdk synth` of a 1,000,000-host site: refused with the cap's message (wall, Node start included)", values: refused, unit: "ms", target: "< 30000 ms (issue: refused at once or < 30 s)", limit: 30_000 });

  // In-process, warm (one valid site parsed first): the refusal itself.
  parseSite(TWO, "sites/two-node.yaml");
  const refuse = (text: string, what: string): number => {
    const t0 = performance.now();
    try {
      parseSite(text, "sites/bad.yaml");
      throw new Error(`${what} was accepted`);
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
    }
    return performance.now() - t0;
  };
  const hugeText = readFileSync(huge, "utf8");
  rows.push({ what: "validate a 1,000,000-host site: refused (in-process)", values: Array.from({ length: RUNS }, () => refuse(hugeText, "a 1,000,000-host site")), unit: "ms", target: "< 100 ms", limit: 100 });

  const path: number[] = [];
  const text = TWO.replace("path: /tank/data", `path: "/tank/${"a".repeat(40)} a"`);
  for (let i = 0; i < RUNS; i++) {
    path.push(refuse(text, "an export path with a space"));
  }
  rows.push({ what: "validate a site whose export path made the old regex backtrack (40 characters and a space)", values: path, unit: "ms", target: "< 100 ms", limit: 100 });
  return rows;
}
