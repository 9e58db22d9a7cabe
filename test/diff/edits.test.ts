/**
 * A series of edits to the example sites, each diffed against the unedited site: the settings
 * that change, the files on each host, what Pacemaker does (crm_simulate on the old and new CIB),
 * the Terraform plan, and the impact class of each.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffExitCode, diffSites, type DiffReport } from "../../operations/diff/index.js";
import { formatJson, formatMarkdown, formatText } from "../../operations/diff/format.js";
import { parseSite, type LoadedSite } from "../../schema/load.js";
import { synthesizeSite } from "../../stacks/synth.js";
import { ROOT, tempDir } from "../helpers.js";

const text = (site: string) => readFileSync(join(ROOT, "test", "fixtures", "diff", `${site}.yaml`), "utf8");
const load = (site: string, yaml: string): LoadedSite => parseSite(yaml, `sites/${site}.yaml`);

/** The site with `from` replaced by `to`; fails if `from` is not in the file (an edit that does nothing proves nothing). */
function edited(site: string, ...edits: [string, string][]): LoadedSite {
  let yaml = text(site);
  for (const [from, to] of edits) {
    expect(yaml, `edit of ${site}.yaml`).toContain(from);
    yaml = yaml.replace(from, to);
  }
  return load(site, yaml);
}

const noSecrets = { secrets: "/nonexistent/secrets", synthesize: synthesizeSite };
const diff = (site: string, next: LoadedSite, options = noSecrets) => diffSites(load(site, text(site)), next, options);
const fileChanges = (r: DiffReport) => r.stack.bundles.flatMap((b) => b.files.map((f) => `${b.dir}:${f.path}:${f.status}:${f.impact.kind}`));
const settingRows = (r: DiffReport) => r.summary.filter((s) => s.kind === "setting").map((s) => [s.what, s.impact.kind]);

const ADD_EXPORT: [string, string] = [
  "        - path: /stc2_pool/apps\n",
  "        - path: /stc2_pool/scratch\n          fsid: 3\n          clients:\n            - spec: 172.16.0.0/16\n        - path: /stc2_pool/apps\n",
];

describe("edits to the example sites", () => {
  it("nothing edited: no change, exit 0", async () => {
    const r = await diff("lab", load("lab", text("lab")));
    expect(r.changed).toBe(false);
    expect(r.impact).toBeNull();
    expect(r.summary).toEqual([]);
    expect(r.stack.bundles).toEqual([]);
    expect(r.stack.terraform).toEqual([]);
    expect(diffExitCode(r)).toBe(0);
  });

  it("add an export: the CIB and the pool's dataset list change; Pacemaker starts it and restarts what follows it in the group (resource-move)", async () => {
    const r = await diff("lab", edited("lab", ADD_EXPORT));
    expect(settingRows(r)).toEqual([["`nfs.groups[nfs].exports[/stc2_pool/scratch]` added", "resource-move"]]);
    // Each host's deploy creates the new dataset where the pool is imported, before the CIB step.
    expect(fileChanges(r)).toEqual([
      ...["stc1", "stc2", "stc3", "stc4"].map((h) => `hosts/${h}:/usr/local/sbin/hpcdk-zpool-create-stc2_pool:changed:none`),
      "cluster:/cib.xml:changed:resource-move",
    ]);
    const changes = r.stack.pacemaker!.transition.changes.map((c) => `${c.action} ${c.resource} ${c.from.join("+")}->${c.to.join("+")}`);
    // The group starts in order: the new export goes before /stc2_pool/apps, so apps' exports, the IP and nfsnotify restart after it.
    expect(changes).toEqual([
      "restart export-stc2_pool-apps-10.10.0.0-24 stc2->stc2",
      "restart export-stc2_pool-apps-172.16.0.0-16 stc2->stc2",
      "start export-stc2_pool-scratch-172.16.0.0-16 ->stc2",
      "restart ip-nfs stc2->stc2",
      "restart notify-nfs stc2->stc2",
    ]);
    expect(r.stack.pacemaker!.impact).toEqual({ kind: "resource-move", detail: "crm_simulate: 4 restarts, 1 start" });
    expect(r.stack.terraform.map((t) => `${t.constructPath} ${t.action}`)).toEqual([
      "lab/deploy-cluster/resource replace",
      ...["stc1", "stc2", "stc3", "stc4"].map((h) => `lab/deploy-host-${h}/resource replace`),
    ]);
    expect(r.impact).toBe("resource-move");
  });

  it("add an export at the end of the group: nothing that runs restarts", async () => {
    const r = await diff(
      "lab",
      edited("lab", ["              options: rw,sync,no_subtree_check,no_root_squash\n", "              options: rw,sync,no_subtree_check,no_root_squash\n        - path: /stc2_pool/scratch\n          fsid: 3\n          clients:\n            - spec: 172.16.0.0/16\n"]),
    );
    expect(r.stack.pacemaker!.transition.changes.map((c) => `${c.action} ${c.resource}`)).toEqual([
      "start export-stc2_pool-scratch-172.16.0.0-16",
      "restart ip-nfs",
      "restart notify-nfs",
    ]);
  });

  it("change a pool device: fence_scsi restarts with the new device list; the creation scripts change (none)", async () => {
    const r = await diff("lab", edited("lab", ["            - /dev/mapper/stc3\n", "            - /dev/mapper/stc9\n"]));
    expect(settingRows(r)).toEqual([[
      '`storage.pools[stc2_pool].vdevs[0].devices`: ["/dev/mapper/stc1","/dev/mapper/stc2","/dev/mapper/stc3"] → ["/dev/mapper/stc1","/dev/mapper/stc2","/dev/mapper/stc9"]',
      "resource-move",
    ]]);
    expect(fileChanges(r)).toEqual([
      ...["stc1", "stc2", "stc3", "stc4"].map((h) => `hosts/${h}:/usr/local/sbin/hpcdk-zpool-create-stc2_pool:changed:none`),
      "cluster:/cib.xml:changed:resource-move",
    ]);
    expect(r.stack.pacemaker!.transition.changes).toEqual([{ resource: "f_scsi", action: "restart", from: ["stc1"], to: ["stc1"] }]);
    const script = r.stack.bundles[0]!.files[0]!;
    expect(script.patch).toContain("-for dev in '/dev/mapper/stc1' '/dev/mapper/stc2' '/dev/mapper/stc3'; do\n+for dev in '/dev/mapper/stc1' '/dev/mapper/stc2' '/dev/mapper/stc9'; do\n");
    expect(r.stack.bundles[1]!.files[0]!.sameAs).toBe("stc1");
    expect(r.summary.find((s) => s.kind === "file" && s.what.includes("zpool-create"))!.where).toBe("stc[1-4]");
  });

  it("change the corosync token: corosync.conf on every node, reload; the CIB does not change", async () => {
    const r = await diff("radon", edited("radon", ["    tokenMs: 1000 ", "    tokenMs: 2000 "]));
    expect(settingRows(r)).toEqual([["`cluster.corosync.tokenMs`: 1000 → 2000", "reload"]]);
    expect(fileChanges(r)).toEqual(["radon1", "radon3", "radon4"].map((h) => `hosts/${h}:/etc/corosync/corosync.conf:changed:reload`));
    expect(r.stack.bundles[0]!.files[0]!.patch).toBe("@@ -8,7 +8,7 @@\n     version: 2\n     cluster_name: radon\n     transport: knet\n-    token: 1000\n+    token: 2000\n     crypto_cipher: aes256\n     crypto_hash: sha256\n }\n");
    expect(r.stack.bundles[0]!.files[0]!.handlers).toEqual(["if corosync-cfgtool -s >/dev/null 2>&1; then corosync-cfgtool -R; fi"]);
    expect(r.stack.pacemaker).toBeNull();
    expect(r.stack.terraform.map((t) => t.constructPath)).toEqual(["radon/deploy-host-radon1/resource", "radon/deploy-host-radon3/resource", "radon/deploy-host-radon4/resource"]);
    expect(r.impact).toBe("reload");
    expect(diffExitCode(r)).toBe(1);
    expect(diffExitCode(r, "reload")).toBe(1);
    expect(diffExitCode(r, "restart")).toBe(0);
  });

  it("rename a node group: reported as a rename (restart); its bundle and deploy resource are replaced", async () => {
    // Partitions come with the Slurm section; a node group is the renamable list element the core has.
    const r = await diff("lab", edited("lab", ["  - name: login\n", "  - name: logins\n"]));
    expect(settingRows(r)).toEqual([["`nodeGroups[login].name` renamed: login → logins", "restart"]]);
    expect(r.stack.terraform.map((t) => `${t.constructPath} ${t.action}`)).toEqual(["lab/deploy-group-login/resource destroy", "lab/deploy-group-logins/resource create"]);
    expect(r.impact).toBe("restart");
  });

  it("rename a Slurm partition (the live example): reported as a rename, slurm.conf changes on every Slurm host (reload)", async () => {
    const live = readFileSync(join(ROOT, "sites", "lab.yaml"), "utf8");
    expect(live).toContain("    - name: batch\n");
    // The stream job runs in that partition: it follows the rename.
    const next = live.replace("    - name: batch\n", "    - name: cpu\n").replace("    partition: batch\n", "    partition: cpu\n");
    const r = await diffSites(load("lab", live), load("lab", next), noSecrets);
    // Worst first.
    expect(settingRows(r)).toEqual([
      ["`streaming.launch.partition`: batch → cpu", "restart"],
      ["`slurm.partitions[batch].name` renamed: batch → cpu", "reload"],
    ]);
    const changed = r.stack.bundles.flatMap((b) => b.files.filter((f) => f.status === "changed").map((f) => `${b.dir}:${f.path}`));
    expect(changed.filter((c) => c.endsWith(":/etc/slurm/slurm.conf")).length).toBeGreaterThan(0);
    expect(changed.filter((c) => !c.endsWith(":/etc/slurm/slurm.conf"))).toEqual(["groups/compute:/usr/local/share/hpcdk/stream/kera.sbatch", "groups/login:/usr/local/share/hpcdk/stream/kera.sbatch"]);
    expect(r.stack.pacemaker).toBeNull();
    expect(r.impact).toBe("restart");
  });

  it("rotate a secret: every host's corosync authkey is 'secret changed' (outage); its bytes are never shown", async () => {
    const dir = tempDir();
    const oldKey = Buffer.from("OLD-AUTHKEY-".repeat(22));
    const newKey = Buffer.from("NEW-AUTHKEY-".repeat(22));
    for (const [side, key] of [["old", oldKey], ["new", newKey]] as const) {
      mkdirSync(join(dir, side));
      writeFileSync(join(dir, side, "corosync-authkey"), key);
    }
    const r = await diffSites(load("lab", text("lab")), load("lab", text("lab")), { secrets: join(dir, "new"), oldSecrets: join(dir, "old"), synthesize: synthesizeSite });
    expect(r.stack.bundles.map((b) => `${b.dir}: ${b.secrets.map((s) => `${s.name} ${s.status} ${s.paths.join()}`).join()}`)).toEqual(
      ["stc1", "stc2", "stc3", "stc4"].map((h) => `hosts/${h}: corosync-authkey changed /etc/corosync/authkey`),
    );
    expect(r.summary).toEqual([
      { impact: { kind: "outage", detail: "restart corosync and pacemaker on every node at once" }, kind: "secret", what: "secret `corosync-authkey` changed", where: "stc[1-4]" },
    ]);
    expect(r.stack.terraform).toEqual([]); // the Terraform plan does not see secrets
    expect(diffExitCode(r, "outage")).toBe(1);
    const { createHash } = await import("node:crypto");
    for (const out of [formatText(r), formatText(r, { color: true }), formatMarkdown(r), formatJson(r)]) {
      for (const key of [oldKey, newKey]) {
        for (const shown of [key.toString("utf8").slice(0, 12), key.toString("hex").slice(0, 16), key.toString("base64").slice(0, 16), createHash("sha256").update(key).digest("hex")]) {
          expect(out).not.toContain(shown);
        }
      }
    }
    // The same value on both sides is unchanged and not listed.
    const same = await diffSites(load("lab", text("lab")), load("lab", text("lab")), { secrets: join(dir, "new"), oldSecrets: join(dir, "new"), synthesize: synthesizeSite });
    expect(same.changed).toBe(false);
  });

  it("change the cluster name: outage, although corosync.conf itself only declares a reload", async () => {
    const r = await diff("lab", edited("lab", ["  name: stc_cluster\n", "  name: stc_prod\n"]));
    expect(settingRows(r)).toEqual([["`cluster.name`: stc_cluster → stc_prod", "outage"]]);
    expect(fileChanges(r)).toEqual(["stc1", "stc2", "stc3", "stc4"].map((h) => `hosts/${h}:/etc/corosync/corosync.conf:changed:reload`));
    expect(r.impact).toBe("outage");
    expect(r.summary[0]!.impact.kind).toBe("outage");
    expect(diffExitCode(r, "outage")).toBe(1);
    expect(diffExitCode(r, "restart")).toBe(1);
  });

  it("change a node id: outage; corosync.conf and the CIB's node change", async () => {
    const r = await diff("radon", edited("radon", ["  - name: radon4\n    id: 4\n", "  - name: radon4\n    id: 5\n"]));
    expect(settingRows(r)).toEqual([["`nodes[radon4].id`: 4 → 5", "outage"]]);
    expect(r.impact).toBe("outage");
  });

  it("change a preferred node below the stickiness: crm_simulate plans no move (reload)", async () => {
    const r = await diff("radon", edited("radon", ["      preferredNode: radon3\n", "      preferredNode: radon4\n"]));
    expect(r.stack.pacemaker!.transition.changes).toEqual([]);
    expect(settingRows(r)).toEqual([["`nfs.groups[projects].preferredNode`: radon3 → radon4", "reload"]]);
    expect(r.impact).toBe("reload");
  });

  it("change a preferred node without stickiness: the group moves (resource-move)", async () => {
    const base = text("radon").replace("  stickiness: 100\n", "  stickiness: 0\n");
    const next = base.replace("      preferredNode: radon3\n", "      preferredNode: radon4\n");
    expect(next).not.toBe(base);
    const r = await diffSites(load("radon", base), load("radon", next), noSecrets);
    const moves = r.stack.pacemaker!.transition.changes.filter((c) => c.action === "move");
    expect(moves.map((m) => `${m.resource} ${m.from.join()}->${m.to.join()}`)).toContain("zfs-projects radon3->radon4");
    expect(r.impact).toBe("resource-move");
  });

  it("change a pool property: only the creation scripts change (none)", async () => {
    const r = await diff("radon", edited("radon", ["        recordsize: 1M\n", "        recordsize: 4M\n"]));
    expect(settingRows(r)).toEqual([["`storage.pools[projects].properties.recordsize`: 1M → 4M", "none"]]);
    expect(r.impact).toBe("none");
    expect(diffExitCode(r)).toBe(1);
    expect(diffExitCode(r, "reload")).toBe(0);
  });
});
