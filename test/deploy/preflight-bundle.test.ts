/**
 * Before `hpcdk apply-bundle` sends anything, it checks everything the bundle needs: the stack's
 * inventory, the manifest, every file of the bundle (present, as synthesized), the apply script,
 * the secrets, the SSH key and known_hosts file. Each problem has its own message, all are
 * reported at once, and nothing is sent: no SSH connection is even attempted (the inventory
 * points every host at a listening socket that counts connections).
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo, type Server } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import type { BundleManifest } from "../../constructs/core/index.js";
import { applyBundle, preflightBundle } from "../../operations/deploy/index.js";
import { PreflightError, readInventory } from "../../operations/remote/inventory.js";
import { SshSession } from "../../operations/remote/ssh.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const SITE = "minilab";

describe("preflightBundle: what apply-bundle checks before sending anything", () => {
  // One synthesis, copied into a fresh project for each test to break.
  const synthesized = tempDir("hpcdk-preflight-");
  synthTo(loadExamples([SITE]), synthesized);
  let project: string;
  let stack: string;
  let secrets: string;
  let keys: string;
  let override: InventoryOverride;
  let server: Server;
  let connections = 0;

  const manifestOf = (bundle: string) => JSON.parse(readFileSync(join(synthesized, "cdktf.out", "stacks", SITE, "manifests", `${bundle}.json`), "utf8")) as BundleManifest;
  /** applyBundle fails with exactly these problems, and no host was contacted. */
  const expectRefused = async (bundle: string, problems: string[]) => {
    const connect = vi.spyOn(SshSession, "connect");
    const err = await applyBundle({ stackDir: stack, bundle, override }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as PreflightError).problems).toEqual(problems);
    expect((err as PreflightError).message).toBe(problems.join("\n"));
    expect(connect).not.toHaveBeenCalled();
    expect(connections).toBe(0);
  };

  beforeAll(async () => {
    // A real key: with it, a deploy that got past the checks would open a connection (see the socket).
    mkdirSync(join(synthesized, "keys"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(synthesized, "keys", "id_ed25519")]);
    writeFileSync(join(synthesized, "keys", "known_hosts"), "");
    server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  afterAll(() => {
    server.close();
  });

  beforeEach(() => {
    project = tempDir("hpcdk-preflight-");
    cpSync(synthesized, project, { recursive: true });
    stack = join(project, "cdktf.out", "stacks", SITE);
    secrets = join(project, "secrets", SITE);
    keys = join(project, "keys");
    const port = (server.address() as AddressInfo).port;
    override = {
      ssh: { privateKey: join(keys, "id_ed25519"), knownHosts: join(keys, "known_hosts") },
      hosts: Object.fromEntries(["m1", "m2", "m3"].map((h) => [h, { address: "127.0.0.1", port }])),
    };
    connections = 0;
  });

  afterEach(() => {
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  it("passes a bundle that has everything, and says which manifest and secrets it found", () => {
    const { manifest, secretsDir } = preflightBundle(stack, "hosts/m1", readInventory(stack, override));
    expect(manifest.name).toBe("m1");
    expect(secretsDir).toBe(secrets);
  });

  it("fails if the bundle name is not hosts/<host>, groups/<group> or cluster", async () => {
    await expectRefused("m1", ['bundle must be hosts/<host>, groups/<group> or cluster, got "m1"']);
  });

  it("fails if the stack was never synthesized (no deploy.json)", async () => {
    rmSync(join(project, "cdktf.out"), { recursive: true });
    await expectRefused("hosts/m1", [`${join(stack, "deploy.json")} does not exist: run hpcdk synth first`]);
  });

  it("fails if the bundle has no manifest", async () => {
    rmSync(join(stack, "manifests", "hosts", "m1.json"));
    await expectRefused("hosts/m1", [`hosts/m1: no manifest ${join(stack, "manifests/hosts/m1.json")}: run hpcdk synth first`]);
    rmSync(join(stack, "manifests", "cluster.json"));
    await expectRefused("cluster", [`cluster: no manifest ${join(stack, "manifests/cluster.json")}: run hpcdk synth first`]);
  });

  it("fails if the bundle directory is missing, naming every file of it", async () => {
    rmSync(join(stack, "hosts", "m1"), { recursive: true });
    const files = manifestOf("hosts/m1").files.map((f) => f.path);
    expect(files).toContain("/etc/corosync/corosync.conf");
    await expectRefused(
      "hosts/m1",
      files.map((f) => `hosts/m1: ${f} is missing from the bundle (${join(stack, "hosts/m1", f)})`),
    );
  });

  it("fails if a file of the bundle was edited after synth", async () => {
    writeFileSync(join(stack, "hosts/m1/etc/corosync/corosync.conf"), "edited by hand\n");
    await expectRefused("hosts/m1", ["hosts/m1: /etc/corosync/corosync.conf does not match its manifest: the bundle was edited after synth; run hpcdk synth again"]);
  });

  it("fails if the apply script is missing", async () => {
    rmSync(join(stack, "apply", "hosts", "m1.sh"));
    await expectRefused("hosts/m1", ["hosts/m1: the apply script apply/hosts/m1.sh is missing: run hpcdk synth again"]);
  });

  it("fails if a secret file is missing", async () => {
    expect(manifestOf("hosts/m1").secrets.map((s) => s.name)).toEqual(["corosync-authkey"]);
    rmSync(join(secrets, "corosync-authkey"));
    await expectRefused("hosts/m1", [`hosts/m1: secret corosync-authkey is missing from ${secrets}`]);
  });

  it("fails if the SSH private key file is missing", async () => {
    override = { ...override, ssh: { ...override.ssh, privateKey: join(keys, "gone") } };
    await expectRefused("hosts/m1", [`private key ${join(keys, "gone")} does not exist`]);
  });

  it("fails if the bastion's private key file is missing", async () => {
    override = { ...override, ssh: { ...override.ssh, bastion: { address: "127.0.0.1", port: 22, user: "root", privateKey: join(keys, "bastion-gone") } } };
    await expectRefused("hosts/m1", [`bastion private key ${join(keys, "bastion-gone")} does not exist`]);
  });

  it("fails if there is neither a private key nor an SSH agent", async () => {
    vi.stubEnv("SSH_AUTH_SOCK", undefined);
    override = { ...override, ssh: { ...override.ssh, privateKey: undefined } };
    await expectRefused("hosts/m1", ["no private key (deploy.ssh.privateKey) and no SSH agent ($SSH_AUTH_SOCK)"]);
  });

  it("fails if the known_hosts file is missing: host keys are always checked", async () => {
    override = { ...override, ssh: { ...override.ssh, knownHosts: join(keys, "no_known_hosts") } };
    await expectRefused("hosts/m1", [`known_hosts file ${join(keys, "no_known_hosts")} does not exist: host keys are always checked`]);
  });

  it("fails with every problem at once: an edited file, a missing secret, key and known_hosts file", async () => {
    writeFileSync(join(stack, "hosts/m1/etc/corosync/corosync.conf"), "edited by hand\n");
    rmSync(join(secrets, "corosync-authkey"));
    override = { ...override, ssh: { ...override.ssh, privateKey: join(keys, "gone"), knownHosts: join(keys, "no_known_hosts") } };
    await expectRefused("hosts/m1", [
      "hosts/m1: /etc/corosync/corosync.conf does not match its manifest: the bundle was edited after synth; run hpcdk synth again",
      `hosts/m1: secret corosync-authkey is missing from ${secrets}`,
      `private key ${join(keys, "gone")} does not exist`,
      `known_hosts file ${join(keys, "no_known_hosts")} does not exist: host keys are always checked`,
    ]);
  });
});
