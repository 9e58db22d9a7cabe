/**
 * The namespace lab: one "host" per management node of a site, on this machine. A host is a
 * network namespace (veths into bridges that live in a hub namespace) plus its own mount, UTS
 * and PID namespaces, with tini as PID 1, a root that is an overlay of this machine's root with
 * the host's own upper layer, and a real sshd, so hpcdk deploys to it over SSH exactly as to real
 * hosts. Killing a host's tini is a power cut. Traffic stays on the lab's own addresses: this
 * machine reaches them through one veth into the hub.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { applyOverride, type Inventory, type InventoryOverride } from "../../common/contracts/inventory.js";
import { networkContains, networkOf, parseCidr, type Cidr } from "../../common/net.js";
import { exportDirsOnPool, type SiteSpec } from "../../schema/site.js";
import { HpcdkError } from "../../common/errors.js";
import { sleep } from "../../common/async.js";
import { LabAddresses } from "./addresses.js";

const HERE = dirname(fileURLToPath(import.meta.url));
export const LAB_ROOT = "/var/tmp/hpcdk-lab";

/** The lab cannot be built, reached or taken down: every problem, with what to do. */
export class LabError extends HpcdkError {
  override get topic(): string {
    return "lab";
  }
}

interface LabInterface {
  readonly name: string;
  readonly cidr: string;
  readonly bridge: string;
  /** The veth end that stays in the hub. */
  readonly peer: string;
  /** The node's MAC on this link: the same on every boot, as a real NIC's. */
  readonly mac: string;
}

export interface LabNode {
  readonly name: string;
  readonly netns: string;
  readonly dir: string;
  readonly interfaces: LabInterface[];
  /** Address SSH uses (link 0). */
  readonly sshAddress: string;
  /** The node's powerman plug name. */
  readonly plug: string;
}

export interface LabState {
  readonly site: string;
  readonly dir: string;
  readonly hub: string;
  /** The hub's bridges; each keeps its MAC when nodes come and go (peers' ARP caches stay right). */
  readonly bridges: { name: string; network: string; hubAddress: string; mac: string }[];
  /** This machine's veth into the hub and its address on the link-0 network. */
  readonly rootVeth: { name: string; address: string };
  readonly nodes: LabNode[];
  readonly inventoryFile: string;
  /** powermand's address and port in the hub, when the site fences with fence_powerman. */
  readonly powerman?: { address: string; port: number };
  /** The pools the lab provides (directories every node shares) and their mountpoints. */
  readonly pools: { name: string; mountpoint: string; dirs: string[] }[];
  /** ZFS multihost protection of the pools' stand-in (the pool property multihost). @default true */
  readonly multihost?: boolean;
  /** Seconds a node takes to boot when the lab's power switch powers it on (LabOptions.bootSec). @default 0 */
  readonly bootSec?: number;
}

/** How a lab differs from the site's real hosts; nothing of it is deployed. */
export interface LabOptions {
  /**
   * The pools' multihost property: on (hpcdk creates every pool with multihost=on, and the
   * stand-in waits as the site's zfs module settings say) or off, to measure what MMP costs.
   * @default true
   */
  readonly multihost?: boolean;
  /**
   * Seconds between the power switch's "on" (fence_powerman's reboot or unfence) and the node's
   * init starting, as a server's firmware and boot take (minutes on real hardware). The power is
   * on at once, as the switch reports; nothing of the node runs until then. The lab's own
   * bring-up boots at once. @default 0
   */
  readonly bootSec?: number;
}

/** The programs a lab needs, with the Debian package of each. */
const REQUIRED: Record<string, string> = {
  ip: "iproute2",
  unshare: "util-linux",
  tini: "tini",
  rpcbind: "rpcbind",
  powermand: "powerman",
  sshd: "openssh-server",
  "ssh-keygen": "openssh-client",
  corosync: "corosync",
  pacemakerd: "pacemaker",
  crm_mon: "pacemaker-cli-utils",
  // The pool stand-in is a FUSE file system the lab compiles at lab up (operations/lab/poolfs.c).
  cc: "gcc",
  "pkg-config": "pkg-config",
};

/** Debian packages the lab needs that no single program shows: libfuse3's headers for the pool stand-in. */
const REQUIRED_PACKAGES = ["libfuse3-dev", "fuse3"];

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["pipe", "pipe", "pipe"], ...(input ? { input } : {}) });
}

function tryRun(cmd: string, args: string[]): boolean {
  return spawnSync(cmd, args, { stdio: "ignore" }).status === 0;
}

function have(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0 || existsSync(`/usr/sbin/${program}`);
}

/** Debian packages of `wanted` that this machine does not have installed. */
export function missingPackages(wanted: readonly string[]): string[] {
  if (wanted.length === 0) return [];
  const r = spawnSync("dpkg-query", ["-W", "-f", "${Package} ${db:Status-Status}\n", ...wanted], { encoding: "utf8" });
  const installed = new Set(
    r.stdout
      .split("\n")
      .map((l) => l.split(" "))
      .filter(([, status]) => status === "installed")
      .map(([name]) => name),
  );
  return wanted.filter((p) => !installed.has(p));
}

/**
 * What stops a lab from running here, each with how to fix it. Empty when all is well.
 * `sitePackages`: what the site installs on its nodes; the lab's nodes run this machine's
 * programs and have no way to the package mirror, so they must be installed here.
 */
export function labPreflight(sitePackages: readonly string[] = []): string[] {
  const problems: string[] = [];
  if (process.getuid?.() !== 0) problems.push("the lab needs root (network namespaces, mounts): run it as root or with sudo");
  const missing = Object.entries(REQUIRED).filter(([program]) => !have(program));
  if (missing.length > 0) {
    problems.push(`missing programs: ${missing.map(([p, pkg]) => `${p} (apt-get install ${pkg})`).join(", ")}`);
  }
  const packages = missingPackages([...new Set(sitePackages)].sort());
  if (packages.length > 0) {
    problems.push(`the site installs ${packages.join(", ")} on its nodes, and the lab's nodes run this machine's programs: apt-get install -y ${packages.join(" ")}`);
  }
  const own = missingPackages(REQUIRED_PACKAGES);
  if (own.length > 0) problems.push(`the lab's pool stand-in (a FUSE file system it compiles) needs ${own.join(", ")}: apt-get install -y ${own.join(" ")}`);
  if (problems.length === 0) {
    const probe = `hpcdk-probe-${process.pid}`;
    if (!tryRun("ip", ["netns", "add", probe])) problems.push("cannot create network namespaces here (ip netns add failed): the lab needs CAP_SYS_ADMIN and CAP_NET_ADMIN");
    else tryRun("ip", ["netns", "del", probe]);
  }
  return problems;
}

const shortName = (s: string) => s.replace(/[^a-z0-9]/g, "").slice(0, 8);

/**
 * A fixed, locally administered unicast MAC for a lab interface. Without one, a rebooted node's
 * new veth gets a new MAC, and so may the bridge (it takes its lowest port's): the others' ARP
 * caches then point at a MAC that is gone, and packets to it vanish for up to half a minute.
 */
function labMac(...parts: string[]): string {
  const h = createHash("sha256").update(parts.join("/")).digest();
  return ["02", ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, "0"))].join(":");
}

/** The lab's plan for a site: namespaces, bridges and addresses. */
export function planLab(site: string, spec: SiteSpec, dir = join(LAB_ROOT, site)): LabState {
  const prefix = `hpcdk-${shortName(site)}`;
  const addresses = new LabAddresses(spec);
  const networks = addresses.networks;
  const powermanAddress = addresses.powerman;
  const pm = spec.fencing.devices.find((d) => d.agent === "fence_powerman");
  for (const network of networks.keys()) {
    if (networks.get(network)!.family !== 4) throw new LabError([`the lab supports IPv4 networks only, got ${network}`]);
  }
  const bridgeNames = [...networks.keys()];
  const bridges = bridgeNames.map((network, i) => {
    const net = networks.get(network)!;
    // fence_powerman talks to powermand at the site's address: the hub takes it on that network.
    const address = addresses.hostSide(net);
    if (address === undefined) throw new LabError([`no free address left in ${network} for the lab`]);
    return { name: `br${i}`, network, hubAddress: `${address}/${net.prefix}`, mac: labMac(site, `br${i}`) };
  });
  if (powermanAddress && !bridges.some((b) => b.hubAddress.startsWith(`${powermanAddress}/`))) {
    throw new LabError([`fence_powerman's ip ${powermanAddress} is on none of the nodes' networks: the lab's powermand could not be reached`]);
  }
  const link0 = spec.nodes[0]!.addresses[0]!;
  const rootAddress = addresses.take(link0);
  if (rootAddress === undefined) throw new LabError([`no free address left in ${networkOf(link0)} for the lab`]);
  const rootVeth = { name: `${prefix}`.slice(0, 15), address: `${rootAddress}/${link0.prefix}` };
  const nodes = spec.nodes.map((n, i) => {
    const interfaces = [...n.addresses, ...n.serviceAddresses].map((c, k) => {
      return { name: `eth${k}`, cidr: c.text, bridge: bridges[bridgeNames.indexOf(networkOf(c))]!.name, peer: `n${i}e${k}`, mac: labMac(site, n.name, `eth${k}`) };
    });
    return {
      name: n.name,
      netns: `${prefix}-${n.name}`.slice(0, 40),
      dir: join(dir, n.name),
      interfaces,
      sshAddress: n.addresses[0]!.address,
      plug: n.power.plug,
    };
  });
  return {
    site,
    dir,
    hub: `${prefix}-hub`,
    bridges,
    rootVeth,
    nodes,
    inventoryFile: join(dir, "inventory.yaml"),
    ...(pm && pm.agent === "fence_powerman" ? { powerman: { address: pm.ip, port: pm.ipport } } : {}),
    // The exported directories exist in the pool, as the datasets an admin creates would.
    pools: spec.storage.pools.map((p) => ({
      name: p.name,
      mountpoint: p.mountpoint,
      dirs: exportDirsOnPool(spec, p),
    })),
  };
}

/** Networks of the lab that this machine already routes: bringing the lab up would break them. */
function overlappingRoutes(state: LabState): string[] {
  const routes = run("ip", ["-4", "-o", "route", "show"]).split("\n").filter(Boolean);
  const problems: string[] = [];
  for (const b of state.bridges) {
    const net = parseCidr(b.network) as Cidr;
    for (const r of routes) {
      const dest = r.split(" ")[0]!;
      if (dest === "default") continue;
      const c = parseCidr(dest.includes("/") ? dest : `${dest}/32`);
      if (typeof c === "string") continue;
      if (networkContains(net, c.address) || networkContains(c, net.address)) {
        problems.push(`the lab network ${b.network} overlaps a route of this machine (${r.trim()}): change the lab site's addresses`);
      }
    }
  }
  return problems;
}

export function readLabState(site: string): LabState | undefined {
  const file = join(LAB_ROOT, site, "lab.json");
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as LabState) : undefined;
}

/** Brings the lab up; on any failure everything built so far is taken down again. */
export async function labUp(site: string, spec: SiteSpec, log: (line: string) => void = () => {}, sitePackages: readonly string[] = [], options: LabOptions = {}): Promise<LabState> {
  const problems = labPreflight(sitePackages);
  if (problems.length > 0) throw new LabError(problems);
  if (readLabState(site)) throw new LabError([`a lab for ${site} is already up (${join(LAB_ROOT, site)}): run hpcdk lab down ${site} first`]);
  if (options.bootSec !== undefined && !(Number.isInteger(options.bootSec) && options.bootSec >= 0 && options.bootSec <= 600)) {
    throw new LabError([`boot time: must be a whole number of seconds from 0 to 600, got ${options.bootSec}`]);
  }
  const state: LabState = { ...planLab(site, spec), multihost: options.multihost ?? true, ...(options.bootSec ? { bootSec: options.bootSec } : {}) };
  const overlaps = overlappingRoutes(state);
  if (overlaps.length > 0) throw new LabError(overlaps);
  mkdirSync(state.dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(state.dir, "lab.json"), JSON.stringify(state, null, 2) + "\n");
  try {
    buildNetwork(state);
    // The shared pools: one directory each, seen by every node, imported by the zpool stand-in.
    for (const p of state.pools) {
      mkdirSync(join(state.dir, "shared", "pools", p.name), { recursive: true });
      for (const d of p.dirs) mkdirSync(join(state.dir, "shared", "pools", p.name, d), { recursive: true });
      writeFileSync(join(state.dir, "shared", "pools", `${p.name}.mountpoint`), `${p.mountpoint}\n`);
      writeFileSync(join(state.dir, "shared", "pools", `${p.name}.multihost`), `${state.multihost === false ? "off" : "on"}\n`);
      // A loop device per pool: the pool stand-in mounts as fuseblk on it, so its device number
      // (the file system id in NFS file handles) is the same on every node.
      const image = join(state.dir, "shared", "pools", `${p.name}.img`);
      writeFileSync(image, Buffer.alloc(0));
      run("truncate", ["-s", "1M", image]);
      writeFileSync(join(state.dir, "shared", "pools", `${p.name}.blkdev`), `${run("losetup", ["--find", "--show", image]).trim()}\n`);
    }
    buildPoolfs(state);
    const key = join(state.dir, "id_ed25519");
    run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `hpcdk-lab-${site}`, "-f", key]);
    const knownHosts: string[] = [];
    for (const node of state.nodes) {
      knownHosts.push(prepareNode(state, node, readFileSync(`${key}.pub`, "utf8")));
      bootNode(node);
    }
    if (state.powerman) startPowerman(state);
    writeFileSync(join(state.dir, "known_hosts"), knownHosts.join(""));
    writeFileSync(state.inventoryFile, `# hpcdk lab inventory for ${site}: hpcdk deploy ${site} --inventory ${state.inventoryFile}\n${JSON.stringify(labOverride(state), null, 2)}\n`);
    for (const node of state.nodes) {
      await waitForPort(node.sshAddress, 22, 20_000);
      log(`${node.name}: up, ssh root@${node.sshAddress}`);
    }
    return state;
  } catch (err) {
    await labDown(site);
    throw err;
  }
}

/** How to reach the lab's nodes over the site's settings: the inventory file `lab up` writes. */
export function labOverride(state: LabState): InventoryOverride {
  return {
    ssh: { user: "root", privateKey: join(state.dir, "id_ed25519"), knownHosts: join(state.dir, "known_hosts") },
    hosts: Object.fromEntries(state.nodes.map((n) => [n.name, { address: n.sshAddress, port: 22 }])),
  };
}

/** The lab's nodes as an inventory of their own, for the lab's own commands (`hpcdk lab status`). */
export function labInventory(state: LabState): Inventory {
  const nodes = state.nodes.map((n) => n.name);
  const base: Inventory = {
    site: state.site,
    source: "",
    secretsDir: "",
    ssh: { user: "root", port: 22, knownHosts: join(state.dir, "known_hosts"), connectTimeoutSec: 3 },
    hosts: {},
    groupConcurrency: nodes.length,
    clusterWaitSec: 10,
    managementNodes: nodes,
  };
  return applyOverride(base, labOverride(state));
}

function buildNetwork(state: LabState): void {
  run("ip", ["netns", "add", state.hub]);
  const hub = (...args: string[]) => run("ip", ["-n", state.hub, ...args]);
  hub("link", "set", "lo", "up");
  for (const b of state.bridges) {
    hub("link", "add", b.name, "address", b.mac, "type", "bridge");
    hub("addr", "add", b.hubAddress, "dev", b.name);
    hub("link", "set", b.name, "up");
  }
  // This machine's way in: a veth into the link-0 bridge.
  run("ip", ["link", "add", state.rootVeth.name, "type", "veth", "peer", "name", "root0", "netns", state.hub]);
  hub("link", "set", "root0", "master", state.bridges[0]!.name, "up");
  run("ip", ["addr", "add", state.rootVeth.address, "dev", state.rootVeth.name]);
  run("ip", ["link", "set", state.rootVeth.name, "up"]);
}

/**
 * Compiles the pool stand-in (operations/lab/poolfs.c, a FUSE file system that keeps unflushed
 * writes in the node's memory) into the lab's directory.
 */
export function buildPoolfs(state: { dir: string }): string {
  const out = join(state.dir, "bin", "hpcdk-lab-poolfs");
  mkdirSync(dirname(out), { recursive: true });
  const flags = run("pkg-config", ["--cflags", "--libs", "fuse3"]).trim().split(/\s+/).filter(Boolean);
  const r = spawnSync("cc", ["-O2", "-Wall", "-o", out, join(HERE, "poolfs.c"), ...flags, "-lpthread"], { encoding: "utf8" });
  if (r.status !== 0) throw new LabError([`cannot build the pool stand-in (cc ${join(HERE, "poolfs.c")}): ${r.stderr.trim().split("\n").slice(-3).join(" ")}`]);
  return out;
}

/** powermand in the hub, with the lab's power controller as its device: fence_powerman fences for real. */
function startPowerman(state: LabState): void {
  startPowermand({
    dir: join(state.dir, "powerman"),
    netns: state.hub,
    address: state.powerman!.address,
    port: state.powerman!.port,
    backend: "power.sh",
    plugs: state.nodes.map((n) => ({ plug: n.plug, target: n.dir })),
  });
}

/** A lab's powermand: where it listens, and what its power controller switches. */
export interface PowermandSetup {
  /** powerman.conf, the plug list, powermand.log and powermand.pid go here. */
  readonly dir: string;
  /** The network namespace powermand listens in; `address` is one of its addresses. */
  readonly netns: string;
  readonly address: string;
  readonly port: number;
  /**
   * The power backend of the lab's vpc device (vpc-device.sh): power.sh switches namespace lab
   * nodes, vm-power.sh switches VMs (virsh).
   */
  readonly backend: "power.sh" | "vm-power.sh";
  /** One per machine, in plug order: its powerman plug name and the backend's target. */
  readonly plugs: readonly { readonly plug: string; readonly target: string }[];
  /** powermand's environment, which its device inherits. @default this process's */
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Starts powermand in a lab's network namespace with the lab's power controller as its one
 * device; returns its PID (also in `dir`/powermand.pid). The caller stops it by that PID.
 * @see https://github.com/chaos/powerman/blob/master/etc/vpc.dev
 */
export function startPowermand(setup: PowermandSetup): number {
  if (setup.plugs.length > 16) throw new LabError([`powerman's vpc device has 16 plugs, the lab has ${setup.plugs.length} machines`]);
  mkdirSync(setup.dir, { recursive: true });
  writeFileSync(join(setup.dir, "plugs"), setup.plugs.map((p) => `${p.target}\n`).join(""));
  const conf = [
    `listen "${setup.address}:${setup.port}"`,
    'include "/etc/powerman/vpc.dev"',
    `device "lab" "vpc" "/bin/sh ${join(HERE, "vpc-device.sh")} ${join(HERE, setup.backend)} ${join(setup.dir, "plugs")} |&"`,
    ...setup.plugs.map((p, i) => `node "${p.plug}" "lab" "${i}"`),
    "",
  ].join("\n");
  writeFileSync(join(setup.dir, "powerman.conf"), conf);
  // nsenter, not `ip netns exec`: that gives powermand a mount namespace of its own, where the
  // namespaces power.sh adds when it boots a node would be invisible to the rest of the machine.
  const child = spawn("nsenter", [`--net=/run/netns/${setup.netns}`, "powermand", "-f", "-c", join(setup.dir, "powerman.conf")], {
    detached: true,
    stdio: ["ignore", "ignore", openSync(join(setup.dir, "powermand.log"), "a")],
    env: setup.env ?? process.env,
  });
  child.unref();
  writeFileSync(join(setup.dir, "powermand.pid"), `${child.pid}\n`);
  return child.pid!;
}

/** Writes the node's own files into its upper layer; returns its known_hosts line. */
function prepareNode(state: LabState, node: LabNode, authorizedKey: string): string {
  const upper = join(node.dir, "upper");
  for (const d of ["upper", "work", "root"]) mkdirSync(join(node.dir, d), { recursive: true });
  const put = (path: string, content: string | Buffer, mode = 0o644) => {
    mkdirSync(dirname(join(upper, path)), { recursive: true });
    writeFileSync(join(upper, path), content, { mode });
    chmodSync(join(upper, path), mode);
  };
  put("/etc/hostname", `${node.name}\n`);
  put(
    "/etc/hosts",
    `127.0.0.1 localhost\n${state.nodes.map((n) => `${n.sshAddress} ${n.name}`).join("\n")}\n`,
  );
  put("/root/.ssh/authorized_keys", authorizedKey, 0o600);
  chmodSync(join(upper, "root", ".ssh"), 0o700);
  const hostKey = join(node.dir, "ssh_host_ed25519_key");
  run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", node.name, "-f", hostKey]);
  put("/etc/ssh/ssh_host_ed25519_key.hpcdk-lab", readFileSync(hostKey), 0o600);
  put(
    "/etc/ssh/sshd_config.hpcdk-lab",
    [
      `ListenAddress ${node.sshAddress}`,
      "HostKey /etc/ssh/ssh_host_ed25519_key.hpcdk-lab",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "UsePAM no",
      "PidFile /run/sshd.pid",
      "Subsystem sftp /usr/lib/openssh/sftp-server",
      "",
    ].join("\n"),
  );
  for (const [file, target] of [
    ["node-init.sh", "hpcdk-lab-init"],
    ["node-service.sh", "hpcdk-lab-service"],
    ["node-boot-services.sh", "hpcdk-lab-boot-services"],
  ] as const) {
    mkdirSync(join(upper, "usr/local/sbin"), { recursive: true });
    copyFileSync(join(HERE, file), join(upper, "usr/local/sbin", target));
    chmodSync(join(upper, "usr/local/sbin", target), 0o755);
  }
  for (const name of ["zpool", "zfs"]) {
    copyFileSync(join(HERE, "zpool-standin.sh"), join(upper, "usr/local/sbin", name));
    chmodSync(join(upper, "usr/local/sbin", name), 0o755);
  }
  copyFileSync(join(state.dir, "bin", "hpcdk-lab-poolfs"), join(upper, "usr/local/sbin/hpcdk-lab-poolfs"));
  chmodSync(join(upper, "usr/local/sbin/hpcdk-lab-poolfs"), 0o755);
  writeFileSync(
    join(node.dir, "node.env"),
    [
      `NODE=${node.name}`,
      `NETNS=${node.netns}`,
      `HUB=${state.hub}`,
      `BOOT=${join(HERE, "node-boot.sh")}`,
      `BOOT_SEC=${state.bootSec ?? 0}`,
      `LINKS="${node.interfaces.map((i) => [i.name, i.peer, i.bridge, i.cidr, i.mac].join(",")).join(" ")}"`,
      "",
    ].join("\n"),
  );
  const pub = readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ");
  return `${node.sshAddress} ${pub[0]} ${pub[1]}\n`;
}

/** Powers a node on: its network namespace and links, then tini as PID 1 and the boot script. */
export function bootNode(node: LabNode): void {
  run("sh", [join(HERE, "power.sh"), "on", node.dir]);
}

/** The PID (in this machine's PID namespace) of the node's tini, if it runs. */
export function nodeInitPid(node: LabNode): number | undefined {
  const file = join(node.dir, "unshare.pid");
  if (!existsSync(file)) return undefined;
  const outer = Number(readFileSync(file, "utf8"));
  const children = readChildren(outer);
  return children.length > 0 ? children[0] : undefined;
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Alive and not a zombie (this machine's PID 1 reaps slowly). */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

/** Cuts a node's power: kills its init (every process of the node dies at once) and removes its network namespace. */
export async function powerOff(node: LabNode): Promise<void> {
  if (!existsSync(join(node.dir, "node.env"))) return;
  run("sh", [join(HERE, "power.sh"), "off", node.dir]);
}

/** The node's power switch log (power.sh: `<epoch seconds> off|on|booted` lines), if it was ever switched. */
export function powerLog(node: LabNode): string | undefined {
  try {
    return readFileSync(join(node.dir, "power.log"), "utf8");
  } catch {
    return undefined;
  }
}

/** Whether a node's power is on. */
export function powerState(node: LabNode): "on" | "off" {
  return run("sh", [join(HERE, "power.sh"), "status", node.dir]).trim() === "on" ? "on" : "off";
}

export async function labDown(site: string): Promise<void> {
  const state = readLabState(site) ?? (existsSync(join(LAB_ROOT, site)) ? undefined : undefined);
  if (!state) {
    rmSync(join(LAB_ROOT, site), { recursive: true, force: true });
    return;
  }
  const powermand = join(state.dir, "powerman", "powermand.pid");
  if (existsSync(powermand)) {
    const pid = Number(readFileSync(powermand, "utf8"));
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && processAlive(pid)) await sleep(50);
  }
  for (const node of state.nodes) await powerOff(node);
  for (const node of state.nodes) tryRun("ip", ["netns", "del", node.netns]);
  for (const p of state.pools) {
    const file = join(state.dir, "shared", "pools", `${p.name}.blkdev`);
    if (existsSync(file)) tryRun("losetup", ["-d", readFileSync(file, "utf8").trim()]);
  }
  tryRun("ip", ["link", "del", state.rootVeth.name]);
  tryRun("ip", ["netns", "del", state.hub]);
  rmSync(state.dir, { recursive: true, force: true });
}

/** Waits until something listens on address:port (bounded). */
export async function waitForPort(address: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address, port, timeout: 1000 });
      s.once("connect", () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
      s.once("timeout", () => {
        s.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    await sleep(200);
  }
  throw new LabError([`nothing answers on ${address}:${port} after ${timeoutMs / 1000} s`]);
}
