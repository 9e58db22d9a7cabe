/**
 * The Slurm collector (/usr/local/libexec/hpcdk/slurm-metrics, rendered for sites/lab.yaml's
 * controllers) run against the Slurm lab: munged, MariaDB, slurmdbd, slurmctld and two slurmd
 * started from the site's rendered files (test/slurm/lab-env.ts). GIVEN a job running on c001 and
 * c002 drained with a reason, THEN its textfile has the nodes per state, the drained node with its
 * reason, the job per partition and state, the scheduler's cycle, both controllers and slurmdbd
 * answering, and promtool check metrics accepts it.
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { have, loadExamples, readTree, synthTo, tempDir } from "../helpers.js";
import { SlurmLab, waitFor } from "../slurm/lab-env.js";

const WHY_NOT = process.getuid?.() !== 0 ? "needs root (the Slurm lab)" : !have("slurmctld") ? "Slurm is not installed (scripts/test-packages/slurm.txt)" : !have("jq") ? "jq is not installed (scripts/test-packages/monitoring.txt)" : undefined;

describe.skipIf(WHY_NOT)("the Slurm collector against the Slurm lab", () => {
  let lab: SlurmLab;
  let prom = "";
  const { out } = synthTo(loadExamples(["lab"]));
  const tree = readTree(join(out, "stacks", "lab"));

  beforeAll(async () => {
    lab = new SlurmLab(tempDir("hpcdk-slurmlab-"), tree, { controller: "stc1", dbd: "stc3", restd: "stc3" });
    await lab.up();
    await waitFor("c001 and c002 idle", 30_000, () => /c001 idle/.test(lab.run("sinfo", ["-h", "-N", "-o", "%N %t"]).stdout) && /c002 idle/.test(lab.run("sinfo", ["-h", "-N", "-o", "%N %t"]).stdout));
    expect(lab.run("scontrol", ["update", "nodename=c002", "state=drain", 'reason=disk "sdb" errors']).status).toBe(0);
    const job = lab.run("sbatch", ["--parsable", "-p", "batch", "-w", "c001", "-N1", "-n1", "-o", "/dev/null", "--wrap", "sleep 300"]);
    expect(job.stderr).toBe("");
    await waitFor(`job ${job.stdout.trim()} running`, 30_000, () => lab.run("squeue", ["-h", "-j", job.stdout.trim(), "-o", "%T"]).stdout.trim() === "RUNNING");

    // The rendered collector, its textfile directory moved into the lab; it finds Slurm's
    // commands on PATH and the lab's slurm.conf through SLURM_CONF, as on a controller.
    const text = tree.get("hosts/stc1/usr/local/libexec/hpcdk/slurm-metrics")!.toString();
    expect(text).toContain("/var/lib/prometheus/node-exporter");
    const textfile = lab.path("textfile");
    mkdirSync(textfile);
    writeFileSync(lab.path("slurm-metrics"), text.replaceAll("/var/lib/prometheus/node-exporter", textfile));
    chmodSync(lab.path("slurm-metrics"), 0o755);
    const r = lab.run(lab.path("slurm-metrics"), [], { timeoutMs: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    prom = readFileSync(join(textfile, "hpcdk-slurm.prom"), "utf8");
  }, 180_000);

  afterAll(async () => {
    expect((await lab?.down()) ?? { left: [], running: [] }).toEqual({ left: [], running: [] });
  }, 60_000);

  const samples = () => prom.split("\n").filter((l) => l && !l.startsWith("#"));

  it("writes a file node_exporter's textfile collector takes (promtool check metrics)", () => {
    const r = spawnSync("promtool", ["check", "metrics"], { input: prom, encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("counts the lab's nodes per state: c001 runs the job, c002 is drained, g01 never registered", () => {
    const nodes = samples().filter((l) => l.startsWith("hpcdk_slurm_nodes{"));
    expect(nodes.sort()).toEqual(['hpcdk_slurm_nodes{state="idle+drain"} 1', 'hpcdk_slurm_nodes{state="mixed"} 1', 'hpcdk_slurm_nodes{state="unknown"} 1']);
    expect(samples().filter((l) => l.startsWith("hpcdk_slurm_node_unavailable{")).sort()).toEqual([
      'hpcdk_slurm_node_unavailable{node="c002",state="idle+drain",reason="disk \\"sdb\\" errors"} 1',
      'hpcdk_slurm_node_unavailable{node="g01",state="unknown",reason=""} 1',
    ]);
  });

  it("counts the running job in its partition", () => {
    expect(samples().filter((l) => l.startsWith("hpcdk_slurm_jobs{"))).toEqual(['hpcdk_slurm_jobs{partition="batch",state="running"} 1']);
  });

  it("reports the scheduler's cycle and the queues from sdiag", () => {
    const value = (m: string) => Number(samples().find((l) => l.startsWith(`${m} `))?.split(" ")[1]);
    expect(value("hpcdk_slurm_scheduler_cycles")).toBeGreaterThanOrEqual(1);
    expect(value("hpcdk_slurm_scheduler_last_cycle_seconds")).toBeGreaterThan(0);
    expect(value("hpcdk_slurm_scheduler_mean_cycle_seconds")).toBeGreaterThan(0);
    expect(value("hpcdk_slurm_dbd_agent_queue_size")).toBe(0);
    expect(value("hpcdk_slurm_server_threads")).toBeGreaterThanOrEqual(1);
    for (const m of ["hpcdk_slurm_agent_queue_size", "hpcdk_slurm_backfill_last_cycle_seconds", "hpcdk_slurm_backfill_cycles", "hpcdk_slurm_scheduler_queue_length", "hpcdk_slurm_scheduler_max_cycle_seconds"]) {
      expect(Number.isFinite(value(m)), m).toBe(true);
    }
  });

  it("reports both controllers and slurmdbd answering, and its own success", () => {
    expect(samples().filter((l) => /^hpcdk_slurm_(slurmctld|slurmdbd)_up|^hpcdk_slurm_collector_success/.test(l)).sort()).toEqual([
      "hpcdk_slurm_collector_success 1",
      'hpcdk_slurm_slurmctld_up{controller="stc1",role="primary"} 1',
      'hpcdk_slurm_slurmctld_up{controller="stc2",role="backup"} 1',
      "hpcdk_slurm_slurmdbd_up 1",
    ]);
    const ts = Number(samples().find((l) => l.startsWith("hpcdk_slurm_collector_last_success_timestamp_seconds "))!.split(" ")[1]);
    expect(Math.abs(ts - Date.now() / 1000)).toBeLessThan(120);
  });

  it("keeps the last success and says it failed when slurmctld does not answer", () => {
    const textfile = lab.path("textfile");
    const before = samples().find((l) => l.startsWith("hpcdk_slurm_collector_last_success_timestamp_seconds "));
    // A slurm.conf that points at a port nobody listens on: every command fails, as with slurmctld down.
    const conf = readFileSync(lab.path("etc/slurm/slurm.conf"), "utf8");
    writeFileSync(lab.path("etc/slurm/slurm-down.conf"), conf.replace(/^SlurmctldPort=\d+$/m, "SlurmctldPort=16899"));
    const r = lab.run(lab.path("slurm-metrics"), [], { timeoutMs: 120_000, env: { ...lab.env, SLURM_CONF: lab.path("etc/slurm/slurm-down.conf") } });
    expect(r.stderr).toContain("slurm-metrics: sinfo --json failed");
    const after = readFileSync(join(textfile, "hpcdk-slurm.prom"), "utf8");
    expect(after).toContain("hpcdk_slurm_collector_success 0\n");
    expect(after).toContain(`${before}\n`);
    expect(spawnSync("promtool", ["check", "metrics"], { input: after, encoding: "utf8" }).status).toBe(0);
  }, 150_000);
});
