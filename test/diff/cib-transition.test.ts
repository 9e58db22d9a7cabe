/**
 * What Pacemaker's scheduler does when a running cluster takes a new CIB (cibTransition in
 * operations/simulate/transition.ts), asked of the installed crm_simulate.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { transitionImpact } from "../../operations/diff/compare.js";
import { cibTransition } from "../../operations/simulate/index.js";
import { parseSite } from "../../schema/load.js";
import { ROOT, synthTo } from "../helpers.js";

const lab = readFileSync(join(ROOT, "test", "fixtures", "diff", "lab.yaml"), "utf8");
const cibOf = (yaml: string) => {
  const { out } = synthTo([parseSite(yaml, "sites/lab.yaml")]);
  return readFileSync(join(out, "stacks", "lab", "cluster", "cib.xml"), "utf8");
};
const oldCib = cibOf(lab);

describe("cibTransition", () => {
  it("plans nothing for the same CIB, and says where everything runs", async () => {
    const t = await cibTransition(oldCib, oldCib);
    expect(t.changes).toEqual([]);
    expect(t.fenced).toEqual([]);
    expect(t.before["zfs-stc2_pool"]).toEqual(["stc2"]); // the preferred node
    expect(transitionImpact(t)).toEqual({ kind: "reload", detail: "Pacemaker takes the new CIB live; crm_simulate plans no stop, start or move" });
  });

  it("stops a removed resource (an export's client)", async () => {
    const from = "            - spec: 10.10.0.0/24\n              options: rw,sync,no_subtree_check,no_root_squash\n";
    expect(lab).toContain(from);
    const t = await cibTransition(oldCib, cibOf(lab.replace(from, "")));
    expect(t.changes).toEqual(expect.arrayContaining([{ resource: "export-stc2_pool-apps-10.10.0.0-24", action: "stop", from: ["stc2"], to: [] }]));
    expect(transitionImpact(t).kind).toBe("resource-move");
  });

  it("restarts a resource whose parameters change (the resource digests differ)", async () => {
    const t = await cibTransition(oldCib, cibOf(lab.replace("options: ro,sync,no_subtree_check,root_squash", "options: ro,async,no_subtree_check,root_squash")));
    expect(t.changes).toContainEqual({ resource: "export-stc2_pool-apps-172.16.0.0-16", action: "restart", from: ["stc2"], to: ["stc2"] });
    // A group restarts the members after a restarted one, never those before it.
    expect(t.changes.map((c) => c.resource)).toEqual(["export-stc2_pool-apps-10.10.0.0-24", "export-stc2_pool-apps-172.16.0.0-16", "ip-nfs", "notify-nfs"]);
  });
});
