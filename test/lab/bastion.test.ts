/**
 * Every operation reaches the hosts through a bastion the same way (operations/remote/connect.ts):
 * the namespace lab of the example site, with a jump host in front of it (an SSH server in this
 * test's process that lets in one user with the lab's key and opens the connections it is asked
 * for), and an inventory that names the bastion without a key of its own. `hpcdk deploy`,
 * `hpcdk diff --live` and a power-off `hpcdk drill` all go through it with the hosts' key, as the
 * site schema promises (`deploy.ssh.bastion.privateKey`: "@default the key of the hosts"); the
 * drill used to drop that fallback. Needs root (namespaces); CI runs as root.
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DrillReport } from "../../operations/drill.js";
import { labDown, labUp, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { fakeHost, keyId, type FakeHost } from "../fake-host.js";
import { ROOT, tempDir } from "../helpers.js";

const SITE = "bastion-lab";
const isRoot = process.getuid?.() === 0;

/** The hpcdk command, run without blocking this process: the bastion answers from here. */
function hpcdk(cwd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), ...args], { cwd });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe.skipIf(!isRoot)("deploy, diff --live and drill through a bastion with the hosts' key", () => {
  const project = tempDir("hpcdk-bastion-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  const out = join(project, "cdktf.out");
  const inventory = join(project, "inventory.yaml");
  let lab: LabState;
  let jump: FakeHost;
  let labKey: string;
  /** Every connection the bastion opened went to a node of the lab, on port 22. */
  const expectOnlyLabNodes = () => {
    const nodes = new Set(lab.nodes.map((n) => n.sshAddress));
    for (const f of jump.forwarded) expect(nodes.has(f.host) && f.port === 22, `${f.host}:${f.port}`).toBe(true);
  };

  beforeAll(async () => {
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    // The example lab site, on addresses of its own so it can run beside the other labs.
    writeFileSync(siteFile, readFileSync(join(ROOT, "sites", "minilab.yaml"), "utf8").replaceAll("10.30.0.", "10.38.0."));
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
    labKey = readFileSync(join(lab.dir, "id_ed25519.pub"), "utf8").trim();
    jump = await fakeHost("jumper", labKey);
    // The bastion's host key is checked against the same known_hosts file as the hosts'.
    const knownHosts = join(project, "known_hosts");
    writeFileSync(knownHosts, readFileSync(join(lab.dir, "known_hosts"), "utf8") + jump.knownHostsLine);
    writeFileSync(
      inventory,
      JSON.stringify({
        ssh: { user: "root", privateKey: join(lab.dir, "id_ed25519"), knownHosts, bastion: { address: "127.0.0.1", port: jump.port, user: "jumper" } },
        hosts: Object.fromEntries(lab.nodes.map((n) => [n.name, { address: n.sshAddress, port: 22 }])),
      }),
    );
  }, 60_000);

  afterAll(async () => {
    await jump?.close();
    await labDown(SITE);
  }, 60_000);

  it("deploys the site through the bastion, which the hosts' key opens", async () => {
    const r = await hpcdk(project, ["deploy", siteFile, "--out", out, "--inventory", inventory, "--json"], 280_000);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).ok).toBe(true);
    expect(jump.logins.length).toBeGreaterThanOrEqual(3);
    expect(new Set(jump.logins.map((l) => `${l.user} ${l.key}`))).toEqual(new Set([`jumper ${keyId(labKey)}`]));
    expect(new Set(jump.forwarded.map((f) => f.host))).toEqual(new Set(lab.nodes.map((n) => n.sshAddress)));
    expectOnlyLabNodes();
  }, 300_000);

  it("says what each node's cluster says (hpcdk lab status, over the SSH layer)", async () => {
    const r = await hpcdk(project, ["lab", "status", SITE], 60_000);
    expect(r.code, r.stderr).toBe(0);
    // Each node on, with what crm_mon -1 -s says there (pacemakerd's status, then the summary).
    for (const n of lab.nodes) expect(r.stdout).toMatch(new RegExp(`^${n.name}: on \\(init pid \\d+\\) ${n.sshAddress.replace(/\./g, "\\.")}: .*\\n(.*\\n)*?CLUSTER OK: 3 nodes online`, "m"));
    expect(r.stdout.match(/^CLUSTER OK: 3 nodes online/gm)).toHaveLength(3);
  }, 90_000);

  it("finds no drift through the bastion (diff --live)", async () => {
    const before = jump.forwarded.length;
    const r = await hpcdk(project, ["diff", siteFile, "--live", "--inventory", inventory, "--format", "json"], 120_000);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.live.unreachable).toEqual([]);
    expect(report.live.cib.status).toBe("checked");
    expect(jump.forwarded.length).toBeGreaterThan(before);
    expectOnlyLabNodes();
  }, 180_000);

  it("drills a power-off through the bastion: every connection of the drill goes through it with the hosts' key", async () => {
    const before = jump.forwarded.length;
    const r = await hpcdk(project, ["drill", siteFile, "--mode", "power-off", "--out", out, "--inventory", inventory, "--report-dir", join(project, "reports"), "--json"], 280_000);
    expect(r.stdout.trim().startsWith("{"), r.stderr).toBe(true);
    const report = JSON.parse(r.stdout) as DrillReport;
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    expect(r.code).toBe(0);
    // The watcher (and, after the fault, the node holding the export) were reached through the bastion.
    expect(jump.forwarded.length).toBeGreaterThan(before);
    expect(new Set(jump.logins.map((l) => `${l.user} ${l.key}`))).toEqual(new Set([`jumper ${keyId(labKey)}`]));
    expectOnlyLabNodes();
  }, 300_000);
});
