/**
 * `hpcdk diff --live` against real hosts: a three-node namespace lab (real sshd, corosync and
 * pacemaker per node) deployed with `hpcdk deploy`, then drift made by hand on the hosts: a file
 * edited on one host, a file's mode changed on another, a CIB property changed. The report is
 * asserted whole, as JSON; the check writes nothing on the hosts, never prints a secret, and
 * reports a host it cannot reach as unreachable, not as drift. Needs root (namespaces).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labDown, labUp, type LabState } from "../../operations/lab/lab.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, hpcdk, tempDir } from "../helpers.js";

const SITE = "live-lab";
const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)("hpcdk diff --live against a deployed namespace lab", () => {
  const project = tempDir("hpcdk-live-lab-");
  const siteFile = join(project, "sites", `${SITE}.yaml`);
  let lab: LabState | undefined;

  const onHost = (host: string, command: string): string => {
    const node = lab!.nodes.find((n) => n.name === host)!;
    const r = spawnSync(
      "ssh",
      ["-i", join(lab!.dir, "id_ed25519"), "-o", `UserKnownHostsFile=${join(lab!.dir, "known_hosts")}`, "-o", "BatchMode=yes", `root@${node.sshAddress}`, command],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`${host}: ${command}: ${r.stderr}`);
    return r.stdout;
  };
  const live = (extra: string[] = [], inventory = lab!.inventoryFile) => hpcdk(["diff", `sites/${SITE}.yaml`, "--live", "--inventory", inventory, ...extra], project);

  beforeAll(async () => {
    await labDown(SITE);
    mkdirSync(join(project, "sites"), { recursive: true });
    writeFileSync(siteFile, readFileSync(join(FIXTURES, `${SITE}.yaml`), "utf8"));
    lab = await labUp(SITE, loadSiteFile(siteFile).spec);
    const deploy = hpcdk(["deploy", siteFile, "--inventory", lab.inventoryFile, "--json"], project);
    if (deploy.status !== 0) throw new Error(`hpcdk deploy failed (exit ${deploy.status}): ${deploy.stdout}${deploy.stderr}`);
  }, 120_000);

  afterAll(async () => {
    await labDown(SITE);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-livelab");
    if (lab) expect(existsSync(lab.dir)).toBe(false);
  }, 60_000);

  it("finds no drift right after a deploy, and exits 0", () => {
    const r = live(["--format", "json"]);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout);
    expect(report.changed).toBe(false);
    expect(report.stack.bundles).toEqual([]);
    expect(report.live).toEqual({
      hosts: ["lv1", "lv2", "lv3"].map((h) => ({ host: h, bundle: `hosts/${h}`, status: "checked", deployed: "this synthesis" })),
      notChecked: [],
      cib: { status: "checked", host: "lv1", record: "as applied", crmDiff: "" },
      unreachable: [],
    });
    expect(r.status).toBe(0);
  });

  it("reports a hand-edited file, a changed mode and a hand-changed CIB property, exactly, and exits 1", () => {
    // GIVEN drift made by hand: corosync.conf edited on lv2 (header kept), a script's mode on lv3,
    // a cluster property on the live CIB
    onHost("lv2", "sed -i 's/token: 1000/token: 1500/' /etc/corosync/corosync.conf");
    onHost("lv3", "chmod 0644 /usr/local/sbin/hpcdk-zpool-create-tank");
    onHost("lv1", "crm_attribute --type crm_config --name no-quorum-policy --update ignore");
    const cibBefore = onHost("lv2", "cibadmin --query").split("\n")[0];
    for (const h of ["lv1", "lv2", "lv3"]) onHost(h, "touch /run/hpcdk-live-test-mark");

    // WHEN the drift check runs
    const r = live(["--format", "json"]);

    // THEN the report says exactly what differs and what putting it back does
    expect(r.stderr).toBe("");
    expect(r.status).toBe(1);
    const corosyncImpact = { kind: "reload", detail: "corosync-cfgtool -R on every node (a new cluster name or node id needs a full restart)" };
    const pacemakerImpact = { kind: "reload", detail: "Pacemaker takes the new CIB live; crm_simulate plans no stop, start or move" };
    const modeImpact = { kind: "none", detail: "the deploy sets the owner and mode back; no handler runs" };
    const crmDiff = [
      '<diff format="2">',
      `  <change operation="modify" path="/cib/configuration/crm_config/cluster_property_set[@id=&apos;cib-bootstrap-options&apos;]/nvpair[@id=&apos;cib-bootstrap-options-no-quorum-policy&apos;]">`,
      "    <change-list>",
      '      <change-attr name="value" operation="set" value="stop"/>',
      "    </change-list>",
      "    <change-result>",
      '      <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="stop"/>',
      "    </change-result>",
      "  </change>",
      "</diff>",
      "",
    ].join("\n");
    expect(JSON.parse(r.stdout)).toEqual({
      site: SITE,
      siteFile: `sites/${SITE}.yaml`,
      old: { description: "the hosts (deployed files and the live CIB, over SSH)" },
      new: { description: `sites/${SITE}.yaml in the working tree` },
      settings: null,
      settingsNote: "not compared: the other side is the hosts",
      stack: {
        bundles: [
          {
            kind: "host",
            name: "lv2",
            dir: "hosts/lv2",
            status: "changed",
            files: [
              {
                path: "/etc/corosync/corosync.conf",
                status: "changed",
                patch: [
                  "@@ -8,7 +8,7 @@",
                  "     version: 2",
                  "     cluster_name: livelab",
                  "     transport: knet",
                  "-    token: 1500",
                  "+    token: 1000",
                  "     crypto_cipher: aes256",
                  "     crypto_hash: sha256",
                  " }",
                  "",
                ].join("\n"),
                notes: ["changed on the host since it was deployed: the host's last deploy was this synthesis"],
                handlers: ["if corosync-cfgtool -s >/dev/null 2>&1; then corosync-cfgtool -R; fi"],
                impact: corosyncImpact,
              },
            ],
            secrets: [],
            packages: [],
            steps: [],
          },
          {
            kind: "host",
            name: "lv3",
            dir: "hosts/lv3",
            status: "changed",
            files: [{ path: "/usr/local/sbin/hpcdk-zpool-create-tank", status: "metadata", mode: ["0644", "0755"], notes: [], handlers: [], impact: modeImpact }],
            secrets: [],
            packages: [],
            steps: [],
          },
          {
            kind: "cluster",
            name: "cluster",
            dir: "cluster",
            status: "changed",
            files: [
              {
                path: "/cib.xml",
                status: "changed",
                patch: [
                  "@@ -3,7 +3,7 @@",
                  '     <cluster_property_set id="cib-bootstrap-options">',
                  '       <nvpair id="cib-bootstrap-options-dc-deadtime" name="dc-deadtime" value="2s"/>',
                  '       <nvpair id="cib-bootstrap-options-maintenance-mode" name="maintenance-mode" value="true"/>',
                  '-      <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="ignore"/>',
                  '+      <nvpair id="cib-bootstrap-options-no-quorum-policy" name="no-quorum-policy" value="stop"/>',
                  '       <nvpair id="cib-bootstrap-options-stonith-enabled" name="stonith-enabled" value="true"/>',
                  "     </cluster_property_set>",
                  "   </crm_config>",
                  "",
                ].join("\n"),
                notes: ["changed on the cluster since hpcdk applied it, by hand or by another tool: hpcdk deploy replaces it only with --force"],
                handlers: [],
                impact: pacemakerImpact,
              },
            ],
            secrets: [],
            packages: [],
            steps: [],
          },
        ],
        terraform: [],
        terraformSettings: [],
        pacemaker: {
          // Maintenance mode: Pacemaker manages nothing, so nothing runs before or after.
          transition: {
            before: { f_scsi: [], "zfs-tank": [], "nfs-server-nfs": [], "export-tank-home-10.78.0.0-24": [], "ip-nfs": [], "notify-nfs": [] },
            changes: [],
            fenced: [],
          },
          impact: pacemakerImpact,
        },
        notes: [],
      },
      summary: [
        { impact: corosyncImpact, kind: "file", what: "`/etc/corosync/corosync.conf` changed", where: "lv2" },
        { impact: pacemakerImpact, kind: "file", what: "`/cib.xml` changed", where: "cluster" },
        { impact: modeImpact, kind: "file", what: "`/usr/local/sbin/hpcdk-zpool-create-tank` mode 0644 → 0755", where: "lv3" },
      ],
      impact: "reload",
      changed: true,
      live: {
        hosts: ["lv1", "lv2", "lv3"].map((h) => ({ host: h, bundle: `hosts/${h}`, status: "checked", deployed: "this synthesis" })),
        notChecked: [],
        cib: { status: "checked", host: "lv1", record: "changed since applied", crmDiff },
        unreachable: [],
      },
    });

    // AND the check wrote nothing: no file changed where hpcdk deploys (elsewhere a lab node's
    // overlay root also shows this machine's own writes), and the CIB is at the same version
    for (const h of ["lv1", "lv2", "lv3"]) {
      expect(onHost(h, "find /etc /usr/local/sbin /var/lib/hpcdk -newer /run/hpcdk-live-test-mark -print"), h).toBe("");
    }
    expect(onHost("lv2", "cibadmin --query").split("\n")[0]).toBe(cibBefore);
  });

  it("shows the drift as text and Markdown, and never prints a secret", () => {
    const text = live();
    expect(text.status).toBe(1);
    expect(text.stdout).toContain("  reload  /etc/corosync/corosync.conf changed on lv2\n");
    expect(text.stdout).toContain("hosts (over SSH, read-only)\n  checked      lv[1-3]: last deployed from this synthesis\n  CIB          from lv1: changed since hpcdk applied it\n    crm_diff, live → site:\n");
    expect(text.stdout).toContain("host lv3: 1 metadata change\n  /usr/local/sbin/hpcdk-zpool-create-tank metadata [none]");
    const markdown = live(["--format", "markdown"]);
    expect(markdown.status).toBe(1);
    expect(markdown.stdout).toContain("| `lv[1-3]` | last deployed from this synthesis |\n| CIB | from lv1: changed since hpcdk applied it |\n");
    const key = readFileSync(join(project, "secrets", SITE, "corosync-authkey"));
    expect(onHost("lv1", "base64 -w0 /etc/corosync/authkey")).toBe(key.toString("base64"));
    for (const out of [text.stdout, markdown.stdout, live(["--format", "json"]).stdout]) {
      for (const form of [key.toString("base64").slice(0, 16), key.toString("hex").slice(0, 16)]) expect(out).not.toContain(form);
    }
  });

  it("flags a world-readable secret file and a missing file, and compares the secret's value without showing it", () => {
    onHost("lv1", "chmod 0644 /etc/corosync/authkey && mv /etc/hostid /root/hostid.saved");
    try {
      const r = live(["--format", "json"]);
      expect(r.status).toBe(1);
      const lv1 = JSON.parse(r.stdout).stack.bundles.find((b: { dir: string }) => b.dir === "hosts/lv1");
      expect(lv1.files).toEqual([
        {
          path: "/etc/hostid",
          status: "added",
          notes: ["missing on the host"],
          handlers: [],
          impact: { kind: "resource-move", detail: "ZFS uses the new hostid at the next pool import: move the node's groups away and back" },
        },
        {
          path: "/etc/corosync/authkey",
          status: "metadata",
          mode: ["0644", "0400"],
          notes: ["secret file (corosync-authkey): content never shown", "other users on the host have more access to it than the site allows"],
          handlers: [],
          impact: { kind: "none", detail: "the deploy sets the owner and mode back; no handler runs" },
        },
      ]);
      // Same value on the host and in the secrets folder: nothing to say about the secret.
      expect(lv1.secrets).toEqual([]);
    } finally {
      onHost("lv1", "chmod 0400 /etc/corosync/authkey && mv /root/hostid.saved /etc/hostid");
    }
  });

  it("tells a site changed since the deploy from a hand edit", () => {
    const text = readFileSync(siteFile, "utf8");
    writeFileSync(siteFile, text.replace("tokenMs: 1000", "tokenMs: 1100"));
    try {
      const report = JSON.parse(live(["--format", "json"]).stdout);
      expect(report.live.hosts.map((h: { deployed: string }) => h.deployed)).toEqual(["another synthesis", "another synthesis", "another synthesis"]);
      const conf = report.stack.bundles.filter((b: { kind: string }) => b.kind === "host").map((b: { name: string; files: { path: string; notes: string[]; patch: string }[] }) => [b.name, b.files[0]!.path, b.files[0]!.notes, b.files[0]!.patch.match(/^[-+] .*$/gm)]);
      expect(conf).toEqual([
        ["lv1", "/etc/corosync/corosync.conf", [], ["-    token: 1000", "+    token: 1100"]],
        ["lv2", "/etc/corosync/corosync.conf", [], ["-    token: 1500", "+    token: 1100"]],
        ["lv3", "/etc/corosync/corosync.conf", [], ["-    token: 1000", "+    token: 1100"]],
      ]);
    } finally {
      writeFileSync(siteFile, text);
    }
  });

  it("reports a host it cannot reach as unreachable with the SSH error, not as drift", () => {
    const broken = join(project, "unreachable.json");
    const inventory = JSON.parse(readFileSync(lab!.inventoryFile, "utf8").replace(/^#.*\n/, ""));
    inventory.hosts.lv3.address = "10.78.0.99";
    inventory.ssh.connectTimeoutSec = 2;
    writeFileSync(broken, JSON.stringify(inventory));
    const r = live(["--format", "json"], broken);
    // Drift elsewhere is certain: 1. lv3's own drift (the mode) is not claimed either way.
    expect(r.status).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report.live.hosts[2]).toEqual({
      host: "lv3",
      bundle: "hosts/lv3",
      status: "unreachable",
      error: expect.stringMatching(/^(no SSH answer from 10\.78\.0\.99:22 within 2 s|cannot connect to 10\.78\.0\.99:22: .*)$/),
    });
    expect(report.live.unreachable).toEqual(["lv3"]);
    expect(report.stack.bundles.map((b: { dir: string }) => b.dir)).toEqual(["hosts/lv2", "cluster"]);
  });
});
