import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compareStacks } from "../../operations/diff/compare.js";
import { readStackTree } from "../../operations/diff/tree.js";
import { loadExamples, synthTo } from "../helpers.js";

describe("readStackTree", () => {
  it("reads a stack directory or the output directory holding it", () => {
    const { out } = synthTo(loadExamples(["radon"]));
    const fromOut = readStackTree(out, "radon");
    const fromStack = readStackTree(join(out, "stacks", "radon"), "radon");
    expect(fromOut.dir).toBe(fromStack.dir);
    expect([...fromOut.bundles.keys()]).toEqual(["cluster", "hosts/radon1", "hosts/radon3", "hosts/radon4"]);
    expect(fromOut.terraform!.resources.size).toBe(4);
    expect(fromOut.read("hosts/radon1", "/etc/corosync/corosync.conf")!.toString()).toContain("cluster_name: radon");
    expect(fromOut.read("hosts/radon1", "/etc/nothing")).toBeUndefined();
  });

  it("reads a manifest of an older hpcdk without impacts as undeclared: the most cautious impact", async () => {
    const { out: a } = synthTo(loadExamples(["radon"]));
    const { out: b } = synthTo(loadExamples(["radon"]));
    const manifest = join(a, "stacks", "radon", "manifests", "hosts", "radon1.json");
    const old = JSON.parse(readFileSync(manifest, "utf8"));
    for (const f of old.files) delete f.impact, delete f.secrets;
    delete old.steps;
    writeFileSync(manifest, JSON.stringify(old));
    const conf = join(b, "stacks", "radon", "hosts", "radon1", "etc", "corosync", "corosync.conf");
    writeFileSync(conf, readFileSync(conf, "utf8").replace("token: 1000", "token: 900"));
    const diff = await compareStacks(readStackTree(a, "radon"), readStackTree(b, "radon"));
    const files = diff.bundles.flatMap((x) => x.files.map((f) => `${x.dir}:${f.path}:${f.status}:${f.impact.kind}`));
    // radon1's own corosync.conf changed; the manifest's declarations changed too (the new one has them).
    expect(files).toEqual([
      "hosts/radon1:/etc/corosync/corosync.conf:changed:reload",
      "hosts/radon1:/etc/default/prometheus-blackbox-exporter:metadata:none",
      "hosts/radon1:/etc/default/prometheus-node-exporter:metadata:none",
      "hosts/radon1:/etc/ha_cluster_exporter.yaml:metadata:none",
      "hosts/radon1:/etc/hostid:metadata:none",
      "hosts/radon1:/etc/modprobe.d/hpcdk-zfs.conf:metadata:none",
      "hosts/radon1:/etc/prometheus/blackbox.yml:metadata:none",
      "hosts/radon1:/etc/systemd/system/hpcdk-zpool-metrics.service:metadata:none",
      "hosts/radon1:/etc/systemd/system/hpcdk-zpool-metrics.timer:metadata:none",
      "hosts/radon1:/usr/local/libexec/hpcdk/pacemaker-alert-metrics:metadata:none",
      "hosts/radon1:/usr/local/libexec/hpcdk/zpool-metrics:metadata:none",
      "hosts/radon1:/usr/local/sbin/hpcdk-zpool-create-home:metadata:none",
      "hosts/radon1:/usr/local/sbin/hpcdk-zpool-create-projects:metadata:none",
    ]);
    expect(diff.bundles[0]!.files.find((f) => f.path === "/etc/hostid")!.notes).toEqual(["declared impact: outage → resource-move"]);
    expect(diff.bundles[0]!.steps.map((s) => `${s.id} ${s.change} ${s.impact.kind}`)).toEqual([
      "blackbox-exporter-enable added none",
      "cluster-start added none",
      "hacluster-exporter-enable added none",
      "hpcdk-zpool-metrics-enable added none",
      "nfs-server-disable-at-boot added none",
      "node-exporter-enable added none",
      "node-exporter-textfile-dir added none",
      "zfs-datasets-home added none",
      "zfs-datasets-projects added none",
      "zfs-no-import-at-boot added none",
    ]);
  });
});
