/**
 * The CIB rules the deploy's CIB step and `hpcdk diff --live` share (operations/pacemaker/
 * cib-record.ts), read with the one XML reader. A live cluster keeps hpcdk's record of the digest
 * it applied: the digest of a configuration must be the one earlier hpcdk versions recorded (they
 * cut the same elements out with regular expressions), or every cluster deployed before would
 * look hand-edited. So the rules are checked against that earlier code on CIBs as Pacemaker
 * writes them, and a digest is pinned.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cibVersion, groupMembers } from "../../operations/pacemaker/cib.js";
import { cibRecord, configurationDigest, mergeCib, siteConfiguration } from "../../operations/pacemaker/cib-record.js";
import { parseCrmMon, resourceStatus } from "../../operations/pacemaker/crm-mon.js";
import { cibNodes, withOnlineStatus } from "../../operations/simulate/index.js";
import { XmlReadError } from "../../operations/xml.js";
import { EXAMPLES, loadExamples, synthTo, tempDir } from "../helpers.js";

/** The rules as hpcdk applied them up to now, with regular expressions (operations/deploy.ts). */
const before = (() => {
  const CLUSTER_MANAGED = ["dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog", "last-lrm-refresh"];
  const MANAGED_NVPAIR = new RegExp(`<nvpair [^>]*name="(?:${CLUSTER_MANAGED.join("|")})"[^>]*/>`, "g");
  const STATE_SET_XML = /<cluster_property_set id="hpcdk-deploy"(?:\/>|>[\s\S]*?<\/cluster_property_set>)/;
  const configurationOf = (cibXml: string) => /<configuration>[\s\S]*<\/configuration>/.exec(cibXml)![0];
  return {
    configurationDigest: (cibXml: string) =>
      createHash("sha256")
        .update(configurationOf(cibXml).replace(STATE_SET_XML, "").replace(MANAGED_NVPAIR, "").replace(/>\s+</g, "><").trim())
        .digest("hex"),
    cibRecord: (cibXml: string) => {
      const set = STATE_SET_XML.exec(cibXml)?.[0] ?? "";
      const value = (name: string) =>
        new RegExp(`<nvpair [^>]*name="${name}" [^>]*value="([^"]*)"`).exec(set)?.[1] ?? new RegExp(`<nvpair [^>]*value="([^"]*)"[^>]*name="${name}"`).exec(set)?.[1];
      return { applied: value("hpcdk-applied"), digest: value("hpcdk-config-digest") };
    },
    mergeCib: (liveXml: string, synthesizedXml: string) => {
      const live = configurationOf(liveXml);
      const managed = live.match(MANAGED_NVPAIR) ?? [];
      const record = STATE_SET_XML.exec(live)?.[0] ?? "";
      let config = configurationOf(synthesizedXml);
      config = config.replace(/(<cluster_property_set id="cib-bootstrap-options">)/, `$1${managed.join("")}`);
      if (record) config = config.replace(/<\/crm_config>/, `${record}</crm_config>`);
      return liveXml.replace(/<configuration>[\s\S]*<\/configuration>/, () => config);
    },
  };
})();

const { out } = synthTo(loadExamples());
const synthesized = (site: string) => readFileSync(join(out, "stacks", site, "cluster", "cib.xml"), "utf8");

/**
 * A CIB as a running cluster holds it, written by Pacemaker's own tools: the site's CIB brought
 * up by crm_simulate, with the properties the cluster writes itself and hpcdk's record set by
 * crm_attribute, as on a live node.
 */
function liveCib(site: string, record: Record<string, string> = { "hpcdk-applied": `${"a".repeat(64)}:none`, "hpcdk-config-digest": "0".repeat(64) }): string {
  const dir = tempDir("hpcdk-cib-record-");
  const start = join(dir, "start.xml");
  const live = join(dir, "live.xml");
  const cib = synthesized(site);
  writeFileSync(start, withOnlineStatus(cib, cibNodes(cib)));
  execFileSync("crm_simulate", ["-Q", "-x", start, "-S", "-O", live]);
  const attribute = (args: string[]) => execFileSync("crm_attribute", ["--type", "crm_config", ...args], { env: { ...process.env, CIB_file: live } });
  attribute(["--name", "dc-version", "--update", "2.1.5-a3f44794f94"]);
  attribute(["--name", "cluster-infrastructure", "--update", "corosync"]);
  attribute(["--name", "have-watchdog", "--update", "false"]);
  for (const [name, value] of Object.entries(record)) attribute(["--set-name", "hpcdk-deploy", "--name", name, "--update", value]);
  return readFileSync(live, "utf8");
}

describe("the CIB rules (digest, record, merge) read the CIB with the XML reader", () => {
  describe.each(EXAMPLES)("site %s", (site) => {
    const live = liveCib(site);

    it("gives the digest earlier hpcdk recorded, for the synthesized and the live CIB", () => {
      expect(configurationDigest(synthesized(site))).toBe(before.configurationDigest(synthesized(site)));
      expect(configurationDigest(live)).toBe(before.configurationDigest(live));
      // The cluster's own properties and hpcdk's record are not the site's: the live CIB of an
      // untouched configuration has the synthesized one's digest.
      expect(configurationDigest(live)).toBe(configurationDigest(synthesized(site)));
    });

    it("reads hpcdk's record as earlier hpcdk did", () => {
      expect(cibRecord(live)).toEqual(before.cibRecord(live));
      expect(cibRecord(live)).toEqual({ applied: `${"a".repeat(64)}:none`, digest: "0".repeat(64) });
      expect(cibRecord(synthesized(site))).toEqual({});
    });

    it("merges the site's configuration into the live CIB byte for byte as earlier hpcdk did, and Pacemaker accepts it", () => {
      const merged = mergeCib(live, synthesized(site));
      expect(merged).toBe(before.mergeCib(live, synthesized(site)));
      const file = join(tempDir(), "merged.xml");
      writeFileSync(file, merged);
      execFileSync("crm_verify", ["--xml-file", file]);
      // The cluster's properties and hpcdk's record are kept; the configuration is the site's.
      expect(cibRecord(merged)).toEqual(cibRecord(live));
      expect(merged).toContain('name="dc-version" value="2.1.5-a3f44794f94"');
      expect(configurationDigest(merged)).toBe(configurationDigest(synthesized(site)));
    });
  });

  it("pins the digest of a small configuration: changing it makes every deployed cluster look hand-edited", () => {
    const cib = [
      '<cib crm_feature_set="3.16.2" validate-with="pacemaker-3.9" epoch="7" num_updates="0" admin_epoch="1">',
      "  <configuration>",
      "    <crm_config>",
      '      <cluster_property_set id="cib-bootstrap-options">',
      '        <nvpair id="cib-bootstrap-options-dc-version" name="dc-version" value="2.1.5"/>',
      '        <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="true"/>',
      "      </cluster_property_set>",
      '      <cluster_property_set id="hpcdk-deploy">',
      '        <nvpair id="hpcdk-deploy-hpcdk-config-digest" name="hpcdk-config-digest" value="x"/>',
      "      </cluster_property_set>",
      "    </crm_config>",
      "    <nodes/>",
      "    <resources/>",
      "    <constraints/>",
      "  </configuration>",
      "  <status/>",
      "</cib>",
    ].join("\n");
    const expected =
      '<configuration><crm_config><cluster_property_set id="cib-bootstrap-options"><nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="true"/></cluster_property_set></crm_config><nodes/><resources/><constraints/></configuration>';
    expect(configurationDigest(cib)).toBe(createHash("sha256").update(expected).digest("hex"));
    expect(configurationDigest(cib)).toBe(before.configurationDigest(cib));
    expect(siteConfiguration(cib).replace(/>\s+</g, "><")).toBe(expected);
    expect(cibVersion(cib)).toBe("1.7");
  });

  it("finds the record and the cluster's properties whatever the order of their attributes", () => {
    const cib =
      '<cib admin_epoch="0" epoch="1"><configuration><crm_config><cluster_property_set id="cib-bootstrap-options">' +
      '<nvpair value="2.1.5" name="dc-version" id="a"/></cluster_property_set><cluster_property_set id="hpcdk-deploy">' +
      '<nvpair value="m" id="b" name="hpcdk-applied"/></cluster_property_set></crm_config><resources/></configuration></cib>';
    expect(cibRecord(cib)).toEqual({ applied: "m" });
    expect(siteConfiguration(cib)).toBe('<configuration><crm_config><cluster_property_set id="cib-bootstrap-options"></cluster_property_set></crm_config><resources/></configuration>');
  });

  it("fails if the CIB is not well-formed, a host's junk included", () => {
    expect(() => configurationDigest("<cib><configuration>")).toThrow(XmlReadError);
    expect(() => cibRecord("HPCDK nothing to see")).toThrow(XmlReadError);
    expect(() => configurationDigest("<cib/>")).toThrow("the CIB has no configuration section");
  });

  it("lists a group's members in start order", () => {
    expect(groupMembers(synthesized("radon"), "group-projects")).toEqual([
      "zfs-projects",
      "export-export-projects-shared-10.20.0.0-24",
      "export-export-projects-scratch-10.20.0.0-24",
      "ip-projects",
      "notify-projects",
    ]);
    expect(groupMembers(synthesized("radon"), "group-none")).toEqual([]);
  });
});

describe("crm_mon's answer", () => {
  it("gives the nodes, quorum and where resources are started", () => {
    const cib = synthesized("minilab");
    const dir = tempDir();
    writeFileSync(join(dir, "cib.xml"), withOnlineStatus(cib, cibNodes(cib)));
    const mon = execFileSync("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: join(dir, "cib.xml") }, encoding: "utf8" });
    const status = parseCrmMon(mon);
    expect(status.quorate).toBe(true);
    expect(status.nodes).toEqual({
      m1: { online: true, unclean: false, standby: false },
      m2: { online: true, unclean: false, standby: false },
      m3: { online: true, unclean: false, standby: false },
    });
    // Nothing has started in this status: every resource is known, none placed.
    expect(Object.values(status.placement).every((on) => on.length === 0)).toBe(true);
    expect(Object.keys(status.placement)).toContain("ip-nfs");
  });

  it("says a partition without quorum is not quorate", () => {
    const cib = synthesized("minilab");
    const dir = tempDir();
    writeFileSync(join(dir, "cib.xml"), withOnlineStatus(cib, cibNodes(cib)).replace('have-quorum="1"', 'have-quorum="0"'));
    const mon = execFileSync("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: join(dir, "cib.xml") }, encoding: "utf8" });
    expect(parseCrmMon(mon).quorate).toBe(false);
  });

  it("lists every resource, or a group's, with its role and nodes once the cluster started them", () => {
    const cib = synthesized("minilab");
    const dir = tempDir();
    writeFileSync(join(dir, "start.xml"), withOnlineStatus(cib, cibNodes(cib)));
    execFileSync("crm_simulate", ["-Q", "-x", join(dir, "start.xml"), "-S", "-O", join(dir, "up.xml")]);
    const mon = execFileSync("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: join(dir, "up.xml") }, encoding: "utf8" });
    const group = resourceStatus(mon, "group-nfs");
    expect(group.map((r) => r.id)).toEqual(["zfs-tank", "nfs-ganesha-nfs", "ip-nfs"]);
    expect(group.every((r) => r.role === "Started" && r.nodes.length === 1 && r.nodes[0] === group[0]!.nodes[0])).toBe(true);
    expect(resourceStatus(mon).length).toBeGreaterThan(group.length);
    expect(resourceStatus(mon, "group-none")).toEqual([]);
    expect(parseCrmMon(mon).placement["ip-nfs"]).toEqual(group[0]!.nodes);
  });

  it("fails on anything that is not crm_mon's XML", () => {
    expect(() => parseCrmMon("<html><body>hi</body></html>")).toThrow("crm_mon printed <html>, not its status");
    expect(() => parseCrmMon("Connection to cluster failed")).toThrow(XmlReadError);
  });
});
