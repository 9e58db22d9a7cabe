/**
 * Slurm's configless mode, run for real (issue 17): sites/lab.yaml with `slurm.configless: true`.
 * GIVEN munged, MariaDB, slurmdbd and slurmctld from the rendered files, and two slurmd started as
 * the compute group's rendered drop-in says (`--conf-server`), each with no SLURM_CONF and an
 * empty /etc/slurm and /run of its own, THEN both fetch the controller's files, reach IDLE and run
 * a job, and the Slurm commands on such a node read the fetched copy (/run/slurm/conf). Then a
 * node is added: its slurmd started before the controllers know it does not come up; in the order
 * the deploy's Slurm wave plans (operations/rollout/slurm.ts: slurmctld restarted, then every
 * slurmd), it does, and no node is drained.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planSlurm, runSlurmSteps, slurmTopologyOf, type SlurmStepRunner } from "../../operations/rollout/slurm.js";
import { parseSite } from "../../schema/load.js";
import { readTree, synthTo, tempDir } from "../helpers.js";
import { alive, SlurmLab, waitFor } from "./lab-env.js";

const SITE_FILE = join(import.meta.dirname, "..", "..", "sites", "lab.yaml");
/** sites/lab.yaml in configless mode, with the compute group's hosts as given. */
function site(computeHosts = "c[001-128]") {
  const text = readFileSync(SITE_FILE, "utf8").replace(/^slurm:.*\n/m, "slurm:\n  configless: true\n");
  const edited = computeHosts === "c[001-128]" ? text : text.replace("hosts: c[001-128]", `hosts: ${computeHosts}`);
  if (!edited.includes("configless: true") || !edited.includes(`hosts: ${computeHosts}`)) throw new Error("lab.yaml changed: the configless lab cannot edit it");
  return parseSite(edited, "sites/lab.yaml");
}
const before = site();
const { out } = synthTo([before]);
const tree = readTree(join(out, "stacks", "lab"));

let lab: SlurmLab;

beforeAll(async () => {
  lab = new SlurmLab(tempDir("hpcdk-slurmlab-"), tree, { controller: "stc1", dbd: "stc3", restd: "stc3" }, { configless: true, restApi: false });
  await lab.up();
}, 150_000);

afterAll(async () => {
  expect((await lab?.down()) ?? { left: [], running: [] }).toEqual({ left: [], running: [] });
}, 60_000);

/** Runs a command in a compute node's own mount namespace (its slurmd's), without SLURM_CONF. */
function onNode(node: string, args: string[]) {
  const d = lab.daemon(`slurmd-${node}`);
  if (!d) throw new Error(`slurmd-${node} does not run`);
  const env = { ...lab.env };
  delete env.SLURM_CONF;
  return spawnSync("nsenter", ["-t", String(d.pid), "-m", ...args], { encoding: "utf8", env, timeout: 30_000 });
}

const states = () => lab.run("sinfo", ["-h", "-N", "-p", "batch", "-o", "%N %t"]).stdout.trim().split("\n").sort();

describe("configless Slurm from sites/lab.yaml, started for real", () => {
  it("registers both slurmd, started with --conf-server and no file of their own, idle", async () => {
    await waitFor("c001 and c002 idle", 30_000, () => states().join(",") === "c001 idle,c002 idle");
    for (const node of ["c001", "c002"]) {
      const d = lab.daemon(`slurmd-${node}`)!;
      const argv = readFileSync(`/proc/${d.pid}/cmdline`, "utf8").split("\0");
      expect(argv.slice(0, 6)).toEqual(["/usr/sbin/slurmd", "-D", "-s", "--conf-server", "127.0.0.1:16817", "-N"]);
      expect(readFileSync(`/proc/${d.pid}/environ`, "utf8")).not.toContain("SLURM_CONF=");
      expect(onNode(node, ["ls", "-A", "/etc/slurm"]).stdout).toBe("");
    }
  });

  it("runs the node's files as fetched from slurmctld: the controller's bytes, linked at /run/slurm/conf", () => {
    const controller = readFileSync(lab.path("etc/slurm/slurm.conf"), "utf8");
    expect(controller).toContain("\nSlurmctldParameters=enable_configless\n");
    for (const node of ["c001", "c002"]) {
      const cache = lab.path(`spool/slurmd-${node}/conf-cache`);
      expect(readFileSync(join(cache, "slurm.conf"), "utf8")).toBe(controller);
      expect(readFileSync(join(cache, "cgroup.conf"), "utf8")).toBe(readFileSync(lab.path("etc/slurm/cgroup.conf"), "utf8"));
      expect(onNode(node, ["readlink", "/run/slurm/conf"]).stdout.trim()).toBe(cache);
    }
  });

  it("runs a job on both nodes, submitted from the controller and from a node with the fetched files", () => {
    const fromController = lab.run("srun", ["--mpi=none", "-N2", "-w", "c[001-002]", "hostname"]);
    expect(fromController.stderr).toBe("");
    expect(fromController.status).toBe(0);
    const fromNode = onNode("c001", ["srun", "--mpi=none", "-N2", "-w", "c[001-002]", "sh", "-c", "echo $SLURM_NODEID"]);
    expect(fromNode.stderr).toBe("");
    expect(fromNode.stdout.trim().split("\n").sort()).toEqual(["0", "1"]);
  });

  it("adds a node in the order that works: slurmctld first, then the slurmd (the one started first does not come up)", async () => {
    // The wrong order: c003 starts while the controllers do not know it.
    const early = lab.slurmdCommand("c003");
    const r = spawnSync(early.cmd, early.args, { env: early.env, encoding: "utf8", timeout: 30_000, killSignal: "SIGKILL" });
    expect(r.signal, "slurmd c003 kept running though slurmctld does not know it").toBeNull();
    expect(r.status).not.toBe(0);
    const log = lab.path("log/slurmd-c003.log");
    expect(r.stderr + (existsSync(log) ? readFileSync(log, "utf8") : "")).toMatch(/c003/);

    // The site gains hosts; the plan from the files as the daemons run them and as synthesized.
    const after = site("c[001-129]");
    const next = readTree(join(synthTo([after]).out, "stacks", "lab"));
    const plan = planSlurm(
      { topology: slurmTopologyOf(after.spec)!, running: tree.get("hosts/stc1/etc/slurm/slurm.conf")!.toString(), synthesized: next.get("hosts/stc1/etc/slurm/slurm.conf")!.toString() },
      [],
    );
    expect(plan.change).toBe("restart");
    expect(plan.reasons).toEqual(["nodes added: c129 (22.05 adds nodes only at a restart)"]);
    // The files phase: only the controllers hold them in configless mode.
    lab.useRendered(next, ["c001", "c002", "c003"]);
    lab.writeSlurmFiles();
    const done: string[] = [];
    const runner: SlurmStepRunner = async (step, host) => {
      // The lab's third node stands for the site's new host c129 (the site's own c003 has no slurmd here).
      const node = host === "c129" ? "c003" : host === "c003" ? "" : host;
      if (step.id === "restart-slurmctld" && host === "stc1") await lab.restartSlurmctld();
      else if (step.id === "restart-slurmd" && lab.computeNodes.includes(node)) await lab.restartSlurmd(node);
      else return { host, ok: true };
      done.push(`${step.id}@${node}`);
      return { host, ok: true };
    };
    const ran = await runSlurmSteps(plan.steps, "after-files", runner, { concurrency: 1 });
    expect(ran.ok, ran.failed).toBe(true);
    expect(done).toEqual(["restart-slurmctld@stc1", "restart-slurmd@c001", "restart-slurmd@c002", "restart-slurmd@c003"]);
    await waitFor("c001-c003 idle", 30_000, () => states().join(",") === "c001 idle,c002 idle,c003 idle");
    expect(lab.run("sinfo", ["-h", "-R", "-o", "%N %E"]).stdout.trim()).toBe("");
    const job = lab.run("srun", ["--mpi=none", "-N3", "-w", "c[001-003]", "hostname"]);
    expect(job.stderr).toBe("");
    expect(job.status).toBe(0);
    expect(alive(lab.daemon("slurmd-c003")!.pid)).toBe(true);
    expect(existsSync(lab.path("spool/slurmd-c003/conf-cache/slurm.conf"))).toBe(true);
  });
});
