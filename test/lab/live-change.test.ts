/**
 * Changing a live site (issue 15), in the namespace lab (real sshd, corosync and pacemaker per
 * node): `hpcdk deploy --plan` asks the hosts and prints the waves; an outage-class change (the
 * corosync cluster name) is refused before anything is sent, naming the setting, its impact and
 * the manual steps; the site put back deploys nothing. Needs root (namespaces); CI runs as root.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, labUp, type LabState } from "../../operations/lab/lab.js";
import type { RolloutPlan } from "../../operations/rollout/plan.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, onLabNode, ROOT, tempDir } from "../helpers.js";

const SITE = "deploy-lab";
const NODES = ["dl1", "dl2", "dl3"];
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("changing a live site in the namespace lab", () => {
  const project = tempDir("hpcdk-livechange-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  const out = join(project, "cdktf.out");
  const base = readFileSync(join(FIXTURES, `${SITE}.yaml`), "utf8");
  let lab: LabState;

  const hpcdk = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", siteFile, "--out", out, "--inventory", lab.inventoryFile, ...args], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, CHECKPOINT_DISABLE: "1" },
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const plan = (): RolloutPlan => {
    const r = hpcdk(["--plan", "--format", "json"]);
    if (r.code !== 0) throw new Error(`hpcdk deploy --plan exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout) as RolloutPlan;
  };
  const onHost = (host: string, command: string) => onLabNode(lab, host, command);
  /** What each node holds: corosync.conf's sha256 and the applied marker of its bundle. */
  const held = () => NODES.map((n) => onHost(n, `sha256sum /etc/corosync/corosync.conf; cat /var/lib/hpcdk/state/host-${n}/applied 2>/dev/null || true`));

  beforeAll(async () => {
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    writeFileSync(siteFile, base);
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
  }, 60_000);

  afterAll(async () => {
    await labDown(SITE);
  }, 60_000);

  it("plans a first deploy for hosts that hold nothing of the site, then deploys", () => {
    const first = plan();
    expect(first.outages).toEqual([]);
    expect(first.waves.map((w) => [w.kind, w.hosts])).toEqual([
      ["first", NODES],
      ["cib", ["dl1"]],
    ]);
    const r = hpcdk(["--json"]);
    expect(r.code, r.stderr).toBe(0);
    expect(plan().upToDate).toBe(true);
  }, 300_000);

  it("plans a token change as one cluster-wide wave: the file everywhere, then one corosync-cfgtool -R", () => {
    writeFileSync(siteFile, base.replace("tokenMs: 1000", "tokenMs: 2000"));
    const p = plan();
    expect(p.outages).toEqual([]);
    expect(p.waves.map((w) => [w.kind, w.hosts])).toEqual([["together", NODES]]);
    expect(p.waves[0]!.reasons).toEqual(["totem.token: 1000 -> 2000"]);
    expect(p.waves[0]!.nfs).toBe("none");
  }, 120_000);

  it("refuses a new cluster name before anything is sent, naming the setting, its impact and the manual steps", () => {
    writeFileSync(siteFile, base.replace("name: deploylab", "name: deploylab2"));
    const before = held();
    const state = statSync(join(project, `terraform.${SITE}.tfstate`)).mtimeMs;
    const r = hpcdk([]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain("deploy-lab: refused: this change needs an outage; nothing was sent to any host");
    expect(r.stderr).toContain('totem.cluster_name (site setting cluster.name): "deploylab" -> "deploylab2"');
    expect(r.stderr).toContain("impact: outage: nodes with different values cannot talk");
    expect(r.stderr).toContain("3. stop pacemaker, then corosync, on every management node");
    // Nothing sent: the hosts hold what they held, and Terraform never ran.
    expect(held()).toEqual(before);
    expect(statSync(join(project, `terraform.${SITE}.tfstate`)).mtimeMs).toBe(state);
    expect(onHost("dl2", "crm_mon -1")).toMatch(/Online: \[ dl1 dl2 dl3 \]/);
  }, 120_000);

  it("changes nothing when the site is put back: the plan is empty and Terraform applies nothing", () => {
    writeFileSync(siteFile, base);
    expect(plan().upToDate).toBe(true);
    const r = hpcdk(["--json"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { terraform: string };
    expect(summary.terraform).toBe("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
  }, 180_000);
});
