import { describe, expect, it } from "vitest";
import { compressHostlist, expandHostlist } from "../../common/hostlist.js";

describe("hostlist expressions", () => {
  it("expands ranges, lists and zero padding", () => {
    expect(expandHostlist("c[001-003]")).toEqual(["c001", "c002", "c003"]);
    expect(expandHostlist("n[1,3,5-6],login1")).toEqual(["n1", "n3", "n5", "n6", "login1"]);
    expect(expandHostlist("rack[1-2]-n[01-02]")).toEqual(["rack1-n01", "rack1-n02", "rack2-n01", "rack2-n02"]);
    expect(expandHostlist("c[8-11]")).toEqual(["c8", "c9", "c10", "c11"]);
  });

  it("fails if the expression is malformed", () => {
    expect(() => expandHostlist("c[1-3")).toThrow('unbalanced brackets in "c[1-3"');
    expect(() => expandHostlist("c[3-1]")).toThrow('range "3-1" in "c[3-1]" runs backwards');
    expect(() => expandHostlist("c[a-b]")).toThrow('bad range "a-b" in "c[a-b]" (expected N or N-M)');
    expect(() => expandHostlist("a,,b")).toThrow('empty host name in "a,,b"');
    expect(() => expandHostlist("c[1-2]x")).toThrow('text after the last "]" in "c[1-2]x" (Slurm does not allow it)');
    expect(() => expandHostlist("c[1, 2]")).toThrow('bad range " 2" in "c[1, 2]" (expected N or N-M)');
  });

  it("compresses into sorted ranges", () => {
    expect(compressHostlist(["c003", "c001", "c002", "d1"])).toBe("c[001-003],d1");
    expect(compressHostlist(["c09", "c10", "c11"])).toBe("c[09-11]");
    expect(compressHostlist(["n1", "n2", "n4", "login"])).toBe("login,n[1-2,4]");
    expect(compressHostlist(["c1", "c01"])).toBe("c[1,01]");
    expect(compressHostlist(["c010", "c9", "c10", "c9"])).toBe("c[9-10,010]");
  });

  it("round-trips 10,000 nodes in a few ranges", () => {
    const hosts = expandHostlist("c[00001-10000]");
    expect(hosts).toHaveLength(10000);
    expect(compressHostlist(hosts)).toBe("c[00001-10000]");
  });
});
