/**
 * `hpcdk diff` as CI runs it: exit codes (0 no change, 1 changes, 2 error), --fail-on, the
 * formats, and a tree of files as deployed on the hosts (no manifests) with a hand edit and a
 * secret value in it.
 */
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { hpcdk, ROOT, tempDir } from "../helpers.js";

let dir: string;
const site = () => join(dir, "sites", "lab.yaml");
function edit(from: string, to: string): void {
  const text = readFileSync(site(), "utf8");
  expect(text).toContain(from);
  writeFileSync(site(), text.replace(from, to));
}

beforeEach(() => {
  // A project directory with the lab site, synthesized once as the "deployed" side.
  dir = tempDir("hpcdk-diff-cli-");
  mkdirSync(join(dir, "sites"));
  cpSync(join(ROOT, "test", "fixtures", "diff", "lab.yaml"), site());
  const synth = hpcdk(["synth", "-q", "--out", "out", "sites/lab.yaml"], dir);
  expect(synth.status, synth.stderr).toBe(0);
});

describe("hpcdk diff exit codes", () => {
  it("exits 0 and says so when nothing changes", () => {
    const r = hpcdk(["diff", "lab", "--against", "out"], dir);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("hpcdk diff lab: sites/lab.yaml in the working tree vs out/stacks/lab\nno changes\n");
    expect(r.status).toBe(0);
  });

  it("exits 1 on a change, and with --fail-on only when the impact reaches it", () => {
    edit("    tokenMs: 3000\n", "    tokenMs: 1000\n");
    const plain = hpcdk(["diff", "lab", "--against", "out"], dir);
    expect(plain.status).toBe(1);
    expect(plain.stdout).toContain("impact: RELOAD\n");
    expect(plain.stdout).not.toContain("\u001b["); // not a terminal: no colour
    expect(hpcdk(["diff", "lab", "--against", "out", "--fail-on", "reload"], dir).status).toBe(1);
    expect(hpcdk(["diff", "lab", "--against", "out", "--fail-on", "restart"], dir).status).toBe(0);
    expect(hpcdk(["diff", "lab", "--against", "out", "--fail-on", "outage"], dir).status).toBe(0);
  });

  it("against a directory, a cluster rename shows only the files' declared impact (the settings need --base)", () => {
    edit("  name: stc_cluster\n", "  name: stc_new\n");
    // A directory has no site file to compare settings with: the files' declared impact is what it can tell.
    const against = hpcdk(["diff", "lab", "--against", "out", "--format", "json"], dir);
    expect(against.status).toBe(1);
    const report = JSON.parse(against.stdout);
    expect(report.settings).toBeNull();
    expect(report.settingsNote).toBe("not compared: the other side is a directory of rendered files");
    expect(report.impact).toBe("reload");
  });

  it("writes Markdown and JSON", () => {
    edit("    tokenMs: 3000\n", "    tokenMs: 1000\n");
    const md = hpcdk(["diff", "lab", "--against", "out", "--format", "markdown"], dir);
    expect(md.stdout.startsWith("### hpcdk diff: `lab`\n")).toBe(true);
    expect(md.stdout).toContain("<details><summary><b>host stc1</b>: 1 changed file</summary>");
    const json = JSON.parse(hpcdk(["diff", "lab", "--against", "out", "--format", "json"], dir).stdout);
    expect(json.stack.bundles.map((b: { dir: string }) => b.dir)).toEqual(["hosts/stc1", "hosts/stc2", "hosts/stc3", "hosts/stc4"]);
  });

  it.each([
    [["--against", "nowhere"], "hpcdk: diff: --against nowhere: no such directory\n"],
    [["--against", "sites"], "hpcdk: diff: sites is not a synthesized stack of site lab: it has neither manifests/ nor stacks/lab/manifests/ nor hosts/\n"],
    [[], "hpcdk: diff: nothing to compare with: cdktf.out does not exist (run hpcdk synth first, or give --base GIT_REF or --against DIR)\n"],
    [["--against", "out", "--fail-on", "sometimes"], 'hpcdk: diff: --fail-on must be one of reload, restart, resource-move, outage, got "sometimes"\n'],
    [["--against", "out", "--base", "HEAD"], "hpcdk: diff: give --base or --against, not both\n"],
    [["--against", "out", "--format", "html"], 'hpcdk: diff: --format must be text, markdown or json, got "html"\n'],
  ])("exits 2 if the input is wrong: %j", (args, message) => {
    const r = hpcdk(["diff", "lab", ...args], dir);
    expect(r.stderr).toBe(message);
    expect(r.stdout).toBe("");
    expect(r.status).toBe(2);
  });

  it("exits 2 if the site is invalid (never 'no changes' for a broken site)", () => {
    edit("    id: 2\n", "    id: 1\n");
    const r = hpcdk(["diff", "lab", "--against", "out"], dir);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe('hpcdk: the site is invalid (1 problem):\n  sites/lab.yaml:20:5: nodes.1.id: node id "1" is already used by nodes.0.id\n');
  });
});

describe("hpcdk diff against files as deployed on the hosts (no manifests)", () => {
  it("shows a hand-edited file, a rotated secret, and never the secret", () => {
    const hosts = join(dir, "fetched");
    cpSync(join(dir, "out", "stacks", "lab", "hosts"), join(hosts, "hosts"), { recursive: true });
    cpSync(join(dir, "out", "stacks", "lab", "cluster"), join(hosts, "cluster"), { recursive: true });
    // stc1: someone edited corosync.conf by hand and dropped the managed header.
    const conf = join(hosts, "hosts", "stc1", "etc", "corosync", "corosync.conf");
    writeFileSync(conf, readFileSync(conf, "utf8").replace(/^#.*\n#.*\n/, "").replace("token: 3000", "token: 5000"));
    // The secrets folder holds the new key; stc1 has it already, stc2 the old one, stc3/stc4 were not fetched.
    const newKey = Buffer.alloc(256, 0x5a);
    const oldKey = Buffer.alloc(256, 0xa5);
    mkdirSync(join(dir, "secrets", "lab"), { recursive: true });
    writeFileSync(join(dir, "secrets", "lab", "corosync-authkey"), newKey);
    writeFileSync(join(hosts, "hosts", "stc1", "etc", "corosync", "authkey"), newKey);
    writeFileSync(join(hosts, "hosts", "stc2", "etc", "corosync", "authkey"), oldKey);
    rmSync(join(hosts, "hosts", "stc4", "usr"), { recursive: true });

    const r = hpcdk(["diff", "lab", "--against", "fetched", "--format", "json"], dir);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    const byDir = Object.fromEntries(report.stack.bundles.map((b: { dir: string }) => [b.dir, b]));
    expect(Object.keys(byDir)).toEqual(["hosts/stc1", "hosts/stc2", "hosts/stc3", "hosts/stc4"]);
    const edited = byDir["hosts/stc1"].files[0];
    expect(edited.path).toBe("/etc/corosync/corosync.conf");
    expect(edited.notes).toEqual(["the other side lacks the managed header: written or edited by hand"]);
    expect(edited.patch).toContain("-    token: 5000\n+    token: 3000\n");
    expect(byDir["hosts/stc1"].secrets).toEqual([]);
    expect(byDir["hosts/stc2"].secrets).toEqual([
      { name: "corosync-authkey", paths: ["/etc/corosync/authkey"], status: "changed", notes: [], impact: { kind: "outage", detail: "restart corosync and pacemaker on every node at once" } },
    ]);
    expect(byDir["hosts/stc3"].secrets[0].status).toBe("unknown");
    expect(byDir["hosts/stc4"].files).toEqual([
      expect.objectContaining({ path: "/usr/local/sbin/hpcdk-zpool-create-stc2_pool", status: "added", notes: ["missing on the other side"] }),
    ]);
    expect(report.stack.notes).toEqual([`${join("fetched")} has no manifests: files are compared by content only (owners and modes unknown)`]);
    expect(report.impact).toBe("outage");
    for (const key of [newKey, oldKey]) {
      expect(r.stdout).not.toContain(key.toString("hex").slice(0, 32));
      expect(r.stdout).not.toContain(key.toString("base64").slice(0, 32));
    }
  });
});
