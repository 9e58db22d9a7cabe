/**
 * `hpcdk lab vagrantfile`: a Vagrantfile (libvirt provider) for a lab of real VMs, one per
 * management node of a site. The VMs sit on private networks that match the site's networks
 * (same addresses, so the site deploys to them unchanged), and every pool device of the site is
 * a shared raw disk attached to every VM, named inside the guests exactly as the site names it
 * (`/dev/mapper/stc1`, `/dev/disk/by-id/wwn-…`) by a udev rule the VM's provisioner installs.
 *
 * The output depends only on the site: same site, same bytes.
 *
 * @see https://vagrant-libvirt.github.io/vagrant-libvirt/configuration.html
 */
import { readFileSync } from "node:fs";
import { LabSchema, type VagrantLabSpec } from "../../schema/lab.js";
import { networkContains, networkOf, parseCidr, type Cidr } from "../../common/net.js";
import { exportDirsOnPool, type SiteSpec } from "../../schema/site.js";
import { HpcdkError } from "../../common/errors.js";
import { ipv4Text, LabAddresses } from "./addresses.js";

/** A site the Vagrant lab cannot express; every problem is listed. */
export class VagrantfileError extends HpcdkError {
  override get heading(): string {
    return "the Vagrant lab cannot be made for this site; nothing was written";
  }
}

/** Shared disks are sdb…sdz: the box's own disk is sda on the same SCSI bus. */
export const MAX_SHARED_DISKS = 25;

/** Where Vagrant's management network (DHCP, vagrant ssh) may go: the first that overlaps no site network. */
const MANAGEMENT_CANDIDATES = Array.from({ length: 134 }, (_, i) => `192.168.${121 + i}.0/24`);

export interface VagrantNetwork {
  /** libvirt network name. */
  readonly name: string;
  /** The network in CIDR form, e.g. 10.10.0.0/24. */
  readonly cidr: string;
  readonly netmask: string;
  /**
   * The libvirt host bridge's address: fence_powerman's `ip` when it is on this network (the lab
   * runs powermand there, as the namespace lab's hub does), else the highest address no node or
   * floating IP uses.
   */
  readonly hostIp: string;
}

export interface VagrantDisk {
  /** Device path inside the guests, as the site names it. */
  readonly path: string;
  /** The udev symlink (path without /dev/). */
  readonly link: string;
  /** Guest device on the SCSI bus (sdb, sdc, …). */
  readonly device: string;
  /** SCSI serial the udev rule matches (ID_SERIAL_SHORT). */
  readonly serial: string;
  /** Volume name in the libvirt storage pool, shared by every VM. */
  readonly volume: string;
}

export interface VagrantNode {
  readonly name: string;
  /** The VM that creates the pools on the shared disks (the first node, with the zpool stand-in). */
  readonly createsPools: boolean;
  readonly interfaces: { readonly ip: string; readonly netmask: string; readonly network: string; readonly hostIp: string; readonly hostname: boolean }[];
}

/** Everything the template renders, resolved from the site. */
export interface VagrantLabPlan {
  readonly site: string;
  readonly lab: VagrantLabSpec;
  readonly managementNetwork: { readonly name: string; readonly address: string };
  readonly networks: VagrantNetwork[];
  readonly nodes: VagrantNode[];
  readonly disks: VagrantDisk[];
  /**
   * `/etc/hosts` lines: every node on its link-0 address, and every floating IP with a name
   * (`<site>-<group>`): sm-notify (ocf:heartbeat:nfsnotify) refuses a source address that does
   * not resolve to a name, which a real site's DNS gives.
   */
  readonly hosts: string[];
  /** The site's pools as the zpool stand-in makes them (lab.vagrant.zpoolStandIn), else none. */
  readonly standInPools: VagrantStandInPool[];
}

/** A pool of the site on the zpool stand-in: the arguments hpcdk-zpool-create-<pool> gives zpool create. */
export interface VagrantStandInPool {
  readonly name: string;
  /** `zpool import -d` directories: the parents of the devices. */
  readonly importDirs: string[];
  /** `zpool create` arguments after the pool name: the vdevs. */
  readonly vdevs: string[];
  readonly mountpoint: string;
  /** Directories the site exports from the pool, made at creation as an admin makes datasets. */
  readonly dirs: string[];
}

/** The zpool stand-in the VMs get with lab.vagrant.zpoolStandIn. */
export const ZPOOL_STANDIN_SCRIPT = new URL("./zpool-disk-standin.sh", import.meta.url);

const netmaskOf = (prefix: number) => ipv4Text(prefix === 0 ? 0n : ((1n << 32n) - 1n) ^ ((1n << BigInt(32 - prefix)) - 1n));

/** Resolves the lab from a validated site: networks, host addresses, disks, per-node interfaces. */
export function planVagrantLab(site: string, spec: SiteSpec): VagrantLabPlan {
  const lab = (spec.lab ?? LabSchema.parse({})).vagrant;
  const problems: string[] = [];
  for (const [i, n] of spec.nodes.entries()) {
    for (const [field, list] of [["addresses", n.addresses], ["serviceAddresses", n.serviceAddresses]] as const) {
      for (const [k, cidr] of list.entries()) {
        if (cidr.family !== 4) problems.push(`nodes.${i}.${field}.${k}: the Vagrant lab supports IPv4 networks only (vagrant-libvirt private networks), got "${cidr.text}"`);
      }
    }
  }
  // fence_powerman reaches powermand at the site's address: the lab runs it on the host bridge.
  const addresses = new LabAddresses(spec);
  const networks = new Map([...addresses.networks].filter(([, net]) => net.family === 4));
  const planned: VagrantNetwork[] = [];
  for (const [cidr, net] of networks) {
    const hostIp = addresses.hostSide(net);
    if (hostIp === undefined) {
      problems.push(`${cidr}: no address is left for the lab host's bridge (every address is a node's or a floating IP)`);
      continue;
    }
    planned.push({ name: `hpcdk-${site}-net${planned.length}`, cidr, netmask: netmaskOf(net.prefix), hostIp });
  }
  const siteNets = [...networks.values()];
  const management = MANAGEMENT_CANDIDATES.find((candidate) => {
    const c = parseCidr(candidate) as Cidr;
    return !siteNets.some((n) => networkContains(n, c.address) || networkContains(c, n.address));
  })!;

  // One shared disk per device: every pool device, then fence_scsi devices outside the pools.
  const paths: string[] = [];
  for (const pool of spec.storage.pools) for (const vdev of pool.vdevs) for (const d of vdev.devices) if (!paths.includes(d)) paths.push(d);
  for (const f of spec.fencing.devices) if (f.agent === "fence_scsi") for (const d of f.devices ?? []) if (!paths.includes(d)) paths.push(d);
  if (paths.length > MAX_SHARED_DISKS) {
    problems.push(`storage.pools: the Vagrant lab attaches at most ${MAX_SHARED_DISKS} shared disks (sdb to sdz), the site has ${paths.length} devices`);
  }
  const disks = paths.slice(0, MAX_SHARED_DISKS).map((path, i) => ({
    path,
    link: path.replace(/^\/dev\//, ""),
    device: `sd${String.fromCharCode(98 + i)}`,
    serial: `hpcdk-disk${i + 1}`,
    volume: `hpcdk-${site}-disk${i + 1}-${path.replace(/^.*\//, "").replace(/[^A-Za-z0-9._-]/g, "_")}.raw`,
  }));
  if (problems.length > 0) throw new VagrantfileError(problems);

  const netOf = (cidr: Cidr) => planned.find((p) => p.cidr === networkOf(cidr))!;
  const nodes = spec.nodes.map((n, i) => ({
    name: n.name,
    createsPools: lab.zpoolStandIn && i === 0,
    interfaces: [...n.addresses, ...n.serviceAddresses].map((cidr, k) => {
      const net = netOf(cidr);
      return { ip: cidr.address, netmask: net.netmask, network: net.name, hostIp: net.hostIp, hostname: k === 0 };
    }),
  }));
  return {
    site,
    lab,
    managementNetwork: { name: `hpcdk-${site}-mgmt`, address: management },
    networks: planned,
    nodes,
    disks,
    hosts: [...spec.nodes.map((n) => `${n.addresses[0]!.address} ${n.name}`), ...spec.nfs.groups.map((g) => `${g.floatingIp.address} ${site}-${g.name}`)],
    standInPools: lab.zpoolStandIn ? standInPools(spec) : [],
  };
}

/** The site's pools for the stand-in, with the vdevs and import directories hpcdk-zpool-create-<pool> uses. */
function standInPools(spec: SiteSpec): VagrantStandInPool[] {
  return spec.storage.pools.map((p) => {
    const devices = p.vdevs.flatMap((v) => v.devices);
    return {
      name: p.name,
      importDirs: [...new Set(devices.map((d) => d.slice(0, d.lastIndexOf("/"))))].sort(),
      vdevs: p.vdevs.flatMap((v) => (v.type === "stripe" ? [...v.devices] : [v.type, ...v.devices])),
      mountpoint: p.mountpoint,
      dirs: exportDirsOnPool(spec, p).map((dir) => `${p.mountpoint.replace(/\/+$/, "")}/${dir}`),
    };
  });
}

/** Every value the template puts between Ruby double quotes: none may hold a quote, "#" or "\". */
function assertRubySafe(value: unknown, where: string): void {
  if (typeof value === "string" && !/^[A-Za-z0-9 ._/:-]*$/.test(value)) {
    throw new Error(`Vagrantfile: ${where} would need quoting in Ruby, got ${JSON.stringify(value)}`);
  }
  if (Array.isArray(value)) value.forEach((v, i) => assertRubySafe(v, `${where}.${i}`));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) assertRubySafe(v, `${where}.${k}`);
}

/**
 * What the Vagrantfile template is given: the plan, the site file as the managed header names it
 * (`source`, which the command turns into the header through the core's comment writer) and the
 * zpool stand-in's shell text.
 */
export type VagrantfileContext = VagrantLabPlan & { source: string; zpoolStandIn: boolean; zpoolStandInScript: string; softwareEmulation: boolean; sharedDiskSize: string };

/** The template of the Vagrantfile (templates/lab/Vagrantfile.hbs), rendered by the core's template renderer. */
export const VAGRANTFILE_TEMPLATE = "lab/Vagrantfile";

/**
 * What the Vagrantfile template renders for a site (`source` is the site file as named in the
 * managed header); the command renders it with the core's renderer (cli/commands/lab.ts).
 */
export function vagrantfileContext(site: string, source: string, spec: SiteSpec): VagrantfileContext {
  const plan = planVagrantLab(site, spec);
  assertRubySafe(plan, "plan");
  // The stand-in goes into a Ruby heredoc (<<~ strips the two spaces again).
  const standIn = plan.lab.zpoolStandIn ? readFileSync(ZPOOL_STANDIN_SCRIPT, "utf8").replace(/^(?=.)/gm, "  ") : "";
  if (/^\s*(SHELL|ZPOOL)$/m.test(standIn)) throw new Error("Vagrantfile: the zpool stand-in has a line that would end its heredoc");
  return {
    ...plan,
    source,
    zpoolStandIn: plan.lab.zpoolStandIn,
    // The repository's stand-in, shell text as it is (inside a quoted heredoc); the command
    // marks it as shell text for the renderer.
    zpoolStandInScript: standIn,
    softwareEmulation: plan.lab.driver === "qemu",
    sharedDiskSize: `${plan.lab.sharedDiskGiB}G`,
  };
}
