/**
 * `hpcdk lab up` where the lab cannot run: it says what is missing and how to get it, and builds
 * nothing. (The lab itself, up and failed over, is test/lab/drill.test.ts.)
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { labPreflight, missingPackages, planLab } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { copyOfHpcdk, ROOT, tempDir } from "../helpers.js";

const isRoot = process.getuid?.() === 0;

describe("lab preflight", () => {
  it("names the site's packages this machine lacks, with the apt-get line that installs them", () => {
    expect(missingPackages(["dpkg", "hpcdk-no-such-package"])).toEqual(["hpcdk-no-such-package"]);
    expect(missingPackages([])).toEqual([]);
    expect(labPreflight(["hpcdk-no-such-package", "dpkg"]).filter((p) => p.includes("hpcdk-no-such-package"))).toEqual([
      "the site installs hpcdk-no-such-package on its nodes, and the lab's nodes run this machine's programs: apt-get install -y hpcdk-no-such-package",
    ]);
  });

  it.skipIf(!isRoot)("refuses to start without root, says so, and creates nothing", () => {
    // A copy of the example on addresses and a name of its own, readable by nobody.
    const project = tempDir("hpcdk-preflight-");
    chmodSync(project, 0o755);
    mkdirSync(join(project, "sites"), { mode: 0o755 });
    const site = join(project, "sites", "pf-lab.yaml");
    writeFileSync(site, readFileSync(join(ROOT, "sites", "minilab.yaml"), "utf8").replaceAll("10.30.0.", "10.32.0."), { mode: 0o644 });
    // hpcdk as nobody can run it, wherever the checkout is (root's home is not readable by others).
    const hpcdkCopy = copyOfHpcdk({ readableByAll: true });
    const r = spawnSync("setpriv", ["--reuid", "65534", "--regid", "65534", "--clear-groups", process.execPath, join(hpcdkCopy, "cli/bin/hpcdk.js"), "lab", "up", "pf-lab"], {
      cwd: project,
      encoding: "utf8",
    });
    expect(r.stderr).toContain("hpcdk: lab: the lab needs root (network namespaces, mounts): run it as root or with sudo");
    expect(r.status).toBe(1);
    const plan = planLab("pf-lab", loadSiteFile(site).spec);
    expect(existsSync(plan.dir)).toBe(false);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-pflab");
  });
});
