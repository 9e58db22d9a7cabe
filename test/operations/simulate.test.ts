/**
 * Failover as Pacemaker's scheduler plans it (crm_simulate on the synthesized CIB): for every
 * example site and every single-node failure, the failed node is fenced before its resources
 * start elsewhere, and nothing stays stopped while a healthy node can run it.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateCib, SimulationError } from "../../operations/simulate/index.js";
import { EXAMPLES, FIXTURES, hpcdk, loadExamples, siteFromText, synthTo } from "../helpers.js";

const { out, built } = synthTo(loadExamples());
const cibOf = (dir: string, site: string) => readFileSync(join(dir, "stacks", site, "cluster", "cib.xml"), "utf8");

describe.each(EXAMPLES)("site %s", (site) => {
  const nodes = Object.keys(built.stacks.find((s) => s.site.name === site)!.hosts).sort();

  it.each(nodes)("fails over safely when %s fails", async (node) => {
    const report = await simulateCib(cibOf(out, site), { fail: [node] });
    const failure = report.failures[0]!;
    expect(report.problems).toEqual([]);
    expect(failure.violations).toEqual([]);
    expect(failure.fenced).toEqual([node]);
    for (const m of failure.moved) {
      expect(m.to.length, `${m.resource} after ${node} failed`).toBe(1);
      expect(m.to[0]).not.toBe(node);
    }
    expect(failure.disrupted).toEqual([]);
  });
});

describe("the failover rules", () => {
  const twoNode = readFileSync(join(FIXTURES, "two-node.yaml"), "utf8");

  it("fail if the failed node is not fenced (stonith disabled)", async () => {
    const site = siteFromText(twoNode.replace("fencing:\n", "fencing:\n  stonith: false\n"), "sites/unsafe.yaml");
    const { out } = synthTo([site]);
    const report = await simulateCib(cibOf(out, "unsafe"), { fail: ["n1"] });
    expect(report.ok).toBe(false);
    expect(report.failures[0]!.violations).toContain("n1 is not fenced");
  });

  it("fail if a resource may start before the failed node is fenced", async () => {
    const site = siteFromText(twoNode, "sites/duo.yaml");
    const { out } = synthTo([site]);
    // requires=nothing lets the scheduler start the group without waiting for fencing.
    const cib = cibOf(out, "duo").replace(
      '<group id="group-nfs">',
      '<group id="group-nfs"><meta_attributes id="group-nfs-meta"><nvpair id="group-nfs-meta-requires" name="requires" value="nothing"/></meta_attributes>',
    );
    const before = await simulateCib(cib);
    const onNode = before.initial["zfs-tank"]![0]!;
    const report = await simulateCib(cib, { fail: [onNode] });
    expect(report.failures[0]!.violations).toContain(`zfs-tank starts on ${onNode === "n1" ? "n2" : "n1"} before ${onNode} is fenced`);
  });

  it("refuses to fail a node the site does not have", async () => {
    const err = await simulateCib(cibOf(out, "lab"), { fail: ["stc9"] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SimulationError);
    expect((err as SimulationError).message).toBe("unknown node stc9 (nodes: stc1, stc2, stc3, stc4)");
  });
});

describe("hpcdk simulate", () => {
  it("prints what is fenced and where resources go, and exits 0 when every failover is safe", () => {
    const result = hpcdk(["simulate", "lab", "--fail", "stc2", "--out", synthTo([]).out]);
    expect(result.stderr).toMatch(/^(hpcdk: generated secret .*\n)*$/);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("fail stc2: OK\n  fenced: stc2\n");
    expect(result.stdout).toMatch(/  zfs-stc2_pool: stc2 -> stc[134]\n/);
    expect(result.stdout).toContain("every failover is safe\n");
  });

  it("fails with exit 1 and no stack if the node to fail is not in the site", () => {
    const result = hpcdk(["simulate", "lab", "--fail", "stc9", "--out", synthTo([]).out]);
    expect(result.stderr).toMatch(/^(hpcdk: generated secret .*\n)*hpcdk: simulate: unknown node stc9 \(nodes: stc1, stc2, stc3, stc4\)\n$/);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(1);
  });
});

describe("operation digests", () => {
  it("match what the installed Pacemaker records when it runs the resources (crm_simulate -S)", async () => {
    const { execFileSync } = await import("node:child_process");
    const { writeFileSync } = await import("node:fs");
    const { operationDigest, withOnlineStatus, cibNodes } = await import("../../operations/simulate/index.js");
    const { tempDir } = await import("../helpers.js");
    const cib = cibOf(out, "radon");
    const dir = tempDir();
    writeFileSync(join(dir, "start.xml"), withOnlineStatus(cib, cibNodes(cib)));
    execFileSync("crm_simulate", ["-Q", "-x", join(dir, "start.xml"), "-S", "-O", join(dir, "done.xml"), "-G", join(dir, "graph.xml")]);
    const done = readFileSync(join(dir, "done.xml"), "utf8");
    const graph = readFileSync(join(dir, "graph.xml"), "utf8");
    // Every start and recurring monitor of a non-fencing resource in the graph, with its attributes.
    const actions = [...graph.matchAll(/<rsc_op [^>]*operation="(start|monitor)" operation_key="([^"]+)"[^>]*>\s*<primitive id="([^"]+)" class="(ocf)"[^>]*\/>\s*<attributes ([^>]*)\/>/g)];
    expect(actions.length).toBeGreaterThan(10);
    let compared = 0;
    for (const [, , key, primitive, , attrText] of actions) {
      const attributes = Object.fromEntries([...attrText!.matchAll(/([\w-]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
      const interval = Number(attributes.CRM_meta_interval ?? 0);
      if (key!.endsWith("_monitor_0")) continue;
      const id = interval > 0 ? `${primitive!.replace(/:\d+$/, "")}_monitor_${interval}` : `${primitive!.replace(/:\d+$/, "")}_last_0`;
      const recorded = done.match(new RegExp(`id="${id.replace(/[.]/g, "\\.")}"[^>]*op-digest="([0-9a-f]+)"`))?.[1];
      expect(recorded, id).toBeDefined();
      expect(operationDigest(attributes, interval), id).toBe(recorded);
      compared++;
    }
    expect(compared).toBeGreaterThan(10);
  });
});
