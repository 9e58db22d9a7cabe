import { describe, expect, it } from "vitest";
import { compressHostlist, countHostlist, expandHostlist, MAX_HOSTS } from "../../common/hostlist.js";

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
    expect(() => expandHostlist("c[a-b]")).toThrow('bad range "a-b" in "c[a-b]" (expected N or N-M, numbers of at most 15 digits)');
    expect(() => expandHostlist("a,,b")).toThrow('empty host name in "a,,b"');
    expect(() => expandHostlist("c[1-2]x")).toThrow('text after the last "]" in "c[1-2]x" (Slurm does not allow it)');
    expect(() => expandHostlist("c[1, 2]")).toThrow('bad range " 2" in "c[1, 2]" (expected N or N-M, numbers of at most 15 digits)');
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

  it("counts an expression without expanding it", () => {
    expect(countHostlist("c[001-128],login[1-2],x")).toBe(131);
    expect(countHostlist("rack[1-4]-n[01-16]")).toBe(64);
    // Two brackets of a million each: 10^12 names, counted arithmetically and capped.
    expect(countHostlist("c[1-1000000]-n[1-1000000]")).toBe(MAX_HOSTS + 1);
  });

  it("fails at once, before expanding, if an expression names more hosts than a site may have", () => {
    const started = performance.now();
    expect(() => expandHostlist("c[1-1000000]-n[1-1000000]")).toThrow(
      '"c[1-1000000]-n[1-1000000]" names more than 200,000 hosts, the most one site may have (the largest machine built, Fugaku, has 158,976 nodes)',
    );
    expect(() => expandHostlist("c[1-1000000]")).toThrow("names more than 200,000 hosts");
    expect(() => expandHostlist("c[1-10]", 5)).toThrow('"c[1-10]" names 10 hosts, more than the 5 allowed here');
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it("fails if a number has more than 15 digits (it could not be counted exactly)", () => {
    expect(() => expandHostlist("c[1-1000000000000000000]")).toThrow("numbers of at most 15 digits");
  });

  it("shows at most 200 characters of a bad expression", () => {
    const long = `c[${"1,".repeat(5000)}x]`;
    const message = (() => {
      try {
        expandHostlist(long);
        return "";
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(message.length).toBeLessThan(500);
    expect(message).toContain(`(${long.length} characters)`);
  });

  it("expands and compresses the most hosts a site may have in linear time, without running out of stack", () => {
    const started = performance.now();
    const hosts = expandHostlist(`c[000001-${MAX_HOSTS}]`);
    expect(hosts).toHaveLength(MAX_HOSTS);
    expect(compressHostlist(hosts)).toBe(`c[000001-${MAX_HOSTS}]`);
    // Every other host: 100,000 ranges of one.
    const sparse = hosts.filter((_, i) => i % 2 === 0);
    expect(compressHostlist(sparse).split(",")).toHaveLength(100_000);
    expect(compressHostlist([...sparse].reverse())).toBe(compressHostlist(sparse));
    // The quadratic compression this replaced took 415 s for 100,000 names.
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  it("expands an expression once: the same frozen names again, its host limit still enforced, its compression kept", () => {
    const first = expandHostlist("cache[0001-2000]");
    const again = expandHostlist("cache[0001-2000]");
    expect(again).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
    expect(() => (first as string[]).push("x")).toThrow(TypeError);
    expect(() => expandHostlist("cache[0001-2000]", 100)).toThrow('"cache[0001-2000]" names 2,000 hosts, more than the 100 allowed here');
    expect(compressHostlist(first)).toBe("cache[0001-2000]");
    expect(compressHostlist(first)).toBe("cache[0001-2000]");
    // A list of the same names that is not the frozen one is compressed on its own.
    expect(compressHostlist([...first].reverse())).toBe("cache[0001-2000]");
  });
});
