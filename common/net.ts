import { isIP } from "node:net";
import { shown } from "./shown.js";

/** An IP address with the prefix length of its network, as written in a site file ("10.10.0.11/24"). */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 4 | 6;
}

/**
 * A CIDR of the site file, parsed once where the site is loaded (the schema's transforms): the
 * address, prefix and family, and the text as written ("10.10.0.11/24"), which is what goes into
 * a rendered file and what `hpcdk diff` shows.
 */
export interface SiteCidr extends Cidr {
  readonly text: string;
}

/** A site CIDR from text the schema has checked already; throws on text that is not one (a bug). */
export function siteCidr(text: string): SiteCidr {
  const parsed = parseCidr(text);
  if (typeof parsed === "string") throw new Error(`siteCidr: ${parsed}`);
  return { ...parsed, text };
}

/** True for a parsed site CIDR (`hpcdk diff` compares and shows it as its text). */
export function isSiteCidr(value: unknown): value is SiteCidr {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return Object.keys(v).length === 4 && typeof v.text === "string" && typeof v.address === "string" && typeof v.prefix === "number" && (v.family === 4 || v.family === 6);
}

/** Parses "ADDRESS/PREFIX"; returns a reason string when the text is not one. */
export function parseCidr(text: string): Cidr | string {
  const slash = text.indexOf("/");
  if (slash < 0 || text.length > 64) return `must be ADDRESS/PREFIX such as "10.10.0.11/24", got ${shown(text)}`;
  const address = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  const family = isIP(address);
  if (family === 0) return `${shown(address)} is not an IPv4 or IPv6 address`;
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
    return `prefix must be a whole number from 0 to ${max}, got ${shown(prefixText)}`;
  }
  return { address, prefix: Number(prefixText), family: family as 4 | 6 };
}

/**
 * Why an address cannot be a host's (a node's or a floating IP) in its network, or undefined: the
 * network's own address (all host bits 0; for IPv6 the subnet-router anycast address) and the
 * IPv4 broadcast address (all host bits 1) belong to no host. /31 and /32 (IPv4), /127 and /128
 * (IPv6) networks have no such addresses.
 */
export function hostAddressProblem(cidr: Cidr): string | undefined {
  const bits = cidr.family === 4 ? 32 : 128;
  const hostBits = BigInt(bits - cidr.prefix);
  if (hostBits < 2n) return undefined;
  const mask = (1n << hostBits) - 1n;
  const host = addressToBigInt(cidr.address) & mask;
  const where = `${networkOf(cidr)}`;
  if (host === 0n) return `${cidr.address} is the address of the network ${where} itself, not a host's: pick an address inside it`;
  if (cidr.family === 4 && host === mask) return `${cidr.address} is the broadcast address of ${where}, not a host's: pick an address inside it`;
  return undefined;
}

/** The address as an unsigned integer (32 bits for IPv4, 128 for IPv6). */
export function addressToBigInt(address: string): bigint {
  if (isIP(address) === 4) {
    return address.split(".").reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
  }
  const [head, tail] = address.includes("::") ? address.split("::") : [address, undefined];
  const parse = (part: string | undefined): string[] => (part ? part.split(":") : []);
  let groups = parse(head);
  let tailGroups = parse(tail);
  // An IPv4-mapped tail ("::ffff:10.0.0.1") counts as two groups.
  const expand = (list: string[]): string[] =>
    list.flatMap((g) => {
      if (!g.includes(".")) return [g];
      const v4 = addressToBigInt(g);
      return [((v4 >> 16n) & 0xffffn).toString(16), (v4 & 0xffffn).toString(16)];
    });
  groups = expand(groups);
  tailGroups = expand(tailGroups);
  const zeros = tail === undefined ? [] : new Array<string>(8 - groups.length - tailGroups.length).fill("0");
  return [...groups, ...zeros, ...tailGroups].reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** True when `address` lies inside the network `net`. */
export function networkContains(net: Cidr, address: string): boolean {
  const family = isIP(address);
  if (family !== net.family) return false;
  const bits = BigInt(family === 4 ? 32 : 128);
  const hostBits = bits - BigInt(net.prefix);
  return addressToBigInt(net.address) >> hostBits === addressToBigInt(address) >> hostBits;
}

/** The network address in CIDR form ("10.10.0.0/24") for messages. */
export function networkOf(net: Cidr): string {
  const bits = BigInt(net.family === 4 ? 32 : 128);
  const hostBits = bits - BigInt(net.prefix);
  const value = (addressToBigInt(net.address) >> hostBits) << hostBits;
  if (net.family === 4) {
    const octets = [24n, 16n, 8n, 0n].map((s) => ((value >> s) & 0xffn).toString());
    return `${octets.join(".")}/${net.prefix}`;
  }
  const groups: string[] = [];
  for (let s = 112n; s >= 0n; s -= 16n) groups.push(((value >> s) & 0xffffn).toString(16));
  return `${groups.join(":").replace(/(^|:)0(:0)+(:|$)/, "::")}/${net.prefix}`;
}
