/**
 * The container runtimes, run for real with the files hpcdk renders, as an unprivileged user:
 * - rootless Podman (runc) with the rendered storage.conf, containers.conf, /etc/subuid and
 *   /etc/subgid and the per-user store the rendered script creates, running a busybox image
 *   built offline; the XDG_RUNTIME_DIR fixes for login shells and Slurm tasks;
 * - Charliecloud's ch-run with the rendered profile, and the rendered preflight;
 * - runc driven by exactly the commands of the rendered oci.conf, as slurmstepd would (the Slurm
 *   lab, test/slurm/lab.test.ts, runs `srun --container` itself through the same file);
 * - the site package steps (download by file:// URL, sha256 check, unpack, Sarus's security
 *   step), and Redis started from the rendered Shifter redis.conf.
 * Every run happens in a private mount namespace (nothing of the machine changes); daemons are
 * stopped by PID, every wait is bounded, traffic stays on 127.0.0.1 ports 16900-16999.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { fillSecrets, type BundleManifest } from "../../constructs/core/index.js";
import { parseSite } from "../../schema/load.js";
import { FIXTURES, synthTo, tempDir } from "../helpers.js";
import { parseOciConf } from "./formats.js";

const USER = { name: "ctuser", uid: 16901 };
const FIXTURE = readFileSync(join(FIXTURES, "containers.yaml"), "utf8");
const { out } = synthTo([parseSite(FIXTURE, "sites/containers.yaml")]);
// The unprivileged user reads the rendered files.
chmodSync(out, 0o755);
chmodSync(dirname(out), 0o755);
const stack = join(out, "stacks", "containers");
const rendered = (group: string, path: string) => join(stack, "groups", group, path);

/** A world-readable work directory: the unprivileged user reads images and files from it. */
function workDir(): string {
  const d = tempDir("hpcdk-ct-");
  chmodSync(d, 0o755);
  return d;
}

/** A busybox root filesystem: enough for podman, ch-run and runc. */
function busyboxRootfs(dir: string): string {
  for (const d of ["bin", "dev", "proc", "sys", "tmp", "home", "etc", "run", "mnt", "var/tmp"]) mkdirSync(join(dir, d), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  for (const a of ["sh", "echo", "id", "cat", "sleep", "ls", "env"]) symlinkSync("busybox", join(dir, "bin", a));
  for (const f of ["passwd", "group", "hosts", "resolv.conf"]) writeFileSync(join(dir, "etc", f), "");
  writeFileSync(join(dir, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
  return dir;
}

/**
 * Runs a script as root in private mount and PID namespaces with the test user in /etc/passwd:
 * the script may mount anything, and it all disappears with the namespaces; every process it
 * leaves behind (Podman's rootless pause process, a background runc) is killed by the kernel
 * when the script, the namespace's PID 1, exits. Bounded in time.
 */
function inNamespace(script: string, timeoutMs = 90_000): SpawnSyncReturns<string> {
  const dir = workDir();
  writeFileSync(join(dir, "passwd"), readFileSync("/etc/passwd", "utf8") + `${USER.name}:x:${USER.uid}:${USER.uid}::/nonexistent:/bin/sh\n`);
  writeFileSync(join(dir, "group"), readFileSync("/etc/group", "utf8") + `${USER.name}:x:${USER.uid}:\n`);
  const prelude = [
    "set -eu",
    "mount --make-rshared /",
    `mount --bind '${dir}/passwd' /etc/passwd`,
    `mount --bind '${dir}/group' /etc/group`,
  ].join("\n");
  return spawnSync("unshare", ["--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "sh", "-c", `${prelude}\n${script}`], {
    // The test user's commands start here too: not in the checkout, which may be root's alone.
    cwd: "/",
    encoding: "utf8",
    timeout: timeoutMs,
    killSignal: "SIGKILL",
  });
}

/** A command line run as the test user, with a clean environment. */
const asUser = (cmd: string, env: Record<string, string> = {}) =>
  `setpriv --reuid=${USER.uid} --regid=${USER.uid} --clear-groups env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin USER=${USER.name} LOGNAME=${USER.name} ${Object.entries(env)
    .map(([k, v]) => `${k}='${v}'`)
    .join(" ")} sh -c '${cmd.replace(/'/g, `'"'"'`)}'`;

/** The namespace setup of a Podman node of a group: the rendered /etc/containers, sub-ids, stores. */
function podmanNode(group: string): string {
  const etc = workDir();
  copyFileSync("/etc/containers/policy.json", join(etc, "policy.json"));
  copyFileSync("/etc/containers/registries.conf", join(etc, "registries.conf"));
  for (const f of ["storage.conf", "containers.conf"]) copyFileSync(rendered(group, `etc/containers/${f}`), join(etc, f));
  return [
    `mount --bind '${etc}' /etc/containers`,
    `mount --bind '${rendered(group, "etc/subuid")}' /etc/subuid`,
    `mount --bind '${rendered(group, "etc/subgid")}' /etc/subgid`,
    // Local disk for the stores: a tmpfs over /var/lib (graphroot and the per-user stores live there).
    "mount -t tmpfs -o mode=0755 tmpfs /var/lib",
    `sh '${rendered(group, "usr/local/sbin/hpcdk-podman-user-storage")}'`,
  ].join("\n");
}

describe("rootless Podman with the rendered configuration", () => {
  // The runtime directory the profile picks is on the machine's /tmp: remove it afterwards.
  afterAll(() => {
    for (const d of readdirSync("/tmp").filter((n) => n === `xdg-runtime-${USER.uid}` || n.startsWith(`xdg-runtime-${USER.uid}.`))) {
      rmSync(join("/tmp", d), { recursive: true, force: true });
    }
  });
  const work = workDir();
  const rootfs = busyboxRootfs(join(work, "rootfs"));
  const tarball = join(work, "busybox.tar");
  spawnSync("tar", ["-C", rootfs, "-cf", tarball, "."]);
  /** A fresh home (and runtime directory) per test: Podman keeps state in both. */
  let homes = 0;
  const freshHome = () => {
    const home = join(work, `home-${homes++}`);
    mkdirSync(home);
    spawnSync("chown", [String(USER.uid), home]);
    return home;
  };

  it("runs a busybox image as an unprivileged user, with its store under the local per-user root", () => {
    const home = freshHome();
    const result = inNamespace(
      [
        podmanNode("login"),
        `stat -c '%U %a' /var/lib/containers/users/${USER.uid}`,
        asUser(
          [
            `podman import -q '${tarball}' localhost/busybox:test >/dev/null`,
            "podman run --rm localhost/busybox:test sh -c 'echo hello from podman; cat /proc/self/uid_map'",
            "podman info --format '{{.Store.GraphRoot}} {{.Store.GraphDriverName}} {{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}}'",
          ].join(" && "),
          { HOME: home, XDG_RUNTIME_DIR: home, TMPDIR: home },
        ),
      ].join("\n"),
    );
    expect(result.stderr).toBe("");
    const lines = result.stdout.trim().split("\n").slice(1);
    expect(lines[0]).toBe(`${USER.name} 700`);
    expect(lines[1]).toBe("hello from podman");
    // Container root is the user; ids 1-65536 are the user's subordinate range from /etc/subuid.
    expect(lines[2]!.trim().split(/\s+/)).toEqual(["0", String(USER.uid), "1"]);
    expect(lines[3]!.trim().split(/\s+/)).toEqual(["1", "100000", "65536"]);
    expect(lines[4]).toBe(`/var/lib/containers/users/${USER.uid}/storage overlay runc cgroupfs`);
    expect(result.status).toBe(0);
  });

  it("reads the InfiniBand group's containers.conf", () => {
    const home = freshHome();
    const result = inNamespace([podmanNode("compute"), asUser("podman info --format '{{.Host.OCIRuntime.Name}}'", { HOME: home, XDG_RUNTIME_DIR: home, TMPDIR: home })].join("\n"));
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n").pop()).toBe("runc");
  });

  it("gives login shells and Slurm tasks a private XDG_RUNTIME_DIR, and podman runs without waiting", () => {
    const home = freshHome();
    const profile = rendered("login", "etc/profile.d/hpcdk-podman.sh");
    const prolog = rendered("login", "usr/local/libexec/hpcdk/podman-task-prolog");
    // The task prolog is sourced through its absolute path on the host: point it at the rendered one.
    const script = [
      podmanNode("login"),
      `mount --bind '${profile}' /etc/profile.d/hpcdk-podman.sh 2>/dev/null || { touch /etc/profile.d/hpcdk-podman.sh; mount --bind '${profile}' /etc/profile.d/hpcdk-podman.sh; }`,
      asUser(`sh '${prolog}'; echo prolog-done`, { TMPDIR: home, XDG_RUNTIME_DIR: "/run/user/4242" }),
      asUser(`sh '${prolog}'; echo prolog-done`, { TMPDIR: home, XDG_RUNTIME_DIR: home }),
      asUser(`unset XDG_RUNTIME_DIR; . '${profile}'; echo "xdg=$XDG_RUNTIME_DIR"; podman import -q '${tarball}' localhost/b:1 >/dev/null && podman run --rm localhost/b:1 echo ok`, {
        HOME: home,
        TMPDIR: home,
      }),
    ].join("\n");
    const t0 = Date.now();
    const result = inNamespace(script);
    const seconds = (Date.now() - t0) / 1000;
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n").slice(1)).toEqual([
      `export XDG_RUNTIME_DIR=/tmp/xdg-runtime-${USER.uid}`,
      "prolog-done",
      "prolog-done",
      `xdg=/tmp/xdg-runtime-${USER.uid}`,
      "ok",
    ]);
    // Podman's own fallback (XDG_RUNTIME_DIR unset) waits 20 s for the container's exit code.
    expect(seconds).toBeLessThan(15);
    expect(result.status).toBe(0);
  });

  it("fails if containers.conf names a runtime that does not exist (the run is real)", () => {
    const home = freshHome();
    const result = inNamespace(
      [podmanNode("login"), "sed -i 's/^runtime = \"runc\"/runtime = \"nosuchruntime\"/' /etc/containers/containers.conf", asUser(`podman import -q '${tarball}' localhost/b:1 >/dev/null && podman run --rm localhost/b:1 echo ok`, { HOME: home, XDG_RUNTIME_DIR: home, TMPDIR: home })].join("\n"),
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("nosuchruntime");
  });

  it("fails if the user has no subordinate ids", () => {
    const home = freshHome();
    const result = inNamespace(
      [podmanNode("login"), "mount -t tmpfs tmpfs /mnt && : >/mnt/empty && mount --bind /mnt/empty /etc/subuid && mount --bind /mnt/empty /etc/subgid", asUser(`podman import -q '${tarball}' localhost/b:1 >/dev/null && podman run --rm localhost/b:1 cat /proc/self/uid_map`, { HOME: home, XDG_RUNTIME_DIR: home, TMPDIR: home })].join("\n"),
    );
    // Without sub-ids Podman maps the user alone: no range from /etc/subuid.
    expect(result.stderr).toContain('no subuid ranges found for user \\"ctuser\\" in /etc/subuid');
    expect(result.stdout).not.toContain("100000");
  });
});

describe("Charliecloud with the rendered configuration", () => {
  const work = workDir();
  const rootfs = busyboxRootfs(join(work, "rootfs"));

  it("runs a busybox image with ch-run as an unprivileged user, CH_IMAGE_STORAGE from the profile", () => {
    const profile = rendered("compute", "etc/profile.d/hpcdk-charliecloud.sh");
    const result = inNamespace(asUser(`. '${profile}'; echo "storage=$CH_IMAGE_STORAGE"; ch-run '${rootfs}' -- sh -c 'echo hello from charliecloud; id -u'`));
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n")).toEqual([`storage=/var/tmp/${USER.name}.ch`, "hello from charliecloud", String(USER.uid)]);
  });

  it("passes the rendered preflight", () => {
    const result = inNamespace(`sh '${rendered("compute", "usr/local/sbin/hpcdk-charliecloud-preflight")}'`);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim()).toBe("charliecloud: user namespaces work and image storage (/var/tmp) is local");
  });

  it("fails the preflight if Charliecloud is not installed", () => {
    const result = inNamespace(`PATH=/usr/sbin:/sbin /bin/sh '${rendered("compute", "usr/local/sbin/hpcdk-charliecloud-preflight")}'`);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe("hpcdk-charliecloud-preflight: ch-run is not installed\n");
  });
});

describe("srun --container's runtime commands from the rendered oci.conf", () => {
  const work = workDir();
  const bundle = join(work, "bundle");
  busyboxRootfs(join(bundle, "rootfs"));
  // A rootless bundle as a user makes it (runc spec --rootless), mapped to the test user.
  spawnSync("runc", ["spec", "--rootless", "--bundle", bundle]);
  const config = JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
  config.process.terminal = false;
  config.linux.uidMappings = [{ containerID: 0, hostID: USER.uid, size: 1 }];
  config.linux.gidMappings = [{ containerID: 0, hostID: USER.uid, size: 1 }];
  const withArgs = (args: string[]) => {
    writeFileSync(join(bundle, "config.json"), JSON.stringify({ ...config, process: { ...config.process, args } }));
  };
  const { values } = parseOciConf(readFileSync(rendered("compute", "etc/slurm/oci.conf"), "utf8"));
  /** A pattern filled in as slurmstepd does (node c01, job 42, step 0, task 0). */
  const command = (key: string) =>
    values.get(key)!.replace(/%([%@bejnrstu])/g, (_, p: string) => ({ "%": "%", n: "c01", u: USER.name, j: "42", s: "0", t: "0", b: bundle })[p] ?? "");
  const node = [`mount -t tmpfs -o mode=0755 tmpfs /run`, `systemd-tmpfiles --create '${rendered("compute", "etc/tmpfiles.d/hpcdk-slurm-oci.conf")}'`].join("\n");

  it("runs a container with RunTimeRun in the state directory systemd-tmpfiles made", () => {
    withArgs(["sh", "-c", "echo hello from runc; id -u"]);
    const result = inNamespace([node, "stat -c %a /run/slurm-oci", asUser(`${command("runtimerun")} </dev/null 2>&1 | cat`)].join("\n"));
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n")).toEqual(["1777", "hello from runc", "0"]);
  });

  it("queries, kills and deletes a running container with RunTimeQuery, RunTimeKill and RunTimeDelete", () => {
    withArgs(["sleep", "60"]);
    const script = [
      node,
      asUser(
        [
          `(${command("runtimerun")} </dev/null >/dev/null 2>&1 &)`,
          // Bounded wait for the container to run: 10 s.
          `i=0; until ${command("runtimequery")} 2>/dev/null | grep -q '"status": "running"'; do i=$((i+1)); [ $i -lt 100 ] || exit 9; sleep 0.1; done`,
          "echo running",
          command("runtimekill"),
          `i=0; while ${command("runtimequery")} 2>/dev/null | grep -q '"status": "running"'; do i=$((i+1)); [ $i -lt 100 ] || exit 10; sleep 0.1; done`,
          `${command("runtimedelete")} 2>/dev/null || true`,
          `if ${command("runtimequery")} >/dev/null 2>&1; then echo still-there; else echo gone; fi`,
        ].join("; "),
      ),
    ].join("\n");
    const result = inNamespace(script);
    expect(result.stdout.trim().split("\n")).toEqual(["running", "gone"]);
    expect(result.status).toBe(0);
  });

  it("fails if the state directory is missing (what the tmpfiles file prevents)", () => {
    withArgs(["echo", "never"]);
    const result = inNamespace([`mount -t tmpfs -o mode=0755 tmpfs /run`, asUser(`${command("runtimerun")} </dev/null 2>&1 | cat`)].join("\n"));
    expect(result.stdout).not.toContain("never");
  });
});

describe("site packages and Sarus's install steps", () => {
  const work = workDir();
  // A stand-in for the Sarus standalone archive: a top directory with bin/sarus.
  const src = join(work, "src", "1.7.0-Release");
  mkdirSync(join(src, "bin"), { recursive: true });
  mkdirSync(join(src, "etc"), { recursive: true });
  writeFileSync(join(src, "bin/sarus"), "#!/bin/sh\necho sarus 1.7.0\n");
  chmodSync(join(src, "bin/sarus"), 0o755);
  const archive = join(work, "sarus-1.7.0-Release.tar.gz");
  spawnSync("tar", ["-C", join(work, "src"), "-czf", archive, "1.7.0-Release"]);
  const sha = createHash("sha256").update(readFileSync(archive)).digest("hex");
  const site = (url: string, sum: string) =>
    FIXTURE.replace("https://mirror.example.org/sarus-1.7.0-Release.tar.gz", url).replace("2222222222222222222222222222222222222222222222222222222222222222", sum);
  const stepsOf = (text: string) => {
    const o = synthTo([parseSite(text, "sites/pkg.yaml")]).out;
    const m = JSON.parse(readFileSync(join(o, "stacks", "pkg", "manifests", "groups", "gpu.json"), "utf8")) as BundleManifest;
    return m.steps;
  };
  const state = join(work, "state");

  it("downloads, verifies and unpacks the archive, then makes Sarus root-owned and setuid; a rerun does nothing", () => {
    const steps = stepsOf(site(`file://${archive}`, sha));
    const run = steps.filter((s) => /site-package|sarus-security/.test(s.id));
    expect(run.map((s) => s.id)).toEqual(["05-site-package-installer", "10-site-package-sarus-1.7.0-Release", "20-sarus-security"]);
    const script = [
      "mount -t tmpfs tmpfs /opt",
      "mount -t tmpfs tmpfs /usr/local/sbin",
      `export HPCDK_STATE_DIR='${state}'`,
      ...run.map((s) => s.run),
      // The config hpcdk writes after the packages survives a rerun of the install step.
      "echo '{}' >/opt/sarus/1.7.0/etc/sarus.json",
      run[1]!.run,
      "stat -c '%U %a' /opt/sarus/1.7.0/bin/sarus",
      "/opt/sarus/1.7.0/bin/sarus",
      "cat /opt/sarus/1.7.0/etc/sarus.json",
    ].join("\n");
    const result = inNamespace(script);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n")).toEqual([
      `sarus-1.7.0-Release: installed from file://${archive}`,
      `sarus-1.7.0-Release: installed already (${sha})`,
      "root 4755",
      "sarus 1.7.0",
      "{}",
    ]);
  });

  it("fails if the checksum does not match, and installs nothing", () => {
    const wrong = "0".repeat(63) + "1";
    const steps = stepsOf(site(`file://${archive}`, wrong)).filter((s) => s.id.includes("site-package"));
    const result = inNamespace(["mount -t tmpfs tmpfs /opt", "mount -t tmpfs tmpfs /usr/local/sbin", `export HPCDK_STATE_DIR='${join(work, "state2")}'`, ...steps.map((s) => s.run), "echo unreachable"].join("\n"));
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      `hpcdk-install-site-package: sarus-1.7.0-Release: checksum mismatch for file://${archive}: expected ${wrong}, got ${sha}; nothing was installed\n`,
    );
    expect(existsSync(join(work, "state2"))).toBe(false);
  });
});

describe("Redis from the rendered Shifter redis.conf", () => {
  const PORT = 16931;
  const work = workDir();
  const password = "T3stRedisPassw0rd";
  const started: number[] = [];
  afterAll(() => {
    for (const pid of started) stopByPid(pid);
  });

  /** The rendered file with its secret filled in, the port moved into the test range and a temporary dir. */
  function conf(mutate: (text: string) => string = (t) => t): string {
    const text = fillSecrets(readFileSync(rendered("gw", "etc/shifter/redis.conf"), "utf8"), { "shifter-redis-password": password });
    const file = join(work, `redis-${started.length}.conf`);
    writeFileSync(file, mutate(text.replace(/^port .*$/m, `port ${PORT}`).replace(/^dir .*$/m, `dir ${work}`)));
    return file;
  }

  function stopByPid(pid: number) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {
      return;
    }
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, "utf8") : "";
      if (stat === "" || stat.split(") ")[1]!.startsWith("Z")) return;
      spawnSync("sleep", ["0.1"]);
    }
    process.kill(pid, "SIGKILL");
  }

  const cli = (...args: string[]) => spawnSync("redis-cli", ["-h", "127.0.0.1", "-p", String(PORT), ...args], { encoding: "utf8", timeout: 10_000 });

  it("starts, refuses clients without the password and answers with it", async () => {
    const child = spawn("redis-server", [conf()], { stdio: ["ignore", "pipe", "pipe"] });
    started.push(child.pid!);
    const deadline = Date.now() + 15_000;
    let ping = cli("ping");
    while (!ping.stdout.includes("NOAUTH") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      ping = cli("ping");
    }
    expect(ping.stdout.trim()).toBe("NOAUTH Authentication required.");
    expect(cli("-a", password, "--no-auth-warning", "ping").stdout.trim()).toBe("PONG");
    expect(cli("-a", password, "--no-auth-warning", "config", "get", "protected-mode").stdout.trim().split("\n")).toEqual(["protected-mode", "yes"]);
    stopByPid(child.pid!);
  });

  it("fails to start if the file has a bad directive", () => {
    const result = spawnSync("redis-server", [conf((t) => t.replace("protected-mode yes", "protected-mode perhaps"))], { encoding: "utf8", timeout: 15_000 });
    expect(result.status).not.toBe(0);
    expect(result.stdout + result.stderr).toContain("protected-mode");
  });
});

