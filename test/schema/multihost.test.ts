/**
 * storage.multihost: the MMP wait the module settings give, the import timeout it needs, the
 * drill targets' shape, and the modprobe.d file every management node gets.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { mmpImportWaitSec } from "../../schema/multihost.js";
import { FIXTURES, synthTo } from "../helpers.js";

const BASE = readFileSync(join(FIXTURES, "two-node.yaml"), "utf8");
const problemsOf = (text: string): string[] => {
  try {
    parseSite(text, "sites/bad.yaml");
  } catch (e) {
    if (e instanceof SiteError) return e.problems.map((p) => p.toString());
    throw e;
  }
  return [];
};

describe("the MMP import wait", () => {
  it("is OpenZFS' 20 s at its defaults, twice fail intervals × interval when the holder suspends", () => {
    expect(mmpImportWaitSec({ intervalMs: 1000, importIntervals: 20, failIntervals: 10 })).toBe(20);
    expect(mmpImportWaitSec({ intervalMs: 500, importIntervals: 20, failIntervals: 3 })).toBe(3);
  });

  it("is import intervals × interval when the holder never suspends its pool (fail intervals 0), at least 1 s", () => {
    expect(mmpImportWaitSec({ intervalMs: 1000, importIntervals: 20, failIntervals: 0 })).toBe(20);
    expect(mmpImportWaitSec({ intervalMs: 100, importIntervals: 2, failIntervals: 0 })).toBe(1);
  });
});

describe("storage.multihost in a site", () => {
  it("defaults to OpenZFS' settings and renders them to /etc/modprobe.d on every management node", () => {
    const site = parseSite(BASE, "sites/duo.yaml");
    expect(site.spec.storage.multihost).toEqual({ intervalMs: 1000, importIntervals: 20, failIntervals: 10 });
    const { out } = synthTo([site]);
    for (const node of site.spec.nodes) {
      const text = readFileSync(join(out, "stacks", site.name, "hosts", node.name, "etc/modprobe.d/hpcdk-zfs.conf"), "utf8");
      expect(text).toContain("options zfs zfs_multihost_interval=1000 zfs_multihost_import_intervals=20 zfs_multihost_fail_intervals=10\n");
      expect(text).toContain("waits 20 s");
    }
  });

  it("fails if the pool's import timeout is shorter than the MMP wait plus 30 s", () => {
    const text = BASE.replace("storage:\n", "storage:\n  multihost: { intervalMs: 5000, failIntervals: 10 }\n");
    expect(text).not.toBe(BASE);
    expect(problemsOf(text)).toEqual([expect.stringMatching(/storage\.pools\.0\.importTimeoutSec: 90 s is too short for an import that waits 100 s for MMP \(storage\.multihost\): give it at least 130$/)]);
  });

  it("fails if the interval is under OpenZFS' 100 ms minimum", () => {
    const text = BASE.replace("storage:\n", "storage:\n  multihost: { intervalMs: 50 }\n");
    expect(problemsOf(text)).toEqual([expect.stringMatching(/storage\.multihost\.intervalMs: .*100/)]);
  });

  it("fails if a drill target is not METRIC=VALUE", () => {
    const text = `${BASE}drill:\n  expect: [nfs4-write-back=15s, "writes fast"]\n`;
    expect(problemsOf(text)).toEqual([expect.stringContaining('drill.expect.1: must be METRIC=VALUE, e.g. nfs4-write-back=15s, nfs3-read-back=mmp+7s or acked-writes-lost=0, got "writes fast"')]);
  });
});
