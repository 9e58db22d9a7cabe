/**
 * Synthesis (stacks/synth.ts): one writer. Every file of a stack directory is a file construct,
 * rendered into memory and written once; the secrets come from the store the stack is given and
 * only their keyed fingerprint reaches the Terraform JSON.
 */
import { createHmac } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { describe, expect, it, onTestFinished } from "vitest";
import { FINGERPRINT_KEY } from "../common/contracts/marker.js";
import { Bundle, GeneratedFile, renderStackFiles, StackFile, type SecretSpec } from "../constructs/core/index.js";
import { SecretsError, type SecretStore } from "../stacks/secrets.js";
import { buildApp, renderOutput, synthesize } from "../stacks/synth.js";
import { loadExamples, readTree, tempDir } from "./helpers.js";

const [lab] = loadExamples(["lab"]);

/** The Terraform JSON's triggers of every deployment resource. */
function triggers(tfJson: string): Record<string, { bundle_sha256: string; secrets: string }> {
  const resources = (JSON.parse(tfJson) as { resource: Record<string, Record<string, { triggers: { bundle_sha256: string; secrets: string } }>> }).resource;
  return Object.fromEntries(Object.entries(resources.null_resource!).map(([id, r]) => [id, r.triggers]));
}

describe("secrets", () => {
  it("never writes a secret's value into cdk.tf.json or any other file of the output, in any spelling", () => {
    // GIVEN lab, whose bundles hold keys, passwords and a TLS key
    const project = tempDir("hpcdk-synth-");
    synthesize([lab!], join(project, "cdktf.out"));
    const secretsDir = join(project, "secrets", "lab");
    const values = readdirSync(secretsDir).map((name) => ({ name, bytes: readFileSync(join(secretsDir, name)) }));
    expect(values.map((v) => v.name)).toEqual(expect.arrayContaining([FINGERPRINT_KEY, "corosync-authkey", "munge-key", "slurmdbd-storage-password"]));
    // WHEN every file of the output is searched for each value, as it is and hex- and base64-encoded
    const out = readTree(join(project, "cdktf.out"));
    const tfJson = out.get("stacks/lab/cdk.tf.json")!.toString("utf8");
    const found: string[] = [];
    for (const { name, bytes } of values) {
      const spellings = [bytes, Buffer.from(bytes.toString("hex")), Buffer.from(bytes.toString("base64")), Buffer.from(bytes.toString("utf8").trim())];
      for (const [path, file] of out) if (spellings.some((s) => s.length >= 16 && file.includes(s))) found.push(`${name} in ${path}`);
    }
    // THEN none is anywhere; the triggers carry the HMAC of each bundle's secrets under the site's key
    expect(found).toEqual([]);
    const manifest = JSON.parse(out.get("stacks/lab/manifests/hosts/stc1.json")!.toString("utf8")) as { secrets: SecretSpec[] };
    expect(manifest.secrets.length).toBeGreaterThan(0);
    const mac = createHmac("sha256", readFileSync(join(secretsDir, FINGERPRINT_KEY)));
    for (const name of manifest.secrets.map((s) => s.name).sort()) mac.update(`${name}\u0000`).update(readFileSync(join(secretsDir, name))).update("\u0000");
    expect(Object.values(triggers(tfJson)).map((t) => t.secrets)).toContain(mac.digest("hex"));
  });

  it("takes the secrets from the store the stack is given: it is asked to make them, then for fingerprints", () => {
    // GIVEN a store that keeps nothing on disk
    const asked: string[][] = [];
    const made: string[] = [];
    const store: SecretStore = {
      ensure: (specs) => {
        made.push(...specs.map((s) => s.name));
        return [];
      },
      fingerprint: (names) => {
        asked.push([...names]);
        return names.length === 0 ? "none" : createHmac("sha256", "test").update(names.join(",")).digest("hex");
      },
    };
    // WHEN the site is built with it and rendered
    const built = buildApp([lab!], join(tempDir(), "cdktf.out"), () => store);
    built.stacks[0]!.secrets.ensure(built.stacks[0]!.bundles.flatMap((b) => b.render().manifest.secrets));
    const tfJson = renderOutput(built).get("stacks/lab/cdk.tf.json")!.bytes.toString("utf8");
    // THEN the triggers hold what the store said, for the names each bundle uses
    expect(made).toContain("munge-key");
    const cluster = built.stacks[0]!.cluster.render().manifest.secrets.map((s) => s.name);
    expect(asked).toContainEqual(cluster);
    const fromStore = Object.values(triggers(tfJson)).map((t) => t.secrets);
    expect(fromStore).toContain(createHmac("sha256", "test").update(built.stacks[0]!.hosts["stc1"]!.render().manifest.secrets.map((s) => s.name).join(",")).digest("hex"));
  });
});

describe("one writer", () => {
  it("replaces a site's stack directory as a whole and leaves other sites' alone", () => {
    // GIVEN an output with lab and another site's directory, and a stale file in lab's
    const project = tempDir("hpcdk-synth-");
    const out = join(project, "cdktf.out");
    synthesize([lab!], out);
    mkdirSync(join(out, "stacks", "other"));
    writeFileSync(join(out, "stacks", "other", "cdk.tf.json"), "{}");
    writeFileSync(join(out, "stacks", "lab", "hosts", "stc1", "stale.conf"), "from an earlier synth\n");
    const before = readTree(out);
    // WHEN lab is synthesized again
    synthesize([lab!], out);
    // THEN the stale file is gone, the rest is the same, the other site is untouched, no staging is left
    const after = readTree(out);
    expect([...before.keys()].filter((p) => !after.has(p))).toEqual(["stacks/lab/hosts/stc1/stale.conf"]);
    expect([...after.keys()].filter((p) => !before.has(p))).toEqual([]);
    expect(after.get("stacks/other/cdk.tf.json")!.toString()).toBe("{}");
    expect(readdirSync(project).sort()).toEqual(["cdktf.out", "secrets"]);
  });

  it("writes nothing and leaves the earlier output as it was when the secrets cannot be used", () => {
    // GIVEN a synthesized output, then a secret replaced by a link
    const project = tempDir("hpcdk-synth-");
    const out = join(project, "cdktf.out");
    synthesize([lab!], out);
    const before = readTree(out);
    const secret = join(project, "secrets", "lab", "munge-key");
    writeFileSync(join(project, "elsewhere"), "x".repeat(1024));
    rmSync(secret);
    symlinkSync(join(project, "elsewhere"), secret);
    // WHEN it is synthesized again
    expect(() => synthesize([lab!], out)).toThrow(SecretsError);
    // THEN the output is byte for byte what it was, and no staging directory is left
    expect(readTree(out)).toEqual(before);
    expect(readdirSync(project).sort()).toEqual(["cdktf.out", "elsewhere", "secrets"]);
  });

  it("keeps an output directory that is a link (to another disk, say) and writes into its target", () => {
    // GIVEN cdktf.out as a link to a directory elsewhere: on another file system where this
    // machine has one (/dev/shm), so nothing can be renamed from beside the link into it
    const project = tempDir("hpcdk-synth-");
    const otherDisk = existsSync("/dev/shm") && statSync("/dev/shm").dev !== statSync(project).dev;
    const target = otherDisk ? mkdtempSync("/dev/shm/hpcdk-synth-target-") : tempDir("hpcdk-synth-target-");
    onTestFinished(() => rmSync(target, { recursive: true, force: true }));
    symlinkSync(target, join(project, "cdktf.out"));
    // WHEN the site is synthesized, twice
    synthesize([lab!], join(project, "cdktf.out"));
    synthesize([lab!], join(project, "cdktf.out"));
    // THEN the link is still a link, the files are in its target, and no staging is left there
    expect(lstatSync(join(project, "cdktf.out")).isSymbolicLink()).toBe(true);
    expect(readdirSync(target).sort()).toEqual(["manifest.json", "stacks"]);
    expect(existsSync(join(target, "stacks", "lab", "cdk.tf.json"))).toBe(true);
  });

  it("creates no output directory when the first synth fails", () => {
    const project = tempDir("hpcdk-synth-");
    mkdirSync(join(project, "secrets", "lab"), { recursive: true });
    symlinkSync("/etc/hostname", join(project, "secrets", "lab", "munge-key"));
    expect(() => synthesize([lab!], join(project, "cdktf.out"))).toThrow(SecretsError);
    expect(existsSync(join(project, "cdktf.out"))).toBe(false);
    expect(readdirSync(project)).toEqual(["secrets"]);
  });

  it("fails if two file constructs claim one path of the stack directory, naming both", () => {
    const stack = new TerraformStack(new App({ skipValidation: true, outdir: tempDir() }), "s");
    const host = new Bundle(stack, "host", { kind: "host", name: "n1", source: "sites/s.yaml" });
    new GeneratedFile(stack, "f", { bundle: host, path: "/etc/x.conf", content: (h) => h });
    new StackFile(stack, "other", { path: "hosts/n1/etc/x.conf", content: () => "" });
    expect(() => renderStackFiles(stack)).toThrow("StackFile [s/other]: hosts/n1/etc/x.conf is claimed by both s/f/stack-file and s/other");
  });

  it("fails if a file construct's path leaves the stack directory", () => {
    const stack = new TerraformStack(new App({ skipValidation: true, outdir: tempDir() }), "s");
    expect(() => new StackFile(stack, "up", { path: "../x", content: () => "" })).toThrow('StackFile [s/up]: path must be relative to the stack directory, without "." or "..", got "../x"');
    expect(() => new StackFile(stack, "abs", { path: "/x", content: () => "" })).toThrow('got "/x"');
  });
});
