/**
 * The rendered files, fed to the programs that read them: crm_verify (the CIB, with a status
 * section that has every node online), corosync -t (corosync.conf, run as each node), and
 * shellcheck (every generated script and every step). Each check also runs once on a broken
 * input to prove it can fail.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { BundleManifest } from "../../constructs/core/index.js";
import { cibNodes, withOnlineStatus } from "../../operations/simulate/index.js";
import { EXAMPLES, loadExamples, readTree, synthTo, tempDir } from "../helpers.js";

const { out } = synthTo(loadExamples());
const stack = (site: string) => join(out, "stacks", site);

function crmVerify(cibXml: string) {
  const file = join(tempDir(), "cib.xml");
  writeFileSync(file, withOnlineStatus(cibXml, cibNodes(cibXml)));
  return spawnSync("crm_verify", ["-V", "-x", file], { encoding: "utf8" });
}

/** corosync -t with the file as /etc/corosync/corosync.conf and the host's name, as on the node. */
function corosyncTest(conf: string, hostname: string) {
  const dir = tempDir();
  writeFileSync(join(dir, "corosync.conf"), conf);
  // The authkey is a secret the deploy installs; corosync -t only needs one to exist.
  writeFileSync(join(dir, "authkey"), Buffer.alloc(256, 7));
  chmodSync(join(dir, "authkey"), 0o400);
  return spawnSync(
    "unshare",
    ["--mount", "--uts", "sh", "-c", `hostname "$1" && mount --bind "$2" /etc/corosync && exec corosync -t`, "sh", hostname, dir],
    { encoding: "utf8" },
  );
}

/** shellcheck in the shell the file's shebang names (#!/bin/sh scripts are checked as POSIX sh). */
function shellcheck(file: string) {
  return spawnSync("shellcheck", ["--severity=style", file], { encoding: "utf8" });
}

describe.each(EXAMPLES)("site %s", (site) => {
  const tree = readTree(stack(site));

  it("has a CIB that crm_verify accepts without warnings", () => {
    const result = crmVerify(tree.get("cluster/cib.xml")!.toString());
    expect(result.stderr + result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  const confs = [...tree.keys()].filter((p) => p.endsWith("etc/corosync/corosync.conf"));
  it.each(confs)("has a %s that corosync -t accepts on its node", (path) => {
    const host = path.split("/")[1]!;
    const result = corosyncTest(tree.get(path)!.toString(), host);
    expect(result.stderr).toContain("Corosync Cluster Engine exiting normally");
    expect(result.status).toBe(0);
  });

  const scripts = [...tree.keys()].filter((p) => tree.get(p)!.subarray(0, 2).toString() === "#!");
  it.each(scripts)("has a %s that shellcheck accepts", (path) => {
    const result = shellcheck(join(stack(site), path));
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("has steps that shellcheck accepts", () => {
    const manifests = [...tree.keys()].filter((p) => p.startsWith("manifests/"));
    const steps = manifests.flatMap((p) => (JSON.parse(tree.get(p)!.toString()) as BundleManifest).steps);
    expect(steps.length).toBeGreaterThan(0);
    const file = join(tempDir(), "steps.sh");
    writeFileSync(file, "#!/bin/sh\nset -eu\n" + steps.map((s) => `# ${s.id}\n${s.run}\n`).join(""));
    const result = shellcheck(file);
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
  });
});

describe("the validators", () => {
  const cib = readFileSync(join(stack("lab"), "cluster/cib.xml"), "utf8");

  it("fail if the CIB orders an unknown resource", () => {
    const broken = cib.replace("</constraints>", '<rsc_order id="o" first="nothing" then="ip-nfs"/></constraints>').replace("<constraints/>", '<constraints><rsc_order id="o" first="nothing" then="ip-nfs"/></constraints>');
    const result = crmVerify(broken);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("nothing");
  });

  it("fail if corosync.conf names an unknown transport", () => {
    const conf = readFileSync(join(stack("lab"), "hosts/stc1/etc/corosync/corosync.conf"), "utf8");
    const result = corosyncTest(conf.replace("transport: knet", "transport: pigeon"), "stc1");
    expect(result.status).not.toBe(0);
  });

  it("fail if corosync.conf does not list the node it runs on", () => {
    const conf = readFileSync(join(stack("lab"), "hosts/stc1/etc/corosync/corosync.conf"), "utf8");
    const result = corosyncTest(conf, "stranger");
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain("No valid name found for local host");
  });

  it("fail if a script quotes badly", () => {
    const dir = tempDir();
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "bad.sh"), "#!/bin/sh\nfor f in $(ls $1); do echo $f; done\n");
    expect(shellcheck(join(dir, "bad.sh")).status).not.toBe(0);
  });
});
