import { describe, expect, it } from "vitest";
import { addressToBigInt, isSiteCidr, networkContains, networkOf, parseCidr, siteCidr, type Cidr } from "../../common/net.js";
import { loadExamples } from "../helpers.js";

const cidr = (t: string) => parseCidr(t) as Cidr;

describe("CIDR arithmetic", () => {
  it("parses IPv4 and IPv6 networks", () => {
    expect(parseCidr("10.10.0.11/24")).toEqual({ address: "10.10.0.11", prefix: 24, family: 4 });
    expect(parseCidr("fd00::11/64")).toEqual({ address: "fd00::11", prefix: 64, family: 6 });
  });

  it("fails if the text is not ADDRESS/PREFIX", () => {
    expect(parseCidr("10.10.0.11")).toBe('must be ADDRESS/PREFIX such as "10.10.0.11/24", got "10.10.0.11"');
    expect(parseCidr("fd00::1/129")).toBe('prefix must be a whole number from 0 to 128, got "129"');
  });

  it("tells which addresses a network contains", () => {
    expect(networkContains(cidr("10.10.0.11/24"), "10.10.0.200")).toBe(true);
    expect(networkContains(cidr("10.10.0.11/24"), "10.10.1.1")).toBe(false);
    expect(networkContains(cidr("172.16.0.11/16"), "172.16.255.1")).toBe(true);
    expect(networkContains(cidr("fd00::11/64"), "fd00::ffff:1")).toBe(true);
    expect(networkContains(cidr("fd00::11/64"), "fd01::1")).toBe(false);
    expect(networkContains(cidr("10.0.0.1/8"), "fd00::1")).toBe(false);
  });

  it("expands :: and IPv4-mapped tails", () => {
    expect(addressToBigInt("::1")).toBe(1n);
    expect(addressToBigInt("::ffff:10.0.0.1")).toBe((0xffffn << 32n) | 0x0a000001n);
  });

  it("names the network of an address", () => {
    expect(networkOf(cidr("10.10.0.11/24"))).toBe("10.10.0.0/24");
    expect(networkOf(cidr("fd00:0:0:0:1::11/64"))).toBe("fd00::/64");
  });
});

describe("CIDRs of the site, parsed once by the schema", () => {
  it("hands constructs and operations the address, prefix and family of every node address and of slurm.network, with the text as written", () => {
    // GIVEN the lab site WHEN it is loaded
    const [lab] = loadExamples(["lab"]);
    const node = lab!.spec.nodes.find((n) => n.name === "stc1")!;
    // THEN its CIDRs are parsed values
    expect(node.addresses).toEqual([{ address: "10.10.0.11", prefix: 24, family: 4, text: "10.10.0.11/24" }]);
    expect(node.serviceAddresses.every((a) => isSiteCidr(a) && a.text === `${a.address}/${a.prefix}`)).toBe(true);
    expect(lab!.spec.slurm!.network).toEqual({ address: "172.16.0.0", prefix: 16, family: 4, text: "172.16.0.0/16" });
  });

  it("fails if a site CIDR is made from text the schema would refuse (a bug, not a site error)", () => {
    expect(() => siteCidr("10.10.0.11")).toThrow('siteCidr: must be ADDRESS/PREFIX such as "10.10.0.11/24", got "10.10.0.11"');
    expect(siteCidr("fd00::11/64")).toEqual({ address: "fd00::11", prefix: 64, family: 6, text: "fd00::11/64" });
  });
});
