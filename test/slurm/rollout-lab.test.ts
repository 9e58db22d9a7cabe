/**
 * Slurm in the right order (issue 15, proof 6), run for real: sites/lab.yaml's Slurm with each
 * slurmd reading its own copy of the files, as on separate hosts. The site gains compute hosts;
 * the files reach the controller and every node (the deploy's files phase), then the Slurm wave
 * planned from the file the daemons run and the synthesized one (operations/rollout/slurm.ts)
 * runs against the lab's daemons: every slurmd has the new file before any restart, slurmctld
 * restarts before the slurmds, the new node starts last, and no node is drained.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planSlurm, runSlurmSteps, slurmTopologyOf, type SlurmStepRunner } from "../../operations/rollout/slurm.js";
import { parseSite } from "../../schema/load.js";
import { readTree, synthTo, tempDir } from "../helpers.js";
import { SlurmLab, waitFor } from "./lab-env.js";

const SITE_FILE = join(import.meta.dirname, "..", "..", "sites", "lab.yaml");
function site(computeHosts: string) {
  const text = readFileSync(SITE_FILE, "utf8").replace("hosts: c[001-128]", `hosts: ${computeHosts}`);
  if (!text.includes(`hosts: ${computeHosts}`)) throw new Error("lab.yaml changed: the rollout lab cannot edit it");
  return parseSite(text, "sites/lab.yaml");
}
const before = site("c[001-128]");
const tree = readTree(join(synthTo([before]).out, "stacks", "lab"));

let lab: SlurmLab;

beforeAll(async () => {
  lab = new SlurmLab(tempDir("hpcdk-slurmlab-"), tree, { controller: "stc1", dbd: "stc3", restd: "stc3" }, { nodeCopies: true, restApi: false });
  await lab.up();
}, 150_000);

afterAll(async () => {
  expect((await lab?.down()) ?? { left: [], running: [] }).toEqual({ left: [], running: [] });
}, 60_000);

const sha = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const states = () => lab.run("sinfo", ["-h", "-N", "-p", "batch", "-o", "%N %t"]).stdout.trim().split("\n").sort();

describe("a Slurm change that adds compute nodes, in the Slurm lab", () => {
  it("starts with c001 and c002 idle, each slurmd on its own copy", async () => {
    await waitFor("c001 and c002 idle", 30_000, () => states().join(",") === "c001 idle,c002 idle");
    expect(sha(lab.path("node/c001/slurm.conf"))).toBe(sha(lab.path("etc/slurm/slurm.conf")));
  });

  it("gets the files to every slurmd before slurmctld restarts, then the slurmds, the new node last, and drains nothing", async () => {
    const after = site("c[001-129]");
    const next = readTree(join(synthTo([after]).out, "stacks", "lab"));
    const plan = planSlurm(
      { topology: slurmTopologyOf(after.spec)!, running: tree.get("hosts/stc1/etc/slurm/slurm.conf")!.toString(), synthesized: next.get("hosts/stc1/etc/slurm/slurm.conf")!.toString() },
      [],
    );
    expect(plan.change).toBe("restart");
    expect(plan.steps.map((s) => s.id)).toEqual(["restart-slurmctld", "restart-slurmd", "restart-slurmd", "record"]);

    // The deploy's files phase: the controller and every node, the new one included.
    const old = sha(lab.path("etc/slurm/slurm.conf"));
    lab.useRendered(next, ["c001", "c002", "c003"]);
    lab.writeSlurmFiles();
    const controllerConf = sha(lab.path("etc/slurm/slurm.conf"));
    expect(controllerConf).not.toBe(old);

    const seen: string[] = [];
    const runner: SlurmStepRunner = async (step, host) => {
      // The lab's third node stands for the site's new host c129 (the site's own c003 has no slurmd here).
      const node = host === "c129" ? "c003" : host === "c003" ? "" : host;
      const act = step.id === "restart-slurmctld" ? host === "stc1" : step.id === "restart-slurmd" && lab.computeNodes.includes(node);
      if (!act) return { host, ok: true };
      // Every slurmd's copy is the controller's before anything restarts.
      const stale = lab.computeNodes.filter((n) => sha(lab.path(`node/${n}/slurm.conf`)) !== controllerConf);
      seen.push(`${step.id}@${node}${stale.length > 0 ? ` with stale ${stale.join(",")}` : ""}`);
      if (step.id === "restart-slurmctld") await lab.restartSlurmctld();
      else await lab.restartSlurmd(node);
      return { host, ok: true };
    };
    const ran = await runSlurmSteps(plan.steps, "after-files", runner, { concurrency: 1 });
    expect(ran.ok, ran.failed).toBe(true);
    expect(seen).toEqual(["restart-slurmctld@stc1", "restart-slurmd@c001", "restart-slurmd@c002", "restart-slurmd@c003"]);

    await waitFor("c001-c003 idle", 30_000, () => states().join(",") === "c001 idle,c002 idle,c003 idle");
    // No node drained or down, with no reason recorded on any.
    expect(lab.run("sinfo", ["-h", "-R", "-o", "%N %E"]).stdout.trim()).toBe("");
    expect(lab.run("sinfo", ["-h", "-N", "-t", "drain,drained,draining,down", "-o", "%N"]).stdout.trim()).toBe("");
    const job = lab.run("srun", ["--mpi=none", "-N3", "-w", "c[001-003]", "hostname"]);
    expect(job.stderr).toBe("");
    expect(job.status).toBe(0);
    expect(readFileSync(lab.path("log/slurmctld.log"), "utf8")).not.toMatch(/appears to have a different slurm\.conf/);
  });
});
