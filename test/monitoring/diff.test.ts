/**
 * What `hpcdk diff` says about monitoring changes to sites/lab.yaml: the setting and its impact,
 * each file and its impact, and what Pacemaker does with the monitoring group (crm_simulate on the
 * old and new CIB). A rule's threshold is a reload (promtool check, SIGHUP) of the hosts' rule
 * file and no CIB change; Prometheus' retention is its command line in the CIB, so Pacemaker
 * restarts it (and Alertmanager after it, in its group); a host added to a node group changes only
 * file_sd files, which Prometheus rereads by itself.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffSites, type DiffReport } from "../../operations/diff/index.js";
import { parseSite, type LoadedSite } from "../../schema/load.js";
import { synthesizeSite } from "../../stacks/synth.js";
import { ROOT } from "../helpers.js";

const LAB = readFileSync(join(ROOT, "sites", "lab.yaml"), "utf8");
const load = (yaml: string): LoadedSite => parseSite(yaml, "sites/lab.yaml");
function edited(...edits: [string, string][]): LoadedSite {
  let yaml = LAB;
  for (const [from, to] of edits) {
    expect(yaml).toContain(from);
    yaml = yaml.replace(from, to);
  }
  return load(yaml);
}
const diff = (next: LoadedSite) => diffSites(load(LAB), next, { secrets: "/nonexistent/secrets", synthesize: synthesizeSite });
const settings = (r: DiffReport) => r.summary.filter((s) => s.kind === "setting").map((s) => [s.what, s.impact.kind]);
const files = (r: DiffReport) => r.stack.bundles.flatMap((b) => b.files.map((f) => `${b.dir}:${f.path}:${f.status}:${f.impact.kind}`));
const MGMT = ["stc1", "stc2", "stc3", "stc4"];

describe("hpcdk diff of monitoring changes (sites/lab.yaml)", () => {
  it("a rule's threshold: the hosts' rule file is reloaded, nothing moves", async () => {
    const r = await diff(edited(["    groupNotPreferredForMin: 30\n", "    groupNotPreferredForMin: 30\n    poolFullPercent: 90\n"]));
    expect(settings(r)).toEqual([["`monitoring.alerts.poolFullPercent`: 80 → 90", "reload"]]);
    expect(files(r)).toEqual(MGMT.map((h) => `hosts/${h}:/etc/prometheus/rules/hpcdk-storage.yml:changed:reload`));
    expect(r.impact).toBe("reload");
    const bundle = r.stack.bundles[0]!;
    expect(bundle.files[0]!.patch).toContain("+        expr: (hpcdk_zpool_allocated_bytes / hpcdk_zpool_size_bytes * 100 and on (instance) (up{job=\"node\"} == 1)) > 90");
    expect(bundle.files[0]!.handlers.join("\n")).toContain('kill -HUP "$pid"');
  });

  it("Prometheus' retention: a CIB change, Pacemaker restarts Prometheus (the group's last member), nothing else", async () => {
    const r = await diff(edited(["retention: { time: 90d, size: 150GB }", "retention: { time: 30d, size: 150GB }"]));
    expect(settings(r)).toEqual([["`monitoring.prometheus.retention.time`: 90d → 30d", "restart"]]);
    // The CIB file declares resource-move; what crm_simulate plans is the real impact.
    expect(files(r)).toEqual(["cluster:/cib.xml:changed:resource-move"]);
    const changes = r.stack.pacemaker!.transition.changes.map((c) => `${c.action} ${c.resource} ${c.from.join("+")}->${c.to.join("+")}`);
    expect(changes.sort()).toEqual(["restart prometheus stc2->stc2"]);
  });

  it("a host added to a node group: its file_sd file changes, which needs no handler", async () => {
    const r = await diff(edited(["    hosts: login[1-2]\n", "    hosts: login[1-3]\n"]));
    expect(files(r).filter((f) => f.includes("/etc/prometheus/"))).toEqual(MGMT.map((h) => `hosts/${h}:/etc/prometheus/file_sd/node-login.yml:changed:none`));
  });

  it("monitoring moved to one host: said not HA, the group leaves the CIB", async () => {
    const r = await diff(
      edited([
        "    pool: stc2_pool                # HA: runs where the pool is imported, after it\n    dataset: monitoring            # stc2_pool/monitoring at /stc2_pool/monitoring, never exported\n    quota: 200G                    # the time series can never fill the NFS pool\n    floatingIp: { address: 172.16.0.102, cidr: 16, nic: eth1 }\n",
        "    host: stc4\n",
      ]),
    );
    expect(settings(r)).toEqual([
      ["`monitoring.server.pool` removed (was stc2_pool)", "resource-move"],
      ["`monitoring.server.dataset` removed (was monitoring)", "resource-move"],
      ["`monitoring.server.floatingIp.address` removed (was 172.16.0.102)", "resource-move"],
      ["`monitoring.server.floatingIp.cidr` removed (was 16)", "resource-move"],
      ["`monitoring.server.floatingIp.nic` removed (was eth1)", "resource-move"],
      ["`monitoring.server.host` added: stc4", "restart"],
      ["`monitoring.server.quota` removed (was 200G)", "none"],
    ]);
    const host = r.summary.find((s) => s.kind === "setting" && s.what.startsWith("`monitoring.server.host`"))!;
    expect(host.impact.detail).toContain("not HA");
    const changes = r.stack.pacemaker!.transition.changes.map((c) => `${c.action} ${c.resource}`);
    expect(changes).toEqual(expect.arrayContaining(["stop ip-monitoring", "stop prometheus", "stop alertmanager"]));
  });
});
