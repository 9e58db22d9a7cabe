/**
 * The lab: the rendered Slurm files of sites/lab.yaml run for real on this machine (see
 * lab-env.ts for what is rebased and why). GIVEN munged, MariaDB, slurmdbd, slurmctld, two
 * slurmd, slurmrestd and nginx started from those files, THEN the nodes come up idle, srun runs
 * on both, a job submitted through nginx with a token runs and shows in sacct and /slurmdb/, and
 * requests without a token, with a bad, expired or another user's token are refused.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { loadExamples, readTree, synthTo, tempDir } from "../helpers.js";
import { SlurmLab, waitFor, type HttpAnswer } from "./lab-env.js";
import { join } from "node:path";

const API = "/slurm/v0.0.38";
const DB_API = "/slurmdb/v0.0.38";
/** The job's user and a second user, both present on every Debian system. */
const USER = "nobody";
const OTHER = "daemon";

let lab: SlurmLab;
let started = 0;

beforeAll(async () => {
  started = Date.now();
  const { out } = synthTo(loadExamples(["lab"]));
  lab = new SlurmLab(tempDir("hpcdk-slurmlab-"), readTree(join(out, "stacks", "lab")), { controller: "stc1", dbd: "stc3", restd: "stc3" });
  lab.prepare();
  try {
    await lab.start();
  } catch (err) {
    const logs = lab.logs();
    await lab.stop();
    throw new Error(`${(err as Error).message}\n${logs}`);
  }
}, 150_000);

afterAll(async () => {
  const left = await lab?.stop();
  expect(left ?? []).toEqual([]);
  expect(lab?.running() ?? []).toEqual([]);
}, 60_000);

/** The `errors` of a JSON answer ([] when it has none). */
const errorsOf = (a: HttpAnswer) => (Array.isArray(a.json?.errors) ? a.json!.errors : []);

/** A request slurmrestd refused: an HTTP error, or a JSON answer with errors[] and no data. */
function refused(a: HttpAnswer, data: string): boolean {
  if (a.status === 401 || a.status === 403) return true;
  const items = a.json?.[data];
  return errorsOf(a).length > 0 && (!Array.isArray(items) || items.length === 0);
}

describe("Slurm from sites/lab.yaml, started for real", () => {
  it("registers both compute nodes idle in the batch partition", async () => {
    const states = await waitFor("c001 and c002 idle", 30_000, () => {
      const r = lab.run("sinfo", ["-h", "-N", "-p", "batch", "-o", "%N %t"]);
      return /c001 idle/.test(r.stdout) && /c002 idle/.test(r.stdout) ? r.stdout : undefined;
    });
    expect(states.trim().split("\n").sort()).toEqual(["c001 idle", "c002 idle"]);
    // The debug partition takes its nodes from the compute and gpu NodeSets (node features).
    const debug = lab.run("sinfo", ["-h", "-p", "debug", "-o", "%N"]);
    expect(debug.stdout.trim()).toBe("c[001-002],g01");
  });

  it("runs srun -N2 hostname on both nodes", () => {
    // --mpi=none: two slurmd on one host share /tmp, where PMIx puts a per-step directory.
    const r = lab.run("srun", ["--mpi=none", "-N2", "-w", "c[001-002]", "hostname"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split("\n")).toHaveLength(2);
  });

  it("starts a step with the site's MpiDefault (pmix)", () => {
    const r = lab.run("srun", ["-N1", "-w", "c001", "printenv", "PMIX_RANK"]);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("0");
  });

  it("runs a job submitted through nginx with a token and shows it in sacct and /slurmdb/", async () => {
    // AccountingStorageEnforce=associations: the user needs an account first.
    for (const args of [
      ["-i", "add", "account", "lab", "Description=lab", "Organization=hpcdk"],
      ["-i", "add", "user", USER, "account=lab"],
      ["-i", "add", "user", OTHER, "account=lab"],
    ]) {
      expect(lab.run("sacctmgr", args).status).toBe(0);
    }
    const token = lab.token(USER);
    const headers = { "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": token };
    const submit = await lab.http(
      "POST",
      `${API}/job/submit`,
      headers,
      JSON.stringify({
        job: { name: "hpcdk-lab", nodes: "1-1", tasks: 1, partition: "batch", current_working_directory: "/tmp", standard_output: "/dev/null", environment: { PATH: "/bin:/usr/bin" } },
        script: "#!/bin/sh\necho hello from hpcdk\n",
      }),
    );
    expect(errorsOf(submit), submit.body).toEqual([]);
    expect(submit.status).toBe(200);
    const jobId = submit.json?.job_id as number;
    expect(jobId).toBeGreaterThan(0);

    const state = await waitFor(`job ${jobId} in sacct`, 60_000, () => {
      const r = lab.run("sacct", ["-a", "-X", "-n", "-P", "-j", String(jobId), "-o", "User,State"]);
      return /COMPLETED|FAILED|CANCELLED|TIMEOUT/.test(r.stdout) ? r.stdout.trim() : undefined;
    });
    expect(state).toBe(`${USER}|COMPLETED`);

    const db = await lab.http("GET", `${DB_API}/job/${jobId}`, headers);
    expect(errorsOf(db), db.body).toEqual([]);
    const jobs = db.json?.jobs as { job_id: number; user: string; state: { current: string } }[];
    expect(jobs.map((j) => [j.job_id, j.user, j.state.current])).toEqual([[jobId, USER, "COMPLETED"]]);
  });

  describe("refuses requests it must refuse (errors[] checked, not only the status)", () => {
    let good: string;
    let expired: string;
    let others: string;
    beforeAll(async () => {
      good = lab.token(USER);
      others = lab.token(OTHER);
      expired = lab.token(USER, 1);
      await new Promise((r) => setTimeout(r, 2_500));
    });

    const cases: [string, () => Record<string, string>][] = [
      ["no token", () => ({ "X-SLURM-USER-NAME": USER })],
      ["a bad token", () => ({ "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": `${good.slice(0, -4)}AAAA` })],
      ["an expired token", () => ({ "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": expired })],
      ["another user's token", () => ({ "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": others })],
    ];

    it.each(cases)("refuses %s on /slurm/ and /slurmdb/", async (_, headers) => {
      const jobs = await lab.http("GET", `${API}/jobs`, headers());
      expect(refused(jobs, "jobs"), `${jobs.status} ${jobs.body}`).toBe(true);
      const dbJobs = await lab.http("GET", `${DB_API}/jobs`, headers());
      expect(refused(dbJobs, "jobs"), `${dbJobs.status} ${dbJobs.body}`).toBe(true);
      const submit = await lab.http("POST", `${API}/job/submit`, headers(), JSON.stringify({ job: { name: "refused", nodes: "1-1", current_working_directory: "/tmp", environment: { PATH: "/bin" } }, script: "#!/bin/sh\ntrue\n" }));
      expect(refused(submit, "job_id") || submit.json?.job_id === undefined, `${submit.status} ${submit.body}`).toBe(true);
    });

    it("accepts the same requests with the user's own token (the control)", async () => {
      const headers = { "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": good };
      const jobs = await lab.http("GET", `${API}/jobs`, headers);
      expect(errorsOf(jobs), jobs.body).toEqual([]);
      expect(refused(jobs, "jobs")).toBe(false);
      const dbJobs = await lab.http("GET", `${DB_API}/jobs`, headers);
      expect(errorsOf(dbJobs), dbJobs.body).toEqual([]);
      expect(refused(dbJobs, "jobs")).toBe(false);
    });

    it("routes only the API's paths", async () => {
      const headers = { "X-SLURM-USER-NAME": USER, "X-SLURM-USER-TOKEN": good };
      expect((await lab.http("GET", "/", headers)).status).toBe(404);
      expect((await lab.http("GET", "/openapi/v3", headers)).status).toBe(200);
      expect((await lab.http("GET", "/slurm-other/", headers)).status).toBe(404);
    });
  });

  it("ran within the issue's 3 minutes and left every daemon running until the end", () => {
    expect(lab.running().sort()).toEqual(["mariadbd", "munged", "nginx", "slurmctld", "slurmd-c001", "slurmd-c002", "slurmdbd", "slurmrestd"]);
    expect(Date.now() - started).toBeLessThan(180_000);
  });
});
