/**
 * The drill's pure parts: targets (--expect and the site's), fault plans and the rules they
 * become (iptables in the lab, tc netem on real hosts), the phases read from ganesha's log and
 * the lab's zpool log, the lock probe's verdict, and the report files.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { create } from "xmlbuilder2";
import { judgeExpectations, mergeExpectations, parseExpectations } from "../../operations/drill/expect.js";
import { expectedFenced, flapCommands, iptablesRules, loadFaultPlan, netemCommands, type FaultTopology } from "../../operations/drill/faults.js";
import { holdStonithActionOff, type DrillCluster } from "../../operations/drill/phases.js";
import { lockResultOf } from "../../operations/drill/probes.js";
import { drillHtml, drillMarkdown } from "../../operations/drill/report.js";
import { ganeshaGrace, phaseTimes, powerSwitchEvents, resourcePhases, standInMmp } from "../../operations/drill/timeline.js";
import type { DrillReport } from "../../operations/drill/types.js";
import { groupMemberAgents, startOpsOf } from "../../operations/drill.js";
import { ROOT, tempDir } from "../helpers.js";

const T: FaultTopology = {
  nodes: [
    { name: "m1", address: "10.30.0.11", iface: "eth0" },
    { name: "m2", address: "10.30.0.12", iface: "eth0" },
    { name: "m3", address: "10.30.0.13", iface: "eth0" },
  ],
  client: "10.30.0.253",
  holder: "m1",
};

describe("drill targets", () => {
  it("parses times, times after the MMP wait, and counts", () => {
    expect(parseExpectations(["nfs4-write-back=15s", "nfs3-read-back=mmp+7s", "fenced=500ms", "acked-writes-lost=0"], "command line")).toEqual([
      { metric: "nfs4-write-back", limit: 15, plusMmp: false, from: "command line", text: "nfs4-write-back=15s" },
      { metric: "nfs3-read-back", limit: 7, plusMmp: true, from: "command line", text: "nfs3-read-back=mmp+7s" },
      { metric: "fenced", limit: 0.5, plusMmp: false, from: "command line", text: "fenced=500ms" },
      { metric: "acked-writes-lost", limit: 0, plusMmp: false, from: "command line", text: "acked-writes-lost=0" },
    ]);
  });

  it("fails if a target is malformed, names an unknown metric, or gives a count a unit", () => {
    expect(() => parseExpectations(["nfs4-write-back<15s", "nfs5-read-back=3s", "acked-writes-lost=1s", "fenced=4"], "command line")).toThrow(
      'bad --expect targets: "nfs4-write-back<15s": expected METRIC=VALUE, e.g. nfs4-write-back=15s, nfs3-read-back=mmp+7s or acked-writes-lost=0; "nfs5-read-back=3s": unknown metric "nfs5-read-back" (one of node-lost, fenced, mmp-wait, pool-imported, nfs-server-up, ip-up, grace-ended, nfs3-read-back, nfs3-write-back, nfs4-read-back, nfs4-write-back, read-back, write-back, lock-reclaimed, acked-writes-lost, rejoined); "acked-writes-lost=1s": acked-writes-lost is a count, not a time; "fenced=4": give a unit (s or ms)',
    );
  });

  it("lets the command line override the site's target for the same metric, and fails a slow failover", () => {
    const merged = mergeExpectations(parseExpectations(["nfs4-write-back=30s", "fenced=10s"], "site"), parseExpectations(["nfs4-write-back=mmp+15s"], "command line"));
    expect(merged.map((e) => `${e.text} (${e.from})`)).toEqual(["fenced=10s (site)", "nfs4-write-back=mmp+15s (command line)"]);
    const report = { metrics: { fencedSec: 4.1, mmpModelSec: 5, protocols: { nfs4: { writeBackSec: 20.6 } }, phases: {} }, lock: {}, dataLoss: {} } as unknown as DrillReport;
    const [fenced, writes] = judgeExpectations(merged, report);
    expect(fenced).toMatchObject({ ok: true, value: 4.1 });
    expect(writes).toMatchObject({ ok: false, value: 20.6 });
    const never = judgeExpectations(parseExpectations(["nfs3-read-back=7s"], "command line"), report);
    expect(never[0]).toMatchObject({ ok: false });
    expect(never[0]!.value).toBeUndefined();
  });
});

describe("fault plans", () => {
  it("loads every plan shipped in drill-plans/", () => {
    for (const name of ["cluster-loss-30", "partition-holder-one-way", "client-partition", "flapping-link"]) {
      const plan = loadFaultPlan(join(ROOT, "drill-plans", `${name}.yaml`));
      expect(plan.name).toBe(name);
    }
  });

  it("fails if a plan's fault has no place, an empty window, or ends after the observation", () => {
    const dir = tempDir("hpcdk-plan-");
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "name: bad\nobserveMs: 5000\nfaults:\n  - { type: drop, startMs: 100, endMs: 50 }\n  - { type: flap, node: m1, startMs: 0, endMs: 9000, downMs: 100, upMs: 100 }\nexpect: { fenced: none }\n");
    expect(() => loadFaultPlan(file)).toThrow(
      `the fault plan ${file} is invalid: faults.0: endMs (50) must be after startMs (100); faults.0: give link (cluster or client) or from and to; faults.0: a drop fault needs ratio (0 to 1)`,
    );
    writeFileSync(file, "name: bad\nobserveMs: 5000\nfaults:\n  - { type: flap, node: m1, startMs: 0, endMs: 9000, downMs: 100, upMs: 100 }\nexpect: { fenced: none }\n");
    expect(() => loadFaultPlan(file)).toThrow(`the fault plan ${file} is invalid: a fault ends at 9000 ms, after observeMs (5000)`);
  });

  it("drops 30 % of the cluster link once per packet: on every receiving node's INPUT, from each other node", () => {
    const rules = iptablesRules({ type: "drop", link: "cluster", ratio: 0.3, direction: "both", startMs: 0, endMs: 2000 }, T).iptables;
    expect(rules.m1).toEqual([
      ["INPUT", "-s", "10.30.0.12", "-m", "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP"],
      ["INPUT", "-s", "10.30.0.13", "-m", "statistic", "--mode", "random", "--probability", "0.3", "-j", "DROP"],
    ]);
    expect(Object.keys(rules).sort()).toEqual(["m1", "m2", "m3"]);
  });

  it("partitions the holder one way: the others stop hearing it, it still hears them", () => {
    const rules = iptablesRules({ type: "partition", from: "holder", to: "others", direction: "one-way", startMs: 0, endMs: 1 }, T).iptables;
    expect(rules).toEqual({ m2: [["INPUT", "-s", "10.30.0.11", "-j", "DROP"]], m3: [["INPUT", "-s", "10.30.0.11", "-j", "DROP"]] });
    expect(expectedFenced({ name: "p", description: "", observeMs: 1000, faults: [{ type: "partition", from: "holder", to: "others", direction: "one-way", startMs: 0, endMs: 1 }], expect: { fenced: "minority", ackedWritesLost: 0 } }, T)).toEqual(["m1"]);
  });

  it("cuts the client network on the nodes only (never this machine's tables) and spares the drill's SSH", () => {
    const rules = iptablesRules({ type: "partition", link: "client", direction: "both", startMs: 0, endMs: 1 }, T).iptables;
    expect(rules.m2).toEqual([
      ["INPUT", "-s", "10.30.0.253", "-p", "tcp", "--dport", "22", "-j", "RETURN"],
      ["OUTPUT", "-d", "10.30.0.253", "-p", "tcp", "--sport", "22", "-j", "RETURN"],
      ["INPUT", "-s", "10.30.0.253", "-j", "DROP"],
      ["OUTPUT", "-d", "10.30.0.253", "-j", "DROP"],
    ]);
  });

  it("gives real hosts tc netem for every type iptables cannot make, each value one shell word", () => {
    const cmds = netemCommands({ type: "delay", from: "holder", to: "others", direction: "one-way", delayMs: 200, startMs: 0, endMs: 1 }, T);
    expect(cmds).toEqual({
      m1: {
        start: [
          "tc qdisc add dev 'eth0' root handle 1: prio",
          "tc qdisc add dev 'eth0' parent 1:3 handle 30: netem 'delay' '200ms'",
          "tc filter add dev 'eth0' protocol ip parent 1:0 prio 3 u32 match ip dst '10.30.0.12/32' flowid 1:3",
          "tc filter add dev 'eth0' protocol ip parent 1:0 prio 3 u32 match ip dst '10.30.0.13/32' flowid 1:3",
        ],
        stop: ["tc qdisc del dev 'eth0' root"],
      },
    });
    expect(netemCommands({ type: "corrupt", link: "cluster", ratio: 0.01, direction: "both", startMs: 0, endMs: 1 }, T).m2!.start[1]).toBe("tc qdisc add dev 'eth0' parent 1:3 handle 30: netem 'corrupt' '1.00%'");
    // A hostile interface name stays one word.
    const odd = netemCommands({ type: "drop", link: "client", ratio: 0.3, direction: "both", startMs: 0, endMs: 1 }, { ...T, nodes: [{ name: "m1", address: "10.30.0.11", iface: "eth0; reboot" }] });
    expect(odd.m1!.stop).toEqual(["tc qdisc del dev 'eth0; reboot' root"]);
    expect(flapCommands({ type: "flap", node: "holder", downMs: 100, upMs: 1900, direction: "both", startMs: 2000, endMs: 12000 }, "eth0", "/run/f.pid")).toEqual({
      start: `nohup sh -c 'i=0; while [ "$i" -lt 5 ]; do ip link set dev '\\''eth0'\\'' down; sleep 0.100; ip link set dev '\\''eth0'\\'' up; sleep 1.900; i=$((i + 1)); done' > /dev/null 2>&1 & echo $! > '/run/f.pid'`,
      stop: `kill "$(cat '/run/f.pid' 2> /dev/null)" 2> /dev/null; rm -f '/run/f.pid'; ip link set dev 'eth0' up`,
    });
  });
});

describe("the phases of a failover", () => {
  it("reads grace from ganesha's log: start, the clients that may reclaim, the end", () => {
    const fault = Date.UTC(2026, 11, 3, 8, 7, 20) / 1000;
    const log = [
      "03/12/2026 08:07:10 : epoch 6571 : m2 : ganesha.nfsd-9[main] nfs_start_grace :STATE :EVENT :NFS Server Now IN GRACE, duration 10",
      "03/12/2026 08:07:29 : epoch 6572 : m2 : ganesha.nfsd-10[main] nfs_start_grace :STATE :EVENT :NFS Server Now IN GRACE, duration 10",
      "03/12/2026 08:07:29 : epoch 6572 : m2 : ganesha.nfsd-10[reaper] nfs_try_lift_grace :STATE :EVENT :check grace:reclaim complete(0) clid count(2)",
      "03/12/2026 08:07:39 : epoch 6572 : m2 : ganesha.nfsd-10[reaper] nfs_lift_grace_locked :STATE :EVENT :NFS Server Now NOT IN GRACE",
    ].join("\n");
    const r = ganeshaGrace(log, "+0000", fault);
    expect(r.events.map((e) => [e.atMs, e.phase, e.what])).toEqual([
      [9000, "grace-started", "grace started (10 s at most): 2 clients may reclaim"],
      [19000, "grace-ended", "grace ended"],
    ]);
    expect(ganeshaGrace(log.replaceAll("08:07", "09:07"), "+0100", fault).events.map((e) => e.atMs)).toEqual([9000, 19000]);
  });

  it("reads the MMP wait from the lab's zpool log, and the pool import from the start operation's run time", () => {
    const mmp = standInMmp("1000.0 import tank mmp-wait 1005.0 1010.2 last held by hostid 0000000a, 5000 ms\n", 1000);
    expect(mmp).toEqual([{ atMs: 10200, fromMs: 5000, what: "MMP activity check of tank: 5.2 s (last held by hostid 0000000a, 5000 ms)", phase: "mmp-wait", source: "zpool" }]);
    const members = [
      { id: "zfs-tank", role: "pool" as const },
      { id: "nfs-ganesha-nfs", role: "nfs-server" as const },
      { id: "ip-nfs", role: "ip" as const },
    ];
    const phases = resourcePhases(members, { "zfs-tank": 10600, "nfs-ganesha-nfs": 12100, "ip-nfs": 12400 }, [
      { resource: "zfs-tank", node: "m2", lastRcChangeSec: 0, execMs: 5800, rc: 0 },
      { resource: "nfs-ganesha-nfs", node: "m2", lastRcChangeSec: 0, execMs: 1300, rc: 0 },
    ]);
    expect(phases.map((e) => [e.phase, e.fromMs, e.atMs])).toEqual([
      ["pool-imported", 4800, 10600],
      ["nfs-server-up", 10800, 12100],
      ["ip-up", undefined, 12400],
    ]);
    expect(phaseTimes([...phases, ...mmp])).toEqual({ "mmp-wait": 10.2, "pool-imported": 10.6, "nfs-server-up": 12.1, "ip-up": 12.4 });
  });

  it("reads when the power switch really cut the node (after the fault only; the first cut is the phase)", () => {
    const log = "990.5 off\n995.0 on\n1002.25 off\n1030.5 on\n1031.0 off\n";
    const events = powerSwitchEvents(log, "m1", 1000);
    expect(events).toEqual([
      { atMs: 2250, what: "m1 power cut (power switch)", phase: "power-cut", source: "power switch" },
      { atMs: 30500, what: "m1 powered on (power switch)", source: "power switch" },
      { atMs: 31000, what: "m1 power cut (power switch)", source: "power switch" },
    ]);
    expect(phaseTimes(events)).toEqual({ "power-cut": 2.3 });
    expect(powerSwitchEvents("garbage\n", "m1", 1000)).toEqual([]);
    // A node with a boot time (the lab's bootSec): its init starts some time after the power.
    expect(powerSwitchEvents("1001 off\n1002 on\n1032.5 booted\n", "m1", 1000).map((e) => `${e.atMs} ${e.what}`)).toEqual([
      "1000 m1 power cut (power switch)",
      "2000 m1 powered on (power switch)",
      "32500 m1 booted (its init starts)",
    ]);
  });

  it("reads the group's members with their agents, and start operations from the CIB's status", () => {
    const cib = `<cib><configuration><resources><group id="group-nfs"><primitive id="zfs-tank" class="ocf" provider="heartbeat" type="ZFS"/><primitive id="ip-nfs" class="ocf" provider="heartbeat" type="IPaddr2"/></group></resources></configuration></cib>`;
    expect(groupMemberAgents(cib, "group-nfs")).toEqual([
      { id: "zfs-tank", agent: "ocf:heartbeat:ZFS" },
      { id: "ip-nfs", agent: "ocf:heartbeat:IPaddr2" },
    ]);
    const status = `<status><node_state uname="m2"><lrm><lrm_resources><lrm_resource id="zfs-tank"><lrm_rsc_op id="zfs-tank_last_0" operation="start" rc-code="0" exec-time="5812" last-rc-change="1796287000"/></lrm_resource><lrm_resource id="other"><lrm_rsc_op operation="start" exec-time="1"/></lrm_resource></lrm_resources></lrm></node_state></status>`;
    expect(startOpsOf(status, "m2", ["zfs-tank", "ip-nfs"])).toEqual([{ resource: "zfs-tank", node: "m2", lastRcChangeSec: 1796287000, execMs: 5812, rc: 0 }]);
  });
});

describe("the NFSv4 lock probe's verdict", () => {
  const t0 = 1000;
  const at = (ms: number) => (t0 + ms) * 1e6;
  it("says reclaimed when the new server gave the OPEN and the LOCK back, and another client still found it held", () => {
    expect(
      lockResultOf([{ t: at(-500), event: "locked" }, { t: at(300), event: "unreachable" }, { t: at(11000), event: "server-restarted" }, { t: at(11050), event: "reclaimed" }, { t: at(20000), event: "lockt", result: "held" }], t0),
    ).toEqual({ state: "reclaimed", reclaimedSec: 11.05, heldAtEnd: true, detail: "the new server said the client was stale after 11 s; the OPEN and the LOCK were reclaimed after 11.05 s" });
  });

  it("says lost when the new server refused the reclaim", () => {
    expect(lockResultOf([{ t: at(-500), event: "locked" }, { t: at(11000), event: "server-restarted" }, { t: at(11050), event: "lost", error: "OPEN: NFS4ERR_NO_GRACE" }], t0)).toMatchObject({
      state: "lost",
      detail: "the new server refused the reclaim: OPEN: NFS4ERR_NO_GRACE",
    });
  });
});

describe("the report files", () => {
  it("writes Markdown with the per-protocol table and the phases, and HTML whose SVG is well-formed", () => {
    const report = {
      site: "minilab",
      group: "nfs",
      node: "m1",
      mode: "power-off",
      survivor: "m2",
      startedAt: "2026-12-03T08:00:00.000Z",
      predicted: { fenced: ["m1"], placement: {} },
      before: { pcsStatus: "before", placement: {} },
      after: { pcsStatus: "after", placement: {} },
      timeline: [
        { atMs: 0, what: "fault: power-off m1", phase: "fault" },
        { atMs: 4100, what: "m1 fenced", phase: "fence-confirmed" },
        { atMs: 9800, fromMs: 4700, what: "MMP activity check of tank: 5.1 s", phase: "mmp-wait" },
        { atMs: 10200, fromMs: 4600, what: "pool imported", phase: "pool-imported" },
        { atMs: 11000, what: "grace started (10 s at most): 1 client may reclaim", phase: "grace-started" },
        { atMs: 21000, what: "grace ended", phase: "grace-ended" },
      ],
      metrics: {
        readOutageSec: 21,
        writeOutageSec: 22,
        readsBackSec: 21.5,
        writesBackSec: 22.3,
        protocols: { nfs3: { readBackSec: 11.6, writeBackSec: 21.4, readOutageSec: 11.2, writeOutageSec: 21, samples: { reads: 40, writes: 38 } }, nfs4: { readBackSec: 21.5, writeBackSec: 22.3, readOutageSec: 21, writeOutageSec: 22, samples: { reads: 30, writes: 30 } } },
        phases: { "fence-confirmed": 4.1, "mmp-wait": 9.8, "pool-imported": 10.2, "grace-started": 11, "grace-ended": 21 },
        mmpWaitSec: 5.1,
        mmpModelSec: 5,
        graceSec: 10,
      },
      lock: { state: "reclaimed", detail: "reclaimed after 11.2 s", reclaimedSec: 11.2, heldAtEnd: true },
      dataLoss: { acknowledged: 300, lost: 0, lostRecords: [], seedIntact: true, detail: "intact" },
      expectations: [{ metric: "nfs4-write-back", limit: 15, plusMmp: true, from: "command line", text: "nfs4-write-back=mmp+15s", value: 22.3, ok: false }],
      checks: [{ name: "target nfs4-write-back=mmp+15s", ok: false, detail: "22.3 (command line)" }],
      ok: false,
    } as unknown as DrillReport;
    const md = drillMarkdown(report);
    expect(md).toContain("| NFSv3 | 11.6 s | 21.4 s | 11.2 s | 21 s |");
    expect(md).toContain("| NFSv4 | 21.5 s | 22.3 s | 21 s | 22 s |");
    expect(md).toContain("| MMP activity check ended | 9.8 |");
    expect(md).toContain("| nfs4-write-back=mmp+15s | MISSED: nfs4-write-back: 22.3 s > 20 s (MMP wait 5 s + 15 s) (command line) |");
    expect(md).toContain("MMP activity check: 5.1 s (the site's settings give 5 s). Grace period: 10 s at most.");
    const html = drillHtml(report);
    const svg = html.match(/<svg[\s\S]*<\/svg>/)![0];
    expect(Object.keys(create(svg).end({ format: "object" }) as object)).toEqual(["svg"]);
    expect(svg.match(/<circle /g)).toHaveLength(6);
    // The spans: the MMP wait, the pool import, grace; each protocol's outages.
    expect(svg).toContain("<title>MMP activity check of tank: 5.1 s: 4.7–9.8 s</title>");
    expect(svg).toContain("<title>grace period: 11.0–21.0 s</title>");
    expect(svg).toContain("<title>NFSv4 writes down 22 s</title>");
  });
});

describe("power-off drills and the cluster's own fencing", () => {
  /** A cluster that records the commands and answers crm_attribute's query as told. */
  const fake = (current?: string) => {
    const commands: string[] = [];
    const cluster = {
      exec: async (command: string) => {
        commands.push(command);
        return current === undefined ? { stdout: "", code: 105 } : { stdout: `${current}\n`, code: 0 };
      },
      run: async (command: string) => {
        commands.push(command);
        return "";
      },
    } as unknown as DrillCluster;
    return { cluster, commands };
  };

  it("sets stonith-action off for the drill and deletes it again when the site had none (once, however often asked)", async () => {
    const { cluster, commands } = fake();
    const restore = await holdStonithActionOff(cluster);
    expect(commands).toEqual(["crm_attribute --type crm_config --name stonith-action --query --quiet", "crm_attribute --type crm_config --name stonith-action --update off"]);
    await restore();
    await restore();
    expect(commands.slice(2)).toEqual(["crm_attribute --type crm_config --name stonith-action --delete"]);
  });

  it("puts back the value the cluster had, quoted", async () => {
    const { cluster, commands } = fake("reboot");
    await (await holdStonithActionOff(cluster))();
    expect(commands.at(-1)).toBe("crm_attribute --type crm_config --name stonith-action --update 'reboot'");
  });
});
