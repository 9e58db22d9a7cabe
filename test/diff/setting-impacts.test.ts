/**
 * Every setting of the site schema has a declared change impact. The settings are enumerated from
 * the schema itself (the JSON Schema `hpcdk schema` prints), so a section another branch adds
 * (Slurm, containers, streaming) fails here until it declares its impacts in schema/impact.ts.
 */
import { describe, expect, it } from "vitest";
import { siteJsonSchema } from "../../cli/commands/schema.js";
import { declaredPatterns, settingImpact, settingPatterns, type SettingImpactTable } from "../../schema/impact.js";
import { IMPACT_KINDS } from "../../constructs/core/index.js";

const patterns = settingPatterns(siteJsonSchema());

describe("the setting impact table", () => {
  it("declares an impact for every setting of the site schema", () => {
    const declared = new Set(declaredPatterns());
    const missing = patterns.filter((p) => !declared.has(p));
    expect(missing, "settings without a declared impact: add them to SETTING_IMPACTS in schema/impact.ts").toEqual([]);
  });

  it("declares nothing the schema does not have (no stale entries)", () => {
    const known = new Set(patterns);
    expect(declaredPatterns().filter((p) => !known.has(p))).toEqual([]);
  });

  it("enumerates leaves, lists of objects and every variant of a union", () => {
    expect(patterns).toContain("cluster.name");
    expect(patterns).toContain("cluster.corosync.tokenMs");
    expect(patterns).toContain("nodes[]");
    expect(patterns).toContain("nodes[].addresses");
    expect(patterns).toContain("nfs.groups[].exports[].clients[].options");
    expect(patterns).toContain("storage.pools[].properties");
    expect(patterns).toContain("fencing.devices[].ip"); // only fence_powerman has it
    expect(patterns).toContain("fencing.devices[].devices"); // only fence_scsi has it
    expect(patterns).not.toContain("cluster.corosync"); // an object is walked into, not a setting
    expect(patterns).toContain("nodeGroups[].hardware.gpus.count");
  });

  it("catches a new section's settings (what a merge of the Slurm branch must declare)", () => {
    const schema = structuredClone(siteJsonSchema()) as { properties: Record<string, unknown> };
    schema.properties.monitoring = {
      type: "object",
      properties: { partitions: { type: "array", items: { type: "object", properties: { name: { type: "string" }, nodes: { type: "string" } } } } },
    };
    const found = settingPatterns(schema);
    expect(found.filter((p) => p.startsWith("monitoring"))).toEqual(["monitoring.partitions[]", "monitoring.partitions[].name", "monitoring.partitions[].nodes"]);
    const declared = new Set(declaredPatterns());
    expect(found.filter((p) => !declared.has(p))).toEqual(["monitoring.partitions[]", "monitoring.partitions[].name", "monitoring.partitions[].nodes"]);
    // One small addition per section declares them.
    const table: SettingImpactTable = {
      monitoring: {
        "partitions[]": { kind: "reload", detail: "scontrol reconfigure" },
        "partitions[].name": { kind: "reload", detail: "scontrol reconfigure" },
        "partitions[].nodes": { kind: "reload", detail: "scontrol reconfigure" },
      },
    };
    expect(declaredPatterns(table)).toEqual(["monitoring.partitions[]", "monitoring.partitions[].name", "monitoring.partitions[].nodes"]);
    expect(settingImpact("monitoring.partitions[].name", table)).toEqual({ kind: "reload", detail: "scontrol reconfigure", declared: true });
  });

  it("gives every declared impact a known kind and a detail", () => {
    for (const p of declaredPatterns()) {
      const impact = settingImpact(p);
      expect(IMPACT_KINDS, p).toContain(impact.kind);
      expect(impact.detail.length, p).toBeGreaterThan(10);
    }
  });
});

describe("settingImpact", () => {
  it("declares the issue's examples: cluster name is an outage, the corosync token a reload", () => {
    expect(settingImpact("cluster.name").kind).toBe("outage");
    expect(settingImpact("cluster.corosync.tokenMs")).toEqual({ kind: "reload", detail: "totem token: corosync-cfgtool -R on every node", declared: true });
    expect(settingImpact("nodes[].id").kind).toBe("outage");
  });

  it("gives a key of a free mapping the mapping's impact", () => {
    expect(settingImpact("storage.pools[].properties.recordsize")).toMatchObject({ kind: "none", declared: true });
  });

  it("assumes the worst for a setting nobody declared, also inside a declared list", () => {
    expect(settingImpact("monitoring.partitions[].name")).toEqual({
      kind: "outage",
      detail: "no impact declared for setting monitoring.partitions[].name: assume the worst",
      declared: false,
    });
    expect(settingImpact("nodes[].rack")).toMatchObject({ kind: "outage", declared: false });
    expect(settingImpact("cluster.corosync.knetPmtud")).toMatchObject({ kind: "outage", declared: false });
  });
});
