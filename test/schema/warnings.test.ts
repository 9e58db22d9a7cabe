/**
 * Warnings at every synth: allowed choices an admin must hear about. A node group described for
 * Slurm (its hardware) that no partition and no login list names is left out of slurm.conf: it
 * is warned about with its field path, the group and its host count (hpcdk synth prints the site
 * file before it).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite } from "../../schema/load.js";

const SLURM = readFileSync(join(import.meta.dirname, "..", "slurm", "fixtures", "slurm.yaml"), "utf8");

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`the fixture has no ${JSON.stringify(from)}`);
  return text.replace(from, to);
}

/** The warnings about node groups left out of Slurm (the fixture has others: its REST API is open to all). */
const hw = (warnings: readonly string[]) => warnings.filter((w) => /^nodeGroups\.\d+\.hardware: /.test(w));

const NO_GPU_PARTITION = edit(SLURM, "    - name: gpu\n      nodeGroups: [gpu]\n", "");

describe("a node group with Slurm hardware in no partition", () => {
  it("is warned about with its field path, name and host count", () => {
    // GIVEN the valid Slurm fixture, WHEN the gpu partition is forgotten
    const site = parseSite(NO_GPU_PARTITION, "sites/big.yaml");
    // THEN the gpu group's hardware is named, with its hosts
    expect(hw(site.warnings)).toEqual([
      'nodeGroups.1.hardware: node group "gpu" (2 hosts, gn[1-2]) has Slurm hardware but is in no partition ' +
        "(slurm.partitions[].nodeGroups) and not in slurm.loginGroups: its hosts are left out of slurm.conf; add it to a partition, " +
        "or set nodeGroups.1.slurm: false if it runs no Slurm",
    ]);
  });

  it("counts the hosts of a large group without listing them", () => {
    const site = parseSite(edit(NO_GPU_PARTITION, "hosts: gn[1-2]", "hosts: gn[00001-90000]"), "sites/big.yaml");
    expect(hw(site.warnings)[0]).toContain('node group "gpu" (90000 hosts, gn[00001-90000])');
  });

  it("is not warned about when the group says it runs no Slurm", () => {
    const site = parseSite(edit(NO_GPU_PARTITION, "    hosts: gn[1-2]\n", "    hosts: gn[1-2]\n    slurm: false\n"), "sites/big.yaml");
    expect(hw(site.warnings)).toEqual([]);
  });

  it("is not warned about in a partition, as a login group, or without hardware", () => {
    // The fixture as it is: cpu and gpu in partitions, login in loginGroups (and without hardware).
    expect(hw(parseSite(SLURM, "sites/ok.yaml").warnings)).toEqual([]);
  });

  it("is warned about on a site without Slurm", () => {
    const noSlurm = SLURM.slice(0, SLURM.indexOf("slurm:\n"));
    const warnings = hw(parseSite(noSlurm, "sites/noslurm.yaml").warnings);
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toBe(
      'nodeGroups.0.hardware: node group "cpu" (16 hosts, cn[01-16]) has Slurm hardware but the site has no slurm section: ' +
        "its hosts run no Slurm; add the slurm section with a partition for it, or set nodeGroups.0.slurm: false if it runs no Slurm",
    );
  });
});
