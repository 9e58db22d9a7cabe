/**
 * The fleet lab and the fan-out to it: 20 hosts of a Slurm compute group, each a network
 * namespace with its own root and a real sshd, `hpcdk deploy --bundle groups/compute` through
 * Terraform, and a host that is down failing alone, summed up by error. Needs root (namespaces);
 * run under the lab lock. The 200+ host runs are in bench/fleet.bench.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fleetDown, fleetHostPid, fleetMemory, fleetPowerOff, fleetUp, type FleetState } from "../../operations/lab/fleet.js";
import { connect } from "../../operations/remote/connect.js";
import { readInventory, readOverride } from "../../operations/remote/inventory.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, ROOT, tempDir } from "../helpers.js";

const SITE = "fleet";
const HOSTS = 20;
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)(`the fleet lab: ${HOSTS} hosts of a node group, and hpcdk deploy to them`, () => {
  const project = tempDir("hpcdk-fleet-");
  const siteFile = join(project, `${SITE}.yaml`);
  const out = join(project, "cdktf.out");
  let fleet: FleetState;

  const deploy = (): { code: number; stdout: string; stderr: string } => {
    const r = spawnSync(
      process.execPath,
      [join(ROOT, "cli/bin/hpcdk.js"), "deploy", siteFile, "--out", out, "--inventory", fleet.inventoryFile, "--bundle", "groups/compute"],
      { cwd: project, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" }, timeout: 180_000 },
    );
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const onHost = async (host: string, command: string): Promise<string> => {
    const s = await connect(readInventory(join(out, "stacks", SITE), readOverride(fleet.inventoryFile)), host);
    try {
      return await s.run(command);
    } finally {
      s.close();
    }
  };

  beforeAll(async () => {
    await fleetDown(SITE);
    mkdirSync(project, { recursive: true });
    writeFileSync(siteFile, readFileSync(join(FIXTURES, "fleet.yaml"), "utf8").replace("hosts: c[0001-1000]", `hosts: c[0001-${String(HOSTS).padStart(4, "0")}]`));
    fleet = await fleetUp(SITE, loadSiteFile(siteFile).spec, { group: "compute" });
  }, 120_000);

  afterAll(async () => {
    await fleetDown(SITE);
  }, 60_000);

  it("brings up one sshd per host, each host with its own address, name and root", async () => {
    expect(fleet.hosts).toHaveLength(HOSTS);
    expect(fleet.hosts.every((h) => fleetHostPid(h) !== undefined)).toBe(true);
    expect(spawnSync("ip", ["-n", fleet.hosts[2]!.netns, "-4", "-o", "addr", "show", "eth0"], { encoding: "utf8" }).stdout).toContain(" 10.251.0.12/16 ");
    // The memory the fleet costs, per host: a few MiB of sshd.
    const memory = fleetMemory(fleet);
    expect(memory.hosts).toBe(HOSTS);
    expect(memory.perHostKiB).toBeLessThan(8 * 1024);
  });

  it("deploys the group to every host; a second deploy changes nothing", async () => {
    const first = deploy();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain(`| groups/compute | converged | c[0001-${String(HOSTS).padStart(4, "0")}] (${HOSTS}) |`);
    // Each host has its own name and address.
    expect(await onHost("c0003", "hostname; ip -4 -o addr show eth0 | awk '{print $4}'")).toBe("c0003\n10.251.0.12/16\n");
    // Each host got the files in its own root, and its steps asked systemd (the stand-in) for munge and slurmd.
    expect(await onHost("c0011", "grep -c '^NodeName=' /etc/slurm/slurm.conf; stat -c '%U %a' /etc/munge/munge.key")).toBe("1\nmunge 400\n");
    expect(await onHost("c0011", "cat /var/lib/hpcdk-fleet/systemctl.log")).toContain("enable --now slurmd\n");
    expect(await onHost("c0011", "ls -A /var/lib/hpcdk/staging")).toBe("");
    const again = deploy();
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
  }, 240_000);

  it("fails a host that is down alone, and sums the failure up by error", async () => {
    // GIVEN one host powered off and a change for the whole group
    await fleetPowerOff(fleet, fleet.hosts[6]!);
    writeFileSync(siteFile, readFileSync(siteFile, "utf8").replace("memoryMB: 256000", "memoryMB: 250000"));
    // WHEN the group is deployed
    const r = deploy();
    // THEN every other host converged and the summary names c0007 once, with its error
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/\| groups\/compute \| FAILED \| c\[0001-0020\] \(20\) \| 19 \| .* \| 1 host failed: .*: c0007 \|/);
    // apply-bundle's summary by error, passed through from Terraform's output.
    expect(r.stdout).toMatch(/hpcdk: groups\/compute: 1 host failed: .*: c0007\n/);
    expect(await onHost("c0008", "grep -o 'RealMemory=[0-9]*' /etc/slurm/slurm.conf | head -1")).toBe("RealMemory=250000\n");
  }, 240_000);
});
