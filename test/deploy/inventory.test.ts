/**
 * Inventory files name keys and known_hosts files, and HPCDK_INVENTORY names the file. Terraform
 * runs `hpcdk apply-bundle` in the stack directory, so relative names must not depend on the
 * directory hpcdk happens to run in: paths in a file are taken from the file's directory, and a
 * relative HPCDK_INVENTORY from the project directory (where `cdktf deploy` runs).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { applyOverride, type Inventory } from "../../common/contracts/inventory.js";
import { PreflightError, readInventory, readOverride } from "../../operations/remote/inventory.js";
import { tempDir } from "../helpers.js";

const base: Inventory = {
  site: "s",
  source: "sites/s.yaml",
  secretsDir: "../../../secrets/s",
  ssh: { user: "root", port: 22, knownHosts: "~/.ssh/known_hosts", connectTimeoutSec: 10 },
  hosts: {},
  groupConcurrency: 8,
  clusterWaitSec: 120,
  managementNodes: ["h1"],
};

/** A project with a synthesized stack directory (only its deploy.json) and an inventory in lab/. */
function project(inventory: object): { dir: string; stack: string } {
  const dir = tempDir("hpcdk-inventory-");
  const stack = join(dir, "cdktf.out", "stacks", "s");
  mkdirSync(stack, { recursive: true });
  writeFileSync(join(stack, "deploy.json"), JSON.stringify(base));
  mkdirSync(join(dir, "lab"));
  writeFileSync(join(dir, "lab", "inventory.yaml"), JSON.stringify(inventory));
  return { dir, stack };
}

describe("inventory files", () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it("takes relative key and known_hosts paths from the inventory file's directory", () => {
    const { dir } = project({
      ssh: { privateKey: "id_ed25519", knownHosts: "keys/known_hosts", bastion: { address: "10.0.0.1", privateKey: "../bastion_key" } },
      hosts: { h1: { address: "10.0.0.11" } },
    });
    expect(readOverride(join(dir, "lab", "inventory.yaml"))).toEqual({
      ssh: {
        privateKey: join(dir, "lab", "id_ed25519"),
        knownHosts: join(dir, "lab", "keys", "known_hosts"),
        bastion: { address: "10.0.0.1", privateKey: join(dir, "bastion_key") },
      },
      hosts: { h1: { address: "10.0.0.11" } },
    });
  });

  it("keeps absolute and home paths, and adds none the file does not set", () => {
    const { dir } = project({ ssh: { privateKey: "/keys/id", knownHosts: "~/.ssh/lab_known_hosts" } });
    // A home path stays for the SSH layer to expand on the deploying machine.
    expect(readOverride(join(dir, "lab", "inventory.yaml"))).toEqual({ ssh: { privateKey: "/keys/id", knownHosts: "~/.ssh/lab_known_hosts" } });
    expect(readOverride(join(project({ hosts: {} }).dir, "lab", "inventory.yaml"))).toEqual({ hosts: {} });
  });

  it("takes a relative HPCDK_INVENTORY from the project directory, as apply-bundle sees it in the stack directory", () => {
    const { dir, stack } = project({ ssh: { knownHosts: "known_hosts" }, hosts: { h1: { address: "10.0.0.11" } } });
    vi.stubEnv("HPCDK_INVENTORY", "lab/inventory.yaml");
    const cwd = process.cwd();
    process.chdir(stack);
    try {
      const inventory = readInventory(".");
      expect(inventory.ssh.knownHosts).toBe(join(dir, "lab", "known_hosts"));
      expect(inventory.hosts).toEqual({ h1: { address: "10.0.0.11" } });
    } finally {
      process.chdir(cwd);
    }
    expect(readInventory(stack).hosts).toEqual({ h1: { address: "10.0.0.11" } });
  });

  it("fails if HPCDK_INVENTORY names no file, saying where it looked", () => {
    const { dir, stack } = project({});
    vi.stubEnv("HPCDK_INVENTORY", "nowhere.yaml");
    expect(() => readInventory(stack)).toThrow(PreflightError);
    expect(() => readInventory(stack)).toThrow(`HPCDK_INVENTORY=nowhere.yaml: ${join(dir, "nowhere.yaml")} does not exist`);
  });

  it("fails if an inventory file has an unknown key or a wrong type, naming the file and the field", () => {
    const { dir } = project({ ssh: { privatekey: "id", port: "22" }, hosts: { h1: { adress: "10.0.0.11" } } });
    const file = join(dir, "lab", "inventory.yaml");
    const err = (() => {
      try {
        return readOverride(file);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(PreflightError);
    expect((err as PreflightError).problems).toEqual([
      `${file}: ssh.port: Invalid input: expected number, received string`,
      `${file}: ssh: Unrecognized key: "privatekey"`,
      `${file}: hosts.h1: Unrecognized key: "adress"`,
    ]);
  });

  it("merges an inventory file's bastion over the site's field by field, with port 22 and user root where neither says", () => {
    const { dir, stack } = project({ ssh: { bastion: { address: "10.0.0.1" } } });
    const inventory = readInventory(stack, readOverride(join(dir, "lab", "inventory.yaml")));
    expect(inventory.ssh.bastion).toEqual({ address: "10.0.0.1", port: 22, user: "root" });
    const withSite = applyOverride({ ...base, ssh: { ...base.ssh, bastion: { address: "jump", port: 2222, user: "ops", privateKey: "/k" } } }, { ssh: { bastion: { address: "jump2" } } });
    expect(withSite.ssh.bastion).toEqual({ address: "jump2", port: 2222, user: "ops", privateKey: "/k" });
  });
});
