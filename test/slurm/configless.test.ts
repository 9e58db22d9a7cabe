/**
 * Slurm's configless mode (slurm.configless, issue 17), synthesized from
 * fixtures/slurm-configless.yaml (fixtures/slurm.yaml with configless: two controllers on
 * slurm.network, accounting and the REST API on n2, cpu and gpu groups, a login group, oci.conf):
 * slurm.conf and its companions only where slurmctld, slurmdbd, slurmrestd and the login commands
 * read them, `SlurmctldParameters=enable_configless`, and the compute groups' slurmd started with
 * `--conf-server` by a drop-in of Debian's unit, which systemd-analyze verify reads. The files are
 * pinned; the lab test (configless-lab.test.ts) runs them.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BundleManifest } from "../../constructs/core/index.js";
import { CONFIGLESS_DROPIN } from "../../constructs/slurm/index.js";
import { parseSite, SiteError } from "../../schema/load.js";
import { readTree, synthTo, tempDir } from "../helpers.js";

const SITE = "slurm-configless";
const source = readFileSync(join(import.meta.dirname, "fixtures", `${SITE}.yaml`), "utf8");
const { out } = synthTo([parseSite(source, `sites/${SITE}.yaml`)]);
const tree = readTree(join(out, "stacks", SITE));
const text = (path: string) => {
  const bytes = tree.get(path);
  if (!bytes) throw new Error(`${SITE} renders no ${path}`);
  return bytes.toString("utf8");
};
const manifest = (path: string) => JSON.parse(text(path)) as BundleManifest;
const SNAP = join(import.meta.dirname, "__snapshots__", SITE);
const SLURM_FILES = ["slurm.conf", "cgroup.conf", "gres.conf", "plugstack.conf", "oci.conf"];

describe("slurm.configless", () => {
  it("keeps slurm.conf, cgroup.conf, gres.conf, plugstack.conf and oci.conf on the management nodes only (and the login group)", () => {
    const where = (name: string) => [...tree.keys()].filter((p) => p.endsWith(`/etc/slurm/${name}`)).sort();
    expect(where("slurm.conf")).toEqual(["groups/login/etc/slurm/slurm.conf", "hosts/n1/etc/slurm/slurm.conf", "hosts/n2/etc/slurm/slurm.conf"]);
    for (const name of ["cgroup.conf", "gres.conf", "plugstack.conf"]) {
      expect(where(name), name).toEqual([`groups/login/etc/slurm/${name}`, `hosts/n1/etc/slurm/${name}`, `hosts/n2/etc/slurm/${name}`]);
    }
    // slurmstepd reads oci.conf beside slurm.conf: the fetched copy, served by slurmctld.
    expect(where("oci.conf")).toEqual(["hosts/n1/etc/slurm/oci.conf", "hosts/n2/etc/slurm/oci.conf"]);
    for (const g of ["cpu", "gpu"]) {
      expect(manifest(`manifests/groups/${g}.json`).files.map((f) => f.path).filter((p) => p.startsWith("/etc/slurm/")), g).toEqual([]);
    }
  });

  it("serves the files from slurmctld and leaves PlugStackConfig at its default (beside the fetched slurm.conf)", () => {
    const conf = text("hosts/n1/etc/slurm/slurm.conf");
    expect(conf).toContain("\nSlurmctldParameters=enable_configless\n");
    expect(conf).not.toMatch(/^PlugStackConfig=/m);
    expect(text("groups/login/etc/slurm/slurm.conf")).toBe(conf);
  });

  it("starts the compute groups' slurmd with --conf-server: both controllers on slurm.network, the primary first", () => {
    for (const g of ["cpu", "gpu"]) {
      const dropin = text(`groups/${g}${CONFIGLESS_DROPIN}`);
      expect(dropin).toContain("\nExecStart=\nExecStart=/usr/sbin/slurmd -D -s --conf-server 192.168.10.1:6817,192.168.10.2:6817 $SLURMD_OPTIONS\n");
      expect(dropin).toContain("\n[Unit]\n# Debian's unit starts slurmd only when /etc/slurm/slurm.conf exists.\nConditionPathExists=\n");
      const file = manifest(`manifests/groups/${g}.json`).files.find((f) => f.path === CONFIGLESS_DROPIN)!;
      expect(file.handlers).toEqual(["systemctl daemon-reload"]);
      expect(file.impact.kind).toBe("restart");
    }
    expect([...tree.keys()].filter((p) => p.startsWith("groups/login/etc/systemd/"))).toEqual([]);
  });

  it("pins every Slurm file of the site", async () => {
    const paths = [...tree.keys()].filter((p) => SLURM_FILES.some((n) => p.endsWith(`/etc/slurm/${n}`)) || p.endsWith(CONFIGLESS_DROPIN)).sort();
    expect(paths.length).toBe(16);
    for (const p of paths) await expect(text(p)).toMatchFileSnapshot(join(SNAP, p));
  });

  it("uses the floating IP of a Pacemaker-run slurmctld as the only --conf-server", () => {
    const pacemaker = readFileSync(join(import.meta.dirname, "..", "fixtures", "sites", "slurm-pacemaker.yaml"), "utf8").replace(/^slurm:.*\n/m, "slurm:\n  configless: true\n");
    expect(pacemaker).toContain("configless: true");
    const { out: o } = synthTo([parseSite(pacemaker, "sites/slurm-pacemaker.yaml")]);
    const t = readTree(join(o, "stacks", "slurm-pacemaker"));
    const dropins = [...t.keys()].filter((p) => p.endsWith(CONFIGLESS_DROPIN));
    expect(dropins.length).toBeGreaterThan(0);
    for (const p of dropins) expect(t.get(p)!.toString()).toContain(" --conf-server 172.16.0.101:6817 $SLURMD_OPTIONS\n");
  });

  it("fails if configlessLoginGroups is dns-srv without configless", () => {
    const bad = source.replace("  configless: true\n", "  configlessLoginGroups: dns-srv\n");
    expect(() => parseSite(bad, `sites/${SITE}.yaml`)).toThrow(SiteError);
    expect(() => parseSite(bad, `sites/${SITE}.yaml`)).toThrow('slurm.configlessLoginGroups: "dns-srv" needs slurm.configless: true (without it every Slurm host gets slurm.conf)');
  });

  it("with configlessLoginGroups: dns-srv, gives the login group no copy either", () => {
    const srv = source.replace("  configless: true\n", "  configless: true\n  configlessLoginGroups: dns-srv\n");
    const { out: o } = synthTo([parseSite(srv, `sites/${SITE}.yaml`)]);
    const t = readTree(join(o, "stacks", SITE));
    expect([...t.keys()].filter((p) => p.startsWith("groups/login/etc/slurm/"))).toEqual([]);
    expect(JSON.parse(t.get("manifests/groups/login.json")!.toString()).steps.map((s: { id: string }) => s.id)).toContain("slurm-configless-old-files");
  });
});

describe("configless files, read by the programs that read them", () => {
  function systemdVerify(dropin: string) {
    const dir = tempDir("hpcdk-configless-units-");
    const debianUnit = readFileSync("/lib/systemd/system/slurmd.service", "utf8");
    mkdirSync(join(dir, "slurmd.service.d"));
    writeFileSync(join(dir, "slurmd.service"), debianUnit);
    writeFileSync(join(dir, "slurmd.service.d", "40-hpcdk-configless.conf"), dropin);
    return spawnSync("systemd-analyze", ["verify", join(dir, "slurmd.service")], { encoding: "utf8", env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` } });
  }

  it("systemd-analyze verify accepts the drop-in on Debian's slurmd.service (and reads it: a wrong key is reported)", () => {
    const dropin = text(`groups/cpu${CONFIGLESS_DROPIN}`);
    expect(readFileSync("/lib/systemd/system/slurmd.service", "utf8")).toContain("ConditionPathExists=/etc/slurm/slurm.conf");
    const ok = systemdVerify(dropin);
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const bad = systemdVerify(`${dropin}ConfServer=x\n`);
    expect(bad.stderr).toContain("Unknown key 'ConfServer'");
  });

  it("slurmd knows --conf-server (its --help), the option the drop-in passes", () => {
    const r = spawnSync("slurmd", ["--help"], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toContain("--conf-server host[:port]");
  });

  it("removes only the Slurm files hpcdk wrote before configless mode (the step, run on a copy of /etc/slurm)", () => {
    const step = manifest("manifests/groups/cpu.json").steps.find((s) => s.id === "slurm-configless-old-files")!;
    expect(step.phase).toBe("before-files");
    const dir = tempDir("hpcdk-configless-step-");
    const etc = join(dir, "etc", "slurm");
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, "slurm.conf"), text("hosts/n1/etc/slurm/slurm.conf"));
    writeFileSync(join(etc, "cgroup.conf"), "# the site's own, by hand\nConstrainCores=yes\n");
    writeFileSync(join(etc, "plugstack.conf"), text("hosts/n1/etc/slurm/plugstack.conf"));
    const run = step.run.replace(/\/etc\/slurm\//g, `${etc}/`);
    expect(run).not.toBe(step.run);
    for (let i = 0; i < 2; i++) {
      const r = spawnSync("sh", ["-ec", run], { encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
    }
    expect(existsSync(join(etc, "slurm.conf"))).toBe(false);
    expect(existsSync(join(etc, "plugstack.conf"))).toBe(false);
    expect(existsSync(join(etc, "cgroup.conf"))).toBe(true);
    expect(spawnSync("shellcheck", ["-s", "sh", "-"], { input: step.run, encoding: "utf8" }).status).toBe(0);
  });
});
