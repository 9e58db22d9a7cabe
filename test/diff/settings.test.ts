import { describe, expect, it } from "vitest";
import { diffSettings, showValue } from "../../operations/diff/settings.js";

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
