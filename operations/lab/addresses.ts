/**
 * Where a lab's own machinery sits on a site's networks, for the namespace lab (its hub's
 * bridges and this machine's way in) and the Vagrant lab (the libvirt host bridges) alike: each
 * network the management nodes have an address on, and on it the lab's address, which is
 * fence_powerman's when the site fences with powerman on that network (the lab runs powermand
 * there), else the highest host address that no node and no floating IP uses.
 */
import { addressToBigInt, networkContains, networkOf, type Cidr } from "../../common/net.js";
import type { SiteSpec } from "../../schema/site.js";

/** An IPv4 address as text. */
export const ipv4Text = (v: bigint): string => [24n, 16n, 8n, 0n].map((s) => ((v >> s) & 0xffn).toString()).join(".");

/** A planner of a lab's addresses on a site's networks; every address it gives is taken. */
export class LabAddresses {
  /** Each network of the nodes' addresses (link and service addresses), in node order, by its text (`10.0.0.0/24`). */
  readonly networks: ReadonlyMap<string, Cidr>;
  /** fence_powerman's address, where the lab's powermand listens; undefined when the site has no powerman device. */
  readonly powerman?: string;
  private readonly used: Set<string>;

  constructor(spec: SiteSpec) {
    const networks = new Map<string, Cidr>();
    for (const n of spec.nodes) {
      for (const a of [...n.addresses, ...n.serviceAddresses]) {
        if (!networks.has(networkOf(a))) networks.set(networkOf(a), a);
      }
    }
    this.networks = networks;
    this.used = new Set([...spec.nodes.flatMap((n) => [...n.addresses, ...n.serviceAddresses].map((a) => a.address)), ...spec.nfs.groups.map((g) => g.floatingIp.address)]);
    const pm = spec.fencing.devices.find((d) => d.agent === "fence_powerman");
    if (pm && pm.agent === "fence_powerman") this.powerman = pm.ip;
  }

  /**
   * The lab's address on a network: fence_powerman's when it is on the network and no node or
   * floating IP has it, else the highest free one. Undefined when none is left.
   */
  hostSide(net: Cidr): string | undefined {
    const pm = this.powerman;
    if (pm !== undefined && net.family === 4 && !pm.includes(":") && networkContains(net, pm) && !this.used.has(pm)) {
      this.used.add(pm);
      return pm;
    }
    return this.take(net);
  }

  /** The highest host address of an IPv4 network that nothing uses yet, going down; undefined when none is left. */
  take(net: Cidr): string | undefined {
    if (net.family !== 4) return undefined;
    const base = (addressToBigInt(net.address) >> BigInt(32 - net.prefix)) << BigInt(32 - net.prefix);
    for (let host = (1n << BigInt(32 - net.prefix)) - 2n; host > 0n; host--) {
      const text = ipv4Text(base + host);
      if (!this.used.has(text)) {
        this.used.add(text);
        return text;
      }
    }
    return undefined;
  }
}
