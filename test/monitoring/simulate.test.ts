/**
 * The monitoring group under Pacemaker's scheduler (crm_simulate on the synthesized CIB): it runs
 * where the pool holding its data is imported, and when that node fails it moves with the pool,
 * after the node is fenced, to the node the pool goes to; a failure elsewhere leaves it alone.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { simulateCib } from "../../operations/simulate/index.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, loadExamples, synthTo } from "../helpers.js";

const { out } = synthTo([...loadExamples(["lab"]), loadSiteFile(join(FIXTURES, "monitoring-lab.yaml"))]);
const cibOf = (site: string) => readFileSync(join(out, "stacks", site, "cluster", "cib.xml"), "utf8");
const MONITORING = ["ip-monitoring", "alertmanager", "prometheus"];

describe.each([
  ["lab", "zfs-stc2_pool", ["stc1", "stc2", "stc3", "stc4"]],
  ["monitoring-lab", "zfs-tank", ["m1", "m2", "m3"]],
] as const)("site %s", (site, pool, nodes) => {
  it("starts the monitoring group on the node that imports the pool", async () => {
    const report = await simulateCib(cibOf(site), { fail: [] });
    const where = report.initial;
    expect(report.problems).toEqual([]);
    for (const r of MONITORING) expect(where[r], r).toEqual(where[pool]);
  });

  it.each(nodes)("moves it with the pool, after fencing, when %s fails (or leaves it alone)", async (node) => {
    const report = await simulateCib(cibOf(site), { fail: [node] });
    const failure = report.failures[0]!;
    expect(failure.violations).toEqual([]);
    expect(failure.fenced).toEqual([node]);
    const moved = Object.fromEntries(failure.moved.map((m) => [m.resource, m.to]));
    if (report.initial[pool]![0] === node) {
      for (const r of MONITORING) expect(moved[r], r).toEqual(moved[pool]);
    } else {
      for (const r of MONITORING) expect(moved[r], r).toBeUndefined();
    }
    expect(failure.disrupted).toEqual([]);
  });
});

describe("the check", () => {
  it("fails if the group is not tied to its pool (colocation and order removed)", async () => {
    const cib = cibOf("lab")
      .replace(/\s*<rsc_colocation id="colocation-group-monitoring-with-zfs-stc2_pool"[^>]*\/>/, "")
      .replace(/\s*<rsc_order id="order-zfs-stc2_pool-then-group-monitoring"[^>]*\/>/, "");
    expect(cib).not.toContain("group-monitoring-with");
    const report = await simulateCib(cib, { fail: ["stc2"] });
    const moved = Object.fromEntries(report.failures[0]!.moved.map((m) => [m.resource, m.to]));
    // Untied, the scheduler sends the pool one way and Prometheus another: the test above would fail.
    expect(moved["zfs-stc2_pool"]).toBeDefined();
    expect(moved.prometheus).toBeDefined();
    expect(moved.prometheus).not.toEqual(moved["zfs-stc2_pool"]);
  });
});
