/**
 * The fleet lab: the hosts of one node group of a site, as many as this machine holds, each a
 * network namespace (a veth into one bridge in the lab's hub namespace) with its own mount and
 * UTS namespaces, a root that is an overlay of this machine's root with the host's own upper
 * layer (what a deploy writes stays on that host), and one process: a real sshd. No cluster
 * stack, no init: a `systemctl` stand-in (fleet-systemctl.sh) records what the deploy asks of
 * systemd. hpcdk deploys to it over SSH exactly as to real hosts, so the fan-out to hundreds of
 * hosts is measured on this machine (bench/fleet.bench.ts).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ssh2 from "ssh2";
import { sleep } from "../../common/async.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { expandHostlist } from "../../common/hostlist.js";
import { networkContains, parseCidr, type Cidr } from "../../common/net.js";
import type { SiteSpec } from "../../schema/site.js";
import { LAB_ROOT, LabError, processAlive, waitForPort } from "./lab.js";

const HERE = dirname(fileURLToPath(import.meta.url));

/** The most hosts one fleet lab brings up: one /16 of addresses, and far more than this machine holds. */
export const FLEET_MAX_HOSTS = 4000;

export interface FleetHost {
  readonly name: string;
  readonly netns: string;
  /** The host's veth in the hub. */
  readonly peer: string;
  readonly address: string;
  readonly dir: string;
}

export interface FleetState {
  readonly kind: "fleet";
  readonly site: string;
  readonly group: string;
  readonly dir: string;
  readonly hub: string;
  /** The network every host has an address in (the hub's bridge and this machine's veth too). */
  readonly network: string;
  readonly rootVeth: { name: string; address: string };
  readonly hosts: FleetHost[];
  readonly inventoryFile: string;
}

export interface FleetOptions {
  /** The node group whose hosts the lab brings up. */
  readonly group: string;
  /** The first `count` hosts of the group only. @default every host of the group */
  readonly count?: number;
  /** An IPv4 /16 (or larger) this machine does not route. @default 10.251.0.0/16 */
  readonly network?: string;
}

const short = (s: string) => s.replace(/[^a-z0-9]/g, "").slice(0, 6);

/** The fleet lab's plan: namespaces, veths and addresses of the group's hosts. */
export function planFleet(site: string, spec: SiteSpec, options: FleetOptions, dir = join(LAB_ROOT, site)): FleetState {
  const group = spec.nodeGroups.find((g) => g.name === options.group);
  if (!group) throw new LabError([`the site has no node group "${options.group}" (nodeGroups: ${spec.nodeGroups.map((g) => g.name).join(", ") || "none"})`]);
  const all = expandHostlist(group.hosts);
  const count = options.count ?? all.length;
  if (!Number.isInteger(count) || count < 1 || count > all.length) {
    throw new LabError([`--count must be between 1 and the group's ${all.length} hosts, got ${count}`]);
  }
  if (count > FLEET_MAX_HOSTS) throw new LabError([`a fleet lab has at most ${FLEET_MAX_HOSTS} hosts, got ${count}: use --count`]);
  const network = options.network ?? "10.251.0.0/16";
  const net = parseCidr(network);
  if (typeof net === "string" || net.family !== 4 || net.prefix > 16) throw new LabError([`--network must be an IPv4 network of /16 or larger, got "${network}"`]);
  const base = ipv4ToInt(net.address) & ~((1 << (32 - net.prefix)) - 1);
  const at = (n: number) => intToIpv4(base + n);
  const prefix = `hpcdk-f${short(site)}`;
  const hosts = all.slice(0, count).map((name, i) => ({
    name,
    netns: `${prefix}-${i}`,
    peer: `f${i}`,
    // .0.1 is the hub's bridge; hosts from .0.10 on, 250 per /24.
    address: `${at(256 * Math.floor(i / 250) + 10 + (i % 250))}/${net.prefix}`,
    dir: join(dir, "hosts", name),
  }));
  return {
    kind: "fleet",
    site,
    group: group.name,
    dir,
    hub: `${prefix}-hub`,
    network: `${at(0)}/${net.prefix}`,
    rootVeth: { name: `${prefix}`.slice(0, 15), address: `${at((1 << (32 - net.prefix)) - 2)}/${net.prefix}` },
    hosts,
    inventoryFile: join(dir, "inventory.yaml"),
  };
}

function ipv4ToInt(address: string): number {
  return address.split(".").reduce((n, part) => n * 256 + Number(part), 0) | 0;
}

function intToIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join(".");
}

export function readFleetState(site: string): FleetState | undefined {
  const file = join(LAB_ROOT, site, "fleet.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as FleetState) : undefined;
}

/** Runs `ip` over many commands at once (`ip -batch`): hundreds of namespaces in one process. */
function ipBatch(lines: readonly string[], netns?: string): void {
  const args = [...(netns ? ["-n", netns] : []), "-batch", "-"];
  const r = spawnSync("ip", args, { input: lines.join("\n") + "\n", encoding: "utf8" });
  if (r.status !== 0) throw new LabError([`ip ${args.join(" ")} failed: ${r.stderr.trim().split("\n").slice(-3).join(" ")}`]);
}

/** What stops a fleet lab from running here. Empty when all is well. */
export function fleetPreflight(state: FleetState): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("the fleet lab needs root (network namespaces, mounts): run it as root or with sudo");
  for (const [program, pkg] of [["ip", "iproute2"], ["unshare", "util-linux"], ["/usr/sbin/sshd", "openssh-server"]] as const) {
    if (spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status !== 0) problems.push(`missing ${program} (apt-get install ${pkg})`);
  }
  const net = parseCidr(state.network) as Cidr;
  const routes = execFileSync("ip", ["-4", "-o", "route", "show"], { encoding: "utf8" }).split("\n").filter(Boolean);
  for (const r of routes) {
    const dest = r.split(" ")[0]!;
    if (dest === "default") continue;
    const c = parseCidr(dest.includes("/") ? dest : `${dest}/32`);
    if (typeof c !== "string" && (networkContains(net, c.address) || networkContains(c, net.address))) {
      problems.push(`the fleet network ${state.network} overlaps a route of this machine (${r.trim()}): choose another with --network`);
    }
  }
  return problems;
}

/** Brings the group's hosts up; on any failure everything built so far is taken down again. */
export async function fleetUp(site: string, spec: SiteSpec, options: FleetOptions, log: (line: string) => void = () => {}): Promise<FleetState> {
  const state = planFleet(site, spec, options);
  if (readFleetState(site) || existsSync(join(LAB_ROOT, site, "lab.json"))) {
    throw new LabError([`a lab for ${site} is already up (${state.dir}): run hpcdk lab down ${site} first`]);
  }
  const problems = fleetPreflight(state);
  if (problems.length > 0) throw new LabError(problems);
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(state.dir, "fleet.json"), JSON.stringify(state, null, 2) + "\n");
  try {
    const t0 = Date.now();
    // The lab's client key; each host's own host key (generated in process: ssh-keygen 500 times is seconds).
    const client = ed25519KeyPair(`hpcdk-fleet-${site}`);
    writeFileSync(join(state.dir, "id_ed25519"), client.private, { mode: 0o600 });
    writeFileSync(join(state.dir, "id_ed25519.pub"), `${client.public}\n`);
    const knownHosts: string[] = [];
    for (const host of state.hosts) knownHosts.push(prepareHost(host, client.public));
    writeFileSync(join(state.dir, "known_hosts"), knownHosts.join(""));
    writeFileSync(state.inventoryFile, `# hpcdk fleet lab inventory for ${site}: hpcdk deploy ${site} --inventory ${state.inventoryFile}\n${JSON.stringify(fleetOverride(state), null, 2)}\n`);
    // The network: the hub and its bridge, every host's namespace, and a veth from each into the bridge.
    ipBatch([`netns add ${state.hub}`, ...state.hosts.map((h) => `netns add ${h.netns}`)]);
    const [hubAddress] = state.network.split("/");
    const prefixLen = state.network.split("/")[1];
    ipBatch(
      [
        "link set lo up",
        "link add br0 type bridge",
        `addr add ${intToIpv4(ipv4ToInt(hubAddress!) + 1)}/${prefixLen} dev br0`,
        "link set br0 up",
        ...state.hosts.flatMap((h) => [`link add ${h.peer} type veth peer name eth0 netns ${h.netns}`, `link set ${h.peer} master br0 up`]),
      ],
      state.hub,
    );
    execFileSync("ip", ["link", "add", state.rootVeth.name, "type", "veth", "peer", "name", "root0", "netns", state.hub]);
    execFileSync("ip", ["-n", state.hub, "link", "set", "root0", "master", "br0", "up"]);
    execFileSync("ip", ["addr", "add", state.rootVeth.address, "dev", state.rootVeth.name]);
    execFileSync("ip", ["link", "set", state.rootVeth.name, "up"]);
    log(`network: ${state.hosts.length} namespaces and veths in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const host of state.hosts) bootHost(host);
    // Bounded: every host must answer on port 22.
    let up = 0;
    for (const host of state.hosts) {
      await waitForPort(host.address.split("/")[0]!, 22, 60_000).catch((err: Error) => {
        const log = join(host.dir, "boot.log");
        const tail = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").slice(-10) : [];
        throw new LabError([`${host.name}: ${err.message}`, ...(tail.length > 0 ? [`its boot log (${log}) ends:`, ...tail.map((l) => `  ${l}`)] : [`its boot log ${log} is empty`])]);
      });
      up++;
      if (up % 100 === 0) log(`${up}/${state.hosts.length} hosts answer on port 22`);
    }
    log(`${state.hosts.length} hosts up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return state;
  } catch (err) {
    await fleetDown(site);
    throw err;
  }
}

/**
 * An ed25519 key pair in OpenSSH's formats. ssh2's generator drops a public key's leading zero
 * byte (one key in 256: 31 bytes instead of 32), and sshd then refuses the key ("error in
 * libcrypto"; a 201-host lab had such a host more often than not): such a pair is made again.
 */
export function ed25519KeyPair(comment: string): { private: string; public: string } {
  for (let attempt = 0; attempt < 16; attempt++) {
    const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
    if (ed25519PublicKeyBytes(pair.public) === 32) return pair;
  }
  throw new Error("ssh2 made no valid ed25519 key in 16 attempts");
}

/** The length of the key in an `ssh-ed25519 BASE64 comment` line (the blob: string "ssh-ed25519", string key). */
export function ed25519PublicKeyBytes(line: string): number {
  const blob = Buffer.from(line.split(" ")[1] ?? "", "base64");
  const type = blob.length >= 4 ? blob.readUInt32BE(0) : 0;
  return blob.length >= 8 + type ? blob.readUInt32BE(4 + type) : 0;
}

/** The host's own files in its upper layer; returns its known_hosts line. */
function prepareHost(host: FleetHost, authorizedKey: string): string {
  const upper = join(host.dir, "upper");
  for (const d of ["upper", "work", "root"]) mkdirSync(join(host.dir, d), { recursive: true });
  const put = (path: string, content: string | Buffer, mode = 0o644) => {
    mkdirSync(dirname(join(upper, path)), { recursive: true });
    writeFileSync(join(upper, path), content, { mode });
    chmodSync(join(upper, path), mode);
  };
  const hostKey = ed25519KeyPair(host.name);
  put("/etc/hostname", `${host.name}\n`);
  put("/root/.ssh/authorized_keys", `${authorizedKey}\n`, 0o600);
  chmodSync(join(upper, "root", ".ssh"), 0o700);
  put("/etc/ssh/ssh_host_ed25519_key.hpcdk-fleet", hostKey.private, 0o600);
  put(
    "/etc/ssh/sshd_config.hpcdk-fleet",
    [
      `ListenAddress ${host.address.split("/")[0]}`,
      "HostKey /etc/ssh/ssh_host_ed25519_key.hpcdk-fleet",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "UseDNS no",
      "PidFile /run/sshd.pid",
      // hpcdk opens a few sessions on one connection; a deploy's fan-out opens one connection per host.
      "MaxSessions 16",
      "Subsystem sftp /usr/lib/openssh/sftp-server",
      "",
    ].join("\n"),
  );
  mkdirSync(join(upper, "usr/local/sbin"), { recursive: true });
  copyFileSync(join(HERE, "fleet-systemctl.sh"), join(upper, "usr/local/sbin/systemctl"));
  chmodSync(join(upper, "usr/local/sbin/systemctl"), 0o755);
  const pub = hostKey.public.split(" ");
  return `${host.address.split("/")[0]} ${pub[0]} ${pub[1]}\n`;
}

/** Starts the host's sshd in its namespaces; its PID (sshd's: ip netns exec, unshare, sh and chroot exec) is kept in the host's directory. */
export function bootHost(host: FleetHost): void {
  // The boot script's and sshd's own messages (sshd -e) go to boot.log: a host that does not come
  // up says why there.
  const log = openSync(join(host.dir, "boot.log"), "a");
  const child = spawn("ip", ["netns", "exec", host.netns, "unshare", "--mount", "--uts", "/bin/sh", join(HERE, "fleet-boot.sh"), host.name, host.dir, host.address], {
    detached: true,
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  child.unref();
  writeFileSync(join(host.dir, "sshd.pid"), `${child.pid}\n`);
}

/** The PID of the host's sshd, when it runs. */
export function fleetHostPid(host: FleetHost): number | undefined {
  const file = join(host.dir, "sshd.pid");
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, "utf8"));
  return processAlive(pid) ? pid : undefined;
}

/**
 * Cuts a host's power: kills its sshd (and every session it forked: they share its process
 * group) and removes its namespace with its veth, so its address answers nothing at all.
 */
export async function fleetPowerOff(state: FleetState, host: FleetHost): Promise<void> {
  const pid = fleetHostPid(host);
  if (pid !== undefined) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && processAlive(pid)) await sleep(50);
  }
  rmSync(join(host.dir, "sshd.pid"), { force: true });
  spawnSync("ip", ["-n", state.hub, "link", "del", host.peer], { stdio: "ignore" });
  spawnSync("ip", ["netns", "del", host.netns], { stdio: "ignore" });
}

/** How to reach the fleet's hosts over the site's settings: the inventory file `lab up` writes. */
export function fleetOverride(state: FleetState): InventoryOverride {
  return {
    ssh: { user: "root", privateKey: join(state.dir, "id_ed25519"), knownHosts: join(state.dir, "known_hosts") },
    hosts: Object.fromEntries(state.hosts.map((h) => [h.name, { address: h.address.split("/")[0]!, port: 22 }])),
  };
}

/** Takes a fleet lab down: every sshd stopped by its PID, every namespace and link removed. */
export async function fleetDown(site: string): Promise<void> {
  const state = readFleetState(site);
  if (!state) return;
  const pids = state.hosts.map((h) => fleetHostPid(h)).filter((p): p is number => p !== undefined);
  for (const pid of pids) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && pids.some(processAlive)) await sleep(50);
  // Deleting the hub removes the bridge and the hub's ends of the veths (and with them the hosts' ends).
  spawnSync("ip", ["link", "del", state.rootVeth.name], { stdio: "ignore" });
  spawnSync("ip", ["netns", "del", state.hub], { stdio: "ignore" });
  spawnSync("ip", ["-force", "-batch", "-"], { input: state.hosts.map((h) => `netns del ${h.netns}`).join("\n") + "\n", stdio: ["pipe", "ignore", "ignore"] });
  rmSync(state.dir, { recursive: true, force: true });
}

/**
 * What the fleet's hosts cost this machine: the proportional set size of their processes (sshd
 * and any session still running), summed, per host.
 */
export function fleetMemory(state: FleetState): { hosts: number; pssKiB: number; perHostKiB: number } {
  let pss = 0;
  let hosts = 0;
  for (const host of state.hosts) {
    const pid = fleetHostPid(host);
    if (pid === undefined) continue;
    hosts++;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
      pss += Number(m?.[1] ?? 0);
    } catch {
      /* gone meanwhile */
    }
  }
  return { hosts, pssKiB: pss, perHostKiB: hosts ? Math.round(pss / hosts) : 0 };
}
