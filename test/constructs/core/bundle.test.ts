import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Bundle, fillSecrets, GeneratedFile, SecretFile, secretRef, type BundleProps } from "../../../constructs/core/index.js";
import { buildApp, SynthError } from "../../../stacks/synth.js";
import { NO_SECRETS } from "../../../stacks/secrets.js";
import { FIXTURES, siteFromText, tempDir } from "../../helpers.js";

function bundle(props: Partial<BundleProps> = {}) {
  const stack = new TerraformStack(new App({ skipValidation: true }), "site");
  return { stack, host: new Bundle(stack, "host-n1", { kind: "host", name: "n1", source: "sites/site.yaml", ...props }) };
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
    expect(() => file.render()).toThrow(/GeneratedFile \[site\/f\]: template pacemaker\/corosync\.conf\.hbs: "clusterName" not defined \(line 2\)/);
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

describe("deploy.packageVersions: pinned package versions", () => {
  /** The HA packages of a management node, as the Pacemaker constructs add them. */
  function haHost(packageVersions: Record<string, string>) {
    const { host } = bundle({ packageVersions });
    host.addPackage({ debian: "corosync", rhel: "corosync" });
    host.addPackage({ debian: "pacemaker", rhel: "pacemaker" });
    host.addPackage({ debian: "pcs", rhel: "pcs" });
    host.addPackage({ debian: "fence-agents", rhel: "fence-agents-all" });
    host.addPackage({ debian: "resource-agents", rhel: "resource-agents" });
    return host.render();
  }

  it("pins every package of the name, by its Debian or its RHEL-family name, in the manifest and the apply script", () => {
    const { manifest, applyScript } = haHost({ pacemaker: "2.1.5-1+deb12u1", "fence-agents-all": "4.10.0-43.el9" });
    expect(manifest.packages).toEqual([
      { debian: "corosync", rhel: "corosync" },
      { debian: "fence-agents", rhel: "fence-agents-all", version: "4.10.0-43.el9" },
      { debian: "pacemaker", rhel: "pacemaker", version: "2.1.5-1+deb12u1" },
      { debian: "pcs", rhel: "pcs" },
      { debian: "resource-agents", rhel: "resource-agents" },
    ]);
    expect(applyScript).toContain("want_package 'pacemaker' 'pacemaker' '2.1.5-1+deb12u1'\n");
    expect(applyScript).toContain("want_package 'corosync' 'corosync' ''\n");
    expect(applyScript).toContain("apt-get install -y -q --allow-downgrades $MISSING");
  });

  it("leaves the apply script as it was when nothing is pinned", () => {
    const { applyScript } = haHost({});
    expect(applyScript).not.toContain("--allow-downgrades");
    expect(applyScript).toContain("apt-get install -y -q $MISSING");
  });

  /**
   * Runs the package part of a rendered apply script with stand-ins for the package tools on
   * PATH (nothing else): `installed` is what the host has, the result what apt-get or dnf was asked.
   */
  function installPackages(script: string, family: "debian" | "rhel", installed: Record<string, string>) {
    const dir = tempDir("hpcdk-packages-");
    const bin = join(dir, "bin");
    mkdirSync(bin);
    const tool = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    writeFileSync(join(dir, "installed"), Object.entries(installed).map(([n, v]) => `${n}=${v}\n`).join(""));
    const record = `printf '%s\\n' "$*" >> ${dir}/calls`;
    const lookup = (found: string) => `while IFS='=' read -r n v; do ${found}; done < ${dir}/installed; exit 1`;
    if (family === "debian") {
      tool("apt-get", record);
      // dpkg-query -W -f FORMAT NAME
      tool("dpkg-query", lookup(`if [ "$n" = "$4" ]; then case $3 in *Status*) printf 'install ok installed' ;; *) printf '%s' "$v" ;; esac; exit 0; fi`));
    } else {
      tool("dnf", record);
      // rpm -q NAME or rpm -q NAME-VERSION
      tool("rpm", lookup(`if [ "$2" = "$n" ] || [ "$2" = "$n-$v" ]; then exit 0; fi`));
    }
    const start = script.indexOf("# --- packages ---");
    const end = script.indexOf("# --- steps before the files ---");
    expect(start).toBeGreaterThan(0);
    // The restarts held back while packages install: a policy-rc.d in the temporary directory,
    // never this machine's /usr/sbin, with the tools that part uses.
    for (const t of ["cat", "chmod", "grep", "mv", "rm"]) symlinkSync(execFileSync("sh", ["-c", `command -v ${t}`], { encoding: "utf8" }).trim(), join(bin, t));
    const packagesPart = script.slice(start, end);
    expect(packagesPart).toContain("POLICY=/usr/sbin/policy-rc.d");
    const part = `set -eu\nSTATE=${dir}\nsay() { printf 'HPCDK %s\\n' "$*"; }\nfail() { say "error $*"; exit 1; }\n${packagesPart.replace("POLICY=/usr/sbin/policy-rc.d", `POLICY=${dir}/policy-rc.d`)}`;
    const r = spawnSync("/bin/sh", ["-c", part], { env: { PATH: bin }, encoding: "utf8" });
    let calls = "";
    try {
      calls = readFileSync(join(dir, "calls"), "utf8");
    } catch {
      // nothing was installed
    }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
  }

  it("installs a pinned package with apt-get name=version when the host has another version, and skips one it has at that version", () => {
    const { applyScript } = haHost({ pacemaker: "2.1.5-1+deb12u1", corosync: "3.1.7-1" });
    const r = installPackages(applyScript!, "debian", { pacemaker: "2.1.6-1", corosync: "3.1.7-1", pcs: "0.11.5-1", "fence-agents": "4.12.1-1" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("HPCDK installing pacemaker=2.1.5-1+deb12u1 resource-agents\n");
    expect(r.calls).toBe("install -y -q --allow-downgrades pacemaker=2.1.5-1+deb12u1 resource-agents\n");
    expect(r.status).toBe(0);
  });

  it("installs a pinned package with dnf name-version when the host has another version, and skips one it has at that version", () => {
    const { applyScript } = haHost({ pacemaker: "2.1.5-9.el9", corosync: "3.1.7-1.el9" });
    const r = installPackages(applyScript!, "rhel", { pacemaker: "2.1.5-8.el9", corosync: "3.1.7-1.el9", pcs: "0.11.5-1.el9", "fence-agents-all": "4.10.0-43.el9" });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("HPCDK installing pacemaker-2.1.5-9.el9 resource-agents\n");
    expect(r.calls).toBe("install -y -q pacemaker-2.1.5-9.el9 resource-agents\n");
    expect(r.status).toBe(0);
  });

  it("installs nothing when every package is there, pinned ones at their version", () => {
    const { applyScript } = haHost({ pacemaker: "2.1.5-1+deb12u1" });
    const r = installPackages(applyScript!, "debian", { pacemaker: "2.1.5-1+deb12u1", corosync: "3.1.7-1", pcs: "0.11.5-1", "fence-agents": "4.12.1-1", "resource-agents": "1:4.12.0-2" });
    expect(r).toEqual({ status: 0, stdout: "", stderr: "", calls: "" });
  });

  it("reaches every bundle of a site that installs the package", () => {
    const site = siteFromText(
      readFileSync(join(FIXTURES, "two-node.yaml"), "utf8").replace("fencing:\n", 'deploy:\n  packageVersions:\n    pacemaker: "2.1.5-1+deb12u1"\nfencing:\n'),
      "sites/pinned.yaml",
    );
    const { stacks } = buildApp([site], join(tempDir(), "cdktf.out"), () => NO_SECRETS);
    const pinned = stacks[0]!.bundles.map((b) => [b.dir, b.render().manifest.packages.find((p) => p.debian === "pacemaker")?.version]);
    expect(pinned).toEqual([
      ["hosts/n1", "2.1.5-1+deb12u1"],
      ["hosts/n2", "2.1.5-1+deb12u1"],
      ["cluster", undefined],
    ]);
  });

  it("fails if a pinned package is one no host of the site installs", () => {
    const site = siteFromText(
      readFileSync(join(FIXTURES, "two-node.yaml"), "utf8").replace(
        "fencing:\n",
        'deploy:\n  packageVersions:\n    pacemker: "2.1.5-1+deb12u1"\n    corosync: "3.1.7-1"\n    slurmd: "22.05.8-4"\nfencing:\n',
      ),
      "sites/pinned.yaml",
    );
    let problems: string[] = [];
    try {
      buildApp([site], join(tempDir(), "cdktf.out"), () => NO_SECRETS);
    } catch (err) {
      if (!(err instanceof SynthError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual([
      "sites/pinned.yaml:29:5: deploy.packageVersions.pacemker: no host of the site installs a package of this name (the bundles' manifests list their packages)",
      "sites/pinned.yaml:31:5: deploy.packageVersions.slurmd: no host of the site installs a package of this name (the bundles' manifests list their packages)",
    ]);
  });
});
