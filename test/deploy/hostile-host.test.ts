/**
 * What a host answers must not steer the deploy: a confused or compromised host (here an SSH
 * server in this process that answers what the test scripts) that claims files the bundle does
 * not hold, smuggles lines in with a newline, prints terminal escapes, answers without end or
 * lies about having finished is that host's error, shown safely; the other hosts are not
 * touched by it. And every SSH setting of the inventory is honoured: a bastion without a key of
 * its own gets the hosts' key, as the site schema promises.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { applyBundle, parseApplyOutput, parseMarkerFile, readMarkers } from "../../operations/deploy/index.js";
import { AnswerError, hostText } from "../../operations/remote/answer.js";
import { connect, sshOptionsOf } from "../../operations/remote/connect.js";
import { readInventory } from "../../operations/remote/inventory.js";
import { SshError } from "../../operations/remote/ssh.js";
import { fakeHost, keyId, keyPair, knownHostsFile, type FakeHost } from "../fake-host.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const SITE = "minilab";
const MARKER = `${"b".repeat(64)}:${"c".repeat(64)}`;

const { out } = synthTo(loadExamples([SITE]));
const stack = join(out, "stacks", SITE);
const manifest = JSON.parse(readFileSync(join(stack, "manifests", "hosts", "m1.json"), "utf8")) as BundleManifest;
const corosyncConf = "/etc/corosync/corosync.conf";

describe("what the apply script says, read strictly", () => {
  const said = (lines: string[]) => parseApplyOutput(lines.map((l) => `${l}\n`).join(""), manifest);
  const refused = (lines: string[] | string, message: string) => {
    const text = typeof lines === "string" ? lines : lines.map((l) => `${l}\n`).join("");
    expect(() => parseApplyOutput(text, manifest)).toThrow(AnswerError);
    expect(() => parseApplyOutput(text, manifest)).toThrow(message);
  };

  it("reads what the script prints: files, steps, handlers, packages, done", () => {
    const handler = manifest.files.find((f) => f.path === corosyncConf)!.handlers[0]!;
    const step = manifest.steps[0]!.id;
    const pkg = manifest.packages[0]!.debian;
    expect(said([`installing ${pkg}`, `step ${step}`, `changed ${corosyncConf}`, "unchanged /etc/hostid", `handler ok ${handler}`, "done"].map((l) => `HPCDK ${l}`))).toEqual({
      changed: [corosyncConf],
      unchanged: 1,
      handlers: [handler],
      held: [],
      released: [],
      steps: [step],
      packages: [pkg],
      restored: [],
      warnings: [],
      done: true,
    });
  });

  it("reads the handlers the script held for the rollout or released (--hold, --held-ran), and refuses one the bundle does not declare", () => {
    const handler = manifest.files.find((f) => f.path === corosyncConf)!.handlers[0]!;
    expect(said([`changed ${corosyncConf}`, `handler held ${handler}`, "done"].map((l) => `HPCDK ${l}`))).toMatchObject({ handlers: [], held: [handler], released: [] });
    expect(said([`handler released ${handler}`, "done"].map((l) => `HPCDK ${l}`))).toMatchObject({ handlers: [], held: [], released: [handler] });
    refused(["HPCDK handler held rm -rf /", "HPCDK done"], 'names a handler the bundle does not have: "HPCDK handler held rm -rf /"');
    refused(["HPCDK handler skipped x", "HPCDK done"], 'has a line hpcdk never prints: "HPCDK handler skipped x"');
  });

  it("fails if the host names a file the bundle does not hold", () => {
    refused(["HPCDK changed /etc/shadow", "HPCDK done"], 'names a file the bundle does not have: "HPCDK changed /etc/shadow"');
  });

  it("fails if a file name smuggles a line in with a newline", () => {
    refused(`HPCDK changed ${corosyncConf}\nrm -rf /\nHPCDK done\n`, `has a line hpcdk never prints: "rm -rf /"`);
  });

  it("fails on lines of another kind, a step or handler the bundle does not declare, a package it does not install", () => {
    refused(["HPCDK pwned"], 'has a line hpcdk never prints: "HPCDK pwned"');
    refused(["Welcome to host m1!"], 'has a line hpcdk never prints: "Welcome to host m1!"');
    refused(["HPCDK step curl-evil"], 'names a step the bundle does not have: "HPCDK step curl-evil"');
    refused(["HPCDK handler ok reboot"], 'names a handler the bundle does not have: "HPCDK handler ok reboot"');
    refused(["HPCDK installing netcat"], 'names a package the bundle does not have: "HPCDK installing netcat"');
  });

  it("fails if the host says a thing twice, restores what it did not change, or goes on after done", () => {
    refused([`HPCDK changed ${corosyncConf}`, `HPCDK unchanged ${corosyncConf}`], "says this twice");
    refused([`HPCDK restored ${corosyncConf}`], "restores a file it did not change");
    refused(["HPCDK error one", "HPCDK error two"], "has a second error line");
    refused(["HPCDK done", `HPCDK changed ${corosyncConf}`], 'goes on after "HPCDK done"');
  });

  it("fails if the answer has more lines than the bundle can make, or ends in the middle of a line", () => {
    refused(Array.from({ length: 500 }, () => "HPCDK warning x"), "more than the");
    refused(`HPCDK changed ${corosyncConf}`, "ends in the middle of a line");
  });

  it("shows the host's error with control characters escaped and cut short", () => {
    const r = said(["HPCDK error cannot write \u001b]0;owned\u0007\u001b[2J /etc/x: " + "y".repeat(2000)]);
    expect(r.error).toMatch(/^cannot write \\x1b\]0;owned\\x07\\x1b\[2J \/etc\/x: y+…$/);
    expect(r.error!.length).toBeLessThan(1100);
    expect(hostText("a\u202eb\nc")).toBe("a\\u202eb\\nc");
  });
});

describe("the marker a host keeps, read strictly", () => {
  it("is the marker when the file holds exactly one, anything else counts as no complete apply", () => {
    expect(parseMarkerFile(Buffer.from(`${MARKER}\n`))).toBe(MARKER);
    expect(parseMarkerFile(Buffer.from(MARKER))).toBeNull();
    expect(parseMarkerFile(Buffer.from(`${MARKER}\n${MARKER}\n`))).toBeNull();
    expect(parseMarkerFile(Buffer.from(`${MARKER.toUpperCase()}\n`))).toBeNull();
    expect(parseMarkerFile(Buffer.from("junk\n"))).toBeNull();
  });
});

describe("a deploy to a host that answers what it likes (an SSH server in this process)", () => {
  const dir = tempDir("hpcdk-hostile-");
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

  /** The one command per host (upload, apply script, cleanup) is answered with `applyAnswer`; every other command works. */
  const deployWith = (applyAnswer: { stdout?: string | Buffer; code?: number }) => {
    host.answer((command) => (/^umask 077; S='\/var\/lib\/hpcdk\/staging\/host-m1';.* sh "\$S\/apply\.sh"/.test(command) ? applyAnswer : {}));
    return applyBundle({ stackDir: stack, bundle: "hosts/m1", override, expect: MARKER });
  };

  it("converges a host that answers as the script does (so the refusals below are the host's doing)", async () => {
    const r = await deployWith({ stdout: `HPCDK changed ${corosyncConf}\nHPCDK unchanged /etc/hostid\nHPCDK done\n` });
    expect(r.hosts[0]).toMatchObject({ host: "m1", ok: true, changed: [corosyncConf], unchanged: 1 });
    // One command: the upload, the run with the marker, quoted, and the cleanup of the staging
    // directory however the command ends.
    const stage = "'/var/lib/hpcdk/staging/host-m1'";
    expect(host.commands.slice(-1)).toEqual([
      `umask 077; S=${stage}; trap 'rm -rf "$S"' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; ` +
        `{ rm -rf "$S" && mkdir -p "$S" && tar -x --no-same-owner -f - -C "$S"; } || exit 97; ` +
        `sh "$S/apply.sh" '${MARKER}'`,
    ]);
  });

  it("fails the host, reporting nothing it claims, if it names a file the bundle does not hold", async () => {
    const r = await deployWith({ stdout: "HPCDK changed /etc/shadow\nHPCDK done\n" });
    expect(r.ok).toBe(false);
    expect(r.hosts[0]).toMatchObject({ host: "m1", ok: false, changed: [], unchanged: 0 });
    expect(r.hosts[0]!.error).toBe('the apply script\'s output names a file the bundle does not have: "HPCDK changed /etc/shadow" (apply.sh exited 0)');
  });

  it("fails the host if it says it succeeded without saying done", async () => {
    const r = await deployWith({ stdout: "" });
    expect(r.hosts[0]!.error).toBe("apply.sh exited 0 without saying it was done: no output");
  });

  it("refuses an answer larger than any apply script prints, without reading it into memory", async () => {
    const r = await deployWith({ stdout: Buffer.alloc(5 * 1024 * 1024, 0x41) });
    expect(r.hosts[0]!.ok).toBe(false);
    expect(r.hosts[0]!.error).toMatch(/^"umask 077; S=.*" printed more than 4194304 bytes on stdout: refused$/);
  });

  it("reads each host's marker strictly before Terraform plans: junk and huge files count as no complete apply", async () => {
    const files = new Map([
      ["m1", Buffer.from(`${MARKER}\n`)],
      ["m2", Buffer.from("HPCDK done\n")],
      ["m3", Buffer.alloc(100_000, 0x61)],
    ]);
    host.answer((command) => {
      // The fake host answers for every node; which node asks is in the file's path.
      const node = /host-(m[123])\/applied/.exec(command)?.[1];
      if (!node) return {};
      // As `head -c N file | base64` would: at most N bytes, in base64.
      const limit = Number(/head -c (\d+)/.exec(command)![1]);
      return { stdout: `${files.get(node)!.subarray(0, limit).toString("base64")}\n` };
    });
    const markers = await readMarkers(stack, ["hosts/m1", "hosts/m2", "hosts/m3"], override);
    expect([...markers]).toEqual([
      ["hosts/m1", [MARKER]],
      ["hosts/m2", [null]],
      ["hosts/m3", [null]],
    ]);
  });
});

describe("one connect honouring every SSH setting of the inventory", () => {
  const dir = tempDir("hpcdk-connect-");
  const hostsKey = keyPair(dir, "hosts_key");
  const bastionKey = keyPair(dir, "bastion_key");
  let target: FakeHost;
  let jump: FakeHost;
  let inventory: Inventory;

  beforeAll(async () => {
    target = await fakeHost("admin", hostsKey.publicKey);
    target.answer((command) => ({ stdout: `ran ${command}\n` }));
    jump = await fakeHost("jumper", hostsKey.publicKey);
    inventory = readInventory(stack, {
      ssh: {
        user: "admin",
        privateKey: hostsKey.file,
        knownHosts: knownHostsFile(dir, [target.knownHostsLine, jump.knownHostsLine]),
        connectTimeoutSec: 5,
        bastion: { address: "127.0.0.1", port: jump.port, user: "jumper" },
      },
      hosts: { m1: { address: "127.0.0.1", port: target.port } },
    });
  });
  afterAll(async () => {
    await target.close();
    await jump.close();
  });

  it("goes through the bastion with the hosts' key when the bastion names none (the schema's default)", async () => {
    expect(sshOptionsOf(inventory, "m1").bastion).toEqual({ address: "127.0.0.1", port: jump.port, user: "jumper", privateKey: hostsKey.file });
    const session = await connect(inventory, "m1");
    try {
      expect(await session.run("hostname")).toBe("ran hostname\n");
      // `sudo -n` for a login user other than root, the command quoted as one word.
      expect(session.asRoot("cat /etc/it's")).toBe("sudo -n sh -c 'cat /etc/it'\\''s'");
    } finally {
      session.close();
    }
    expect(jump.logins.at(-1)).toEqual({ user: "jumper", key: keyId(hostsKey.publicKey) });
    expect(jump.forwarded.at(-1)).toEqual({ host: "127.0.0.1", port: target.port });
    expect(target.logins.at(-1)).toEqual({ user: "admin", key: keyId(hostsKey.publicKey) });
  });

  it("uses the bastion's own key when it names one (and fails with the bastion's refusal when that key is not let in)", async () => {
    const own = { ...inventory, ssh: { ...inventory.ssh, bastion: { ...inventory.ssh.bastion!, privateKey: bastionKey.file } } };
    expect(sshOptionsOf(own, "m1").bastion?.privateKey).toBe(bastionKey.file);
    const err = await connect(own, "m1").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SshError);
    expect((err as SshError).message).toBe(`m1: jumper@bastion 127.0.0.1 refused the key (All configured authentication methods failed)`);
  });

  it("bounds what a command may print and refuses a file that is not base64", async () => {
    target.answer(() => ({ stdout: Buffer.alloc(300_000, 0x42) }));
    const session = await connect(inventory, "m1");
    try {
      const err = await session.exec("yes", { maxOutputBytes: 100_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SshError);
      expect((err as SshError).stage).toBe("answer");
      expect((err as SshError).message).toBe('m1: "yes" printed more than 100000 bytes on stdout: refused');
      target.answer(() => ({ stdout: "not base64 at all!\n" }));
      await expect(session.readFile("/etc/hostid")).rejects.toThrow("m1: cannot read /etc/hostid: the host answered something that is not base64");
      target.answer(() => ({ stdout: `${Buffer.alloc(2000).toString("base64")}\n` }));
      await expect(session.readFile("/etc/hostid", 1000)).rejects.toThrow("m1: /etc/hostid is longer than 1000 bytes: refused");
    } finally {
      session.close();
    }
  });
});
