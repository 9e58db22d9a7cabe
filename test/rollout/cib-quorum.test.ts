/**
 * The deploy reads quorum and the DC from the CIB it queries anyway (one command per node instead
 * of crm_mon and cibadmin): it must say what crm_mon says. Each CIB here is given to Pacemaker's
 * own crm_mon (CIB_file) and to cibNotQuorate, and both must agree.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readCib } from "../../operations/pacemaker/cib.js";
import { parseCrmMon } from "../../operations/pacemaker/crm-mon.js";
import { cibNotQuorate } from "../../operations/pacemaker/live-cluster.js";
import { writeSteadyState } from "../../operations/pacemaker/status.js";
import { FIXTURES, siteFromText, synthTo } from "../helpers.js";

describe("quorum and the DC, read from the CIB", () => {
  it("agrees with crm_mon on a CIB with quorum, without it, without a DC and with a DC it does not know", async () => {
    const site = siteFromText(readFileSync(join(FIXTURES, "two-node.yaml"), "utf8"), "sites/two-node.yaml");
    const { out } = synthTo([site]);
    const cibXml = readFileSync(join(out, "stacks", site.name, "cluster", "cib.xml"), "utf8");
    const dir = mkdtempSync(join(tmpdir(), "hpcdk-cib-quorum-"));
    const steady = readFileSync(await writeSteadyState(dir, cibXml, readCib(cibXml)), "utf8");
    const dcId = /<node_state id="([^"]+)"/.exec(steady)![1]!;
    /** The CIB with its <cib> element's have-quorum and dc-uuid replaced by `attrs`. */
    const withCib = (attrs: string) => {
      const end = steady.indexOf(">", steady.indexOf("<cib "));
      const tag = steady.slice(steady.indexOf("<cib "), end).replace(/ (have-quorum|dc-uuid)="[^"]*"/g, "");
      return steady.slice(0, steady.indexOf("<cib ")) + `${tag} ${attrs}` + steady.slice(end);
    };
    const cases: Record<string, string> = {
      quorate: withCib(`have-quorum="1" dc-uuid="${dcId}"`),
      "no quorum": withCib(`have-quorum="0" dc-uuid="${dcId}"`),
      "no DC": withCib(`have-quorum="1"`),
      "a DC that is no node of the cluster": withCib(`have-quorum="1" dc-uuid="99"`),
    };
    const said: Record<string, [boolean, boolean]> = {};
    for (const [name, xml] of Object.entries(cases)) {
      const file = join(dir, `${name.replace(/ /g, "-")}.xml`);
      writeFileSync(file, xml);
      const mon = parseCrmMon(execFileSync("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: file }, encoding: "utf8" }));
      said[name] = [mon.quorate, cibNotQuorate(xml) === undefined];
    }
    expect(said).toEqual({ quorate: [true, true], "no quorum": [false, false], "no DC": [false, false], "a DC that is no node of the cluster": [false, false] });
    expect(cibNotQuorate(cases["no DC"]!)).toBe("the cluster has no DC yet");
    expect(cibNotQuorate("<cib")).toMatch(/^its CIB cannot be read: /);
  }, 60_000);
});
