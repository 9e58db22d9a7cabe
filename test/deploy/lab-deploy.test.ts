/**
 * Deploying for real: a three-node namespace lab (real sshd, corosync and pacemaker per node),
 * `hpcdk deploy` with Terraform (terraform_data, no provider), and every promise of a deploy
 * checked on the hosts: files with their bytes, owners and modes; a second deploy that changes
 * nothing; a change that reaches only its host and only its file's handler; interrupted deploys
 * that converge; hosts that fail alone; a hand-edited CIB that is not overwritten; no secret in
 * the tree, the Terraform JSON, state or logs. Needs root (namespaces); CI runs as root.
 */
import { spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Bundle, GeneratedFile, type BundleManifest } from "../../constructs/core/index.js";
import { applyBundle } from "../../operations/deploy/index.js";
import { connect } from "../../operations/remote/connect.js";
import { readInventory, readOverride } from "../../operations/remote/inventory.js";
import { labDown, labUp, processAlive, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, onLabNode, ROOT, tempDir, writeStackFiles } from "../helpers.js";

const SITE = "deploy-lab";
const isRoot = process.getuid?.() === 0;

interface DeploySummary {
  ok: boolean;
  terraform: string;
  bundles: { bundle: string; status: string; hosts: { host: string; ok: boolean; changed: string[]; handlers: string[]; error?: string }[] }[];
}

describe.skipIf(!isRoot)("hpcdk deploy to a namespace lab", () => {
  const project = tempDir("hpcdk-deploy-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  const out = join(project, "cdktf.out");
  const stack = join(out, "stacks", SITE);
  const logs: string[] = [];
  let lab: LabState;
  const base = readFileSync(join(FIXTURES, `${SITE}.yaml`), "utf8");

  const setSite = (text: string) => writeFileSync(siteFile, text);
  const deploy = (extra: string[] = [], inventory = lab.inventoryFile): { code: number; summary: DeploySummary } => {
    const r = spawnSync(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", siteFile, "--out", out, "--inventory", inventory, "--json", ...extra], {
      cwd: project,
      encoding: "utf8",
      env: { ...process.env, CHECKPOINT_DISABLE: "1" },
    });
    logs.push(r.stdout, r.stderr);
    if (!r.stdout.trim().startsWith("{")) throw new Error(`hpcdk deploy printed no summary (exit ${r.status}): ${r.stderr}`);
    return { code: r.status ?? -1, summary: JSON.parse(r.stdout) as DeploySummary };
  };
  const onHost = (host: string, command: string): string => onLabNode(lab, host, command);
  const bundle = (s: DeploySummary, name: string) => s.bundles.find((b) => b.bundle === name)!;
  const sha = (host: string, path: string) => onHost(host, `sha256sum ${path}`).split(" ")[0];

  beforeAll(async () => {
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    setSite(base);
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
  }, 60_000);

  afterAll(async () => {
    const pids = lab?.nodes.map((n) => Number(readFileSync(join(n.dir, "unshare.pid"), "utf8")));
    await labDown(SITE);
    // Nothing left behind: no namespace, no link, no process, no lab directory.
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-deployla");
    expect(spawnSync("ip", ["link", "show", lab.rootVeth.name]).status).not.toBe(0);
    for (const pid of pids ?? []) expect(processAlive(pid)).toBe(false);
    expect(existsSync(lab.dir)).toBe(false);
  }, 60_000);

  it("converges every host on the first deploy: files, owners, modes, secrets, a running cluster with the CIB", () => {
    const { code, summary } = deploy();
    expect(summary.bundles.map((b) => [b.bundle, b.status])).toEqual([
      ["hosts/dl1", "converged"],
      ["hosts/dl2", "converged"],
      ["hosts/dl3", "converged"],
      ["cluster", "converged"],
    ]);
    expect(code).toBe(0);
    for (const host of ["dl1", "dl2", "dl3"]) {
      const manifest = JSON.parse(readFileSync(join(stack, "manifests/hosts", `${host}.json`), "utf8")) as BundleManifest;
      for (const f of manifest.files) {
        expect(sha(host, f.path), `${host}:${f.path}`).toBe(f.sha256);
        expect(onHost(host, `stat -c '%U:%G:%a' ${f.path}`).trim()).toBe(`${f.owner}:${f.group}:${parseInt(f.mode, 8).toString(8)}`);
      }
      expect(onHost(host, "stat -c '%U:%G:%a' /etc/corosync/authkey").trim()).toBe("root:root:400");
      expect(onHost(host, "base64 -w0 /etc/corosync/authkey")).toBe(readFileSync(join(project, "secrets", SITE, "corosync-authkey")).toString("base64"));
      expect(onHost(host, "ls /var/lib/hpcdk/staging").trim()).toBe("");
    }
    const cib = onHost("dl1", "cibadmin --query");
    expect(cib).toContain('id="zfs-tank"');
    expect(cib).toContain('name="maintenance-mode" value="true"');
    expect(onHost("dl2", "crm_mon -1")).toMatch(/Online: \[ dl1 dl2 dl3 \]/);
  }, 240_000);

  it("changes nothing and runs no handler on a second deploy", () => {
    const { code, summary } = deploy();
    expect(code).toBe(0);
    expect(summary.terraform).toBe("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
    expect(summary.bundles.every((b) => b.status === "unchanged")).toBe(true);
  }, 120_000);

  it("re-runs only the host whose file changed", () => {
    setSite(base.replace("{ name: dl2, id: 2, addresses: [10.77.0.12/24] }", "{ name: dl2, id: 2, addresses: [10.77.0.12/24], hostid: 0x0a0b0c0d }"));
    const { code, summary } = deploy();
    expect(code).toBe(0);
    expect(summary.bundles.map((b) => [b.bundle, b.status])).toEqual([
      ["hosts/dl1", "unchanged"],
      ["hosts/dl2", "converged"],
      ["hosts/dl3", "unchanged"],
      ["cluster", "unchanged"],
    ]);
    expect(bundle(summary, "hosts/dl2").hosts[0]).toMatchObject({ changed: ["/etc/hostid"], handlers: [] });
    expect(onHost("dl2", "od -An -tx4 /etc/hostid").trim()).toBe("0a0b0c0d");
  }, 120_000);

  it("runs only the handler of the file that changed", () => {
    setSite(base.replace("tokenMs: 1000", "tokenMs: 1200"));
    const { code, summary } = deploy();
    expect(code).toBe(0);
    for (const host of ["dl1", "dl2", "dl3"]) {
      // The hostid of dl2 goes back to its default: two files there, one handler everywhere.
      const h = bundle(summary, `hosts/${host}`).hosts[0]!;
      expect(h.changed).toEqual(host === "dl2" ? ["/etc/corosync/corosync.conf", "/etc/hostid"] : ["/etc/corosync/corosync.conf"]);
      expect(h.handlers).toEqual(["if corosync-cfgtool -s >/dev/null 2>&1; then corosync-cfgtool -R; fi"]);
      expect(onHost(host, "corosync-cmapctl -g totem.token").trim()).toBe("totem.token (u32) = 1200");
    }
  }, 120_000);

  it("converges after deploys killed at any moment, with no half-written file on a host", async () => {
    const before = sha("dl1", "/etc/corosync/corosync.conf");
    let token = 1300;
    for (const killAfterMs of [400, 900, 1600]) {
      setSite(base.replace("tokenMs: 1000", `tokenMs: ${token}`));
      const child = spawn(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", siteFile, "--out", out, "--inventory", lab.inventoryFile, "--json"], {
        cwd: project,
        detached: true,
        stdio: "ignore",
      });
      await new Promise((r) => setTimeout(r, 500 + killAfterMs));
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* it finished first */
      }
      await new Promise((r) => setTimeout(r, 300));
      // Every host has the old or the new file, never a piece of one.
      for (const host of ["dl1", "dl2", "dl3"]) {
        const text = onHost(host, "cat /etc/corosync/corosync.conf");
        expect(text).toMatch(/token: \d+\n[\s\S]*logging \{[\s\S]*\}\n$/);
      }
      const { code, summary } = deploy();
      expect(code, JSON.stringify(summary)).toBe(0);
      for (const host of ["dl1", "dl2", "dl3"]) {
        expect(onHost(host, "grep token: /etc/corosync/corosync.conf").trim()).toBe(`token: ${token}`);
        expect(onHost(host, "corosync-cmapctl -g totem.token").trim()).toBe(`totem.token (u32) = ${token}`);
        expect(onHost(host, "cat /var/lib/hpcdk/state/host-" + host + "/pending-handlers")).toBe("");
      }
      token += 100;
    }
    expect(sha("dl1", "/etc/corosync/corosync.conf")).not.toBe(before);
  }, 300_000);

  it("fails only the unreachable host, lists it, and leaves the CIB step for later", () => {
    setSite(base.replace("tokenMs: 1000", "tokenMs: 1700"));
    const broken = join(project, "unreachable.yaml");
    const inventory = JSON.parse(readFileSync(lab.inventoryFile, "utf8").replace(/^#.*\n/, ""));
    inventory.hosts.dl3.address = "10.77.0.99";
    inventory.ssh.connectTimeoutSec = 2;
    writeFileSync(broken, JSON.stringify(inventory));
    const { code, summary } = deploy([], broken);
    expect(code).toBe(3);
    expect(bundle(summary, "hosts/dl1").status).toBe("converged");
    expect(bundle(summary, "hosts/dl2").status).toBe("converged");
    expect(bundle(summary, "hosts/dl3").status).toBe("FAILED");
    expect(bundle(summary, "hosts/dl3").hosts[0]!.error).toMatch(/^(no SSH answer from 10\.77\.0\.99:22 within 2 s|cannot connect to 10\.77\.0\.99:22: .*)$/);
    expect(bundle(summary, "cluster").status).toBe("not run");
    // The host keeps its previous files.
    expect(onHost("dl3", "grep token: /etc/corosync/corosync.conf").trim()).toBe("token: 1500");
    const again = deploy();
    expect(again.code).toBe(0);
    expect(onHost("dl3", "grep token: /etc/corosync/corosync.conf").trim()).toBe("token: 1700");
  }, 180_000);

  it("fails only the host whose disk is full, naming the file, and keeps its previous files", () => {
    // GIVEN dl3's /etc/corosync on a full 64 KiB tmpfs (in dl3's own mount namespace) holding
    // copies of its files, and a change to corosync.conf on every host
    onHost(
      "dl3",
      "mkdir -p /run/hpcdk-test-keep && cp -a /etc/corosync/. /run/hpcdk-test-keep/ && mount -t tmpfs -o size=64k hpcdk-test-full /etc/corosync && " +
        "cp -a /run/hpcdk-test-keep/. /etc/corosync/ && { dd if=/dev/zero of=/etc/corosync/filler bs=4k 2>/dev/null; true; }",
    );
    try {
      const before = sha("dl3", "/etc/corosync/corosync.conf");
      setSite(base.replace("tokenMs: 1000", "tokenMs: 1750"));
      // WHEN hpcdk deploys
      const { code, summary } = deploy();
      // THEN dl3 alone fails, with the file it could not write; the others converge; the CIB step waits
      expect(code).toBe(3);
      expect(summary.bundles.map((b) => [b.bundle, b.status])).toEqual([
        ["hosts/dl1", "converged"],
        ["hosts/dl2", "converged"],
        ["hosts/dl3", "FAILED"],
        ["cluster", "not run"],
      ]);
      for (const host of ["dl1", "dl2"]) {
        expect(bundle(summary, `hosts/${host}`).hosts[0]).toMatchObject({ host, ok: true, changed: ["/etc/corosync/corosync.conf"] });
        expect(onHost(host, "grep token: /etc/corosync/corosync.conf").trim()).toBe("token: 1750");
      }
      expect(bundle(summary, "hosts/dl3").hosts[0]).toMatchObject({ host: "dl3", ok: false, changed: [], error: "cannot write /etc/corosync/corosync.conf.hpcdk-new: No space left on device" });
      // dl3 keeps its previous files, no half-written copy beside them, no upload (with its secrets) left behind.
      expect(sha("dl3", "/etc/corosync/corosync.conf")).toBe(before);
      expect(onHost("dl3", "ls -A /etc/corosync")).not.toContain(".hpcdk-new");
      expect(onHost("dl3", "ls -A /var/lib/hpcdk/staging").trim()).toBe("");
    } finally {
      onHost("dl3", "umount /etc/corosync && rm -rf /run/hpcdk-test-keep");
    }
    // With room again, the next deploy converges dl3 (the pending corosync handler runs there).
    const again = deploy();
    expect(again.code).toBe(0);
    expect(bundle(again.summary, "hosts/dl3").hosts[0]).toMatchObject({ changed: ["/etc/corosync/corosync.conf"] });
    expect(onHost("dl3", "grep token: /etc/corosync/corosync.conf").trim()).toBe("token: 1750");
    expect(onHost("dl3", "corosync-cmapctl -g totem.token").trim()).toBe("totem.token (u32) = 1750");
  }, 240_000);

  it("fails the host with a clear error if it refuses the key", async () => {
    const key = join(tempDir(), "other");
    spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
    const labInventory = JSON.parse(readFileSync(lab.inventoryFile, "utf8").replace(/^#.*\n/, ""));
    const result = await applyBundle({ stackDir: stack, bundle: "hosts/dl1", override: { ...labInventory, ssh: { ...labInventory.ssh, privateKey: key } } });
    expect(result.ok).toBe(false);
    expect(result.hosts[0]!.error).toMatch(/^root@10\.77\.0\.11:22 refused the key/);
  });

  it("refuses to overwrite a CIB changed by hand since the last deploy, unless forced", () => {
    onHost("dl1", "crm_attribute --type crm_config --name hpcdk-hand-edit --update yes");
    setSite(base.replace("tokenMs: 1000", "tokenMs: 1700").replace("dcDeadtimeSec: 2", "dcDeadtimeSec: 3"));
    const refused = deploy();
    expect(refused.code).toBe(3);
    expect(bundle(refused.summary, "cluster").hosts[0]!.error).toMatch(
      /^the live CIB changed since hpcdk applied it \(epoch \d+\.\d+\): someone changed the cluster by hand; review the change and rerun with --force to replace it$/,
    );
    const forced = deploy(["--force"]);
    expect(forced.code).toBe(0);
    const cib = onHost("dl2", "cibadmin --query --scope crm_config");
    expect(cib).not.toContain("hpcdk-hand-edit");
    expect(cib).toContain('name="dc-deadtime" value="3s"');
  }, 180_000);

  it("puts back the previous files when a handler fails", async () => {
    // A bundle of one file whose handler fails on its second version.
    const dir = join(tempDir(), "stack");
    const build = (version: number, handler: string) => {
      const s = new TerraformStack(new App({ skipValidation: true, outdir: tempDir() }), SITE);
      const host = new Bundle(s, "host", { kind: "host", name: "dl1", source: "sites/deploy-lab.yaml" });
      new GeneratedFile(s, "f", { bundle: host, path: "/etc/hpcdk-test/app.conf", content: (h) => `${h}version=${version}\n`, handlers: [handler] });
      writeStackFiles(s, dir);
      copyFileSync(join(stack, "deploy.json"), join(dir, "deploy.json"));
      mkdirSync(join(dir, "..", "..", "..", "secrets", SITE), { recursive: true });
    };
    build(1, "true");
    const first = await applyBundle({ stackDir: dir, bundle: "hosts/dl1", override: { ssh: { privateKey: join(lab.dir, "id_ed25519"), knownHosts: join(lab.dir, "known_hosts") }, hosts: { dl1: { address: "10.77.0.11" } } } });
    expect(first.ok).toBe(true);
    build(2, "echo the new version is refused >&2; exit 1");
    const second = await applyBundle({ stackDir: dir, bundle: "hosts/dl1", override: { ssh: { privateKey: join(lab.dir, "id_ed25519"), knownHosts: join(lab.dir, "known_hosts") }, hosts: { dl1: { address: "10.77.0.11" } } } });
    expect(second.ok).toBe(false);
    expect(second.hosts[0]!.error).toBe("handler failed: echo the new version is refused >&2; exit 1: the new version is refused ");
    expect(second.hosts[0]!.restored).toEqual(["/etc/hpcdk-test/app.conf"]);
    expect(onHost("dl1", "grep version= /etc/hpcdk-test/app.conf").trim()).toBe("version=1");
  });

  it("runs the cluster bundle's after-cib steps on their hosts once what they wait for runs; a failed step names its host and is run again next time", async () => {
    // The deployed CIB, unchanged, with two steps; the cluster waits 6 s at most.
    const deployed = readFileSync(join(stack, "cluster", "cib.xml"), "utf8");
    const source = /Generated by hpcdk from (\S+)\. /.exec(deployed)![1]!;
    const dir = join(tempDir(), "stack");
    const build = (dl2Step: string, waitFor: string[] = []) => {
      const s = new TerraformStack(new App({ skipValidation: true, outdir: tempDir() }), SITE);
      const cluster = new Bundle(s, "cluster", { kind: "cluster", name: "cluster", source });
      new GeneratedFile(s, "cib", { bundle: cluster, path: "/cib.xml", header: "xml", mode: 0o600, content: () => deployed });
      const step = (id: string, hosts: string[], run: string) => cluster.addStep({ id, phase: "after-cib", hosts, description: id, run, waitFor });
      step("a-first", ["dl1", "dl3"], "hostname > /var/tmp/hpcdk-after-cib");
      step("b-second", ["dl1", "dl2"], dl2Step);
      writeStackFiles(s, dir);
      writeFileSync(join(dir, "deploy.json"), JSON.stringify({ ...JSON.parse(readFileSync(join(stack, "deploy.json"), "utf8")), clusterWaitSec: 6 }));
      mkdirSync(join(dir, "..", "..", "..", "secrets", SITE), { recursive: true });
    };
    const inventory = readOverride(lab.inventoryFile);
    const applied = () => onHost("dl1", "crm_attribute --type crm_config --set-name hpcdk-deploy --name hpcdk-applied --query --quiet 2>/dev/null || true").trim();
    const before = applied();
    onHost("dl3", "rm -f /var/tmp/hpcdk-after-cib");

    // What a step waits for never runs: no step runs, and the error says what and how long.
    build("true", ["no-such-resource"]);
    const waited = await applyBundle({ stackDir: dir, bundle: "cluster", expect: "after-cib-test", override: inventory });
    expect(waited.ok).toBe(false);
    expect(waited.hosts[0]!.error).toBe("no-such-resource not running 6 s after the CIB step: the steps that need it did not run (crm_mon shows why)");
    expect(onHost("dl3", "test -e /var/tmp/hpcdk-after-cib && echo ran || echo not run").trim()).toBe("not run");

    build('test "$(hostname)" != dl2 || { echo dl2 refuses >&2; exit 4; }');
    const failed = await applyBundle({ stackDir: dir, bundle: "cluster", expect: "after-cib-test", override: inventory });
    expect(failed.ok).toBe(false);
    const byHost = (r: typeof failed) => Object.fromEntries(r.hosts.slice(1).map((h) => [h.host, { ok: h.ok, steps: h.steps, error: h.error }]));
    expect(byHost(failed)).toEqual({
      dl1: { ok: true, steps: ["a-first", "b-second"], error: undefined },
      dl2: { ok: false, steps: [], error: "step b-second failed (exit 4): dl2 refuses" },
      dl3: { ok: true, steps: ["a-first"], error: undefined },
    });
    expect(failed.hosts[0]!.ok).toBe(true);
    expect(onHost("dl3", "cat /var/tmp/hpcdk-after-cib").trim()).toBe("dl3");
    // Not recorded: the next deploy runs the steps again.
    expect(applied()).toBe(before);

    build("true");
    const fixed = await applyBundle({ stackDir: dir, bundle: "cluster", expect: "after-cib-test", override: inventory });
    expect(fixed.ok).toBe(true);
    expect(applied()).toBe("after-cib-test");
    // The site's own record comes back for the tests that follow.
    onHost("dl1", `crm_attribute --type crm_config --set-name hpcdk-deploy --name hpcdk-applied ${before ? `--update '${before}'` : "--delete"}`);
  }, 120_000);

  it("reaches a host through a bastion that names no key of its own: the hosts' key opens it (the schema's default)", async () => {
    // The lab's inventory with dl1 as the bastion, named by its address only (port 22, root, the hosts' key).
    const labInventory = readOverride(lab.inventoryFile);
    const inventory = readInventory(stack, { ...labInventory, ssh: { ...labInventory.ssh, bastion: { address: "10.77.0.11" } } });
    expect(inventory.ssh.bastion).toEqual({ address: "10.77.0.11", port: 22, user: "root" });
    const session = await connect(inventory, "dl2");
    try {
      expect((await session.run("hostname")).trim()).toBe("dl2");
      // dl2 saw the connection come from the bastion, not from this machine.
      expect((await session.run("echo $SSH_CONNECTION")).split(" ")[0]).toBe("10.77.0.11");
    } finally {
      session.close();
    }
  });

  it("never writes a secret into the tree, the Terraform JSON, the state or the logs", () => {
    const secretsDir = join(project, "secrets", SITE);
    const secrets = readdirSync(secretsDir).map((f) => readFileSync(join(secretsDir, f)));
    const places: [string, Buffer][] = [];
    const walk = (d: string) => {
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) walk(p);
        else places.push([p, readFileSync(p)]);
      }
    };
    walk(out);
    for (const f of readdirSync(project).filter((f) => f.includes("tfstate"))) places.push([f, readFileSync(join(project, f))]);
    places.push(["deploy logs", Buffer.from(logs.join("\n"))]);
    expect(places.some(([p]) => p.endsWith("cdk.tf.json"))).toBe(true);
    expect(places.some(([p]) => p.includes("tfstate"))).toBe(true);
    for (const secret of secrets) {
      const forms = [secret, Buffer.from(secret.toString("base64")), Buffer.from(secret.toString("hex")), Buffer.from(secret.subarray(0, 12).toString("base64"))];
      for (const [place, bytes] of places) {
        for (const form of forms) expect(bytes.includes(form), `a secret is in ${place}`).toBe(false);
      }
    }
  });
});
