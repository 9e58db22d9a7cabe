/**
 * What Pacemaker's scheduler moves when a node goes into standby, asked on a steady-state copy of
 * a synthesized CIB (crm_simulate on this machine): the groups the node runs, nothing else.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCib } from "../../operations/pacemaker/cib.js";
import { placementOf } from "../../operations/pacemaker/tools.js";
import { writeSteadyState } from "../../operations/pacemaker/status.js";
import { standbySimulation } from "../../operations/rollout/gather.js";
import { FIXTURES, siteFromText, synthTo } from "../helpers.js";

describe("the standby strategy's expected interruption", () => {
  it("names exactly the resources running on the node put into standby", async () => {
    const site = siteFromText(readFileSync(join(FIXTURES, "two-node.yaml"), "utf8"), "sites/two-node.yaml");
    const { out } = synthTo([site]);
    const cibXml = readFileSync(join(out, "stacks", site.name, "cluster", "cib.xml"), "utf8");
    const steady = await writeSteadyState(mkdtempSync(join(tmpdir(), "hpcdk-standby-test-")), cibXml, readCib(cibXml));
    const steadyXml = readFileSync(steady, "utf8");
    const placement = await placementOf(steady);
    const moves = await standbySimulation(steadyXml, ["n1", "n2"]);
    for (const node of ["n1", "n2"]) {
      const running = Object.keys(placement).filter((id) => placement[id]!.includes(node) && !/fence|stonith/i.test(id));
      // Fence devices may stay where they are; every other resource on the node moves.
      expect(moves[node]!.filter((id) => !/fence|stonith/i.test(id))).toEqual(running.sort());
    }
    expect(Object.values(moves).flat().length).toBeGreaterThan(0);
  }, 60_000);
});
