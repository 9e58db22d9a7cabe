/**
 * The container files of the example site (sites/lab.yaml) and the containers fixture, fed to
 * the programs that read them where they run here (systemd-analyze verify, systemd-tmpfiles,
 * shellcheck, node for mongosh's JavaScript, the YAML parser MongoDB's format follows), and to
 * structural checks that follow the upstream readers where they do not (Apptainer, Sarus,
 * Shifter and Slurm 22.05's oci.conf: see formats.ts). Every check also runs on a broken file to
 * prove it can fail. Podman, Charliecloud, runc and Redis read their files in lab.test.ts.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { fillSecrets, renderTemplate, managedHeader, type BundleManifest } from "../../constructs/core/index.js";
import { loadSiteFiles } from "../../schema/load.js";
import { FIXTURES, loadExamples, readTree, synthTo, tempDir } from "../helpers.js";
import {
  checkApptainerConf,
  checkJson,
  checkOciConf,
  checkUdiRootConf,
  IMAGEMANAGER_SCHEMA,
  OCI_HOOK_SCHEMA,
  SARUS_SCHEMA,
} from "./formats.js";

const sites = [...loadExamples(["lab"]), ...loadSiteFiles([join(FIXTURES, "containers.yaml")])];
const { out } = synthTo(sites);
const SECRETS = { "shifter-redis-password": "Redis0pw", "shifter-mongodb-password": "Mongo0pw", "shifter-mongodb-admin-password": "Admin0pw" };

interface Rendered {
  readonly site: string;
  readonly path: string;
  readonly file: string;
  readonly text: string;
}

/** Every rendered file of the group bundles, with its tree path. */
function groupFiles(site: string): Rendered[] {
  const dir = join(out, "stacks", site);
  const tree = readTree(dir);
  return [...tree.keys()].filter((p) => p.startsWith("groups/")).map((p) => ({ site, path: p, file: join(dir, p), text: tree.get(p)!.toString() }));
}
const files = sites.flatMap((s) => groupFiles(s.name));
const named = (re: RegExp) => files.filter((f) => re.test(f.path)).map((f) => [`${f.site}: ${f.path}`, f] as const);
const manifests = sites.flatMap((s) => {
  const tree = readTree(join(out, "stacks", s.name, "manifests", "groups"));
  return [...tree.values()].map((b) => JSON.parse(b.toString()) as BundleManifest);
});

/** shellcheck as the file's shebang says (bash scripts of the stream brokers); sh for sourced files (profile.d). */
function shellcheck(file: string) {
  const shebang = readFileSync(file, "utf8").startsWith("#!");
  return spawnSync("shellcheck", [...(shebang ? [] : ["--shell=sh"]), "--severity=style", file], { encoding: "utf8" });
}

/**
 * systemd-analyze verify on units, as on the gateway host: in a private mount namespace where
 * the programs the site packages install (the gateway's virtualenv) are empty stand-ins, and
 * the scripts hpcdk renders are in place. Everything else (directives, users, dependencies) is
 * systemd's own check.
 */
function systemdVerify(unitDir: string, units: readonly string[], scripts: Readonly<Record<string, string>> = {}) {
  const setup = [
    "set -e",
    "mount -t tmpfs tmpfs /opt",
    "mkdir -p /opt/shifter/imagegw/venv/bin",
    "for b in gunicorn celery; do printf '#!/bin/sh\\n' >/opt/shifter/imagegw/venv/bin/$b; chmod 755 /opt/shifter/imagegw/venv/bin/$b; done",
    "mount -t tmpfs tmpfs /usr/local/sbin",
    ...Object.entries(scripts).map(([to, from]) => `cp '${from}' '${to}' && chmod 755 '${to}'`),
    `cd '${unitDir}'`,
    `exec systemd-analyze verify ${units.map((u) => `'${u}'`).join(" ")}`,
  ].join("\n");
  return spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", setup], { encoding: "utf8" });
}

describe("container files", () => {
  it("renders every runtime for the example site", () => {
    const paths = files.filter((f) => f.site === "lab").map((f) => f.path);
    for (const p of [
      "groups/compute/etc/apptainer/apptainer.conf",
      "groups/login/etc/containers/storage.conf",
      "groups/login/etc/containers/containers.conf",
      "groups/login/etc/subuid",
      "groups/compute/etc/profile.d/hpcdk-charliecloud.sh",
      "groups/gpu/opt/sarus/1.7.0/etc/sarus.json",
      "groups/gpu/opt/sarus/1.7.0/etc/hooks.d/03-nvidia-container-toolkit.json",
      "groups/compute/etc/shifter/udiRoot.conf",
      "groups/shifter-gw/etc/shifter/imagemanager.json",
      "groups/compute/etc/slurm/oci.conf",
      "groups/compute/etc/slurm/plugstack.conf.d/shifter.conf",
    ]) {
      expect(paths).toContain(p);
    }
    // No GPU hook where there are no GPUs, no InfiniBand devices where there is no InfiniBand.
    expect(paths).not.toContain("groups/compute/opt/sarus/1.7.0/etc/hooks.d/03-nvidia-container-toolkit.json");
  });

  it.each(named(/\/apptainer\.conf$/))("%s is accepted by Apptainer's directive table", (_n, f) => {
    expect(checkApptainerConf(f.text)).toEqual([]);
  });

  it.each(named(/\/sarus\.json$/))("%s matches Sarus's schema", (_n, f) => {
    expect(checkJson(f.text, SARUS_SCHEMA)).toEqual([]);
  });

  it.each(named(/\/hooks\.d\/.*\.json$/))("%s matches the OCI hook schema", (_n, f) => {
    expect(checkJson(f.text, OCI_HOOK_SCHEMA)).toEqual([]);
  });

  it.each(named(/\/udiRoot\.conf$/))("%s is a complete udiRoot.conf", (_n, f) => {
    expect(checkUdiRootConf(f.text)).toEqual([]);
  });

  it.each(named(/\/imagemanager\.json$/))("%s matches the image gateway's configuration once its secrets are filled", (_n, f) => {
    expect(f.text).toContain("@@hpcdk-secret:shifter-mongodb-password@@");
    expect(checkJson(fillSecrets(f.text, SECRETS), IMAGEMANAGER_SCHEMA)).toEqual([]);
  });

  it.each(named(/\/oci\.conf$/))("%s uses only what Slurm 22.05 knows", (_n, f) => {
    expect(checkOciConf(f.text)).toEqual([]);
  });

  it.each(named(/\/mongod\.conf$/))("%s binds MongoDB to 127.0.0.1 with authorization", (_n, f) => {
    const conf = parseYaml(f.text) as { net: { bindIp: string; port: number }; security: { authorization: string } };
    expect(conf.net.bindIp).toBe("127.0.0.1");
    expect(conf.security.authorization).toBe("enabled");
  });

  it.each(named(/\/mongo-users\.js$/))("%s is JavaScript node accepts", (_n, f) => {
    const file = join(tempDir(), "users.js");
    writeFileSync(file, fillSecrets(f.text, SECRETS));
    const result = spawnSync(process.execPath, ["--check", file], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(f.text).toContain("// Generated by hpcdk");
  });

  it.each(named(/\/(subuid|subgid)$/))("%s gives every uid its own range", (_n, f) => {
    expect(f.text).toMatch(/^# Generated by hpcdk/);
    const lines = f.text.trimEnd().split("\n").filter((l) => !l.startsWith("#"));
    const ranges = lines.map((l) => {
      expect(l).toMatch(/^\d+:\d+:\d+$/);
      const [, start, count] = l.split(":").map(Number) as [number, number, number];
      return [start, start + count - 1] as const;
    });
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBeGreaterThan(ranges[i - 1]![1]);
  });

  // The stream brokers' image build files are checked by test/streaming/validators.test.ts.
  const scripts = files.filter(
    (f) => /\/(usr\/local|etc\/slurm\/(prolog|epilog)\.d|etc\/shifter\/premount|etc\/profile\.d)/.test(f.path) && !f.path.includes("/hpcdk/stream-image/"),
  );
  it.each(scripts.map((f) => [`${f.site}: ${f.path}`, f] as const))("%s passes shellcheck", (_n, f) => {
    const result = shellcheck(f.file);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("has a site package installer that passes shellcheck", () => {
    const file = join(tempDir(), "install-site-package");
    writeFileSync(file, renderTemplate("containers/install-site-package.sh", { header: managedHeader("hash", "sites/lab.yaml") }));
    const result = shellcheck(file);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("has container steps that shellcheck accepts", () => {
    const steps = manifests.flatMap((m) => m.steps);
    expect(steps.length).toBeGreaterThan(10);
    const file = join(tempDir(), "steps.sh");
    writeFileSync(file, "#!/bin/sh\nset -eu\n" + steps.map((s) => `# ${s.id}\n${s.run}\n`).join(""));
    const result = shellcheck(file);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it.each(sites.map((s) => [s.name] as const))("has gateway units that systemd-analyze verify accepts (%s)", (site) => {
    const dir = join(out, "stacks", site, "groups", site === "lab" ? "shifter-gw" : "gw");
    const manifest = manifests.find((m) => m.dir === `groups/${site === "lab" ? "shifter-gw" : "gw"}` && m.source.includes(site === "lab" ? "lab" : "containers"))!;
    expect(manifest).toBeDefined();
    const units = ["shifter-redis.service", "shifter-imagegw-api@5000.service", "shifter-imagegw-worker.service", "shifter-etc-cache.service", "shifter-etc-cache.timer"];
    const result = systemdVerify(join(dir, "etc/systemd/system"), units, {
      "/usr/local/sbin/hpcdk-shifter-etc-cache": join(dir, "usr/local/sbin/hpcdk-shifter-etc-cache"),
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  it.each(named(/\/tmpfiles\.d\/.*\.conf$/))("%s makes the runtime state directory with systemd-tmpfiles", (_n, f) => {
    const root = tempDir();
    const result = spawnSync("systemd-tmpfiles", ["--create", `--root=${root}`, f.file], { encoding: "utf8" });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const st = statSync(join(root, "run/slurm-oci"));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o1777);
  });

  it("keeps every secret out of the rendered files and their modes private", () => {
    for (const f of files) for (const v of Object.values(SECRETS)) expect(f.text).not.toContain(v);
    const withSecrets = manifests.flatMap((m) => m.files.filter((f) => f.secrets.length > 0));
    expect(withSecrets.map((f) => f.path).sort()).toEqual([
      "/etc/shifter/imagemanager.json", "/etc/shifter/imagemanager.json",
      "/etc/shifter/mongo-users.js", "/etc/shifter/mongo-users.js",
      "/etc/shifter/redis.conf", "/etc/shifter/redis.conf",
    ]);
    for (const f of withSecrets) expect(parseInt(f.mode, 8) & 0o007).toBe(0);
    const redis = withSecrets.find((f) => f.path === "/etc/shifter/redis.conf")!;
    expect([redis.owner, redis.group, redis.mode]).toEqual(["root", "redis", "0640"]);
    const gw = withSecrets.find((f) => f.path === "/etc/shifter/imagemanager.json")!;
    expect([gw.owner, gw.group, gw.mode]).toEqual(["shifter", "shifter", "0600"]);
  });

  it("declares an impact for every container file", () => {
    for (const m of manifests) for (const f of m.files) expect(f.impact.detail).not.toContain("not declared");
  });
});

describe("the container validators", () => {
  const lab = (p: string) => readFileSync(join(out, "stacks", "lab", p), "utf8");

  it("fail if apptainer.conf has an unknown directive or a bad value", () => {
    const conf = lab("groups/compute/etc/apptainer/apptainer.conf");
    expect(checkApptainerConf(conf.replace("mount hostfs = no", "mount hostfs = maybe") + "allow suid = yes\n")).toEqual([
      `line ${conf.split("\n").indexOf("mount hostfs = no") + 1}: mount hostfs must be one of yes, no, got "maybe"`,
      `line ${conf.split("\n").length}: unknown directive "allow suid"`,
    ]);
  });

  it("fail if sarus.json misses a required key or has a relative path", () => {
    const conf = JSON.parse(lab("groups/gpu/opt/sarus/1.7.0/etc/sarus.json")) as Record<string, unknown>;
    delete conf.umociPath;
    conf.tempDir = "tmp";
    expect(checkJson(JSON.stringify(conf), SARUS_SCHEMA)).toEqual(["/ must have required property 'umociPath'", '/tempDir must match pattern "^/"']);
  });

  it("fail if a hook has no stages", () => {
    const hook = JSON.parse(lab("groups/gpu/opt/sarus/1.7.0/etc/hooks.d/05-mpi-hook.json")) as Record<string, unknown>;
    delete hook.stages;
    expect(checkJson(JSON.stringify(hook), OCI_HOOK_SCHEMA)).toEqual(["/ must have required property 'stages'"]);
  });

  it("fail if udiRoot.conf misses system or has a bad siteFs", () => {
    const conf = lab("groups/compute/etc/shifter/udiRoot.conf").replace(/^system=.*\n/m, "").replace("siteFs=/home:/home", "siteFs=/home");
    expect(checkUdiRootConf(conf)).toEqual(["required key system is missing", 'siteFs entry must be /from:/to, got "/home"']);
  });

  it("fail if the image gateway's broker has no password", () => {
    const conf = fillSecrets(lab("groups/shifter-gw/etc/shifter/imagemanager.json"), SECRETS).replace("redis://:Redis0pw@", "redis://");
    expect(checkJson(conf, IMAGEMANAGER_SCHEMA)).toEqual(['/Broker must match pattern "^redis://:[^@/]+@[^/]+/\\d+$"']);
  });

  it("fail if oci.conf uses what Slurm 22.05 does not know", () => {
    const conf = lab("groups/compute/etc/slurm/oci.conf").replace("--root=/run/slurm-oci state", "--root=/run/user/%U state") + 'EnvExclude="^SLURM_CONF="\n';
    expect(checkOciConf(conf)).toEqual([
      `line ${conf.split("\n").findIndex((l) => l.startsWith("RunTimeQuery=")) + 1}: Slurm 22.05 has no pattern %U (slurmstepd dies on it)`,
      `line ${conf.trimEnd().split("\n").length}: Slurm 22.05 does not know EnvExclude (an unknown key is fatal to slurmstepd)`,
    ]);
  });

  it("fail if a unit has a typo", () => {
    const dir = tempDir();
    const unit = lab("groups/shifter-gw/etc/systemd/system/shifter-redis.service").replace("ExecStart=", "ExecStrat=");
    writeFileSync(join(dir, "shifter-redis.service"), unit);
    const result = systemdVerify(dir, ["shifter-redis.service"]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("ExecStrat");
  });

  it("fail if a tmpfiles line is malformed", () => {
    const dir = tempDir();
    mkdirSync(join(dir, "root"));
    writeFileSync(join(dir, "bad.conf"), "d /run/slurm-oci 17z77 root root -\n");
    const result = spawnSync("systemd-tmpfiles", ["--create", `--root=${join(dir, "root")}`, join(dir, "bad.conf")], { encoding: "utf8" });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("Invalid mode '17z77'");
  });

  it("fail if mongo-users.js is broken", () => {
    const file = join(tempDir(), "users.js");
    writeFileSync(file, lab("groups/shifter-gw/etc/shifter/mongo-users.js").replace("if (!authenticated) {", "if (!authenticated {"));
    expect(spawnSync(process.execPath, ["--check", file]).status).not.toBe(0);
  });
});
