/**
 * `cdktf deploy SITE` through the cdktf CLI, as the README tells users, to a three-node namespace
 * lab: the hosts converge, a second deploy changes nothing, `cdktf diff` shows the plan, Terraform
 * runs in the stack directory with the state beside cdktf.out (the one `hpcdk deploy` uses), and
 * a host that lost its bundle is repaired by `hpcdk deploy` only. The cdktf CLI is not a
 * dependency (cdktf-cli 0.21.0 adds about 400 MB): scripts/install-test-deps.sh installs it into
 * /var/cache/hpcdk/cdktf-cli (or `cdktf` on PATH is used). Needs root, like every lab test.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BundleManifest } from "../../constructs/core/index.js";
import { labDown, labUp, processAlive, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { cdktfCli, cdktf as cdktfIn, FIXTURES, hpcdk, onLabNode, tempDir, writeCdktfJson } from "../helpers.js";

const SITE = "cdktf-deploy";
const HOSTS = ["cd1", "cd2", "cd3"];
const isRoot = process.getuid?.() === 0;
const CDKTF = cdktfCli();

describe.skipIf(!isRoot || !CDKTF)("cdktf deploy to a namespace lab", () => {
  // Made in beforeAll: a skipped suite leaves no directory behind.
  let project: string;
  let stack: string;
  let lab: LabState;

  /** The cdktf CLI in the project, with the relative inventory name a user would give. */
  const cdktf = (args: string[]) => cdktfIn(project, args, { sites: `sites/${SITE}.yaml`, inventory: "inventory.yaml" });
  const onHost = (host: string, command: string): string => onLabNode(lab, host, command);
  const manifest = (host: string) => JSON.parse(readFileSync(join(stack, "manifests/hosts", `${host}.json`), "utf8")) as BundleManifest;
  const fileOf = (host: string, path: string) => manifest(host).files.find((f) => f.path === path)!;
  const sha = (host: string, path: string) => onHost(host, `sha256sum ${path}`).split(" ")[0];

  beforeAll(async () => {
    await labDown(SITE);
    project = tempDir("hpcdk-cdktf-");
    stack = join(project, "cdktf.out", "stacks", SITE);
    mkdirSync(join(project, "sites"));
    copyFileSync(join(FIXTURES, `${SITE}.yaml`), join(project, "sites", `${SITE}.yaml`));
    writeCdktfJson(project);
    lab = await labUp(SITE, loadSiteFile(join(project, "sites", `${SITE}.yaml`)).spec);
    copyFileSync(lab.inventoryFile, join(project, "inventory.yaml"));
  }, 60_000);

  afterAll(async () => {
    const pids = lab?.nodes.map((n) => Number(readFileSync(join(n.dir, "unshare.pid"), "utf8")));
    await labDown(SITE);
    // Nothing left behind: no namespace, no link, no process, no lab directory.
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-cdktfdep");
    expect(spawnSync("ip", ["link", "show", lab.rootVeth.name]).status).not.toBe(0);
    for (const pid of pids ?? []) expect(processAlive(pid)).toBe(false);
    expect(existsSync(lab.dir)).toBe(false);
  }, 60_000);

  it("converges every host, running Terraform in the stack directory with the state beside cdktf.out", () => {
    const { code, output } = cdktf(["deploy", SITE, "--auto-approve"]);
    expect(code, output).toBe(0);
    expect(output).toContain("Apply complete! Resources: 4 added, 0 changed, 0 destroyed.");
    for (const host of HOSTS) {
      expect(output).toContain(`(local-exec): [${host}] converged`);
      for (const f of manifest(host).files) {
        expect(sha(host, f.path), `${host}:${f.path}`).toBe(f.sha256);
        expect(onHost(host, `stat -c '%U:%G:%a' ${f.path}`).trim()).toBe(`${f.owner}:${f.group}:${parseInt(f.mode, 8).toString(8)}`);
      }
      expect(onHost(host, "stat -c '%U:%G:%a' /etc/corosync/authkey").trim()).toBe("root:root:400");
    }
    // From the first node that answers with quorum: not always cd1 right after corosync starts.
    expect(output).toMatch(/\(local-exec\): \[cd[1-3]\] CIB patched/);
    expect(onHost("cd2", "crm_mon -1")).toMatch(/Online: \[ cd1 cd2 cd3 \]/);
    expect(onHost("cd1", "cibadmin --query")).toContain('id="zfs-tank"');
    expect(existsSync(join(project, `terraform.${SITE}.tfstate`))).toBe(true);
    expect(existsSync(join(stack, "terraform.tfstate"))).toBe(false);
  }, 180_000);

  it("changes nothing on a second cdktf deploy, and hpcdk deploy finds the same state", () => {
    const again = cdktf(["deploy", SITE, "--auto-approve"]);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain("No changes. Your infrastructure matches the configuration.");
    expect(again.output).toContain("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
    expect(again.output).not.toContain("(local-exec)");
    const r = hpcdk(["deploy", `sites/${SITE}.yaml`, "--inventory", "inventory.yaml", "--json"], project);
    const summary = JSON.parse(r.stdout) as { terraform: string; bundles: { status: string }[] };
    expect(summary.terraform).toBe("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
    expect(summary.bundles.map((b) => b.status)).toEqual(["unchanged", "unchanged", "unchanged", "unchanged"]);
  }, 120_000);

  it("shows in cdktf diff, then deploys, only the host whose file changed", () => {
    const siteFile = join(project, "sites", `${SITE}.yaml`);
    writeFileSync(siteFile, readFileSync(siteFile, "utf8").replace("addresses: [10.36.0.12/24] }", "addresses: [10.36.0.12/24], hostid: 0x0a0b0c0d }"));
    const diff = cdktf(["diff", SITE]);
    expect(diff.code, diff.output).toBe(0);
    expect(diff.output).toMatch(/# terraform_data\.deploy-host-cd2_resource_\w+ \(deploy-host-cd2\/resource\) must be replaced/);
    expect(diff.output).toContain("Plan: 1 to add, 0 to change, 1 to destroy.");
    const { code, output } = cdktf(["deploy", SITE, "--auto-approve"]);
    expect(code, output).toBe(0);
    expect(output).toContain("Apply complete! Resources: 1 added, 0 changed, 1 destroyed.");
    expect(output).toContain("(local-exec): [cd2] converged: 1 changed");
    expect(onHost("cd2", "od -An -tx4 /etc/hostid").trim()).toBe("0a0b0c0d");
  }, 120_000);

  it("leaves a host that lost its bundle as it is, which hpcdk deploy finds and replaces", () => {
    // What Terraform cannot see: state says the bundle is there, the host holds something else
    // (a deploy killed after Terraform recorded the resource, a reinstalled host).
    onHost("cd3", "rm /var/lib/hpcdk/state/host-cd3/applied && printf 'hand' > /etc/hostid");
    const { code, output } = cdktf(["deploy", SITE, "--auto-approve"]);
    expect(code, output).toBe(0);
    expect(output).toContain("Apply complete! Resources: 0 added, 0 changed, 0 destroyed.");
    expect(onHost("cd3", "cat /etc/hostid")).toBe("hand");
    const r = hpcdk(["deploy", `sites/${SITE}.yaml`, "--inventory", "inventory.yaml", "--json"], project);
    const summary = JSON.parse(r.stdout) as { replaced: string[]; bundles: { bundle: string; status: string }[] };
    expect(r.status).toBe(0);
    expect(summary.replaced).toEqual([expect.stringMatching(/^terraform_data\.deploy-host-cd3_resource_\w+$/)]);
    expect(summary.bundles.find((b) => b.bundle === "hosts/cd3")!.status).toBe("converged");
    expect(sha("cd3", "/etc/hostid")).toBe(fileOf("cd3", "/etc/hostid").sha256);
  }, 120_000);
});
