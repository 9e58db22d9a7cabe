/**
 * The Vagrant lab on this machine: real VMs (QEMU software emulation) for a site's management
 * nodes, brought up from the Vagrantfile `hpcdk lab vagrantfile` writes.
 *
 * Everything runs inside a network namespace the lab creates: libvirtd (with its own state
 * directories in a private mount namespace, see scripts/lab-vagrant/libvirtd.sh), its networks
 * and dnsmasq, the VMs, and every client that talks to them (vagrant, ssh, hpcdk deploy). VM
 * traffic never leaves that namespace. Everything started is stopped by PID.
 */
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { LabError, processAlive } from "./lab.js";
import { sleep } from "../../common/async.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO = join(HERE, "..", "..");
export const VAGRANT_ROOT = "/var/tmp/hpcdk-vagrant";
export const BOX_NAME = "hpcdk/debian12";

/** The programs the Vagrant lab runs, with the Debian package of each. */
const REQUIRED: Record<string, string> = {
  vagrant: "vagrant vagrant-libvirt",
  libvirtd: "libvirt-daemon-system",
  virtlogd: "libvirt-daemon-system",
  virsh: "libvirt-clients",
  "qemu-system-x86_64": "qemu-system-x86",
  "qemu-img": "qemu-utils",
  dnsmasq: "dnsmasq-base",
  iptables: "iptables",
  mmdebstrap: "mmdebstrap",
  extlinux: "extlinux",
  sfdisk: "fdisk",
  "mkfs.ext4": "e2fsprogs",
  ip: "iproute2",
  unshare: "util-linux",
  ssh: "openssh-client",
  "ssh-keyscan": "openssh-client",
  // The drill: fence_powerman's powermand on the host side, NFS client through the floating IP.
  powermand: "powerman",
  powerman: "powerman",
  nsenter: "util-linux",
  "nfs-cat": "libnfs-utils",
  "nfs-cp": "libnfs-utils",
  terraform: "terraform (HashiCorp's release, as for hpcdk deploy)",
};

function have(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program} || test -x /usr/sbin/${program}`], { stdio: "ignore" }).status === 0;
}

/** What stops the Vagrant lab from running here, each with how to fix it. */
export function vagrantLabPreflight(): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("the Vagrant lab needs root (network namespace, libvirtd, mounts): run it as root or with sudo");
  const missing = Object.entries(REQUIRED).filter(([program]) => !have(program));
  if (missing.length > 0) {
    const packages = [...new Set(missing.map(([, pkg]) => pkg))].filter((p) => !p.includes(" ("));
    problems.push(
      `missing programs: ${missing.map(([p]) => p).join(", ")}` +
        (packages.length > 0 ? `: apt-get install --no-install-recommends ${packages.join(" ")} syslinux-common libvirt-daemon-driver-qemu` : ""),
    );
  }
  if (have("vagrant") && !/vagrant-libvirt/.test(spawnSync("vagrant", ["plugin", "list"], { encoding: "utf8" }).stdout ?? "")) {
    problems.push("vagrant has no libvirt provider: apt-get install vagrant-libvirt");
  }
  return problems;
}

/** One lab run: where its files live and what it started. */
export interface VagrantLab {
  readonly site: string;
  /** Vagrantfile, inventory, logs, deploy output. */
  readonly dir: string;
  /** libvirt's state (storage pool, networks, domains); removed by teardown. */
  readonly libvirtDir: string;
  readonly netns: string;
  readonly vagrantHome: string;
  readonly uri: string;
  libvirtdPid?: number;
}

export function planVagrantRun(site: string): VagrantLab {
  const dir = join(VAGRANT_ROOT, `run-${site}`);
  const libvirtDir = join(dir, "libvirt");
  return {
    site,
    dir,
    libvirtDir,
    netns: `hpcdk-vg-${site}`.slice(0, 30),
    vagrantHome: join(VAGRANT_ROOT, "vagrant.d"),
    uri: `qemu:///system?socket=${libvirtDir}/run/libvirt-sock`,
  };
}

/** The environment of every vagrant and virsh call: the lab's box store and libvirtd. */
export function labEnv(lab: VagrantLab): NodeJS.ProcessEnv {
  return { ...process.env, VAGRANT_HOME: lab.vagrantHome, LIBVIRT_DEFAULT_URI: lab.uri, VAGRANT_CHECKPOINT_DISABLE: "1" };
}

/** Runs a program inside the lab's network namespace, bounded in time; output goes to the log. */
export function inLab(lab: VagrantLab, argv: string[], opts: { timeoutMs: number; cwd?: string; log?: string } ): SpawnSyncReturns<string> {
  const result = spawnSync("ip", ["netns", "exec", lab.netns, ...argv], {
    encoding: "utf8",
    cwd: opts.cwd ?? lab.dir,
    env: labEnv(lab),
    timeout: opts.timeoutMs,
    killSignal: "SIGTERM",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (opts.log) writeFileSync(join(lab.dir, opts.log), `$ ${argv.join(" ")}\n${result.stdout ?? ""}${result.stderr ?? ""}`, { flag: "a" });
  return result;
}

/** Like inLab, but streams the output to the log file and this process's stdout as it comes. */
export async function inLabStreaming(lab: VagrantLab, argv: string[], opts: { timeoutMs: number; log: string; prefix: string }): Promise<number> {
  const log = createWriteStream(join(lab.dir, opts.log), { flags: "a" });
  log.write(`$ ${argv.join(" ")}\n`);
  const child = spawn("ip", ["netns", "exec", lab.netns, ...argv], { cwd: lab.dir, env: labEnv(lab), stdio: ["ignore", "pipe", "pipe"] });
  let pending = "";
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    pending += chunk.toString("utf8");
    const lines = pending.split(/\r|\n/);
    pending = lines.pop()!;
    // Vagrant redraws its upload progress in place: the log keeps it, the terminal does not.
    for (const raw of lines) {
      const line = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
      if (line !== "" && !/^Progress: \d+%$/.test(line)) process.stdout.write(`${opts.prefix}${line}\n`);
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const timer = setTimeout(() => child.kill("SIGTERM"), opts.timeoutMs);
  const code = await new Promise<number>((resolve) => child.once("close", (c, signal) => resolve(c ?? (signal ? 128 : 1))));
  clearTimeout(timer);
  await new Promise<void>((resolve) => log.end(resolve));
  return code;
}

/**
 * Builds the offline box when it is missing or was built by another version of build-box.sh (a
 * stamp beside the box holds the script's sha256), and adds it to the lab's box store. Returns
 * seconds spent building, 0 if cached.
 */
export function ensureBox(lab: VagrantLab, log: (line: string) => void): number {
  const boxFile = join(VAGRANT_ROOT, "box", "hpcdk-debian12.box");
  const script = join(REPO, "scripts", "lab-vagrant", "build-box.sh");
  const stamp = `${boxFile}.build-box.sha256`;
  const scriptSum = createHash("sha256").update(readFileSync(script)).digest("hex");
  const current = existsSync(boxFile) && existsSync(stamp) && readFileSync(stamp, "utf8").trim() === scriptSum;
  let seconds = 0;
  if (!current) {
    mkdirSync(dirname(boxFile), { recursive: true });
    log(`building the box ${boxFile} with mmdebstrap (a few minutes)${existsSync(boxFile) ? ": build-box.sh changed since it was built" : ""}`);
    const start = Date.now();
    const r = spawnSync(script, [boxFile], { stdio: ["ignore", "inherit", "inherit"], timeout: 60 * 60_000 });
    if (r.status !== 0) throw new LabError([`building the box failed (exit ${r.status ?? r.signal}): see the output above`]);
    writeFileSync(stamp, `${scriptSum}\n`);
    seconds = (Date.now() - start) / 1000;
  }
  // A box rebuilt since it was added replaces the store's copy.
  const stored = join(lab.vagrantHome, "boxes", BOX_NAME.replace("/", "-VAGRANTSLASH-"), "0", "libvirt", "box.img");
  if (!existsSync(stored) || statSync(stored).mtimeMs < statSync(boxFile).mtimeMs) {
    log(`adding ${BOX_NAME} to ${lab.vagrantHome}`);
    const r = spawnSync("vagrant", ["box", "add", "--force", "--name", BOX_NAME, boxFile], { encoding: "utf8", env: labEnv(lab), timeout: 20 * 60_000 });
    if (r.status !== 0) throw new LabError([`vagrant box add failed: ${(r.stderr || r.stdout).trim()}`]);
  }
  return seconds;
}

/** Creates the namespace and starts libvirtd (and virtlogd) in it. */
export async function startLibvirt(lab: VagrantLab, log: (line: string) => void): Promise<void> {
  if (spawnSync("ip", ["netns", "exec", lab.netns, "true"], { stdio: "ignore" }).status === 0) {
    throw new LabError([`the network namespace ${lab.netns} exists: a lab is running or a run was interrupted; run npm run lab:vagrant -- --down first`]);
  }
  mkdirSync(lab.libvirtDir, { recursive: true, mode: 0o700 });
  execFileSync("ip", ["netns", "add", lab.netns]);
  const child = spawn("ip", ["netns", "exec", lab.netns, "unshare", "--mount", "--propagation", "private", "sh", join(REPO, "scripts", "lab-vagrant", "libvirtd.sh"), lab.libvirtDir], {
    detached: true,
    stdio: ["ignore", "ignore", "ignore"],
  });
  child.unref();
  lab.libvirtdPid = child.pid;
  writeFileSync(join(lab.dir, "libvirtd.pid"), `${child.pid}\n`);
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (spawnSync("virsh", ["-c", lab.uri, "version"], { stdio: "ignore", timeout: 10_000 }).status === 0) {
      log(`libvirtd runs in ${lab.netns} (pid ${child.pid})`);
      return;
    }
    if (!processAlive(child.pid!)) break;
    await sleep(500);
  }
  throw new LabError([`libvirtd did not answer on ${lab.uri} within 60 s: see ${lab.libvirtDir}/log/libvirtd.log`]);
}

/** `vagrant ssh-config`, parsed: user, key and address per machine. */
export function sshConfigOf(lab: VagrantLab): Map<string, { user: string; identityFile: string; hostName: string }> {
  const r = inLab(lab, ["vagrant", "ssh-config"], { timeoutMs: 120_000, log: "vagrant.log" });
  if (r.status !== 0) throw new LabError([`vagrant ssh-config failed: ${r.stderr.trim()}`]);
  const hosts = new Map<string, { user: string; identityFile: string; hostName: string }>();
  for (const block of r.stdout.split(/^Host /m).slice(1)) {
    const name = block.split("\n")[0]!.trim();
    const field = (key: string) => new RegExp(`^\\s*${key}\\s+"?([^"\\n]+)"?$`, "m").exec(block)?.[1] ?? "";
    hosts.set(name, { user: field("User"), identityFile: field("IdentityFile"), hostName: field("HostName") });
  }
  return hosts;
}

/** The libvirt domain of each VM (its UUID, as vagrant-libvirt records it), by machine name. */
export function domainsOf(lab: VagrantLab, machines: readonly string[]): Map<string, string> {
  const domains = new Map<string, string>();
  for (const m of machines) {
    const file = join(lab.dir, ".vagrant", "machines", m, "libvirt", "id");
    if (!existsSync(file)) throw new LabError([`vagrant has no libvirt domain for ${m} (${file} is missing)`]);
    domains.set(m, readFileSync(file, "utf8").trim());
  }
  return domains;
}

/** PIDs of every process in the lab's network namespace. */
export function namespacePids(lab: VagrantLab): number[] {
  const r = spawnSync("ip", ["netns", "pids", lab.netns], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split(/\s+/).filter(Boolean).map(Number) : [];
}

async function stopPids(pids: number[], graceMs: number): Promise<void> {
  for (const pid of pids) try { process.kill(pid, "SIGTERM"); } catch { /* gone */ }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && pids.some(processAlive)) await sleep(200);
  for (const pid of pids.filter(processAlive)) try { process.kill(pid, "SIGKILL"); } catch { /* gone */ }
}

/**
 * Takes the lab down: vagrant destroy, any domain left, libvirtd and virtlogd by PID, every
 * process left in the namespace by PID, the namespace, and libvirt's state (the shared disks
 * and the box's copy in the storage pool). The box and the box store stay for the next run.
 */
export async function teardown(lab: VagrantLab, log: (line: string) => void): Promise<void> {
  // powermand first: nothing may power a VM on while the lab goes.
  const powermandPid = join(lab.dir, "powerman", "powermand.pid");
  if (existsSync(powermandPid)) {
    const pid = Number(readFileSync(powermandPid, "utf8").trim());
    if (pid > 0 && processAlive(pid)) {
      await stopPids([pid], 10_000);
      log(`stopped powermand (pid ${pid})`);
    }
    rmSync(powermandPid, { force: true });
  }
  const nsExists = spawnSync("ip", ["netns", "exec", lab.netns, "true"], { stdio: "ignore" }).status === 0;
  if (nsExists && existsSync(join(lab.dir, "Vagrantfile"))) {
    const r = inLab(lab, ["vagrant", "destroy", "-f"], { timeoutMs: 15 * 60_000, log: "vagrant.log" });
    log(`vagrant destroy: exit ${r.status ?? r.signal}`);
  }
  if (nsExists) {
    const domains = spawnSync("virsh", ["-c", lab.uri, "list", "--all", "--name"], { encoding: "utf8", timeout: 30_000 }).stdout ?? "";
    for (const d of domains.split("\n").map((s) => s.trim()).filter(Boolean)) {
      spawnSync("virsh", ["-c", lab.uri, "destroy", d], { stdio: "ignore", timeout: 60_000 });
      spawnSync("virsh", ["-c", lab.uri, "undefine", d, "--nvram"], { stdio: "ignore", timeout: 60_000 });
      log(`removed leftover domain ${d}`);
    }
  }
  const pidOf = (file: string) => (existsSync(file) ? Number(readFileSync(file, "utf8").trim()) || undefined : undefined);
  const daemons = [pidOf(join(lab.dir, "libvirtd.pid")), pidOf(join(lab.libvirtDir, "run", "virtlogd.pid"))].filter((p): p is number => p !== undefined && processAlive(p));
  await stopPids(daemons, 15_000);
  if (daemons.length > 0) log(`stopped libvirtd and virtlogd (pids ${daemons.join(", ")})`);
  if (nsExists) {
    const left = namespacePids(lab);
    if (left.length > 0) {
      log(`stopping what is left in ${lab.netns}: pids ${left.join(", ")}`);
      await stopPids(left, 10_000);
    }
    spawnSync("ip", ["netns", "del", lab.netns], { stdio: "ignore" });
    log(`removed the network namespace ${lab.netns}`);
  }
  rmSync(lab.libvirtDir, { recursive: true, force: true });
  rmSync(join(lab.dir, ".vagrant"), { recursive: true, force: true });
  rmSync(join(lab.dir, "libvirtd.pid"), { force: true });
  // libvirtd.sh made the mount points; leave them only if something else uses them.
  for (const d of ["/run/libvirt"]) try { rmdirSync(d); } catch { /* not empty or not ours */ }
}
