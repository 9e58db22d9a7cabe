/**
 * The Slurm wave (issue 15, operations/rollout/slurm.ts): what a slurm.conf change needs, in what
 * order, from the rendered files of a real site (fixtures/slurm.yaml and variants of it), and the
 * runner stopping at the first failed step. The Slurm lab (test/slurm/rollout-lab.test.ts) runs
 * the steps against real daemons.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { planText } from "../../operations/rollout/format.js";
import { planRollout, type HostDelta, type RolloutInput } from "../../operations/rollout/plan.js";
import { classifySlurmConf, parseSlurmConf, planSlurm, runSlurmSteps, slurmConfVersion, slurmSteps, slurmTopologyOf, type SlurmStep } from "../../operations/rollout/slurm.js";
import { diffSites } from "../../operations/diff/index.js";
import { parseSite } from "../../schema/load.js";
import { synthesizeSite } from "../../stacks/synth.js";
import { readTree, synthTo } from "../helpers.js";

const source = readFileSync(join(import.meta.dirname, "..", "slurm", "fixtures", "slurm.yaml"), "utf8");
/** slurm.conf of the fixture after an edit of its site file. */
function rendered(edit: (yaml: string) => string = (y) => y): string {
  const site = parseSite(edit(source), "sites/slurm.yaml");
  const { out } = synthTo([site]);
  return readTree(join(out, "stacks", "slurm")).get("hosts/n1/etc/slurm/slurm.conf")!.toString();
}
const base = rendered();
const topology = slurmTopologyOf(parseSite(source, "sites/slurm.yaml").spec)!;
const current = (host: string, bundle: string): HostDelta => ({ host, bundle, state: "current", files: [], packages: [] });
const ids = (steps: readonly SlurmStep[]) => steps.map((s) => `${s.phase === "before-files" ? "before:" : ""}${s.id}${s.hostlist ? ` ${s.hostlist}` : ` ${s.hosts.join(",")}`}`);

describe("what a slurm.conf change needs (Slurm 22.05)", () => {
  it("reads the site's Slurm hosts: controllers primary first, slurmdbd, the slurmd groups", () => {
    expect(topology).toEqual({
      controllers: ["n1", "n2"],
      pacemaker: false,
      dbd: { host: "n2", database: "slurm_acct_db" },
      slurmdGroups: [
        { bundle: "groups/cpu", hosts: "cn[01-16]" },
        { bundle: "groups/gpu", hosts: "gn[1-2]" },
      ],
      configless: false,
    });
    expect(slurmConfVersion(base)).toBe("22.05");
    expect(parseSlurmConf(base).get("slurmctldhost")).toEqual(["n1(192.168.10.1)", "n2(192.168.10.2)"]);
  });

  it("needs nothing for the same file", () => {
    expect(classifySlurmConf(base, base)).toEqual({ change: "none", reasons: [] });
  });

  it("reconfigures for a partition's MaxTime: one scontrol reconfigure on the primary, after the files", () => {
    const next = rendered((y) => y.replace("    - name: gpu\n      nodeGroups: [gpu]", "    - name: gpu\n      nodeGroups: [gpu]\n      maxTime: \"2-00:00:00\""));
    expect(classifySlurmConf(base, next)).toEqual({ change: "reconfigure", reasons: ["changed, scontrol reconfigure rereads: partitionname"] });
    expect(ids(slurmSteps(topology, "reconfigure"))).toEqual(["reconfigure n1", "record n1,n2"]);
  });

  it("restarts slurmctld, then every slurmd, when nodes are added (22.05 adds nodes only at a restart)", () => {
    const next = rendered((y) => y.replace("hosts: cn[01-16]", "hosts: cn[01-18]"));
    const { change, reasons } = classifySlurmConf(base, next);
    expect(change).toBe("restart");
    expect(reasons).toEqual(["nodes added: cn[17-18] (22.05 adds nodes only at a restart)"]);
    const steps = slurmSteps(topology, change);
    expect(ids(steps)).toEqual(["restart-slurmctld n1,n2", "restart-slurmd cn[01-16]", "restart-slurmd gn[1-2]", "record n1,n2"]);
    expect(steps[0]!.serial).toBe(true);
    expect(steps[0]!.command).toMatch(/^systemctl restart slurmctld && i=0; until scontrol ping/);
  });

  it("restarts for removed nodes and a port, naming each", () => {
    const next = rendered((y) => y.replace("hosts: cn[01-16]", "hosts: cn[01-08]").replace("  network: 192.168.10.0/24", "  network: 192.168.10.0/24\n  ports: { slurmd: 7818 }"));
    expect(classifySlurmConf(base, next)).toEqual({
      change: "restart",
      reasons: ["nodes removed: cn[09-16] (22.05 removes nodes only at a restart)", "changed, needs slurmctld and every slurmd restarted: slurmdport"],
    });
  });

  it("upgrades in order: the database dumped before anything lands, then slurmdbd, slurmctld, the slurmds", () => {
    const next = rendered((y) => y.replace("  controllers: [n1, n2]", '  version: "23.02"\n  controllers: [n1, n2]'));
    const { change, reasons } = classifySlurmConf(base, next);
    expect(change).toBe("upgrade");
    expect(reasons[0]).toBe("Slurm 22.05 -> 23.02: slurmdbd, then slurmctld, then the slurmds");
    const steps = slurmSteps(topology, change, { runningRelease: "22.05" });
    expect(ids(steps)).toEqual(["before:dump-database n2", "restart-slurmdbd n2", "restart-slurmctld n1,n2", "restart-slurmd cn[01-16]", "restart-slurmd gn[1-2]", "record n1,n2"]);
    expect(steps[0]!.command).toContain("mysqldump --single-transaction --routines --databases 'slurm_acct_db' > \"$f.part\"");
    expect(steps[0]!.command).toContain("/var/lib/hpcdk/slurm/dumps/slurm_acct_db-before-22.05-upgrade'-$(date -u +%Y%m%dT%H%M%SZ).sql");
  });

  it("writes every command as POSIX shell that shellcheck accepts", () => {
    const all = [...slurmSteps(topology, "upgrade", { runningRelease: "22.05" }), ...slurmSteps({ ...topology, pacemaker: true }, "restart"), ...slurmSteps(topology, "reconfigure")];
    for (const s of all) {
      const r = spawnSync("shellcheck", ["-s", "sh", "-"], { input: `${s.command}\n`, encoding: "utf8" });
      expect(r.stdout, s.id).toBe("");
    }
  });

  it("restarts a Pacemaker-run slurmctld through crm_resource, once", () => {
    const steps = slurmSteps({ ...topology, pacemaker: true }, "restart");
    expect(steps[0]).toMatchObject({ id: "restart-slurmctld", hosts: ["n1"] });
    expect(steps[0]!.command).toMatch(/^crm_resource --resource slurmctld --restart && /);
  });
});

describe("the Slurm wave in the rollout plan", () => {
  const hosts: HostDelta[] = [current("n1", "hosts/n1"), current("n2", "hosts/n2"), { host: "cn01", bundle: "groups/cpu", state: "changed", files: [{ path: "/etc/slurm/slurm.conf", change: "changed", impact: { kind: "reload", detail: "" } }], packages: [] }];
  const input = (running: string | null, synthesized: string, h: HostDelta[] = hosts): RolloutInput => ({
    site: "slurm",
    managementNodes: ["n1", "n2"],
    hosts: h,
    corosync: { old: null, new: null },
    cib: "current",
    slurm: { topology, running, synthesized },
  });

  it("comes last, after the node groups' files, and the plan prints it", () => {
    const next = rendered((y) => y.replace("hosts: cn[01-16]", "hosts: cn[01-18]"));
    const plan = planRollout(input(base, next));
    expect(plan.waves.map((w) => w.kind)).toEqual(["group", "slurm"]);
    expect(plan.waves[0]!.actions).toContain("no Slurm daemon rereads or restarts here: the Slurm wave does, once every host has its files");
    const text = planText(plan);
    expect(text).toContain("wave 2: Slurm, once every host has its files: n1, n2, cn[01-16], gn[1-2]\n");
    expect(text).toContain("  - restart slurmctld on n1, n2, the primary first, each answering before the next\n");
    expect(text).toContain("  because nodes added: cn[17-18] (22.05 adds nodes only at a restart)\n");
  });

  it("has no Slurm wave when the daemons run the synthesized file", () => {
    expect(planRollout(input(base, base, [current("n1", "hosts/n1")])).waves).toEqual([]);
  });

  it("starts slurmd on a group deployed for the first time after the controllers, and records the file", () => {
    const fresh: HostDelta = { host: "gn1", bundle: "groups/gpu", state: "new", files: [], packages: [] };
    expect(ids(planSlurm({ topology, running: null, synthesized: base }, [fresh]).steps)).toEqual(["restart-slurmd gn[1-2]", "record n1,n2"]);
  });

  it("restarts the slurmd of a group whose cgroup.conf changed, after the reconfigure", () => {
    const cg: HostDelta = { host: "cn01", bundle: "groups/cpu", state: "changed", files: [{ path: "/etc/slurm/cgroup.conf", change: "changed", impact: { kind: "restart", detail: "" } }], packages: [] };
    expect(ids(planSlurm({ topology, running: base, synthesized: base }, [cg]).steps)).toEqual(["restart-slurmd cn[01-16]", "record n1,n2"]);
  });
});

describe("running the wave", () => {
  it("runs the steps of one phase in order and stops at the first failed step (no slurmd restart before its slurmctld)", async () => {
    const steps = slurmSteps(topology, "upgrade", { runningRelease: "22.05" });
    const ran: string[] = [];
    const r = await runSlurmSteps(steps, "after-files", async (step, host) => {
      ran.push(`${step.id}@${host}`);
      return step.id === "restart-slurmctld" && host === "n1" ? { host, ok: false, error: "exited 1: slurmctld did not answer" } : { host, ok: true };
    }, { concurrency: 4 });
    expect(ran).toEqual(["restart-slurmdbd@n2", "restart-slurmctld@n1"]);
    expect(r.ok).toBe(false);
    expect(r.failed).toBe("restart-slurmctld failed on n1: exited 1: slurmctld did not answer; the Slurm steps after it were not run");
  });

  it("restarts a group's slurmd on every host, up to the concurrency at once", async () => {
    const steps = slurmSteps(topology, "restart");
    let running = 0;
    let most = 0;
    const hosts: string[] = [];
    const r = await runSlurmSteps(steps, "after-files", async (step, host) => {
      if (step.id === "restart-slurmd") {
        running++;
        most = Math.max(most, running);
        await new Promise((res) => setTimeout(res, 5));
        running--;
        hosts.push(host);
      }
      return { host, ok: true };
    }, { concurrency: 3 });
    expect(r.ok).toBe(true);
    expect(hosts.sort()).toEqual([...Array.from({ length: 16 }, (_, i) => `cn${String(i + 1).padStart(2, "0")}`), "gn1", "gn2"]);
    expect(most).toBe(3);
  });
});

describe("the Slurm wave in hpcdk diff's rollout section", () => {
  it("plans slurmctld then the slurmds restarted for added nodes, read from the two syntheses' manifests", async () => {
    const next = parseSite(source.replace("hosts: cn[01-16]", "hosts: cn[01-18]"), "sites/slurm.yaml");
    const report = await diffSites(parseSite(source, "sites/slurm.yaml"), next, { secrets: "/nonexistent/secrets", synthesize: synthesizeSite, log: () => {} });
    const wave = report.rollout!.waves.find((w) => w.kind === "slurm")!;
    expect(ids(wave.slurmSteps!)).toEqual(["restart-slurmctld n1,n2", "restart-slurmd cn[01-18]", "restart-slurmd gn[1-2]", "record n1,n2"]);
    expect(wave.reasons).toEqual(["nodes added: cn[17-18] (22.05 adds nodes only at a restart)"]);
  });
});
