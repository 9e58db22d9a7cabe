import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { copyOfHpcdk, FIXTURES, hpcdk, ROOT, tempDir } from "./helpers.js";

describe("hpcdk synth", () => {
  it("synthesizes every site in sites/ and exits 0", () => {
    const out = join(tempDir(), "out");
    const result = hpcdk(["synth", "--out", out]);
    // A fresh output directory: the sites' secrets are generated beside it, once.
    const lines = result.stderr.split("\n").filter(Boolean);
    // radon's Prometheus runs on one host: said at every synth.
    expect(lines.filter((l) => l.startsWith("hpcdk: warning: "))).toEqual([
      "hpcdk: warning: sites/radon.yaml: monitoring.server.host: Prometheus and Alertmanager run on radon4 alone, not HA: when radon4 fails nobody is alerted (name a pool and a floating IP in monitoring.server for HA)",
    ]);
    const generated = lines.filter((l) => !l.startsWith("hpcdk: warning: "));
    expect(generated.length).toBeGreaterThan(2);
    for (const line of generated) expect(line).toMatch(new RegExp(`^hpcdk: generated secret ${join(out, "..", "secrets")}/(lab|minilab|radon)/[a-z0-9-]+$`));
    expect(generated).toContain(`hpcdk: generated secret ${join(out, "..", "secrets", "radon", "corosync-authkey")}`);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^lab: 4 hosts \\(stc1, stc2, stc3, stc4\\), \\d+ files -> ${out}/stacks/lab\n` +
          `minilab: 3 hosts \\(m1, m2, m3\\), \\d+ files -> ${out}/stacks/minilab\n` +
          `radon: 3 hosts \\(radon1, radon3, radon4\\), \\d+ files -> ${out}/stacks/radon\n$`,
      ),
    );
    expect(existsSync(join(out, "stacks/lab/hosts/stc1/etc/corosync/corosync.conf"))).toBe(true);
  });

  it("exits 1 and lists every problem if the site is invalid", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "bad.yaml"), readFileSync(join(FIXTURES, "two-node.yaml"), "utf8").replace("id: 2", "id: 1").replace("fsid: 7", "fsid: x"));
    const result = hpcdk(["synth", "--out", join(dir, "out"), join(dir, "bad.yaml")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "hpcdk: the site is invalid (1 problem); nothing was written:\n" +
        '  bad.yaml:24:11: nfs.groups.0.exports.0.fsid: must be a whole number or a UUID, got "x"\n',
    );
  });

  it("warns at every synth when stonith is off", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "nostonith.yaml"), readFileSync(join(FIXTURES, "two-node.yaml"), "utf8").replace("fencing:\n", "fencing:\n  stonith: false\n"));
    const result = hpcdk(["synth", "-q", "--out", join(dir, "out"), join(dir, "nostonith.yaml")]);
    expect(result.status).toBe(0);
    expect(result.stderr).toBe(
      "hpcdk: warning: nostonith.yaml: fencing.stonith is false: Pacemaker will not fence a lost node, so a pool can be imported on two nodes at once and be corrupted\n" +
        `hpcdk: generated secret ${join(dir, "secrets", "nostonith", "corosync-authkey")}\n`,
    );
  });

  it("exits 2 on an internal error (an output directory it cannot write)", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "file"), "");
    const result = hpcdk(["synth", "--out", join(dir, "file", "out")]);
    expect(result.status).toBe(2);
    expect(result.stderr.replace(/^hpcdk: warning: .*\n/gm, "")).toMatch(/^hpcdk: internal error: Error: (ENOTDIR|EEXIST)/);
    // The stack names the TypeScript sources (mapped when printed), not the compiled bundle.
    expect(result.stderr).toMatch(new RegExp(`at \\S+ \\(${ROOT}/stacks/synth\\.ts:\\d+:\\d+\\)`));
    expect(result.stderr).not.toContain(".cache/cli");
  });
});

describe("hpcdk schema", () => {
  it("prints a JSON Schema that rejects unknown keys and documents defaults", () => {
    const result = hpcdk(["schema"]);
    expect(result.status).toBe(0);
    const schema = JSON.parse(result.stdout);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.required).toEqual(["cluster", "nodes", "storage", "nfs"]);
    expect(schema.properties.cluster.properties.corosync.properties.tokenMs.default).toBe(3000);
  });

  it("matches the committed schema/site.schema.json (run npm run schema after changing the schema)", () => {
    const result = hpcdk(["schema"]);
    expect(result.stdout).toBe(readFileSync(join(ROOT, "schema", "site.schema.json"), "utf8"));
  });
});

describe("the hpcdk command's compiled build (cli/bin/compiled.js)", () => {
  const run = (dir: string, ...args: string[]) => spawnSync(process.execPath, [join(dir, "cli", "bin", "hpcdk.js"), ...args], { cwd: dir, encoding: "utf8" });
  const build = (dir: string) => JSON.parse(readFileSync(join(dir, ".cache", "cli", "current.json"), "utf8")).build as string;

  it("follows an edit of the sources: the next command runs a new build", () => {
    const dir = copyOfHpcdk({ prefix: "hpcdk-compiled-" });
    const first = run(dir, "--help");
    expect(first.stderr).toBe("");
    expect(first.stdout).toMatch(/^Usage: hpcdk \[options\]/);
    const before = build(dir);
    const main = join(dir, "cli", "main.ts");
    writeFileSync(main, readFileSync(main, "utf8").replace('.name("hpcdk")', '.name("hpcdk-edited")'));
    const second = run(dir, "--help");
    expect(second.stdout).toMatch(/^Usage: hpcdk-edited \[options\]/);
    expect(build(dir)).not.toBe(before);
    // The previous build stays for commands still running from it.
    expect(existsSync(join(dir, ".cache", "cli", before, "main.js"))).toBe(true);
  });

  it("runs the sources through tsx when it cannot write a build", () => {
    const dir = copyOfHpcdk({ prefix: "hpcdk-compiled-" });
    writeFileSync(join(dir, ".cache"), "not a directory");
    const r = run(dir, "synth", "-q", "--out", join(dir, "out"), join(ROOT, "sites", "radon.yaml"));
    expect(r.stderr).toMatch(/^hpcdk: warning: .*radon.yaml: monitoring.server.host: .*\n(hpcdk: generated secret .*\n)+$/);
    expect(r.status).toBe(0);
    expect(existsSync(join(dir, "out", "stacks", "radon", "cluster", "cib.xml"))).toBe(true);
  });
});
