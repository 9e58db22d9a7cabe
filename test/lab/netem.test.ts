/**
 * The real-host fault injector's commands (tc netem for packet faults, ip link for flaps), run in
 * network namespaces as a node's shell would run them over SSH. This kernel has neither the
 * netem nor the prio qdisc ("Specified qdisc kind is unknown"), so for packet faults the test
 * checks what can be checked here: tc accepts every command line (its own parser, which knows
 * netem's options, finds nothing wrong) and only the kernel refuses; where the kernel has the
 * qdiscs, the commands must succeed and the qdisc tree must be there and go again. Flaps run in
 * full: the interface goes down and up in a bounded loop, and stop/clear leave it up. Needs root
 * (namespaces); run under the lab lock.
 */
import { spawnSync } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flapCommands, netemCommands, NetemFaultInjector, type FaultSpec, type FaultTopology } from "../../operations/drill/faults.js";

const isRoot = process.getuid?.() === 0;
const NS = { m1: "hpcdk-netem-m1", m2: "hpcdk-netem-m2" } as const;
const T: FaultTopology = {
  nodes: [
    { name: "m1", address: "10.77.0.1", iface: "eth0" },
    { name: "m2", address: "10.77.0.2", iface: "eth0" },
  ],
  client: "10.77.0.9",
  holder: "m1",
};

/** A command on a "node" (its namespace) through sh, as SSH runs it. */
const sh = (node: string, command: string) => spawnSync("ip", ["netns", "exec", NS[node as keyof typeof NS], "sh", "-c", command], { encoding: "utf8", timeout: 10_000 });
const run = async (node: string, command: string) => {
  const r = sh(node, command);
  if (r.status !== 0) throw new Error(`${node}: ${command}: exit ${r.status}: ${r.stderr}`);
  return r.stdout;
};
const linkUp = (node: string) => /state UP|,UP/.test(sh(node, "ip -o link show dev eth0").stdout);
const kernelHas = (qdisc: string) => sh("m1", `tc qdisc add dev lo root handle 9: ${qdisc} && tc qdisc del dev lo root`).status === 0;

describe.skipIf(!isRoot)("tc netem and ip link on real hosts (the injector's commands, run in namespaces)", () => {
  beforeAll(() => {
    for (const ns of Object.values(NS)) spawnSync("ip", ["netns", "del", ns]);
    for (const ns of Object.values(NS)) expect(spawnSync("ip", ["netns", "add", ns]).status).toBe(0);
    const cmds = [
      ["ip", "-n", NS.m1, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", NS.m2],
      ["ip", "-n", NS.m1, "addr", "add", "10.77.0.1/24", "dev", "eth0"],
      ["ip", "-n", NS.m2, "addr", "add", "10.77.0.2/24", "dev", "eth0"],
      ["ip", "-n", NS.m1, "link", "set", "eth0", "up"],
      ["ip", "-n", NS.m2, "link", "set", "eth0", "up"],
      ["ip", "-n", NS.m1, "link", "set", "lo", "up"],
    ];
    for (const c of cmds) expect(spawnSync(c[0]!, c.slice(1), { encoding: "utf8" }).stderr).toBe("");
  });

  afterAll(() => {
    for (const ns of Object.values(NS)) spawnSync("ip", ["netns", "del", ns]);
    expect(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout).not.toContain("hpcdk-netem-");
  });

  const packetFaults: FaultSpec[] = [
    { type: "drop", link: "cluster", ratio: 0.3, direction: "both", startMs: 0, endMs: 1 },
    { type: "partition", from: "holder", to: "others", direction: "one-way", startMs: 0, endMs: 1 },
    { type: "delay", from: "m1", to: "m2", direction: "both", delayMs: 200, startMs: 0, endMs: 1 },
    { type: "duplicate", link: "client", ratio: 0.05, direction: "both", startMs: 0, endMs: 1 },
    { type: "corrupt", link: "cluster", ratio: 0.01, direction: "both", startMs: 0, endMs: 1 },
    { type: "reorder", link: "cluster", ratio: 0.25, delayMs: 50, direction: "both", startMs: 0, endMs: 1 },
  ];

  for (const f of packetFaults) {
    it(`${f.type}: tc parses every command; the kernel applies the tree and it goes again, or only the kernel refuses (this one has no netem/prio qdisc)`, async () => {
      const cmds = netemCommands(f, T);
      expect(Object.keys(cmds).length).toBeGreaterThan(0);
      for (const [node, c] of Object.entries(cmds)) {
        if (kernelHas("prio") && kernelHas("netem")) {
          await run(node, c.start.join(" && "));
          expect(sh(node, "tc qdisc show dev eth0").stdout).toMatch(/qdisc netem 30:/);
          await run(node, c.stop.join(" && "));
          expect(sh(node, "tc qdisc show dev eth0").stdout).not.toMatch(/netem|prio/);
        } else {
          for (const command of c.start) {
            const r = sh(node, command);
            // tc's own parser (exit 1: "What is", "Illegal", a usage text) found nothing; the kernel said no.
            expect(r.stderr, command).not.toMatch(/What is|Illegal|Usage|Unknown|invalid/);
            expect(r.status, `${command}: ${r.stderr}`).toBe(2);
            expect(r.stderr, command).toMatch(/^Error: (Specified qdisc kind is unknown|Failed to find specified qdisc|Parent Qdisc doesn't exists)|error talking to the kernel/m);
          }
        }
      }
    });
  }

  it("tc's parser does fail a bad netem option (the check above can fail)", () => {
    const r = sh("m1", "tc qdisc add dev eth0 parent 1:3 handle 30: netem 'lossy' '30.00%'");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/What is "lossy"/);
  });

  it("flap: the holder's link goes down and up in a bounded loop; stop and clear leave it up", async () => {
    const injector = new NetemFaultInjector(run, "/run/hpcdk-netem-test-flap.pid");
    const flap: FaultSpec = { type: "flap", node: "holder", downMs: 300, upMs: 300, direction: "both", startMs: 0, endMs: 1800 };
    expect(flapCommands(flap, "eth0", "/x").start).toContain('-lt 3 ]');
    expect(linkUp("m1")).toBe(true);
    await injector.start(flap, T);
    // Sample the link for a second: it must be seen down and up.
    const seen = new Set<boolean>();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      seen.add(linkUp("m1"));
      spawnSync("sleep", ["0.05"]);
    }
    expect([...seen].sort()).toEqual([false, true]);
    await injector.stop(flap, T);
    expect(linkUp("m1")).toBe(true);
    expect(sh("m1", "test -e /run/hpcdk-netem-test-flap.pid").status).not.toBe(0);
    // The loop is gone: the link stays up.
    spawnSync("sleep", ["0.7"]);
    expect(linkUp("m1")).toBe(true);
    // A flap left running (the drill died) ends by itself, link up; clear ends it at once.
    await injector.start({ ...flap, endMs: 60_000 }, T);
    const loop = Number(sh("m1", "cat /run/hpcdk-netem-test-flap.pid").stdout);
    expect(loop).toBeGreaterThan(1);
    await injector.clear(T);
    spawnSync("sleep", ["0.7"]);
    expect(linkUp("m1")).toBe(true);
    const stat = spawnSync("cat", [`/proc/${loop}/stat`], { encoding: "utf8" }).stdout;
    expect(stat === "" || / [ZX] /.test(stat), stat).toBe(true);
  });
});
