/**
 * The together wave's check that a node runs the new corosync values: the totem keys as
 * `corosync-cmapctl` shows them, the node list's addresses, and every link of the node up on its
 * new address and connected to the others (`corosync-cfgtool -s`, corosync 3.1 with knet). And
 * which waves the executor runs: the together wave, unless a membership change (not staged yet)
 * or a deploy of only some nodes' bundles leaves it to Terraform.
 */
import { describe, expect, it } from "vitest";
import { parseCorosyncConf } from "../../operations/rollout/corosync.js";
import { executedWaves, executeRollout, RolloutError, unstagedWaves } from "../../operations/rollout/execute.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import type { RolloutPlan, Wave } from "../../operations/rollout/plan.js";
import { parseCfgtoolStatus, runtimeProblems } from "../../operations/rollout/together.js";

const conf = (m3: string, token = "2000") =>
  parseCorosyncConf(
    `totem {\n  version: 2\n  cluster_name: lab\n  token: ${token}\n  transport: knet\n}\nnodelist {\n` +
      [
        ["m1", "1", "10.0.0.11"],
        ["m2", "2", "10.0.0.12"],
        ["m3", "3", m3],
      ]
        .map(([n, id, a]) => `  node {\n    name: ${n}\n    nodeid: ${id}\n    ring0_addr: ${a}\n  }\n`)
        .join("") +
      "}\n",
  );

const cmapTotem = (token: string) => `totem.cluster_name (str) = lab\ntotem.token (u32) = ${token}\ntotem.transport (str) = knet\ntotem.version (u32) = 2\n`;
const cmapNodes = (m3: string) =>
  [
    ["m1", "1", "10.0.0.11"],
    ["m2", "2", "10.0.0.12"],
    ["m3", "3", m3],
  ]
    .map(([n, id, a], i) => `nodelist.node.${i}.name (str) = ${n}\nnodelist.node.${i}.nodeid (u32) = ${id}\nnodelist.node.${i}.ring0_addr (str) = ${a}\n`)
    .join("") + "nodelist.local_node_pos (u32) = 2\n";
const status = (addr: string, m1 = "connected") =>
  `Local node ID 3, transport knet\nLINK ID 0 udp\n\taddr\t= ${addr}\n\tstatus:\n\t\tnodeid:          1:\t${m1}\n\t\tnodeid:          2:\tconnected\n\t\tnodeid:          3:\tlocalhost\n`;

describe("what corosync runs on a node, against the new corosync.conf", () => {
  it("reads corosync-cfgtool -s: each link's own address and every node's state", () => {
    const links = parseCfgtoolStatus(status("10.0.1.13"));
    expect(links.get("0")?.addr).toBe("10.0.1.13");
    expect([...links.get("0")!.nodes]).toEqual([
      ["1", "connected"],
      ["2", "connected"],
      ["3", "localhost"],
    ]);
  });

  it("finds nothing wrong on a node that runs the new token and its new address, every link connected", () => {
    expect(runtimeProblems("m3", conf("10.0.1.13"), { token: "2000" }, { totem: cmapTotem("2000"), nodelist: cmapNodes("10.0.1.13"), status: status("10.0.1.13") })).toEqual([]);
  });

  it("fails if the node still runs the old token, the old node list, its old address, or a link is down", () => {
    expect(runtimeProblems("m3", conf("10.0.1.13"), { token: "2000" }, { totem: cmapTotem("1000"), nodelist: cmapNodes("10.0.0.13"), status: status("10.0.0.13", "disconnected") })).toEqual([
      'totem.token is "1000", want "2000"',
      'its node list has m3 as nodeid 3 [["0","10.0.0.13"]], want nodeid 3 [["0","10.0.1.13"]]',
      "link 0 is on 10.0.0.13, want 10.0.1.13",
      'link 0 to m1 (nodeid 1) is "disconnected"',
    ]);
  });

  it("fails if a key the wave removes is still set, or the node shows no link at all", () => {
    expect(runtimeProblems("m1", conf("10.0.0.13"), { token: null }, { totem: cmapTotem("2000"), nodelist: cmapNodes("10.0.0.13"), status: "Local node ID 1, transport knet\n" })).toEqual([
      'totem.token is "2000", want not set',
      "corosync-cfgtool -s shows no link 0",
    ]);
  });
});

describe("the waves the executor runs", () => {
  const wave = (index: number, kind: Wave["kind"], hosts: string[], strategy?: Wave["strategy"]): Wave => ({ index, kind, hosts, ...(strategy ? { strategy } : {}), actions: [], reasons: [], nfs: "none" });
  const plan = (waves: Wave[]): RolloutPlan => ({ site: "lab", waves, outages: [], unreachable: [], maxUnavailable: 1, upToDate: false });
  const NODES = ["m1", "m2", "m3"];

  it("runs the together wave before the rolling waves, and warns of none", () => {
    const p = plan([wave(1, "together", NODES), wave(2, "rolling", ["m2"], "maintenance"), wave(3, "cib", ["m1"])]);
    expect(executedWaves(p).map((w) => w.kind)).toEqual(["together", "rolling"]);
    expect(unstagedWaves(p)).toEqual([]);
  });

  it("leaves the together wave to Terraform with a membership change, or when the deploy holds only some nodes' bundles", () => {
    const withMembership = plan([wave(1, "together", NODES), wave(2, "membership", ["m4"])]);
    expect(executedWaves(withMembership)).toEqual([]);
    expect(unstagedWaves(withMembership).map((w) => w.kind)).toEqual(["together", "membership"]);
    const some = plan([wave(1, "together", NODES)]);
    expect(executedWaves(some, ["hosts/m1", "hosts/m2"])).toEqual([]);
    expect(unstagedWaves(some, ["hosts/m1", "hosts/m2"]).map((w) => w.index)).toEqual([1]);
    expect(executedWaves(some, ["hosts/m1", "hosts/m2", "hosts/m3", "cluster"]).map((w) => w.kind)).toEqual(["together"]);
  });

  it("fails if a node of the together wave also needs the standby strategy: nothing is sent, the message says to deploy the corosync change first", async () => {
    const p = plan([wave(1, "together", NODES), wave(2, "rolling", ["m2"], "standby")]);
    const run = executeRollout({ stackDir: "/nonexistent", inventory: { managementNodes: NODES } as unknown as Inventory, plan: p, markers: new Map() });
    await expect(run).rejects.toThrow(RolloutError);
    await expect(run).rejects.toMatchObject({
      problems: [
        "wave 1 (together) changes corosync settings every node must share, and m2 also has changes that need the standby strategy: nothing was sent",
        "deploy the corosync change on its own first (the site with only that change), then the rest",
      ],
    });
  });
});
