import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffSettings, showValue } from "../../operations/diff/settings.js";
import { ROOT, siteFromText } from "../helpers.js";

describe("diffSettings", () => {
  it("reports nothing for equal sites", () => {
    expect(diffSettings({ a: [{ name: "x", v: 1 }] }, { a: [{ name: "x", v: 1 }] })).toEqual([]);
  });

  it("matches list elements by identity, not position", () => {
    const old = { nfs: { groups: [{ name: "g", exports: [{ path: "/a", fsid: 1 }, { path: "/b", fsid: 2 }] }] } };
    const next = { nfs: { groups: [{ name: "g", exports: [{ path: "/b", fsid: 2 }] }] } };
    const changes = diffSettings(old, next);
    expect(changes.map((c) => [c.path, c.pattern, c.change])).toEqual([["nfs.groups[g].exports[/a]", "nfs.groups[].exports[]", "removed"]]);
    expect(changes[0]!.old).toEqual({ path: "/a", fsid: 1 });
  });

  it("reports an element whose identity alone changed as renamed, with the identity field's impact", () => {
    const changes = diffSettings({ nodeGroups: [{ name: "login", hosts: "l[1-2]" }] }, { nodeGroups: [{ name: "logins", hosts: "l[1-2]" }] });
    expect(changes).toEqual([
      {
        path: "nodeGroups[login].name",
        pattern: "nodeGroups[].name",
        change: "renamed",
        old: "login",
        new: "logins",
        impact: expect.objectContaining({ kind: "restart", declared: true }),
      },
    ]);
  });

  it("reports a renamed element that also changed otherwise as removed and added", () => {
    const changes = diffSettings({ nodeGroups: [{ name: "login", hosts: "l[1-2]" }] }, { nodeGroups: [{ name: "logins", hosts: "l[1-3]" }] });
    expect(changes.map((c) => [c.path, c.change])).toEqual([
      ["nodeGroups[logins]", "added"],
      ["nodeGroups[login]", "removed"],
    ]);
  });

  it("matches elements without an identity field by position", () => {
    const changes = diffSettings({ fencing: { levels: [{ devices: ["a"] }] } }, { fencing: { levels: [{ devices: ["b"] }, { devices: ["a"] }] } });
    expect(changes.map((c) => [c.path, c.pattern, c.change])).toEqual([
      ["fencing.levels[0].devices", "fencing.levels[].devices", "changed"],
      ["fencing.levels[1]", "fencing.levels[]", "added"],
    ]);
  });

  it("walks into mappings and optional objects, one change per key", () => {
    const changes = diffSettings(
      { storage: { pools: [{ name: "p", properties: { compression: "lz4" } }] }, nodeGroups: [{ name: "c" }] },
      { storage: { pools: [{ name: "p", properties: { compression: "zstd", recordsize: "1M" } }] }, nodeGroups: [{ name: "c", hardware: { memoryMB: 1 } }] },
    );
    expect(changes.map((c) => [c.path, c.change, c.impact.kind])).toEqual([
      ["storage.pools[p].properties.compression", "changed", "none"],
      ["storage.pools[p].properties.recordsize", "added", "none"],
      ["nodeGroups[c].hardware.memoryMB", "added", "restart"],
    ]);
  });

  it("compares a list of plain values as one setting", () => {
    const changes = diffSettings({ nodes: [{ name: "n1", addresses: ["10.0.0.1/24"] }] }, { nodes: [{ name: "n1", addresses: ["10.0.0.2/24"] }] });
    expect(changes.map((c) => [c.path, c.old, c.new])).toEqual([["nodes[n1].addresses", ["10.0.0.1/24"], ["10.0.0.2/24"]]]);
  });

  it("compares and shows the CIDRs the schema parsed as the text the site file wrote", () => {
    // GIVEN the lab site and a copy with a node's address and Slurm's network changed
    const text = readFileSync(join(ROOT, "sites", "lab.yaml"), "utf8");
    const next = text.replace("addresses: [10.10.0.12/24]", "addresses: [10.10.0.22/24]").replace("network: 172.16.0.0/16 ", "network: 172.16.0.0/17 ");
    expect(next).not.toBe(text);
    // WHEN their specs (addresses parsed into address, prefix, family) are compared
    const changes = diffSettings(siteFromText(text, "sites/lab.yaml").spec, siteFromText(next, "sites/lab.yaml").spec);
    // THEN each is one setting, old and new as written
    expect(changes.map((c) => [c.path, c.change, c.old, c.new])).toEqual([
      ["nodes[stc2].addresses", "changed", ["10.10.0.12/24"], ["10.10.0.22/24"]],
      ["slurm.network", "changed", "172.16.0.0/16", "172.16.0.0/17"],
    ]);
  });
});

describe("showValue", () => {
  it("shows plain words bare, anything else as JSON, cut to a line", () => {
    expect(showValue("stc_cluster")).toBe("stc_cluster");
    expect(showValue("a b")).toBe('"a b"');
    expect(showValue(3000)).toBe("3000");
    expect(showValue(["x"])).toBe('["x"]');
    expect(showValue("x".repeat(100), 10)).toBe("xxxxxxxxx…");
  });
});
