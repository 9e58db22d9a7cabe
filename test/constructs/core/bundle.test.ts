import { App, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Bundle, fillSecrets, GeneratedFile, SecretFile, secretRef } from "../../../constructs/core/index.js";

function bundle() {
  const stack = new TerraformStack(new App({ skipValidation: true }), "site");
  return { stack, host: new Bundle(stack, "host-n1", { kind: "host", name: "n1", source: "sites/site.yaml" }) };
}

describe("Bundle", () => {
  it("fails if two constructs claim one path on one host", () => {
    const { stack, host } = bundle();
    new GeneratedFile(stack, "a", { bundle: host, path: "/etc/x.conf", content: (h) => `${h}x\n` });
    expect(() => new GeneratedFile(stack, "b", { bundle: host, path: "/etc/x.conf", content: (h) => `${h}y\n` })).toThrow(
      "Bundle [site/host-n1]: /etc/x.conf is claimed by both site/a and site/b",
    );
  });

  it("fails if anything but the CIB goes to the cluster bundle: the CIB step would never install it", () => {
    const { stack } = bundle();
    const cluster = new Bundle(stack, "cluster", { kind: "cluster", name: "cluster", source: "sites/site.yaml" });
    new GeneratedFile(stack, "cib", { bundle: cluster, path: "/cib.xml", content: (h) => h });
    expect(() => new GeneratedFile(stack, "f", { bundle: cluster, path: "/etc/x.conf", content: (h) => h })).toThrow(
      "Bundle [site/cluster]: site/f puts /etc/x.conf in the cluster bundle, which carries only /cib.xml: use a host or group bundle",
    );
    expect(() => cluster.addStep({ id: "s", phase: "after-files", description: "s", run: "true" })).toThrow(
      'Bundle [site/cluster]: step "s": after-cib steps belong to the cluster bundle, and the cluster bundle has no other steps',
    );
    expect(() => cluster.addStep({ id: "s", phase: "after-cib", description: "s", run: "true" })).toThrow('Bundle [site/cluster]: step "s" names no hosts');
    cluster.addStep({ id: "s", phase: "after-cib", description: "s", run: "true", hosts: ["n1"] });
    expect(() => cluster.addPackage({ debian: "pcs" })).toThrow("a construct puts package pcs in the cluster bundle");
  });

  it("fails if a secret and a file claim one path", () => {
    const { stack, host } = bundle();
    new SecretFile(stack, "key", { bundle: host, path: "/etc/munge/munge.key", secret: "munge-key", generate: { randomBytes: 1024 } });
    expect(() => new GeneratedFile(stack, "f", { bundle: host, path: "/etc/munge/munge.key", content: (h) => h })).toThrow(
      "Bundle [site/host-n1]: /etc/munge/munge.key is claimed by both site/key and site/f",
    );
  });

  it("fails if a secret file would be readable by others", () => {
    const { stack, host } = bundle();
    expect(
      () => new SecretFile(stack, "key", { bundle: host, path: "/etc/k", secret: "k", generate: { randomBytes: 32 }, mode: 0o644 }),
    ).toThrow("SecretFile [site/key]: /etc/k must not be readable by group or others, got mode 644");
  });

  it("fails if a file does not carry the managed header", () => {
    const { stack, host } = bundle();
    const file = new GeneratedFile(stack, "f", { bundle: host, path: "/etc/f", content: () => "hand-written\n" });
    expect(() => file.render()).toThrow("GeneratedFile [site/f]: /etc/f does not carry the managed header");
  });

  it("fails if a template misses a field (strict templates)", () => {
    const { stack, host } = bundle();
    const file = new GeneratedFile(stack, "f", { bundle: host, path: "/etc/corosync/corosync.conf", template: "pacemaker/corosync.conf", context: {} });
    expect(() => file.render()).toThrow(/GeneratedFile \[site\/f\]: template pacemaker\/corosync\.conf\.hbs: "clusterName" not defined/);
  });

  it("lists files sorted by path with sha256, and secrets without their bytes", () => {
    const { stack, host } = bundle();
    new GeneratedFile(stack, "z", { bundle: host, path: "/z", content: (h) => `${h}z\n`, mode: 0o600, handlers: ["reload z"] });
    new GeneratedFile(stack, "a", { bundle: host, path: "/a", content: (h) => `${h}a\n` });
    new SecretFile(stack, "s", { bundle: host, path: "/etc/s", secret: "s", generate: { randomBytes: 32 } });
    host.addStep({ id: "b", phase: "after-files", description: "b", run: "true" });
    host.addStep({ id: "a", phase: "after-files", description: "a", run: "true" });
    host.addStep({ id: "c", phase: "before-files", description: "c", run: "true" });
    const { manifest, sha256 } = host.render();
    expect(manifest.files.map((f) => [f.path, f.mode, f.handlers, f.impact.kind])).toEqual([
      ["/a", "0644", [], "outage"],
      ["/z", "0600", ["reload z"], "outage"],
    ]);
    expect(manifest.files[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.secretFiles).toEqual([
      {
        path: "/etc/s",
        owner: "root",
        group: "root",
        mode: "0400",
        secret: "s",
        generate: { randomBytes: 32 },
        handlers: [],
        impact: { kind: "outage", detail: "impact not declared by the construct: assume the worst" },
      },
    ]);
    expect(manifest.secrets).toEqual([{ name: "s", generate: { randomBytes: 32 } }]);
    expect(manifest.steps.map((s) => s.id)).toEqual(["c", "a", "b"]);
    expect(sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("keeps secrets inside files as placeholders and lists them", () => {
    const { stack, host } = bundle();
    const file = new GeneratedFile(stack, "dbd", {
      bundle: host,
      path: "/etc/slurm/slurmdbd.conf",
      mode: 0o600,
      secrets: [{ name: "slurmdbd-storage-pass", generate: { password: 32 } }],
      content: (h) => `${h}StoragePass=${secretRef("slurmdbd-storage-pass")}\n`,
    });
    expect(file.render().bytes.toString()).toContain("StoragePass=@@hpcdk-secret:slurmdbd-storage-pass@@\n");
    expect(fillSecrets(file.render().bytes.toString(), { "slurmdbd-storage-pass": "s3cret" })).toContain("StoragePass=s3cret\n");
    expect(host.render().manifest.secrets).toEqual([{ name: "slurmdbd-storage-pass", generate: { password: 32 } }]);
  });

  it("fails if a file uses a secret it does not declare", () => {
    const { stack, host } = bundle();
    const file = new GeneratedFile(stack, "f", { bundle: host, path: "/etc/f", mode: 0o600, content: (h) => `${h}${secretRef("x")}\n` });
    expect(() => file.render()).toThrow("GeneratedFile [site/f]: /etc/f uses undeclared secrets x");
  });

  it("fails if a file that holds secrets is readable by others", () => {
    const { stack, host } = bundle();
    expect(
      () => new GeneratedFile(stack, "f", { bundle: host, path: "/etc/f", secrets: [{ name: "x", generate: { password: 8 } }], content: (h) => h }),
    ).toThrow("GeneratedFile [site/f]: /etc/f holds secrets and must not be readable by others, got mode 644");
  });

  it("lists packages once, and fails if two constructs pin different versions", () => {
    const { host } = bundle();
    host.addPackage({ debian: "munge", rhel: "munge" });
    host.addPackage({ debian: "munge", rhel: "munge" });
    expect(host.render().manifest.packages).toEqual([{ debian: "munge", rhel: "munge" }]);
    const other = bundle().host;
    other.addPackage({ debian: "slurmctld", version: "22.05.8-4" });
    expect(() => other.addPackage({ debian: "slurmctld", version: "23.02.1" })).toThrow(
      "Bundle [site/host-n1]: package slurmctld is added twice with different names or versions",
    );
  });

  it("fails if a step id is added twice", () => {
    const { host } = bundle();
    host.addStep({ id: "a", phase: "after-files", description: "a", run: "true" });
    expect(() => host.addStep({ id: "a", phase: "after-files", description: "a", run: "true" })).toThrow(
      'Bundle [site/host-n1]: step "a" is added twice',
    );
  });
});
