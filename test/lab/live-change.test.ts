/**
 * Changing a live site (issue 15), in the namespace lab (real sshd, corosync and pacemaker per
 * node): `hpcdk deploy --plan` asks the hosts and prints the waves; an outage-class change (the
 * corosync cluster name) is refused before anything is sent, naming the setting, its impact and
 * the manual steps; the site put back deploys nothing. Then the representative rollout (proof
 * scenario 1): a rolling pacemaker + corosync upgrade of the NFS lab (sites/minilab.yaml: real
 * ZFS agent on the pool stand-in, ganesha, fence_powerman) while the drill's probes read and
 * write through the floating IP; then the corosync token changed live (proof scenario 2, the
 * together wave: a link address cannot change live, corosync refuses to reload it, so the plan
 * asks for an outage). The other scenarios run in `npm run bench -- live-change`.
 * Needs root (namespaces); CI runs as root.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, labUp, type LabState } from "../../operations/lab/lab.js";
import type { RolloutReport } from "../../operations/rollout/execute.js";
import type { RolloutPlan } from "../../operations/rollout/plan.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, onLabNode, ROOT, tempDir } from "../helpers.js";
import { doubleImports } from "../../operations/lab/pool-history.js";
import { buildUpgradeRepo, clusterState, deployWithProbes, nodeFacts, pinned, pointNodesAtRepo, poolEvents, type UpgradeRepo } from "./live-change-lab.js";

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

describe.skipIf(!isRoot)("a rolling pacemaker + corosync upgrade of the NFS lab (proof scenario 1)", () => {
  const SITE = "rollout-lab";
  const NODES = ["m1", "m2", "m3"];
  const project = tempDir("hpcdk-rollout-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  const out = join(project, "cdktf.out");
  // The example lab site on addresses of its own.
  const base = readFileSync(join(ROOT, "sites", "minilab.yaml"), "utf8").replaceAll("10.30.0.", "10.38.0.").replace("name: minilab", "name: rolllab");
  const target = { server: "10.38.0.100", exportPath: "/tank/data" };
  let lab: LabState;
  let repo: UpgradeRepo;
  /** The site as last deployed by a test of this describe (each builds on the one before). */
  let siteNow = base;

  const hpcdk = (args: string[]) => {
    const r = spawnSync(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", siteFile, "--out", out, "--inventory", lab.inventoryFile, ...args], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, CHECKPOINT_DISABLE: "1" },
      timeout: 900_000,
    });
    return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  };
  const planNow = (): RolloutPlan => JSON.parse(hpcdk(["--plan", "--format", "json"]).stdout) as RolloutPlan;

  beforeAll(async () => {
    repo = buildUpgradeRepo();
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    writeFileSync(siteFile, base);
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
    pointNodesAtRepo(lab, repo);
    const first = hpcdk(["--json"]);
    if (first.code !== 0) throw new Error(`the first deploy failed (exit ${first.code}): ${first.stderr.slice(-3000)}`);
  }, 900_000);

  afterAll(async () => {
    await labDown(SITE);
  }, 60_000);

  it("upgrades one node at a time under cluster maintenance: NFS never stops, nothing moves, nobody is fenced", async () => {
    const before = Object.fromEntries(NODES.map((n) => [n, nodeFacts(lab, n)]));
    for (const n of NODES) expect(before[n]).toMatchObject({ pacemaker: repo.installed.pacemaker, corosync: repo.installed.corosync });
    // GIVEN the site pins the repacked pacemaker and corosync
    siteNow = pinned(base, repo);
    writeFileSync(siteFile, siteNow);
    const plan = planNow();
    expect(plan.waves.map((w) => [w.kind, w.strategy, w.hosts])).toEqual(NODES.map((n) => ["rolling", "maintenance", [n]]));
    // WHEN it is deployed with the probes on the floating IP
    const r = await deployWithProbes(lab, { siteFile, out, dir: project }, target);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // THEN each node was stopped, upgraded and started in its own wave, the next only once the
    // cluster had settled, and the nodes themselves say so: their own dpkg databases hold the
    // new versions and their daemons started during the deploy, one node after the other.
    const rollout = r.summary!.rollout as RolloutReport;
    expect(rollout.waves.map((w) => [w.strategy, w.hosts.map((h) => h.host), w.ok])).toEqual(NODES.map((n) => ["maintenance", [n], true]));
    for (const w of rollout.waves) {
      expect(w.hosts[0]!.steps.map((s) => s.what.replace(/: .*/, ""))).toEqual([
        "cluster maintenance-mode on",
        "pacemaker and corosync stopped",
        "applied",
        "corosync and pacemaker started",
        "online, resources re-probed running",
        "cluster maintenance-mode off",
        "cluster settled",
      ]);
      expect(w.hosts[0]!.apply!.packages.sort()).toEqual([`corosync=${repo.versions.corosync}`, `pacemaker=${repo.versions.pacemaker}`]);
    }
    const after = NODES.map((n) => nodeFacts(lab, n));
    for (const f of after) {
      expect(f).toMatchObject({ pacemaker: repo.versions.pacemaker, corosync: repo.versions.corosync });
      expect(f.corosyncStart).toBeGreaterThanOrEqual(Math.floor(r.startedSec));
      expect(f.pacemakerdStart).toBeGreaterThanOrEqual(f.corosyncStart);
    }
    for (let i = 1; i < after.length; i++) expect(after[i]!.corosyncStart).toBeGreaterThan(after[i - 1]!.pacemakerdStart);
    // Only the rollout started them: one pacemakerd per node (the packages' own scripts were held
    // back), and hpcdk's hold is gone (a policy-rc.d the image had, as this machine's, stays).
    for (const n of NODES) expect(onLabNode(lab, n, "pidof pacemakerd | wc -w; grep -qs 'hpcdk: hold restarts' /usr/sbin/policy-rc.d || echo no-hold").trim().split("\n")).toEqual(["1", "no-hold"]);
    // NFS never stopped: no failed read or write, the file written before reads back the same.
    for (const p of ["nfs3", "nfs4"] as const) {
      expect(r.nfs[p].samples.reads, p).toBeGreaterThan(20);
      expect([r.nfs[p].readOutageSec, r.nfs[p].writeOutageSec], p).toEqual([0, 0]);
    }
    expect(r.seedIntact).toBe(true);
    // The pool never moved (no import or export during the deploy), never on two nodes; nobody fenced.
    expect(r.poolEventsDuring).toEqual([]);
    expect(r.doubleImports).toEqual([]);
    expect(r.fenced).toEqual([]);
    const state = clusterState(lab, "m2");
    expect(state.online.sort()).toEqual(NODES);
    expect(state.failures).toBe(0);
    // Maintenance ended, and hpcdk's note of it is gone.
    expect(onLabNode(lab, "m2", "crm_attribute --type crm_config --name maintenance-mode --query --quiet || echo unset").trim()).toBe("unset");
    expect(onLabNode(lab, "m2", "cibadmin --query --scope crm_config")).not.toContain("hpcdk-rollout-maintenance");
  }, 1_200_000);

  it("changes the corosync token live: the file everywhere with the reload held, one corosync-cfgtool -R, every node checked (proof scenario 2)", async () => {
    // A link address cannot change live: corosync 3.1 refuses to reload it (CS_ERR_INVALID_PARAM,
    // found in this lab), so the plan asks for an outage and names what to do instead.
    writeFileSync(siteFile, siteNow.replace("addresses: [10.38.0.13/24]", "addresses: [10.38.0.23/24]"));
    const refused = planNow();
    expect(refused.outages.map((o) => o.setting)).toEqual(["nodelist.node[m3].ring_addr"]);
    expect(refused.outages[0]!.impact).toMatch(/^corosync cannot reload a changed link address/);
    // GIVEN a totem setting every node must share: the token, 1000 -> 1500 ms
    const startsBefore = Object.fromEntries(NODES.map((n) => [n, nodeFacts(lab, n).corosyncStart]));
    siteNow = siteNow.replace("tokenMs: 1000", "tokenMs: 1500");
    expect(siteNow).toContain("tokenMs: 1500");
    writeFileSync(siteFile, siteNow);
    const plan = planNow();
    expect(plan.waves.map((w) => [w.kind, w.hosts])).toEqual([["together", NODES]]);
    expect(plan.waves[0]!.reasons).toEqual(["totem.token: 1000 -> 1500"]);
    expect(plan.waves[0]!.corosync).toEqual({ totem: { token: "1500" } });
    // WHEN it is deployed with the probes on the floating IP
    const r = await deployWithProbes(lab, { siteFile, out, dir: project }, target);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    expect(r.stderr).not.toContain("does not stage");
    // THEN one together wave: every node applied with the reload held, one reload, every node
    // checked to run the new token with its links connected, then the reload released
    const rollout = r.summary!.rollout as RolloutReport;
    expect(rollout.waves.map((w) => [w.kind, w.hosts.map((h) => h.host), w.ok])).toEqual([["together", NODES, true]]);
    const w = rollout.waves[0]!;
    const reloadAt = w.hosts[0]!.steps.find((s) => s.what.startsWith("corosync-cfgtool -R"))!.atMs;
    console.log(
      `together wave (token): ${(w.ms / 1000).toFixed(1)} s, reload at ${(reloadAt / 1000).toFixed(1)} s, settled at ${((w.settledMs ?? 0) / 1000).toFixed(1)} s; deploy ${(r.wallMs / 1000).toFixed(1)} s; ` +
        `NFS samples nfs3 ${r.nfs.nfs3.samples.reads} reads, nfs4 ${r.nfs.nfs4.samples.reads} reads, longest interruption ${Math.max(r.nfs.nfs3.readOutageSec, r.nfs.nfs3.writeOutageSec, r.nfs.nfs4.readOutageSec, r.nfs.nfs4.writeOutageSec)} s`,
    );
    for (const h of w.hosts) {
      expect(h.steps.map((s) => s.what.replace(/: .*/, "")), h.host).toEqual([
        "applied",
        "corosync-cfgtool -R (from m1)",
        "corosync runs the new values (totem.token=1500, node list and links)",
        "held reload released",
        "cluster settled",
      ]);
      expect(h.apply!.handlers).toEqual([]);
    }
    // No corosync restarted; every node runs the new token (a reload, not a restart, took it)
    const after = Object.fromEntries(NODES.map((n) => [n, nodeFacts(lab, n).corosyncStart]));
    // (start times are whole seconds computed from the elapsed time: equal within one second)
    for (const n of NODES) {
      expect(Math.abs(after[n]! - startsBefore[n]!), n).toBeLessThanOrEqual(1);
      expect(onLabNode(lab, n, "corosync-cmapctl -g totem.token").trim(), n).toBe("totem.token (u32) = 1500");
      expect(onLabNode(lab, n, "test -e /var/lib/hpcdk/corosync/running-corosync.conf && echo left || echo gone").trim(), n).toBe("gone");
    }
    // NFS never stopped, nothing moved, nobody fenced, no failed actions
    for (const p of ["nfs3", "nfs4"] as const) expect([r.nfs[p].readOutageSec, r.nfs[p].writeOutageSec], p).toEqual([0, 0]);
    expect(r.seedIntact).toBe(true);
    expect(r.poolEventsDuring).toEqual([]);
    expect(r.doubleImports).toEqual([]);
    expect(r.fenced).toEqual([]);
    const state = clusterState(lab, "m1");
    expect(state.online.sort()).toEqual(NODES);
    expect(state.failures).toBe(0);
    // and every node's marker says it holds the bundle: a second deploy changes nothing
    expect(planNow().upToDate).toBe(true);
    const again = hpcdk(["--json"]);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { rollout?: unknown }).rollout).toBeUndefined();
  }, 900_000);

  it("applies a new cluster name with --allow-outage: every node stopped, applied and started together (proof scenario 5)", () => {
    // GIVEN an outage-class change (refused without --allow-outage: the first describe shows it)
    writeFileSync(siteFile, siteNow.replace("name: rolllab", "name: rolllab2"));
    expect(hpcdk([]).code).toBe(4);
    // WHEN it is allowed
    const r = hpcdk(["--allow-outage", "--json"]);
    expect(r.code, r.stderr.slice(-3000)).toBe(0);
    // THEN one outage wave stopped every node's cluster stack, applied, and started them again
    const summary = JSON.parse(r.stdout) as { rollout: RolloutReport };
    expect(summary.rollout.waves.map((w) => [w.kind, w.hosts.map((h) => h.host), w.ok])).toEqual([["outage", NODES, true]]);
    for (const h of summary.rollout.waves[0]!.hosts) {
      expect(h.steps.map((s) => s.what.replace(/: .*/, ""))).toEqual(["pacemaker and corosync stopped", "applied", "corosync started", "pacemaker started", "cluster settled"]);
    }
    // corosync runs with the new name on every node (a reload would not have taken it), all online,
    // no failed actions, the group running; no pool ever on two nodes.
    for (const n of NODES) expect(onLabNode(lab, n, "corosync-cmapctl -g totem.cluster_name").trim()).toBe("totem.cluster_name (str) = rolllab2");
    const state = clusterState(lab, "m2");
    expect(state.online.sort()).toEqual(NODES);
    expect(state.failures).toBe(0);
    expect(doubleImports(poolEvents(lab))).toEqual([]);
  }, 600_000);

  it("changes nothing on a second deploy", () => {
    expect(planNow().upToDate).toBe(true);
    const r = hpcdk(["--json"]);
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as { terraform: string; rollout?: unknown };
    expect(summary.rollout).toBeUndefined();
    expect(summary.terraform).toBe("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
  }, 300_000);
});
