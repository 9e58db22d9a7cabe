/**
 * Fanning a group bundle out with Ansible (ansible/apply-bundle.yml): the playbook passes
 * `ansible-playbook --syntax-check`; `hpcdk ansible-inventory` gives the hosts of the group and
 * the marker Terraform passes; and a real run against a two-node namespace lab (real sshd) puts the
 * compute group's files and munge key on both hosts with their bytes, owners and modes, changes
 * nothing the second time (in batches of one host), fails only the host whose step fails, with the
 * apply script's error line, always removes the staging directory, and never prints a secret.
 * The lab part needs root (namespaces); all of it needs ansible-playbook (ansible-core).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BundleManifest } from "../../constructs/core/index.js";
import { labDown, labUp, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, onLabNode, ROOT, tempDir } from "../helpers.js";

const SITE = "ansible-lab";
const PLAYBOOK = join(ROOT, "ansible", "apply-bundle.yml");
const isRoot = process.getuid?.() === 0;
const hasAnsible = spawnSync("ansible-playbook", ["--version"], { encoding: "utf8" }).status === 0;
const skipWhy = !hasAnsible ? "ansible-playbook is missing (apt-get install ansible-core)" : !isRoot ? "the namespace lab needs root" : "";
if (skipWhy) console.warn(`test/deploy/ansible.test.ts: ${hasAnsible ? "lab run" : "all"} skipped: ${skipWhy}`);

const hpcdk = (args: string[], cwd: string) => spawnSync(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), ...args], { cwd, encoding: "utf8", timeout: 60_000 });

/** A project with the fixture site synthesized into it: cdktf.out/ and secrets/ side by side. */
function synthProject(): { project: string; stack: string; secrets: string } {
  const project = tempDir("hpcdk-ansible-");
  mkdirSync(join(project, "sites"));
  writeFileSync(join(project, "sites", `${SITE}.yaml`), readFileSync(join(FIXTURES, `${SITE}.yaml`)));
  const r = hpcdk(["synth", `sites/${SITE}.yaml`, "--out", "cdktf.out", "--quiet"], project);
  if (r.status !== 0) throw new Error(`hpcdk synth failed: ${r.stderr}`);
  return { project, stack: join(project, "cdktf.out", "stacks", SITE), secrets: join(project, "secrets", SITE) };
}

/** What Terraform passes the hosts of a bundle (`--expect`), read from the synthesized JSON. */
const terraformMarker = (stack: string, bundle: string) =>
  new RegExp(`apply-bundle --bundle '${bundle}' --expect ([0-9a-f]{64}:[0-9a-f]{64})`).exec(readFileSync(join(stack, "cdk.tf.json"), "utf8"))![1]!;

describe.skipIf(!hasAnsible)("the Ansible playbook and its inventory", () => {
  it("prints the group's hosts from its hostlist, with the marker Terraform passes", () => {
    const { project, stack, secrets } = synthProject();
    const r = hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "groups/compute"], project);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("hpcdk_compute:\n  hosts:\n    ac1:\n    ac2:\n  vars:\n");
    expect(r.stdout).toContain(`    hpcdk_expect: "${terraformMarker(stack, "groups/compute")}"\n`);
    expect(r.stdout).toContain(`    hpcdk_secrets_dir: "${secrets}"\n`);
  });

  it("fails if the bundle is the cluster's or a secret is missing", () => {
    const { project, stack } = synthProject();
    const cluster = hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "cluster"], project);
    expect(cluster.status).toBe(1);
    expect(cluster.stderr).toContain("cluster: the cluster bundle is a CIB patch applied from one management node: use hpcdk deploy");
    const noSecrets = hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "groups/compute", "--secrets", join(project, "nowhere")], project);
    expect(noSecrets.status).toBe(1);
    expect(noSecrets.stderr).toContain(`groups/compute: secret munge-key is missing from ${join(project, "nowhere")}`);
  });

  it("fails on the controller, before any host is touched, if the bundle changed since the inventory was printed or a secret is missing", () => {
    const { project, stack, secrets } = synthProject();
    const inventory = join(project, "hpcdk-compute.yml");
    expect(hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "groups/compute", "--out", inventory], project).status).toBe(0);
    const run = () =>
      spawnSync("ansible-playbook", ["-i", inventory, PLAYBOOK, "-e", "hpcdk_hosts=hpcdk_compute"], {
        encoding: "utf8",
        timeout: 120_000,
        env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCAL_TEMP: join(project, ".ansible-tmp"), ANSIBLE_HOME: join(project, ".ansible") },
      });
    const text = readFileSync(inventory, "utf8");
    writeFileSync(inventory, text.replace(/hpcdk_manifest_sha256: "[0-9a-f]+"/, `hpcdk_manifest_sha256: "${"0".repeat(64)}"`));
    const stale = run();
    expect(stale.status).toBe(2);
    expect(stale.stdout).toContain('"msg": "groups/compute: the bundle was synthesized again since the inventory was printed: run hpcdk ansible-inventory again"');
    writeFileSync(inventory, text);
    renameSync(join(secrets, "munge-key"), join(secrets, "munge-key.away"));
    const noSecret = run();
    expect(noSecret.status).toBe(2);
    expect(noSecret.stdout).toContain(`"msg": "groups/compute: secret munge-key is missing from ${secrets}"`);
    // Nothing was tried on a host (ac1 and ac2 resolve nowhere here): only the controller's checks ran.
    for (const r of [stale, noSecret]) expect(r.stdout).not.toContain("UNREACHABLE");
  });

  it("passes ansible-playbook --syntax-check", () => {
    const { project, stack } = synthProject();
    const inventory = join(project, "hpcdk-compute.yml");
    expect(hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "groups/compute", "--out", inventory], project).status).toBe(0);
    const r = spawnSync("ansible-playbook", ["--syntax-check", "-i", inventory, PLAYBOOK, "-e", "hpcdk_hosts=hpcdk_compute"], {
      encoding: "utf8",
      timeout: 60_000,
      env: { ...process.env, ANSIBLE_NOCOLOR: "1", ANSIBLE_LOCAL_TEMP: join(project, ".ansible-tmp"), ANSIBLE_HOME: join(project, ".ansible") },
    });
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe(`playbook: ${PLAYBOOK}`);
    expect(r.status).toBe(0);
  });
});

describe.skipIf(!hasAnsible || !isRoot)("ansible-playbook to a namespace lab", () => {
  let lab: LabState;
  let project: string;
  let stack: string;
  let secretsDir: string;
  let inventory: string;
  const outputs: string[] = [];

  /** The site's own inventory: its names for the compute hosts, and how to reach them (the lab nodes). */
  const siteInventory = () =>
    [
      "[compute]",
      ...lab.nodes.map((n, i) => `ac${i + 1} ansible_host=${n.sshAddress}`),
      "[compute:vars]",
      "ansible_user=root",
      `ansible_ssh_private_key_file=${join(lab.dir, "id_ed25519")}`,
      `ansible_ssh_common_args='-o UserKnownHostsFile=${join(lab.dir, "known_hosts")} -o StrictHostKeyChecking=yes -o ControlMaster=no'`,
      "hpcdk_become=false",
      "",
    ].join("\n");

  const play = (extra: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(
      "ansible-playbook",
      ["-i", join(project, "site-inventory.ini"), "-i", inventory, PLAYBOOK, "-e", "hpcdk_hosts=hpcdk_compute", ...extra],
      {
        encoding: "utf8",
        timeout: 300_000,
        env: {
          ...process.env,
          ANSIBLE_NOCOLOR: "1",
          ANSIBLE_LOCAL_TEMP: join(project, ".ansible-tmp"),
          ANSIBLE_HOME: join(project, ".ansible"),
          ANSIBLE_TIMEOUT: "10",
          ANSIBLE_PYTHON_INTERPRETER: "/usr/bin/python3",
          ANSIBLE_RETRY_FILES_ENABLED: "0",
          ...env,
        },
      },
    );
    outputs.push(r.stdout, r.stderr);
    return r;
  };
  // The group's hosts (ac1, ac2) are the lab's nodes in order.
  const onHost = (host: string, command: string, input?: string): string =>
    onLabNode(lab, lab.nodes[Number(host.slice(2)) - 1]!.name, command, { input, timeoutMs: 30_000 });
  const manifest = () => JSON.parse(readFileSync(join(stack, "manifests/groups/compute.json"), "utf8")) as BundleManifest;

  beforeAll(async () => {
    await labDown(SITE);
    ({ project, stack, secrets: secretsDir } = synthProject());
    lab = await labUp(SITE, loadSiteFile(join(project, "sites", `${SITE}.yaml`)).spec);
    writeFileSync(join(project, "site-inventory.ini"), siteInventory());
    inventory = join(project, "hpcdk-compute.yml");
    expect(hpcdk(["ansible-inventory", "--stack-dir", stack, "--bundle", "groups/compute", "--out", inventory], project).status).toBe(0);
    // No systemd runs in a lab node: a stand-in systemctl records what the steps and handlers ask
    // for, and fails `enable --now munge` while /etc/hpcdk-test-fail exists.
    const standIn = [
      "#!/bin/sh",
      'echo "$*" >> /var/log/hpcdk-test-systemctl.log',
      'if [ -e /etc/hpcdk-test-fail ] && [ "$*" = "enable --now munge" ]; then echo "Job for munge.service failed (test)" >&2; exit 1; fi',
      "",
    ].join("\n");
    for (const host of ["ac1", "ac2"]) onHost(host, "cat > /usr/local/sbin/systemctl && chmod 0755 /usr/local/sbin/systemctl", standIn);
  }, 90_000);

  afterAll(async () => {
    await labDown(SITE);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-ansiblel");
    if (lab) expect(spawnSync("ip", ["link", "show", lab.rootVeth.name]).status).not.toBe(0);
    expect(existsSync(join("/var/tmp/hpcdk-lab", SITE))).toBe(false);
  }, 60_000);

  it("puts the group's files and secret on every host, as root, with the marker", () => {
    const r = play(["-vv", "--diff"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const m = manifest();
    expect(m.hosts).toBe("ac[1-2]");
    const munge = readFileSync(join(secretsDir, "munge-key"));
    for (const host of ["ac1", "ac2"]) {
      for (const f of m.files) {
        expect(onHost(host, `sha256sum ${f.path}`).split(" ")[0], `${host}:${f.path}`).toBe(f.sha256);
        expect(onHost(host, `stat -c '%U:%G:%a' ${f.path}`).trim()).toBe(`${f.owner}:${f.group}:${parseInt(f.mode, 8).toString(8)}`);
      }
      expect(onHost(host, "base64 -w0 /etc/munge/munge.key")).toBe(munge.toString("base64"));
      expect(onHost(host, "stat -c '%U:%G:%a' /etc/munge/munge.key").trim()).toBe("munge:munge:400");
      expect(onHost(host, "cat /var/lib/hpcdk/state/group-compute/applied").trim()).toBe(terraformMarker(stack, "groups/compute"));
      expect(onHost(host, "ls -A /var/lib/hpcdk/staging").trim()).toBe("");
      expect(onHost(host, "cat /var/log/hpcdk-test-systemctl.log")).toBe("restart munge\nenable --now munge\nenable --now slurmd\n");
      expect(r.stdout).toContain(
        `${host} converged: 4 changed (/etc/slurm/cgroup.conf, /etc/slurm/plugstack.conf, /etc/slurm/slurm.conf, /etc/munge/munge.key), 0 unchanged; handlers: systemctl restart munge`,
      );
    }
    expect(r.stdout).toMatch(/ac1 +: ok=\d+ +changed=1 +unreachable=0 +failed=0/);
  }, 300_000);

  it("changes nothing and runs no handler the second time, one host per batch", () => {
    const r = play(["-v", "-e", "hpcdk_serial=1", "--forks", "1"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // Two batches: the apply ran once per batch.
    expect(r.stdout.split("TASK [hpcdk_bundle : Run the apply script as root]").length - 1).toBe(2);
    for (const host of ["ac1", "ac2"]) {
      expect(r.stdout).toContain(`"msg": "${host} converged: 0 changed, 4 unchanged"`);
      expect(r.stdout).toMatch(new RegExp(`${host} +: ok=\\d+ +changed=0 +unreachable=0 +failed=0`));
    }
    expect(r.stdout).not.toMatch(/HPCDK (changed|handler|installing|restored) /);
    expect(onHost("ac1", "grep -c restart /var/log/hpcdk-test-systemctl.log").trim()).toBe("1");
  }, 300_000);

  it("fails only the host whose apply fails, with the apply script's error, and removes its staging directory", () => {
    onHost("ac2", "touch /etc/hpcdk-test-fail");
    try {
      const r = play([]);
      expect(r.status).toBe(2);
      expect(r.stdout).toContain("ac1 converged: 0 changed, 4 unchanged");
      expect(r.stdout).toContain('"msg": "groups/compute: step munge-enable failed: Job for munge.service failed (test) "');
      expect(r.stdout).toMatch(/ac1 +: ok=\d+ +changed=0 +unreachable=0 +failed=0/);
      expect(r.stdout).toMatch(/ac2 +: ok=\d+ +changed=0 +unreachable=0 +failed=1/);
      for (const host of ["ac1", "ac2"]) expect(onHost(host, "ls -A /var/lib/hpcdk/staging").trim()).toBe("");
    } finally {
      onHost("ac2", "rm -f /etc/hpcdk-test-fail");
    }
  }, 300_000);

  it("never prints a secret, and never packs one into the archive it leaves on the controller", () => {
    const secrets = readdirSync(secretsDir).map((f) => readFileSync(join(secretsDir, f)));
    const places: [string, Buffer][] = [
      ["ansible-playbook output", Buffer.from(outputs.join("\n"))],
      ["the archive", readFileSync(join(stack, ".hpcdk/ansible/group-compute.tar"))],
    ];
    expect(outputs.length).toBe(6);
    for (const secret of secrets) {
      const forms = [secret, Buffer.from(secret.toString("base64")), Buffer.from(secret.toString("hex")), Buffer.from(secret.subarray(0, 12).toString("base64"))];
      for (const [place, bytes] of places) {
        for (const form of forms) expect(bytes.includes(form), `a secret is in ${place}`).toBe(false);
      }
    }
  });
});
