/**
 * One SSH connection per host for a whole deploy (operations/remote/shared.ts): the connection
 * `hpcdk deploy` reads a host's marker on is the one its `hpcdk apply-bundle` child sends the
 * bundle on. The hosts are SSH servers in this process (test/fake-host.ts) that count logins.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../../common/async.js";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { applyBundle, readMarkers } from "../../operations/deploy/index.js";
import { readInventory } from "../../operations/remote/inventory.js";
import { gatherRollout } from "../../operations/rollout/index.js";
import { serveSessions, SessionPool, SHARED_SSH_ENV, SharedSession } from "../../operations/remote/shared.js";
import { SshError } from "../../operations/remote/ssh.js";
import { fakeHost, keyPair, knownHostsFile, type FakeHost } from "../fake-host.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const SITE = "minilab";
const MARKER = `${"b".repeat(64)}:${"c".repeat(64)}`;
const { out } = synthTo(loadExamples([SITE]));
const stack = join(out, "stacks", SITE);
const APPLY = /^umask 077; S='\/var\/lib\/hpcdk\/staging\/host-m1';.* sh "\$S\/apply\.sh"/;

describe("one SSH connection per host for the marker read and the apply", () => {
  const dir = tempDir("hpcdk-shared-");
  const key = keyPair(dir, "id_ed25519");
  let host: FakeHost;
  let override: InventoryOverride;

  beforeAll(async () => {
    host = await fakeHost("root", key.publicKey);
    override = {
      ssh: { user: "root", privateKey: key.file, knownHosts: knownHostsFile(dir, [host.knownHostsLine]), connectTimeoutSec: 5 },
      hosts: Object.fromEntries(["m1", "m2", "m3"].map((h) => [h, { address: "127.0.0.1", port: host.port }])),
    };
  });
  afterAll(() => host.close());
  afterEach(() => {
    delete process.env[SHARED_SSH_ENV];
  });

  it("reads the marker and applies the bundle on the one connection the deploy opened", async () => {
    const stdins: Buffer[] = [];
    host.answer((command, stdin) => {
      if (/host-m1\/applied/.test(command)) return { stdout: `${Buffer.from(`${MARKER}\n`).toString("base64")}\n` };
      if (APPLY.test(command)) {
        stdins.push(stdin);
        return { stdout: "HPCDK changed /etc/corosync/corosync.conf\nHPCDK done\n" };
      }
      return {};
    });
    const pool = new SessionPool(readInventory(stack, override));
    const logins = host.logins.length;
    try {
      const markers = await readMarkers(stack, ["hosts/m1"], override, pool);
      expect(markers.get("hosts/m1")).toEqual([MARKER]);
      expect(host.logins.length).toBe(logins + 1);
      const shared = await serveSessions(pool);
      try {
        // What Terraform's `hpcdk apply-bundle` child finds in its environment.
        process.env[SHARED_SSH_ENV] = shared.path;
        const r = await applyBundle({ stackDir: stack, bundle: "hosts/m1", override, expect: MARKER });
        expect(r.hosts[0]).toMatchObject({ host: "m1", ok: true, changed: ["/etc/corosync/corosync.conf"] });
      } finally {
        await shared.close();
      }
    } finally {
      await pool.close();
    }
    // No second login: the apply ran on the marker's connection, with the whole bundle as its input.
    expect(host.logins.length).toBe(logins + 1);
    expect(stdins).toHaveLength(1);
    expect(stdins[0]!.length).toBeGreaterThan(1024);
    expect(host.commands.filter((c) => APPLY.test(c))).toHaveLength(1);
  });

  it("reads the rollout plan's files and the marker on one connection too", async () => {
    host.answer(() => ({}));
    const inventory = readInventory(stack, override);
    const pool = new SessionPool(inventory);
    const logins = host.logins.length;
    const commands = host.commands.length;
    try {
      const manifest = JSON.parse(readFileSync(join(stack, "manifests", "hosts", "m1.json"), "utf8")) as BundleManifest;
      const gathered = await gatherRollout({ pool, stackDir: stack, inventory, manifests: new Map([["hosts/m1", manifest]]), markers: new Map(), secretsDir: join(out, "..", "secrets", SITE) });
      expect(gathered.hosts.map((h) => h.host)).toEqual(["m1"]);
      await readMarkers(stack, ["hosts/m1"], override, pool);
    } finally {
      await pool.close();
    }
    // Both asked the host (the files, the marker), on one login.
    expect(host.commands.length).toBeGreaterThanOrEqual(commands + 2);
    expect(host.logins.length).toBe(logins + 1);
  });

  it("keeps no more connections than it may: past that, each is closed after its step", async () => {
    host.answer((command) => (APPLY.test(command) ? { stdout: "HPCDK done\n" } : {}));
    // A pool that may keep none: the marker's connection is closed, the apply opens its own.
    const pool = new SessionPool(readInventory(stack, override), 0);
    const logins = host.logins.length;
    try {
      await readMarkers(stack, ["hosts/m1"], override, pool);
      // The marker's connection is closed once read (the host sees it go within a bounded wait).
      for (let i = 0; i < 50 && host.open() > 0; i++) await sleep(100);
      expect(host.open()).toBe(0);
      const shared = await serveSessions(pool);
      try {
        process.env[SHARED_SSH_ENV] = shared.path;
        const r = await applyBundle({ stackDir: stack, bundle: "hosts/m1", override, expect: MARKER });
        expect(r.hosts[0]).toMatchObject({ host: "m1", ok: true });
      } finally {
        await shared.close();
      }
    } finally {
      await pool.close();
    }
    expect(host.logins.length).toBe(logins + 2);
  });

  it("connects a host it holds no connection to when the apply asks for it", async () => {
    host.answer((command) => (APPLY.test(command) ? { stdout: "HPCDK done\n" } : {}));
    const pool = new SessionPool(readInventory(stack, override));
    const logins = host.logins.length;
    const shared = await serveSessions(pool);
    try {
      process.env[SHARED_SSH_ENV] = shared.path;
      const r = await applyBundle({ stackDir: stack, bundle: "hosts/m1", override, expect: MARKER });
      expect(r.hosts[0]).toMatchObject({ host: "m1", ok: true });
    } finally {
      await shared.close();
      await pool.close();
    }
    expect(host.logins.length).toBe(logins + 1);
  });

  it("gives the child the deploy's SSH error, with its stage, for a host that cannot be reached", async () => {
    const unreachable: InventoryOverride = { ...override, hosts: { ...override.hosts, m1: { address: "127.0.0.1", port: 1 } } };
    const pool = new SessionPool(readInventory(stack, unreachable));
    const shared = await serveSessions(pool);
    try {
      const session = new SharedSession("m1", "root", shared.path);
      const err = await session.exec("true").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshError);
      expect(err).toMatchObject({ host: "m1", stage: "connect" });
      expect((err as SshError).message).toMatch(/^m1: cannot connect to 127\.0\.0\.1:1: connect ECONNREFUSED/);
    } finally {
      await shared.close();
      await pool.close();
    }
  });

  it("removes its socket when the deploy ends: a child started later connects on its own", async () => {
    const pool = new SessionPool(readInventory(stack, override));
    const shared = await serveSessions(pool);
    await shared.close();
    await pool.close();
    expect(() => readFileSync(shared.path)).toThrow(/ENOENT/);
    const err = await new SharedSession("m1", "root", shared.path).exec("true").catch((e: unknown) => e);
    expect((err as SshError).message).toMatch(/shared SSH connections .* cannot be reached/);
  });
});
