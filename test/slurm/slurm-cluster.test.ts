/**
 * SlurmCluster and its parts, synthesized from the test sites (fixtures/slurm.yaml: two
 * controllers, accounting, REST API, GPUs; fixtures/slurm-minimal.yaml: one controller, nothing
 * else): what lands on which host, with which owner, mode, secret, handler and impact.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { App, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Bundle, type BundleManifest } from "../../constructs/core/index.js";
import { hostlistLines, Munge, SlurmConfig, SlurmRestd } from "../../constructs/slurm/index.js";
import { compressHostlist, expandHostlist } from "../../common/hostlist.js";
import { parseSite } from "../../schema/load.js";
import { readTree, synthTo, tempDir } from "../helpers.js";

const fixture = (name: string) => parseSite(readFileSync(join(import.meta.dirname, "fixtures", `${name}.yaml`), "utf8"), `sites/${name}.yaml`);
const { out } = synthTo([fixture("slurm"), fixture("slurm-minimal")]);
const full = readTree(join(out, "stacks", "slurm"));
const minimal = readTree(join(out, "stacks", "slurm-minimal"));
const manifest = (tree: Map<string, Buffer>, path: string) => JSON.parse(tree.get(path)!.toString()) as BundleManifest;
const text = (tree: Map<string, Buffer>, path: string) => tree.get(path)!.toString();

describe("SlurmCluster on a site with two controllers, accounting and the REST API", () => {
  const conf = text(full, "hosts/n1/etc/slurm/slurm.conf");

  it("writes both controllers with their addresses on slurm.network, primary first", () => {
    expect(conf.match(/^SlurmctldHost=.*$/gm)).toEqual(["SlurmctldHost=n1(192.168.10.1)", "SlurmctldHost=n2(192.168.10.2)"]);
    expect(conf).toContain("\nStateSaveLocation=/var/spool/slurmctld\n");
    expect(conf).toContain("AccountingStorageHost=192.168.10.2\n");
  });

  it("defines each partition group once, in hostlist ranges, with a feature and a NodeSet of its name", () => {
    expect(conf.match(/^(NodeName|NodeSet|PartitionName)=.*$/gm)).toEqual([
      "NodeName=cn[01-16] Sockets=2 CoresPerSocket=8 ThreadsPerCore=1 RealMemory=64000 Features=cpu State=UNKNOWN",
      "NodeName=gn[1-2] Sockets=1 CoresPerSocket=16 ThreadsPerCore=1 RealMemory=128000 Gres=gpu:v100:2 Features=gpu State=UNKNOWN",
      "NodeSet=cpu Feature=cpu",
      "NodeSet=gpu Feature=gpu",
      "PartitionName=batch Nodes=cpu Default=YES MaxTime=UNLIMITED OverSubscribe=NO State=UP",
      "PartitionName=gpu Nodes=gpu MaxTime=UNLIMITED OverSubscribe=NO State=UP",
    ]);
    expect(text(full, "groups/gpu/etc/slurm/gres.conf")).toContain("\nNodeName=gn[1-2] Name=gpu Type=v100 File=/dev/nvidia[0-1]\n");
  });

  it("uses cgroup plugins, JWT and the plugstack.conf.d include by default", () => {
    for (const line of [
      "ProctrackType=proctrack/cgroup",
      "TaskPlugin=task/cgroup,task/affinity",
      "JobAcctGatherType=jobacct_gather/cgroup",
      "SelectType=select/cons_tres",
      "MpiDefault=none",
      "AuthAltTypes=auth/jwt",
      "AuthAltParameters=jwt_key=/etc/slurm/jwt_hs256.key,max_token_lifespan=86400",
      "PlugStackConfig=/etc/slurm/plugstack.conf",
      "GresTypes=gpu",
    ]) {
      expect(conf).toContain(`\n${line}\n`);
    }
    expect(text(full, "hosts/n1/etc/slurm/plugstack.conf")).toContain("\ninclude /etc/slurm/plugstack.conf.d/*.conf\n");
    expect(text(full, "hosts/n1/etc/slurm/cgroup.conf")).toContain("\nConstrainRAMSpace=yes\n");
  });

  it("puts slurmd on partition groups and only the commands on login groups", () => {
    const cpu = manifest(full, "manifests/groups/cpu.json");
    const login = manifest(full, "manifests/groups/login.json");
    expect(cpu.packages.map((p) => p.debian)).toEqual(["munge", "slurm-client", "slurm-wlm-jwt-plugin", "slurmd"]);
    expect(login.packages.map((p) => p.debian)).toEqual(["munge", "slurm-client", "slurm-wlm-jwt-plugin"]);
    expect(cpu.steps.map((s) => s.id)).toEqual(["slurmd-log-dir", "munge-enable", "slurmd-enable"]);
    expect(login.steps.map((s) => s.id)).toEqual(["munge-enable"]);
    // No Slurm file rereads or restarts anything as it lands: the deploy's Slurm wave does, once every host has it.
    for (const m of [cpu, login, manifest(full, "manifests/hosts/n1.json")]) {
      expect(m.files.filter((f) => f.path.startsWith("/etc/slurm/") && f.handlers.length > 0).map((f) => f.path)).toEqual([]);
    }
  });

  it("installs one munge key, owner munge, 0400, on every host with Slurm", () => {
    for (const m of ["hosts/n1", "hosts/n2", "groups/cpu", "groups/gpu", "groups/login"]) {
      const key = manifest(full, `manifests/${m}.json`).secretFiles.filter((s) => s.path === Munge.KEY_PATH);
      expect(key, m).toEqual([
        expect.objectContaining({ secret: "munge-key", owner: "munge", group: "munge", mode: "0400", generate: { randomBytes: 1024 } }),
      ]);
    }
  });

  it("installs the JWT key once on a host that runs slurmctld and slurmdbd, restarting both", () => {
    const keys = manifest(full, "manifests/hosts/n2.json").secretFiles.filter((s) => s.secret === "slurm-jwt-key");
    expect(keys).toEqual([
      expect.objectContaining({
        path: "/etc/slurm/jwt_hs256.key",
        owner: "slurm",
        mode: "0400",
        generate: { randomBytes: 32 },
        handlers: ["systemctl restart 'slurmctld'", "systemctl restart 'slurmdbd'"],
      }),
    ]);
    expect(manifest(full, "manifests/hosts/n1.json").secretFiles.filter((s) => s.secret === "slurm-jwt-key")[0]!.handlers).toEqual(["systemctl restart 'slurmctld'"]);
  });

  it("keeps the storage password out of the tree: a placeholder in files owned by slurm, not readable by others", () => {
    const dbd = manifest(full, "manifests/hosts/n2.json");
    const withSecret = dbd.files.filter((f) => f.secrets.length > 0);
    expect(withSecret.map((f) => [f.path, f.owner, f.mode, f.secrets])).toEqual([
      ["/etc/slurm/hpcdk-slurmdbd-database.sql", "root", "0600", ["slurmdbd-storage-password"]],
      ["/etc/slurm/slurmdbd.conf", "slurm", "0600", ["slurmdbd-storage-password"]],
    ]);
    expect(text(full, "hosts/n2/etc/slurm/slurmdbd.conf")).toContain("\nStoragePass=@@hpcdk-secret:slurmdbd-storage-password@@\n");
    expect(dbd.secrets.find((s) => s.name === "slurmdbd-storage-password")!.generate).toEqual({ password: 32 });
    const tfJson = text(full, "cdk.tf.json");
    expect(tfJson).not.toContain("hpcdk-secret");
  });

  it("mounts the state export through the NFS group's floating IP before slurmctld starts", () => {
    const unit = text(full, "hosts/n2/etc/systemd/system/var-spool-slurmctld.mount");
    expect(unit).toContain("\nWhat=192.168.10.100:/tank/slurm\nWhere=/var/spool/slurmctld\nType=nfs\nOptions=vers=4.2,hard,proto=tcp,timeo=600,retrans=2,_netdev\n");
    expect(text(full, "hosts/n2/etc/systemd/system/slurmctld.service.d/hpcdk-state-save.conf")).toContain("\nRequiresMountsFor=/var/spool/slurmctld\n");
    expect(manifest(full, "manifests/hosts/n1.json").packages.map((p) => p.debian)).toContain("nfs-common");
  });

  it("runs slurmrestd as its own user with SLURM_JWT=daemon on a unix socket, and nginx in front", () => {
    const unit = text(full, "hosts/n2/etc/systemd/system/slurmrestd.service");
    expect(unit).toContain("\nUser=slurmrestd\n");
    expect(unit).toContain("\nEnvironment=SLURM_JWT=daemon\n");
    expect(unit).toContain("\nExecStart=/usr/sbin/slurmrestd -a rest_auth/jwt -s openapi/v0.0.38,openapi/dbv0.0.38 unix:/run/slurmrestd/slurmrestd.socket\n");
    expect(unit).toContain("\nNoNewPrivileges=yes\n");
    const nginx = text(full, "hosts/n2/etc/nginx/conf.d/slurmrestd.conf");
    expect(nginx).toContain('server "unix:/run/slurmrestd/slurmrestd.socket";');
    expect(nginx.match(/location \S+/g)).toEqual(['location "/slurm/"', 'location "/slurmdb/"', 'location "/openapi/"', "location /"]);
  });

  it("declares a change impact on every file it renders", () => {
    for (const path of [...full.keys()].filter((p) => p.startsWith("manifests/"))) {
      const m = manifest(full, path);
      for (const f of [...m.files, ...m.secretFiles]) expect(f.impact.detail, `${path} ${f.path}`).not.toContain("not declared");
    }
  });

  it("has steps that shellcheck accepts", () => {
    const steps = [...full.keys(), ...minimal.keys()]
      .filter((p) => p.startsWith("manifests/"))
      .flatMap((p) => manifest(full.has(p) ? full : minimal, p).steps);
    const file = join(tempDir(), "steps.sh");
    writeFileSync(file, "#!/bin/sh\nset -eu\n" + steps.map((s) => `# ${s.id}\n${s.run}\n`).join(""));
    const result = spawnSync("shellcheck", ["--shell=sh", "--severity=style", file], { encoding: "utf8" });
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });
});

describe("SlurmCluster on the smallest site", () => {
  const conf = text(minimal, "hosts/m1/etc/slurm/slurm.conf");

  it("keeps the state on the controller's disk and writes no JWT, accounting or GPU settings", () => {
    expect(conf).toContain("\nClusterName=solo_1\nSlurmctldHost=m1\n");
    expect(conf).not.toContain("AuthAlt");
    expect(conf).not.toContain("GresTypes");
    expect(conf).toContain("\nAccountingStorageType=accounting_storage/none\n");
    expect(conf).toContain("\nTaskPlugin=task/affinity\n");
    // No state mount or slurmctld drop-in (systemd files of other domains, like the NFS server's, aside).
    expect([...minimal.keys()].filter((p) => p.includes("slurm"))).toEqual([
      "groups/compute/etc/slurm/cgroup.conf",
      "groups/compute/etc/slurm/plugstack.conf",
      "groups/compute/etc/slurm/slurm.conf",
      "hosts/m1/etc/slurm/cgroup.conf",
      "hosts/m1/etc/slurm/plugstack.conf",
      "hosts/m1/etc/slurm/slurm.conf",
    ]);
    const m1 = manifest(minimal, "manifests/hosts/m1.json");
    expect(m1.steps.find((s) => s.id === "slurmctld-state-dir")!.run).toBe("install -d -o 'slurm' -g 'slurm' -m 0700 '/var/spool/slurmctld'");
    expect(m1.secretFiles.map((s) => s.secret)).toEqual(["corosync-authkey", "munge-key"]);
    // m2 runs no Slurm daemon: no munge, no slurm.conf.
    expect(manifest(minimal, "manifests/hosts/m2.json").secretFiles.map((s) => s.secret)).toEqual(["corosync-authkey"]);
  });
});

describe("hostlist lines", () => {
  it("splits a list too long for one line, and the lines name exactly the hosts", () => {
    const hosts = expandHostlist("n[1-3000]").filter((_, i) => i % 2 === 0);
    const lines = hostlistLines(hosts, 200);
    expect(lines.length).toBeGreaterThan(1);
    for (const l of lines) expect(l.length).toBeLessThanOrEqual(200);
    expect(lines.flatMap((l) => expandHostlist(l))).toEqual(hosts);
  });

  it("keeps a contiguous range on one line however many hosts it has", () => {
    expect(hostlistLines(expandHostlist("c[00001-10000]"))).toEqual(["c[00001-10000]"]);
    expect(compressHostlist(["c1"])).toBe("c1");
  });
});

describe("construct errors", () => {
  const bundle = () => new Bundle(new TerraformStack(new App(), "s"), "h", { kind: "host", name: "h", source: "sites/x.yaml" });

  it("fails if slurmrestd would run as root", () => {
    expect(() => new SlurmRestd(bundle(), "r", { host: bundle(), user: "root", openapiPlugins: ["openapi/v0.0.38"] })).toThrow(
      'SlurmRestd [s/h/r]: slurmrestd must not run as root or SlurmUser, got "root"',
    );
  });

  it("fails if an openapi plugin is not named like one", () => {
    const b = bundle();
    expect(() => new SlurmRestd(b, "r", { host: b, openapiPlugins: ["v0.0.38"] })).toThrow('SlurmRestd [s/h/r]: openapi plugins must be like openapi/v0.0.38, got "v0.0.38"');
  });

  it("fails if a partition names a group SlurmConfig does not know", () => {
    const b = bundle();
    const props = {
      version: "22.05", clusterName: "x", controllers: ["h"], slurmUser: "slurm", ports: { slurmctld: 6817, slurmd: 6818 },
      stateSaveLocation: "/var/spool/slurmctld", stateSaveNote: "", slurmctldTimeoutSec: 120, slurmdTimeoutSec: 300,
      plugins: { select: "select/cons_tres", selectTypeParameters: "CR_Core", proctrack: "proctrack/cgroup", task: ["task/cgroup"], jobacctGather: "jobacct_gather/cgroup", scheduler: "sched/backfill", priority: "priority/basic", mpiDefault: "none", authAltTypes: [] },
      jwtKeyPath: "/etc/slurm/jwt_hs256.key",
      cgroup: { plugin: "autodetect", constrainCores: true, constrainRAMSpace: true, constrainSwapSpace: true, constrainDevices: true },
      nodeGroups: [{ name: "cpu", hosts: ["c1"], sockets: 1, coresPerSocket: 1, threadsPerCore: 1, realMemoryMB: 100 }],
      partitions: [{ name: "p", nodeGroups: ["gpu"], default: false, maxTime: "UNLIMITED", oversubscribe: "NO", state: "UP" }],
    };
    expect(() => new SlurmConfig(b, "c", props)).toThrow('SlurmConfig [s/h/c]: partition p names unknown node group "gpu"');
  });
});
