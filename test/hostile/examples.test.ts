/**
 * Issue 13's examples, one named test each: what a hostile site file from a pull request tried,
 * and that it is now refused with file:line and the field, or inert. The property test
 * (corpus.test.ts) covers every field; these pin the cases the review found.
 */
import { chmodSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { compressHostlist, expandHostlist } from "../../common/hostlist.js";
import { ensureSecrets, SecretsError } from "../../stacks/secrets.js";
import { synthesizeSite } from "../../stacks/synth.js";
import { diffSites } from "../../operations/diff/index.js";
import { formatText } from "../../operations/diff/format.js";
import { FIXTURES, hpcdk, synthTo, tempDir } from "../helpers.js";
import { filesOf, isRoot, slurmdGresProblems } from "./readers.js";

const FULL = readFileSync(join(FIXTURES, "..", "hostile", "full-kernel.yaml"), "utf8");
const GANESHA = readFileSync(join(FIXTURES, "..", "hostile", "full-ganesha.yaml"), "utf8");
const TWO = readFileSync(join(FIXTURES, "two-node.yaml"), "utf8");

function edit(base: string, ...edits: [string, string][]): string {
  return edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, base);
}

/** The problems of a site text (none: it is valid); anything but a SiteError fails the test. */
function problems(text: string, file = "sites/bad.yaml"): string[] {
  try {
    parseSite(text, file);
    return [];
  } catch (err) {
    if (err instanceof SiteError) return err.problems;
    throw err;
  }
}

/** Exactly one problem, at `file:line:col: field: ...`, naming the field. */
function refusedAt(text: string, field: string): string {
  const found = problems(text);
  expect(found.length, found.join("\n")).toBeGreaterThan(0);
  const line = found.find((p) => /^sites\/bad\.yaml:\d+:\d+: /.test(p) && p.includes(`: ${field}: `));
  expect(line, `no problem names ${field}: ${found.join("\n")}`).toBeDefined();
  return line!;
}

describe("issue 13, shell: values that reached a root shell unquoted", () => {
  it("a pool property value atime=$(…) is refused (it went into hpcdk-zpool-create-<pool>)", () => {
    const p = refusedAt(edit(FULL, ['atime: "off"', 'atime: "off$(touch /tmp/pwn)"']), "storage.pools.0.properties.atime");
    expect(p).toContain("ZFS property value");
  });

  it("a pool property name with spaces and -O is refused", () => {
    refusedAt(edit(FULL, ["recordsize: 1M", '"recordsize=1M -O x=$(id)": 1M']), "storage.pools.0.properties.recordsize=1M -O x=$(id)");
  });

  it("a vdev device path with $(…) is refused (stable device names only)", () => {
    const p = refusedAt(edit(FULL, ["/dev/mapper/vault1, /dev/mapper/vault2]\n\nnfs", "/dev/mapper/vault1$(id), /dev/mapper/vault2]\n\nnfs"]), "storage.pools.1.vdevs.0.devices.0");
    expect(p).toContain("stable device path");
  });

  it("a state-save mountpoint with a quote is refused (it broke out of the after-cib step run with sh -c)", () => {
    const p = refusedAt(edit(FULL, ["mountpoint: /var/spool/slurmctld", "mountpoint: \"/var/spool/slurm'ctld\""]), "slurm.stateSave.mountpoint");
    expect(p).toContain(`("'" is not allowed)`);
  });

  it("a Charliecloud storage path with $(…) is refused; $USER stays a variable of the login shell", () => {
    const p = refusedAt(edit(FULL, ["storageDir: /var/tmp/$USER.ch", "storageDir: /var/tmp/$(touch /tmp/pwn)"]), "containers.charliecloud.storageDir");
    expect(p).toContain("may only use the variables $USER and $UID");
  });

  it("the Charliecloud profile script runs as one assignment: sh -n, and $USER expands, nothing else does", () => {
    const { out } = synthTo([parseSite(FULL, "sites/full.yaml")]);
    const script = readFileSync(join(out, "stacks/full/groups/login/etc/profile.d/hpcdk-charliecloud.sh"), "utf8");
    const r = spawnSync("/bin/sh", ["-c", `${script}\nprintf '%s' "$CH_IMAGE_STORAGE"`], { encoding: "utf8", env: { USER: "alice", PATH: "/usr/bin:/bin" } });
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe("/var/tmp/alice.ch");
  });
});

describe("issue 13, config block escape", () => {
  it("a ganesha client spec with ;}}EXPORT{… is refused (it added an export of / with no_root_squash)", () => {
    const p = refusedAt(
      edit(GANESHA, ['spec: "*.example.org"', 'spec: "x;}}EXPORT{Export_Id=99;Path=/;Pseudo=/p;Access_Type=RW;Squash=No_Root_Squash;CLIENT{Clients=*;}}"']),
      "nfs.groups.0.exports.0.clients.1.spec",
    );
    expect(p).toContain("must be one NFS client");
  });

  it("a new line in a GPU device list is refused (it added a gres.conf line: slurmd -G listed /dev/mem)", () => {
    refusedAt(edit(FULL, ['devices: "/dev/nvidia[0-3]"', 'devices: "/dev/nvidia[0-3]\\nNodeName=ALL Name=gpu File=/dev/mem"']), "nodeGroups.2.hardware.gpus.devices");
  });

  it.runIf(isRoot)("the corpus test's slurmd -G reader reads the GPU type back as one value, and fails on a gres.conf that disagrees", () => {
    const { out } = synthTo([parseSite(edit(FULL, ["type: a100", "type: hpcdkpwn"]), "sites/full.yaml")]);
    const conf = (f: string) => readFileSync(join(out, "stacks/full/groups/gpu/etc/slurm", f), "utf8");
    expect(conf("slurm.conf")).toContain("Gres=gpu:hpcdkpwn:4");
    expect(slurmdGresProblems(conf("slurm.conf"), conf("gres.conf"), "g01", "hpcdkpwn", 4)).toEqual([]);
    expect(slurmdGresProblems(conf("slurm.conf"), conf("gres.conf").replace("nvidia[0-3]", "nvidia[0-1]"), "g01", "hpcdkpwn", 4).join("\n")).toContain("does not read 4 GPUs");
  });

  it("an nginx TLS key path with ;}server{… is refused (it served the REST API over plain HTTP)", () => {
    const p = refusedAt(edit(FULL, ["key: /etc/ssl/private/slurm-api.key", 'key: "/etc/ssl/private/slurm-api.key;}server{listen 80;"']), "slurm.restApi.nginx.tls.key");
    expect(p).toContain(`(";" is not allowed)`);
  });
});

describe("issue 13, unvalidated fields", () => {
  it("slurm.controllerIp.nic is a kernel interface name, as floatingIp.nic is", () => {
    const p = refusedAt(edit(FULL, ["nic: eth1 }\n  network", 'nic: "eth1 x" }\n  network']), "slurm.controllerIp.nic");
    expect(p).toContain("IFNAMSIZ");
    refusedAt(edit(FULL, ["nic: eth1 }\n  network", "nic: eth1234567890abcd }\n  network"]), "slurm.controllerIp.nic");
  });

  it.each(["/usr/local", "/home", "/usr", "/"])("a Sarus prefixDir of %s is refused (the installer moved it aside and chown -R'd it)", (dir) => {
    const p = refusedAt(edit(FULL, ["prefixDir: /opt/sarus/1.7.0", `prefixDir: ${dir}`]), "containers.sarus.prefixDir");
    expect(p).toMatch(/system directory|must be a directory of its own|chown/);
  });
});

describe("issue 13, where the site file lives", () => {
  it("a site directory with a new line and -- stays inside the managed header's comment of every file", () => {
    const dir = join(tempDir("hpcdk-hostile-"), "x\ntouch /tmp/HPCDKPWN\n-- <!-- -->");
    mkdirSync(dir, { recursive: true });
    const file = join(dir, "duo.yaml");
    writeFileSync(file, TWO);
    const { out } = synthTo([parseSite(TWO, file)]);
    const files = filesOf(join(out, "stacks", "duo"));
    let scripts = 0;
    for (const [path, bytes] of files) {
      const text = bytes.toString("utf8");
      // The path's pieces are only in comment lines, never at the start of a line of their own.
      for (const line of text.split("\n")) if (line.includes("HPCDKPWN")) expect(line, path).toMatch(/^\s*(#|\/\/|<!--|"|\{)/);
      expect(text, path).not.toMatch(/^touch \/tmp\/HPCDKPWN/m);
      if (text.startsWith("#!/bin/sh") || text.startsWith("#!/bin/bash")) {
        scripts++;
        const r = spawnSync(text.startsWith("#!/bin/bash") ? "bash" : "sh", ["-n"], { input: text, encoding: "utf8" });
        expect(r.status, `${path}: ${r.stderr}`).toBe(0);
      }
    }
    expect(scripts).toBeGreaterThan(0);
    // The CIB's XML comment holds no "--" (an XML parser refuses it).
    const cib = files.get("cluster/cib.xml")!.toString("utf8");
    const xml = spawnSync("xmllint", ["--noout", "-"], { input: cib, encoding: "utf8" });
    expect(xml.status, xml.stderr).toBe(0);
  });
});

describe("issue 13, cost", () => {
  it("an export path of 40 characters and a space is refused at once (the path regex backtracked forever)", () => {
    const start = performance.now();
    refusedAt(edit(TWO, ["path: /tank/data", `path: "/tank/${"a".repeat(40)} a"`]), "nfs.groups.0.exports.0.path");
    refusedAt(edit(TWO, ["path: /tank/data", `path: "/tank/${"a/".repeat(2000)}a b"`]), "nfs.groups.0.exports.0.path");
    expect(performance.now() - start).toBeLessThan(2_000);
  });

  it("a host range of two brackets of a million each is refused before it is expanded", () => {
    const start = performance.now();
    const p = refusedAt(edit(TWO, ["fencing:\n", "nodeGroups:\n  - name: compute\n    hosts: c[0000000-0999999]x[0000000-0999999]\nfencing:\n"]), "nodeGroups.0.hosts");
    expect(p).toContain("more than 200,000 hosts");
    expect(performance.now() - start).toBeLessThan(2_000);
  });

  it("a 1,000,000-host site is refused at once with the cap's message", () => {
    const start = performance.now();
    const p = refusedAt(edit(TWO, ["fencing:\n", "nodeGroups:\n  - name: compute\n    hosts: c[0000001-1000000]\nfencing:\n"]), "nodeGroups.0.hosts");
    expect(p).toContain("the most one site may have");
    expect(performance.now() - start).toBeLessThan(2_000);
  });

  it("hostlist compression is linear: 125,000 hosts (was: maximum call stack size exceeded) in well under 5 s", () => {
    const hosts = expandHostlist("c[000001-125000]");
    const start = performance.now();
    expect(compressHostlist([...hosts].reverse())).toBe("c[000001-125000]");
    expect(performance.now() - start).toBeLessThan(5_000);
  });

  it("a 50 MB scalar is refused before parsing, and a long bad value is shown cut at 200 characters", () => {
    const dir = tempDir("hpcdk-hostile-");
    const big = join(dir, "big.yaml");
    writeFileSync(big, `${TWO}x: "${"A".repeat(50 * 1024 * 1024)}"\n`);
    const r = hpcdk(["synth", big, "--out", join(dir, "out")]);
    expect(r.status).toBe(1);
    expect(r.stderr.length).toBeLessThan(2_000);
    expect(r.stderr).toContain("MiB");
    const p = refusedAt(edit(TWO, ["name: duo", `name: "${"B".repeat(100_000)}"`]), "cluster.name");
    expect(p.length).toBeLessThan(600);
    expect(p).toContain("(100000 characters)");
  });
});

describe("issue 13, internal errors that are site errors now (exit 1, file:line, field)", () => {
  it("a YAML alias bomb", () => {
    const levels = ["a: &a [x,x,x,x,x,x,x,x,x,x]"];
    for (let i = 1; i < 9; i++) levels.push(`${"abcdefghi"[i]}: &${"abcdefghi"[i]} [${Array(10).fill(`*${"abcdefghi"[i - 1]}`).join(",")}]`);
    const found = problems(`${levels.join("\n")}\n`);
    expect(found.join("\n")).toMatch(/^sites\/bad\.yaml: the site file uses aliases/);
  });

  it("a fence device named like a generated CIB id", () => {
    const p = refusedAt(edit(TWO, ["name: pm", "name: group-nfs"]), "fencing.devices.0.name");
    expect(p).toContain('makes the CIB id "group-nfs"');
  });

  it("two client specs that map to one CIB id", () => {
    const p = refusedAt(edit(TWO, ["            - spec: 192.168.10.0/24", '            - spec: "a*b"\n            - spec: "a?b"']), "nfs.groups.0.exports.0.clients.1.spec");
    expect(p).toContain("export-tank-data-a_b");
  });

  it("a fencing level naming a node twice", () => {
    refusedAt(edit(FULL, ["nodes: [mgmt1, mgmt2, mgmt3] }", "nodes: [mgmt1, mgmt1, mgmt3] }"]), "fencing.levels.0.nodes.1");
  });

  it("a ganesha export with sync and async clients (was an exception of HaNfsCluster)", () => {
    const p = refusedAt(edit(GANESHA, ['options: "ro,sync,no_subtree_check,root_squash"', 'options: "ro,async,no_subtree_check,root_squash"']), "nfs.groups.0.exports.0.clients.1.options");
    expect(p).toContain("must all be sync or all async");
  });

  it("hpcdk synth exits 1, not 2, on each of them", () => {
    const dir = tempDir("hpcdk-hostile-");
    const file = join(dir, "duo.yaml");
    writeFileSync(file, edit(TWO, ["name: pm", "name: group-nfs"]));
    const r = hpcdk(["synth", file, "--out", join(dir, "out")]);
    expect(r.stderr).not.toContain("internal error");
    expect(r.status).toBe(1);
  });
});

describe("issue 13, accepted but wrong", () => {
  it("a floating IP that is its network's network or broadcast address", () => {
    expect(refusedAt(edit(TWO, ["address: 192.168.10.100", "address: 192.168.10.0"]), "nfs.groups.0.floatingIp.address")).toContain("the network");
    expect(refusedAt(edit(TWO, ["address: 192.168.10.100", "address: 192.168.10.255"]), "nfs.groups.0.floatingIp.address")).toContain("broadcast");
  });

  it("a two-node cluster fenced only by fence_scsi gets a random delay (pcmk_delay_max), as the README promises", () => {
    const text = edit(TWO, ["    - name: pm\n      agent: fence_powerman\n      ip: 192.168.10.250\n", "    - name: scsi\n      agent: fence_scsi\n"]);
    const { out } = synthTo([parseSite(text, "sites/duo.yaml")]);
    const cib = readFileSync(join(out, "stacks/duo/cluster/cib.xml"), "utf8");
    expect(cib).toMatch(/<primitive id="scsi" class="stonith" type="fence_scsi">[\s\S]*?name="pcmk_delay_max" value="15s"/);
  });

  it("* with rw,no_root_squash,insecure is warned at synth", () => {
    const site = parseSite(edit(TWO, ["            - spec: 192.168.10.0/24", '            - { spec: "*", options: "rw,sync,no_subtree_check,no_root_squash,insecure" }']), "sites/duo.yaml");
    expect(site.warnings.join("\n")).toMatch(/exported to everyone \(\*\) with no_root_squash, insecure/);
  });

  it("a pool named mirror (zpool refuses it)", () => {
    const p = refusedAt(edit(TWO, ["name: tank", "name: mirror"], ["pools: [tank]", "pools: [mirror]"], ["path: /tank/data", "path: /mirror/data"]), "storage.pools.0.name");
    expect(p).toContain("zpool reserves");
  });

  it("an export path with a /./ segment", () => {
    expect(refusedAt(edit(TWO, ["path: /tank/data", "path: /tank/./data"]), "nfs.groups.0.exports.0.path")).toContain('(a "." part)');
  });

  it("a __proto__ key under deploy.hosts is refused, not dropped", () => {
    expect(refusedAt(edit(TWO, ["fencing:\n", "deploy:\n  hosts:\n    __proto__: { address: 10.0.0.1 }\nfencing:\n"]), "deploy.hosts.__proto__")).toContain("__proto__");
  });

  it("a multi-document file is answered in an admin's words, not with a JavaScript API name", () => {
    const found = problems(`${TWO}---\ncluster: { name: x }\n`);
    expect(found.join("\n")).toContain("a site file is one YAML document");
    expect(found.join("\n")).not.toMatch(/parseAllDocuments|Source contains multiple documents/);
  });
});

describe("issue 13, dangerous values need intent", () => {
  it("a REST API open to 0.0.0.0/0 is warned at synth", () => {
    const site = parseSite(edit(FULL, ["allow: [172.20.0.0/16]", "allow: [0.0.0.0/0]"]), "sites/full.yaml");
    expect(site.warnings.join("\n")).toMatch(/slurm\.restApi\.nginx: the REST API on mgmt3 port 443 is open to/);
  });

  it("hpcdk synth prints every warning, with the site file, at every synth", () => {
    const dir = tempDir("hpcdk-hostile-");
    const file = join(dir, "duo.yaml");
    writeFileSync(file, edit(TWO, ["            - spec: 192.168.10.0/24", '            - { spec: "*", options: "rw,sync,no_subtree_check,insecure" }']));
    for (let i = 0; i < 2; i++) {
      const r = hpcdk(["synth", "-q", file, "--out", join(dir, "out")]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/hpcdk: warning: .*duo\.yaml: nfs\.groups\.0\.exports\.0\.clients\.0: \/tank\/data is exported to everyone \(\*\) with insecure/);
    }
  });

  it("hpcdk diff flags a dangerous value the change brings, at the top of its report", async () => {
    const old = parseSite(TWO, "sites/duo.yaml");
    const next = parseSite(edit(TWO, ["            - spec: 192.168.10.0/24", '            - { spec: "*", options: "rw,sync,no_subtree_check,no_root_squash" }']), "sites/duo.yaml");
    const dir = tempDir("hpcdk-hostile-");
    const report = await diffSites(old, next, { secrets: join(dir, "secrets"), synthesize: synthesizeSite });
    expect(report.warnings).toEqual([{ text: expect.stringContaining("exported to everyone (*) with no_root_squash"), new: true }]);
    const text = formatText(report);
    expect(text.split("\n")[1]).toMatch(/^WARNING \(new\): nfs\.groups\.0\.exports\.0\.clients\.0: .*no_root_squash/);
    // The same site on both sides: the warning is shown, not as new.
    const same = await diffSites(next, next, { secrets: join(dir, "secrets"), synthesize: synthesizeSite });
    expect(same.warnings?.map((w) => w.new)).toEqual([false]);
  });
});

describe("issue 13, secrets", () => {
  const spec = [{ name: "munge-key", generate: { randomBytes: 32 } }];

  it("creates the folder 0700 and secrets 0600", () => {
    const dir = join(tempDir("hpcdk-secrets-"), "s");
    ensureSecrets(dir, spec);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(dir, "munge-key")).mode & 0o777).toBe(0o600);
  });

  it("tightens an existing secret with a looser mode to 0600, and its folder to 0700, and says so", () => {
    const dir = join(tempDir("hpcdk-secrets-"), "s");
    ensureSecrets(dir, spec);
    const before = readFileSync(join(dir, "munge-key"));
    chmodSync(join(dir, "munge-key"), 0o644);
    chmodSync(dir, 0o755);
    const log: string[] = [];
    expect(ensureSecrets(dir, spec, (l) => log.push(l))).toEqual([]);
    expect(statSync(join(dir, "munge-key")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readFileSync(join(dir, "munge-key"))).toEqual(before);
    expect(log.join("\n")).toMatch(/tightened .*munge-key from mode 0644 to 0600/);
  });

  it("refuses a secret that is a symbolic link (it could point anywhere)", () => {
    const dir = join(tempDir("hpcdk-secrets-"), "s");
    mkdirSync(dir, { mode: 0o700 });
    symlinkSync("/etc/hostname", join(dir, "munge-key"));
    expect(() => ensureSecrets(dir, spec)).toThrow(SecretsError);
  });
});
