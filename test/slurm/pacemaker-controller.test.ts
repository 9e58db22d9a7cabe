/**
 * slurm.controllerIp: Pacemaker runs slurmctld on one controller at a time (the state export
 * mounted by ocf:heartbeat:Filesystem, the floating IP SlurmctldAddr, then systemd:slurmctld).
 * The rendered files are pinned; the CIB goes through crm_verify and crm_simulate (every
 * single-node failure: the group stays on the controllers, nothing else is disturbed); the
 * slurm.conf is read by the real slurmctld of Debian, started as the second controller with the
 * floating IP on loopback in a network namespace of its own, which takes over alone and answers
 * `sinfo` on SlurmctldAddr.
 */
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cibNodes, simulateCib, withOnlineStatus } from "../../operations/simulate/index.js";
import { parseSite } from "../../schema/load.js";
import { FIXTURES, have, siteFromText, synthTo, tempDir } from "../helpers.js";

const SITE = "slurm-pacemaker";
const text = readFileSync(join(FIXTURES, `${SITE}.yaml`), "utf8");
const { out } = synthTo([parseSite(text, `sites/${SITE}.yaml`)]);
const stack = join(out, "stacks", SITE);
const read = (path: string) => readFileSync(join(stack, path), "utf8");
const SNAP = join(import.meta.dirname, "__snapshots__", SITE);

describe("a Pacemaker-run slurmctld", () => {
  it("renders slurm.conf with every controller and SlurmctldAddr, the unit's drop-in and the CIB (pinned)", async () => {
    const conf = read("hosts/stc1/etc/slurm/slurm.conf");
    expect(conf).toContain("SlurmctldHost=stc1(172.16.0.11)\nSlurmctldHost=stc2(172.16.0.12)\n");
    expect(conf).toContain("SlurmctldAddr=172.16.0.101\n");
    expect(conf).toContain("SlurmctldTimeout=10\n");
    await expect(conf).toMatchFileSnapshot(join(SNAP, "hosts/stc1/etc/slurm/slurm.conf"));
    await expect(read("hosts/stc1/etc/systemd/system/slurmctld.service.d/hpcdk-pacemaker.conf")).toMatchFileSnapshot(
      join(SNAP, "hosts/stc1/etc/systemd/system/slurmctld.service.d/hpcdk-pacemaker.conf"),
    );
    await expect(read("cluster/cib.xml")).toMatchFileSnapshot(join(SNAP, "cluster/cib.xml"));
    // Pacemaker mounts the state: no systemd mount unit, no after-cib start, slurmctld off at boot.
    const manifest = JSON.parse(read("manifests/hosts/stc1.json")) as { files: { path: string }[]; steps: { id: string; run: string }[] };
    expect(manifest.files.map((f) => f.path).filter((p) => p.includes("mount") || p.includes("hpcdk-state-save"))).toEqual([]);
    expect(manifest.steps.find((s) => s.id === "slurmctld-disable-at-boot")?.run).toBe("systemctl daemon-reload && systemctl disable slurmctld");
    expect(JSON.parse(read("manifests/cluster.json")).steps).toEqual([]);
  });

  it("has a CIB that crm_verify accepts", () => {
    const cib = read("cluster/cib.xml");
    const file = join(tempDir(), "cib.xml");
    writeFileSync(file, withOnlineStatus(cib, cibNodes(cib)));
    const r = spawnSync("crm_verify", ["-V", "-x", file], { encoding: "utf8" });
    expect(r.stderr + r.stdout).toBe("");
    expect(r.status).toBe(0);
  });

  it("keeps slurmctld on a controller through every single-node failure, and a move of the NFS group leaves it running", async () => {
    const cib = read("cluster/cib.xml");
    const report = await simulateCib(cib);
    expect(report.problems).toEqual([]);
    const members = ["slurm-state", "slurmctld-ip", "slurmctld"];
    for (const r of members) expect(report.initial[r], r).toEqual(["stc1"]);
    for (const node of ["stc1", "stc2", "stc3", "stc4"]) {
      const failure = (await simulateCib(cib, { fail: [node] })).failures[0]!;
      expect(failure.violations, node).toEqual([]);
      expect(failure.fenced).toEqual([node]);
      expect(failure.disrupted, `${node} failed`).toEqual([]);
      for (const r of members) expect(failure.after[r], `${r} after ${node} failed`).toEqual([node === "stc1" ? "stc2" : "stc1"]);
    }
  });

  it("refuses a Pacemaker-run slurmctld with one controller, or an address outside the controllers' networks", () => {
    const one = text.replace("  controllers: [stc1, stc2]", "  controllers: [stc1]").replace(/\n {2}stateSave:[\s\S]*?(?=\n {2}\w)/, "");
    expect(() => siteFromText(one, "sites/one.yaml")).toThrow("slurm.controllerIp: a Pacemaker-run slurmctld moves between controllers: name two or more in slurm.controllers, got 1");
    const far = text.replace("controllerIp: { address: 172.16.0.101", "controllerIp: { address: 10.99.0.101");
    expect(() => siteFromText(far, "sites/far.yaml")).toThrow(
      'slurm.controllerIp.address: 10.99.0.101/16 is outside the networks of controller "stc1": every controller that may run slurmctld needs an address in it',
    );
  });
});

const canRun = process.getuid?.() === 0 && ["slurmctld", "sinfo", "munged", "unshare"].every(have);

describe.skipIf(!canRun)("slurmctld with the rendered SlurmctldAddr", () => {
  it("runs as the second controller alone, takes over and answers on the floating IP", async () => {
    // GIVEN the rendered slurm.conf, its controllers and floating IP moved to 10.250.0.0/24 of a
    // namespace (stc1 absent, as after its failure), paths in a temporary directory
    const dir = tempDir("hpcdk-ctld-");
    for (const d of ["state", "log", "spool", "munge"]) mkdirSync(join(dir, d));
    chmodSync(dir, 0o755);
    const uid = (user: string) => Number(spawnSync("id", ["-u", user], { encoding: "utf8" }).stdout);
    chownSync(join(dir, "state"), uid("slurm"), uid("slurm"));
    chownSync(join(dir, "log"), uid("slurm"), uid("slurm"));
    chownSync(join(dir, "munge"), uid("munge"), uid("munge"));
    chmodSync(join(dir, "munge"), 0o711);
    const rewrites: [RegExp, string][] = [
      [/^SlurmctldHost=stc1\(172\.16\.0\.11\)$/m, "SlurmctldHost=stc1(10.250.0.1)"],
      [/^SlurmctldHost=stc2\(172\.16\.0\.12\)$/m, "SlurmctldHost=stc2(10.250.0.2)"],
      [/^SlurmctldAddr=172\.16\.0\.101$/m, "SlurmctldAddr=10.250.0.101"],
      [/^SlurmctldPort=\d+$/m, "SlurmctldPort=16917"],
      [/^StateSaveLocation=.*$/m, `StateSaveLocation=${dir}/state`],
      [/^SlurmdSpoolDir=.*$/m, `SlurmdSpoolDir=${dir}/spool`],
      [/^SlurmctldPidFile=.*$/m, `SlurmctldPidFile=${dir}/slurmctld.pid`],
      [/^SlurmctldLogFile=.*$/m, `SlurmctldLogFile=${dir}/log/slurmctld.log`],
      [/^AuthType=auth\/munge$/m, `AuthType=auth/munge\nAuthInfo=socket=${dir}/munge/munge.sock`],
      // Accounting, JWT, cgroups and container hooks are the Slurm lab's business (test/slurm/lab.test.ts).
      [/^(AccountingStorage\w*|AuthAlt\w*|JobAcctGather\w*|PrologFlags|Prolog|Epilog|TaskProlog|MpiDefault)=.*$/gm, ""],
      [/^ProctrackType=.*$/m, "ProctrackType=proctrack/linuxproc"],
      [/^TaskPlugin=.*$/m, "TaskPlugin=task/none"],
      // One node of the namespace in every partition: slurmctld resolves every node name at takeover.
      [/^(NodeName|NodeSet|PartitionName)=.*$/gm, ""],
    ];
    let conf = read("hosts/stc1/etc/slurm/slurm.conf");
    for (const [pattern, to] of rewrites) {
      expect(pattern.test(conf), String(pattern)).toBe(true);
      pattern.lastIndex = 0;
      conf = conf.replace(pattern, to);
    }
    conf += ["NodeName=n1 NodeAddr=10.250.0.2 CPUs=1", "PartitionName=batch Nodes=n1 Default=YES", "PartitionName=debug Nodes=n1", "PartitionName=gpu Nodes=n1", ""].join("\n");
    writeFileSync(join(dir, "slurm.conf"), conf);
    writeFileSync(join(dir, "munge.key"), Buffer.alloc(1024, 3), { mode: 0o400 });
    chownSync(join(dir, "munge.key"), uid("munge"), uid("munge"));
    const munged = spawnSync(
      "runuser",
      ["-u", "munge", "--", "munged", `--key-file=${dir}/munge.key`, `--socket=${dir}/munge/munge.sock`, `--pid-file=${dir}/munge/munged.pid`, `--seed-file=${dir}/munge/seed`, `--log-file=${dir}/munge/munged.log`],
      { encoding: "utf8" },
    );
    expect(munged.status, munged.stderr).toBe(0);
    const mungePid = Number(readFileSync(join(dir, "munge", "munged.pid"), "utf8"));
    // WHEN slurmctld starts as stc2 with the floating IP up, as Pacemaker's group starts it
    const script = `set -eu
ip link set lo up
ip addr add 10.250.0.2/32 dev lo
ip addr add 10.250.0.101/32 dev lo
hostname stc2
export SLURM_CONF=${dir}/slurm.conf
slurmctld -D -f ${dir}/slurm.conf > ${dir}/slurmctld.out 2>&1 &
ctld=$!
echo "$ctld" > ${dir}/ctld.pid
t0=$(date +%s)
answered=""
for _ in $(seq 1 240); do
    if timeout 3 sinfo -h -o %P > ${dir}/sinfo.out 2>&1; then answered=$(( $(date +%s) - t0 )); break; fi
    sleep 0.25
done
timeout 5 scontrol ping || true
kill "$ctld"; wait "$ctld" || true
echo "answered after: \${answered:-never}"
`;
    const child = spawn("unshare", ["--net", "--uts", "sh", "-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
      child.on("exit", (c) => (clearTimeout(timer), resolve(c)));
    });
    process.kill(mungePid, "SIGTERM");
    // A script killed on the time limit leaves slurmctld behind: stop it by PID.
    try {
      process.kill(Number(readFileSync(join(dir, "ctld.pid"), "utf8")), "SIGKILL");
    } catch {
      // gone already
    }
    // THEN it takes over (no primary answers) and serves the site's partitions on SlurmctldAddr
    expect(code, output).toBe(0);
    expect(output).toContain("Slurmctld(primary) at stc1 is DOWN");
    expect(output).toMatch(/answered after: \d+/);
    expect(Number(/answered after: (\d+)/.exec(output)![1])).toBeLessThan(60);
    expect(readFileSync(join(dir, "sinfo.out"), "utf8").split("\n").filter(Boolean).sort()).toEqual(["batch*", "debug", "gpu"].sort());
    expect(readFileSync(join(dir, "log", "slurmctld.log"), "utf8")).toContain("BackupController1 stc2 taking over");
  }, 150_000);
});
