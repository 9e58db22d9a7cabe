/**
 * What the rollout does to a cluster, against a host that answers like Pacemaker's tools
 * (test/fake-host.ts keeps crm_config in a map): maintenance-mode entered and left with hpcdk's
 * note, so a rerun ends a maintenance an interrupted rollout began and one the site set is left
 * alone; the settle check names failed actions and offline nodes within its bound; crm_mon's
 * failures and fence devices read from its XML.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "../../operations/remote/connect.js";
import { readInventory } from "../../operations/remote/inventory.js";
import { enterMaintenance, failedActions, fenceDeviceIds, leaveMaintenance, ROLLOUT_MAINTENANCE, waitSettled } from "../../operations/rollout/cluster-ops.js";
import { fakeHost, keyPair, knownHostsFile, type FakeHost } from "../fake-host.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const { out } = synthTo(loadExamples(["minilab"]));
const stack = join(out, "stacks", "minilab");

const monXml = (opts: { offline?: string[]; failure?: boolean }) => `<pacemaker-result api-version="2.25" request="crm_mon -1 --output-as=xml">
  <summary><current_dc present="true" with_quorum="true" name="m2"/></summary>
  <nodes>
    ${["m1", "m2", "m3"].map((n) => `<node name="${n}" id="${n.slice(1)}" online="${opts.offline?.includes(n) ? "false" : "true"}" standby="false" unclean="false" type="member"/>`).join("\n    ")}
  </nodes>
  <resources>
    <resource id="fence_pm" resource_agent="stonith:fence_powerman" role="Started" active="true"><node name="m2" id="2" cached="true"/></resource>
    <group id="group-nfs" number_resources="1">
      <resource id="zfs-tank" resource_agent="ocf:heartbeat:ZFS" role="Started" active="true"><node name="m1" id="1" cached="true"/></resource>
    </group>
  </resources>
  ${opts.failure ? '<failures><failure op_key="zfs-tank_monitor_10000" node="m3" exitstatus="not running" exitreason="pool gone" exitcode="7" call="12" status="complete"/></failures>' : ""}
  <status code="0" message="OK"/>
</pacemaker-result>`;

describe("the rollout's cluster operations", () => {
  const dir = tempDir("hpcdk-cluster-ops-");
  const key = keyPair(dir, "id_ed25519");
  let host: FakeHost;
  /** crm_config as the fake cluster holds it: `set/name` → value. */
  const config = new Map<string, string>();
  let mon = monXml({});

  beforeAll(async () => {
    host = await fakeHost("root", key.publicKey);
    host.answer((command) => {
      if (command.startsWith("crm_mon")) return { stdout: mon };
      if (command.startsWith("crm_resource --wait")) return {};
      const m = /^crm_attribute --type crm_config (?:--set-name '([^']+)' )?--name '([^']+)' (--query --quiet|--delete|--update '([^']*)')$/.exec(command);
      if (!m) return { code: 64, stderr: `unexpected: ${command}` };
      const k = `${m[1] ?? "cib-bootstrap-options"}/${m[2]}`;
      if (m[3] === "--query --quiet") return config.has(k) ? { stdout: `${config.get(k)}\n` } : { code: 6, stderr: "Error performing operation: No such device or address" };
      if (m[3] === "--delete") config.delete(k);
      else config.set(k, m[4]!);
      return {};
    });
  });
  afterAll(() => host.close());

  const session = () =>
    connect(
      readInventory(stack, {
        ssh: { user: "root", privateKey: key.file, knownHosts: knownHostsFile(dir, [host.knownHostsLine]), connectTimeoutSec: 5 },
        hosts: { m2: { address: "127.0.0.1", port: host.port } },
      }),
      "m2",
    );

  it("enters maintenance with hpcdk's note of what it was, and leaves it as it was", async () => {
    const s = await session();
    try {
      config.clear();
      expect(await enterMaintenance(s)).toBe(true);
      expect(Object.fromEntries(config)).toEqual({ [`hpcdk-deploy/${ROLLOUT_MAINTENANCE}`]: "unset", "cib-bootstrap-options/maintenance-mode": "true" });
      // A rerun after an interruption finds the note: it owns the maintenance and ends it.
      expect(await enterMaintenance(s)).toBe(true);
      await leaveMaintenance(s);
      expect(Object.fromEntries(config)).toEqual({});
      // A site whose CIB says maintenance-mode=false gets false back.
      config.set("cib-bootstrap-options/maintenance-mode", "false");
      await enterMaintenance(s);
      await leaveMaintenance(s);
      expect(Object.fromEntries(config)).toEqual({ "cib-bootstrap-options/maintenance-mode": "false" });
    } finally {
      s.close();
    }
  });

  it("leaves a maintenance-mode the site or an admin set alone", async () => {
    const s = await session();
    try {
      config.clear();
      config.set("cib-bootstrap-options/maintenance-mode", "true");
      expect(await enterMaintenance(s)).toBe(false);
      await leaveMaintenance(s);
      expect(Object.fromEntries(config)).toEqual({ "cib-bootstrap-options/maintenance-mode": "true" });
    } finally {
      s.close();
    }
  });

  it("fails if the cluster does not settle within the bound, naming failed actions, offline nodes and resources not where they ran", async () => {
    const s = await session();
    try {
      mon = monXml({});
      expect(await waitSettled(s, { nodes: ["m1", "m2", "m3"], runningOn: { "zfs-tank": "m1" } }, 2)).toBeUndefined();
      mon = monXml({ failure: true });
      expect(await waitSettled(s, { nodes: ["m1", "m2", "m3"] }, 1)).toBe("not settled within 1 s: failed actions: zfs-tank_monitor_10000 on m3 (pool gone)");
      mon = monXml({ offline: ["m3"] });
      expect(await waitSettled(s, { nodes: ["m1", "m2", "m3"] }, 1)).toBe("not settled within 1 s: m3 not online");
      mon = monXml({});
      expect(await waitSettled(s, { nodes: ["m1", "m2", "m3"], runningOn: { "zfs-tank": "m3" } }, 1)).toBe("not settled within 1 s: not running where they ran: zfs-tank (on m3; now m1)");
      expect(await waitSettled(s, { nodes: ["m1", "m2", "m3"], emptyNodes: ["m1"] }, 1)).toBe("not settled within 1 s: still running on m1: zfs-tank");
    } finally {
      s.close();
    }
  });

  it("reads crm_mon's failed actions and fence devices", () => {
    expect(failedActions(monXml({ failure: true }))).toEqual(["zfs-tank_monitor_10000 on m3 (pool gone)"]);
    expect(failedActions(monXml({}))).toEqual([]);
    expect(fenceDeviceIds(monXml({}))).toEqual(["fence_pm"]);
    expect(readFileSync(join(stack, "cluster", "cib.xml"), "utf8")).toContain("fence_pm");
  });
});
