/**
 * The rendered Slurm files, fed to the programs that read them (the lab test starts the daemons;
 * these are the quick, per-file checks): `nginx -t` on the proxy, `systemd-analyze verify` on
 * every unit and drop-in, `slurmd -G` on slurm.conf + gres.conf of the GPU group. Each check
 * also runs once on a broken input to prove it can fail, and slurmctld itself shows why plugin
 * names are checked at synth: a typo stops it.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { mountUnitName } from "../../constructs/slurm/index.js";
import { loadExamples, readTree, synthTo, tempDir } from "../helpers.js";

const { out } = synthTo(loadExamples(["lab"]));
const tree = readTree(join(out, "stacks", "lab"));
const text = (path: string) => {
  const bytes = tree.get(path);
  if (!bytes) throw new Error(`lab renders no ${path}`);
  return bytes.toString("utf8");
};

/** nginx -t on the rendered server block inside a minimal main configuration. */
function nginxTest(conf: string) {
  const dir = tempDir("hpcdk-nginx-");
  mkdirSync(join(dir, "tls"));
  const tls = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test", "-keyout", join(dir, "tls/slurmrestd.key"), "-out", join(dir, "tls/slurmrestd.crt")], { encoding: "utf8" });
  if (tls.status !== 0) throw new Error(tls.stderr);
  // The certificate pair is a secret the deploy installs; only its path moves here.
  writeFileSync(join(dir, "slurmrestd.conf"), conf.replace(/\/etc\/nginx\/tls\//g, `${dir}/tls/`));
  writeFileSync(
    join(dir, "nginx.conf"),
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n    access_log off;\n    include ${dir}/slurmrestd.conf;\n}\n`,
  );
  return spawnSync("nginx", ["-t", "-c", join(dir, "nginx.conf"), "-p", dir], { encoding: "utf8" });
}

/** systemd-analyze verify on a unit, with its drop-ins beside it. */
function systemdVerify(files: Record<string, string>, unit: string) {
  const dir = tempDir("hpcdk-units-");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  return spawnSync("systemd-analyze", ["verify", join(dir, unit)], {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_UNIT_PATH: `${dir}:` },
  });
}

/** slurmd -G: what slurmd makes of slurm.conf and gres.conf for one GPU node, with device files it can stat. */
function slurmdGres(slurmConf: string, gresConf: string, node: string) {
  const dir = tempDir("hpcdk-gres-");
  mkdirSync(join(dir, "dev"));
  for (let i = 0; i < 8; i++) {
    const made = spawnSync("mknod", [join(dir, "dev", `nvidia${i}`), "c", "1", "3"]);
    if (made.status !== 0) throw new Error(`mknod failed: ${made.stderr}`);
  }
  writeFileSync(join(dir, "slurm.conf"), slurmConf);
  writeFileSync(join(dir, "gres.conf"), gresConf.replace(/\/dev\/nvidia/g, `${dir}/dev/nvidia`));
  return spawnSync("slurmd", ["-G", "-N", node, "-f", join(dir, "slurm.conf")], { encoding: "utf8", timeout: 20_000 });
}

describe("rendered Slurm files, checked by the programs that read them", () => {
  const nginxConfs = [...tree.keys()].filter((p) => p.endsWith("/etc/nginx/conf.d/slurmrestd.conf"));

  it.each(nginxConfs)("nginx -t accepts %s", (path) => {
    const r = nginxTest(text(path));
    expect(r.stderr).toContain("test is successful");
    expect(r.status).toBe(0);
  });

  it("fails if the nginx configuration has an unknown directive (nginx -t can fail)", () => {
    const r = nginxTest(text(nginxConfs[0]!).replace("limit_req_status 429;", "limit_req_status 429;\n    proxy_pass_everything on;"));
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('unknown directive "proxy_pass_everything"');
  });

  // Slurm's own units (the container runtimes' units are verified by their own tests).
  const units = [...tree.keys()].filter((p) => /\/etc\/systemd\/system\/(slurm[^/]*\.service|[^/]+\.mount)$/.test(p));
  it.each(units)("systemd-analyze verify accepts %s", (path) => {
    const name = path.split("/").pop()!;
    const r = systemdVerify({ [name]: text(path) }, name);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("has a mount unit named as systemd names its Where= (systemd refuses it otherwise)", () => {
    const path = units.find((p) => p.endsWith(".mount"))!;
    const r = systemdVerify({ "wrong-name.mount": text(path) }, "wrong-name.mount");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("Where= setting doesn't match unit name");
  });

  const dropins = [...tree.keys()].filter((p) => p.includes("/etc/systemd/system/slurmctld.service.d/"));
  it.each(dropins)("systemd-analyze verify accepts %s on Debian's slurmctld.service", (path) => {
    const debianUnit = spawnSync("cat", ["/lib/systemd/system/slurmctld.service"], { encoding: "utf8" }).stdout;
    expect(debianUnit).toContain("ExecStart=/usr/sbin/slurmctld");
    const ok = systemdVerify({ "slurmctld.service": debianUnit, "slurmctld.service.d/hpcdk-state-save.conf": text(path) }, "slurmctld.service");
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    // The negative control: a wrong key in the drop-in is reported, so the drop-in was read.
    const bad = systemdVerify({ "slurmctld.service": debianUnit, "slurmctld.service.d/hpcdk-state-save.conf": `${text(path)}RequiresMountFor=/x\n` }, "slurmctld.service");
    expect(bad.stderr).toContain("Unknown key 'RequiresMountFor'");
  });

  it("names mount units exactly as systemd-escape does", () => {
    const paths = ["/var/spool/slurmctld", "/srv/slurm-state", "/a//b/", "/x/.hidden", "/data/ünïcode", "/", "/var/lib/slurm_ctld.d"];
    for (const p of paths) {
      const r = spawnSync("systemd-escape", ["--path", "--suffix=mount", p], { encoding: "utf8" });
      expect(mountUnitName(p), p).toBe(r.stdout.trim());
    }
  });

  it("gives slurmd on a GPU node the 4 GPUs slurm.conf announces (slurmd -G)", () => {
    const slurmConf = text("groups/gpu/etc/slurm/slurm.conf");
    expect(slurmConf).toMatch(/^NodeName=g\[01-08\] .*Gres=gpu:a100:4 /m);
    const r = slurmdGres(slurmConf, text("groups/gpu/etc/slurm/gres.conf"), "g03");
    expect(r.stderr).toMatch(/Gres Name=gpu Type=a100 Count=4 /);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.status).toBe(0);
  });

  it("fails if gres.conf names fewer device files than the count (slurmd -G can disagree)", () => {
    const slurmConf = text("groups/gpu/etc/slurm/slurm.conf");
    const r = slurmdGres(slurmConf, text("groups/gpu/etc/slurm/gres.conf").replace("nvidia[0-3]", "nvidia[0-1]"), "g03");
    expect(r.stderr).toMatch(/Gres Name=gpu Type=a100 Count=2 /);
  });

  it("renders the same slurm.conf, cgroup.conf and plugstack.conf on every Slurm host", () => {
    for (const name of ["slurm.conf", "cgroup.conf", "plugstack.conf", "gres.conf"]) {
      const copies = [...tree.keys()].filter((p) => p.endsWith(`/etc/slurm/${name}`));
      expect(copies.length, name).toBe(7); // stc1-4 and the login, compute and gpu groups
      expect(new Set(copies.map((p) => tree.get(p)!.toString("hex"))).size, name).toBe(1);
    }
  });
});

describe("why plugin names are checked at synth", () => {
  /** slurmctld on the rendered slurm.conf (paths moved into a temp dir), with one edit, its addresses on loopback; killed by PID after `timeoutMs`. */
  function slurmctld(edit: (conf: string) => string, timeoutMs: number) {
    const dir = tempDir("hpcdk-typo-");
    const conf = edit(text("hosts/stc1/etc/slurm/slurm.conf"))
      .replace(/\/etc\/slurm\//g, `${dir}/`)
      .replace(/^(StateSaveLocation|SlurmctldLogFile|SlurmctldPidFile)=.*$/gm, (_, k: string) => `${k}=${dir}/${k}`)
      // Nothing may leave this machine: every address of the site becomes loopback, ports ours.
      .replace(/\((\d+\.){3}\d+\)/g, "(127.0.0.1)")
      .replace(/^AccountingStorageHost=.*$/m, "AccountingStorageHost=127.0.0.1")
      .replace(/^AccountingStoragePort=6819$/m, "AccountingStoragePort=16899")
      .replace(/^SlurmctldPort=6817$/m, "SlurmctldPort=16818");
    writeFileSync(join(dir, "slurm.conf"), conf);
    // slurmctld (as SlurmUser) checks its state directory before it loads plugins.
    chmodSync(dir, 0o777);
    mkdirSync(join(dir, "StateSaveLocation"));
    spawnSync("chown", ["slurm:slurm", join(dir, "StateSaveLocation")]);
    // unshare and sh exec: the PID spawnSync kills at the timeout is slurmctld's.
    return spawnSync("unshare", ["--uts", "sh", "-c", `hostname stc1 && exec slurmctld -D -f ${dir}/slurm.conf`], {
      encoding: "utf8",
      timeout: timeoutMs,
      killSignal: "SIGKILL",
    });
  }

  // The control is the lab test: the same file with the rendered auth/jwt runs slurmctld.
  it("slurmctld dies at start with rest_auth/jwt (slurmrestd's plugin) in AuthAltTypes", () => {
    const r = slurmctld((c) => c.replace("AuthAltTypes=auth/jwt", "AuthAltTypes=rest_auth/jwt"), 20_000);
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("fatal: plugin_load_and_link");
  });
});
