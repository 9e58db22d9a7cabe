/**
 * The generated batch script under a real Slurm (a private single-host lab with three nodes),
 * with the generated task, preflight and health scripts, the image's entrypoint, a stand-in
 * container runtime and stand-in daemons that print the seed's log lines. Proves: the preflight
 * runs on every node first; the coordinator starts on the first node and listens before any
 * broker starts; one broker per remaining node, each named by its SLURM_PROCID; memory sized from
 * Slurm; a daemon that exits fails the job; scancel leaves nothing running.
 */
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseSite } from "../../schema/load.js";
import { synthTo } from "../helpers.js";
import { fixtureText, gone, waitFor, writeStandInRuntime, writeStandIns } from "./helpers.js";
import { haveSlurm, startSlurmLab, type SlurmLab } from "./slurm-lab.js";

const describeLab = haveSlurm() ? describe : describe.skip;

describeLab("the batch script under Slurm", () => {
  let lab: SlurmLab;
  let script: string;
  let env: NodeJS.ProcessEnv;
  const submitDir = () => join(lab.dir, "submit");

  beforeAll(async () => {
    lab = await startSlurmLab();
    const base = fixtureText("stream-podman").replace(/^nodeGroups:[\s\S]*$/m, "");
    const site = parseSite(
      `${base}nodeGroups:
  - name: lab
    hosts: sn[1-3]
    hardware: { coresPerSocket: 1, memoryMB: 4096 }
streaming:
  clusterName: labstream
  image: ${lab.dir}/kera.sif
  transport: tcp
  coordinator: { port: 17020 }
  broker: { port: 17021, reserveMB: 1024 }
  plasma: { memoryBytes: 16777216 }
  limits: { memlockKB: 4096, nofile: 1024 }
  launch:
    via: slurm
    nodeGroup: lab
    brokers: 2
    partition: batch
    timeLimit: "00:10:00"
    runDir: ${lab.dir}/run
    readyTimeoutSec: 30
`,
      "sites/slurmlab.yaml",
    );
    const { out } = synthTo([site]);
    const stack = join(out, "stacks/slurmlab");
    // The files the deploy would install on the nodes, at the lab's paths.
    cpSync(join(stack, "groups/lab/usr/local/libexec/hpcdk"), join(lab.dir, "libexec"), { recursive: true });
    cpSync(join(stack, "groups/lab/etc/hpcdk/stream"), join(lab.dir, "etc"), { recursive: true });
    script = join(stack, "groups/lab/usr/local/share/hpcdk/stream/labstream.sbatch");
    writeStandIns(join(lab.dir, "image-bin"));
    // The nodes have their own /tmp: the image's entrypoint goes to the lab directory too.
    cpSync(join(stack, "groups/lab/usr/local/share/hpcdk/stream-image/docker-entrypoint.sh"), join(lab.dir, "image/docker-entrypoint.sh"));
    writeStandInRuntime(join(lab.dir, "path"), "apptainer", join(lab.dir, "image/docker-entrypoint.sh"), join(lab.dir, "image-bin"));
    writeFileSync(join(lab.dir, "kera.sif"), "stand-in image\n");
    mkdirSync(submitDir());
    env = {
      PATH: `${join(lab.dir, "path")}:${process.env.PATH}`,
      HPCDK_LIBEXEC: join(lab.dir, "libexec"),
      HPCDK_STREAM_ETC: join(lab.dir, "etc"),
    };
  });

  afterAll(async () => {
    lab?.run("scancel", ["--full", "-u", "root"]);
    await lab?.stop();
  });

  function submit(extra: NodeJS.ProcessEnv, state: string): string {
    const result = lab.run("sbatch", ["--parsable", script], { cwd: submitDir(), env: { ...env, STANDIN_STATE: join(lab.dir, state), ...extra } });
    expect(result.stderr).toBe("");
    return result.stdout.trim();
  }
  const output = (job: string) => (existsSync(join(submitDir(), `slurm-${job}.out`)) ? readFileSync(join(submitDir(), `slurm-${job}.out`), "utf8") : "");
  const state = (job: string) => lab.run("scontrol", ["show", "job", job]).stdout.match(/JobState=(\S+)/)?.[1];
  const ended = (job: string) => ["COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"].includes(state(job) ?? "");
  const runDir = (job: string) => join(lab.dir, "run", job);
  const log = (job: string, file: string) => readFileSync(join(runDir(job), file), "utf8");
  /** PIDs of the lab's stand-ins still running (or not yet reaped), from /proc. */
  const leftovers = () =>
    readdirSync("/proc")
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return readFileSync(`/proc/${p}/cmdline`, "utf8").includes(join(lab.dir, "image-bin")) && !gone(Number(p));
        } catch {
          return false;
        }
      });

  it("checks every node, starts the coordinator first, then one broker per other node, and reports ready", async () => {
    const job = submit({}, "state-ok");
    expect(await waitFor(() => output(job).includes("ready: the coordinator and 2 broker(s) serve cluster labstream") || ended(job), 90_000, 250), output(job)).toBe(true);
    expect(state(job), output(job)).toBe("RUNNING");
    const out = output(job);
    // The preflight ran on every node, before anything started.
    for (const n of ["sn1", "sn2", "sn3"]) expect(out).toContain(`stream-preflight: ${n} is ready for the stream daemons`);
    expect(out.indexOf("is ready for the stream daemons")).toBeLessThan(out.indexOf("stream-task: coordinator on sn1"));
    // The coordinator runs on the first node and listens on its locator.
    const coordinator = log(job, "coordinator.out");
    expect(coordinator).toContain("coordinator: Listening on tcp:host=sn1,port=17020");
    const listening = Number(coordinator.match(/^(\S+) .*coordinator: Listening on/m)![1]);
    // One broker per other node, its logs named by SLURM_PROCID, each started after the
    // coordinator listened and enlisted with it.
    for (const [task, node] of [[0, "sn2"], [1, "sn3"]] as const) {
      const server = log(job, `server-${task}.out`);
      expect(server).toContain(`Listening on tcp:host=${node},port=17021`);
      expect(server).toContain("--totalMasterMemory 3056 -C tcp:host=sn1,port=17020");
      expect(server).toContain(`Enlisted; serverId ${task + 1}.0`);
      expect(Number(server.match(/^(\S+) .*Command line:/m)![1])).toBeGreaterThan(listening);
      expect(log(job, `plasma-${task}.out`)).toContain("Allowing the Plasma store to use up to 16777216 bytes of memory.");
    }
    expect(out).toMatch(/^1: .*stream-task: broker on sn3 \(task 1\), 3056 MB of log memory, coordinator on sn1$/m);
    // The runtime got the run directory and the fabric settings.
    const runtime = readFileSync(join(lab.dir, "state-ok", "runtime.log"), "utf8");
    expect(runtime).toContain(`--bind ${runDir(job)},/tmp --env-file ${join(lab.dir, "etc")}/fabric.env`);

    // scancel stops everything the job started.
    expect(lab.run("scancel", [job]).status).toBe(0);
    expect(await waitFor(() => ended(job), 30_000, 250)).toBe(true);
    expect(await waitFor(() => leftovers().length === 0, 20_000, 250), String(leftovers())).toBe(true);
  });

  it("fails the job when a broker exits, and says which", async () => {
    const job = submit({ STANDIN_FAIL: "server" }, "state-fail");
    expect(await waitFor(() => ended(job), 90_000, 250), output(job)).toBe(true);
    expect(state(job)).toBe("FAILED");
    const out = output(job);
    expect(out).toMatch(/stream job \d+: broker 0 did not enlist with the coordinator/);
    // The job shows the end of the broker's logs itself (srun may drop a killed task's last lines),
    // of the brokers whose server had started by then: the one that failed, at least. Both brokers
    // are told to fail and the first failure ends the step, so the other may be stopped before,
    // while or after its server starts.
    const shown = [...out.matchAll(new RegExp(`^stream job ${job}: last lines of ${runDir(job)}/(server-\\d\\.out):$`, "gm"))].map((m) => m[1]!);
    expect(shown.length, out).toBeGreaterThan(0);
    expect(shown.map((f) => log(job, f)).some((s) => s.includes("ERROR[1]: stand-in told to fail")), out).toBe(true);
    expect(await waitFor(() => leftovers().length === 0, 20_000, 250), String(leftovers())).toBe(true);
  });

  it("starts nothing when the preflight fails on a node", async () => {
    const job = submit({ HPCDK_STREAM_ETC: join(lab.dir, "no-such-etc") }, "state-preflight");
    expect(await waitFor(() => ended(job), 60_000, 250), output(job)).toBe(true);
    expect(state(job)).toBe("FAILED");
    const out = output(job);
    expect(out).toContain(`MISSING: ${join(lab.dir, "no-such-etc")}/fabric.env does not set FI_PROVIDER`);
    expect(out).toContain("the preflight failed on a node (see MISSING above): nothing was started");
    expect(existsSync(join(runDir(job), "coordinator.out"))).toBe(false);
  });
});
