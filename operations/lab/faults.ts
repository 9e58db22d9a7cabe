/**
 * Network faults in the namespace lab: iptables rules in chains of their own (HPCDK-FAULT-IN and
 * -OUT) in the
 * nodes' network namespaces, and link flaps with `ip link set`. This machine's own tables are
 * never touched. The lab's kernel has no netem qdisc: delay, duplicate, corrupt and reorder
 * cannot be made here (real hosts get them from `tc netem`).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { iptablesRules, type FaultInjector, type FaultSpec, type FaultTopology, type FaultType } from "../drill/faults.js";
import type { LabState } from "./lab.js";

const CHAIN = "HPCDK-FAULT";

export class LabFaultInjector implements FaultInjector {
  private readonly flaps = new Map<FaultSpec, { stop: boolean; done: Promise<void> }>();
  private readonly chained = new Set<string>();

  constructor(private readonly lab: LabState) {}

  unsupported(type: FaultType): string | undefined {
    if (["delay", "duplicate", "corrupt", "reorder"].includes(type)) {
      return `the namespace lab cannot make ${type} faults: this kernel has no netem qdisc (tc qdisc add ... netem: "qdisc kind is unknown"); real hosts make them with tc netem`;
    }
    return undefined;
  }

  private netns(node: string): string {
    const n = this.lab.nodes.find((x) => x.name === node);
    if (!n) throw new Error(`lab ${this.lab.site} has no node ${node}`);
    return n.netns;
  }

  private ipt(node: string, args: string[]): void {
    execFileSync("ip", ["netns", "exec", this.netns(node), "iptables", "-w", "5", ...args], { stdio: ["ignore", "ignore", "pipe"] });
  }

  /** The fault chains, jumped to first from INPUT and OUTPUT (made again on a node that rebooted). */
  private ensureChains(node: string): void {
    const ns = this.netns(node);
    for (const [chain, from] of [[`${CHAIN}-IN`, "INPUT"], [`${CHAIN}-OUT`, "OUTPUT"]] as const) {
      const has = spawnSync("ip", ["netns", "exec", ns, "iptables", "-w", "5", "-n", "-L", chain], { stdio: "ignore" }).status === 0;
      if (!has) {
        this.ipt(node, ["-N", chain]);
        this.ipt(node, ["-I", from, "1", "-j", chain]);
      }
    }
    this.chained.add(node);
  }

  /** The plan's rules, each in the fault chain of its direction. */
  private lines(f: FaultSpec, t: FaultTopology): Record<string, string[][]> {
    const set = iptablesRules(f, t).iptables;
    return Object.fromEntries(Object.entries(set).map(([node, rules]) => [node, rules.map(([chain, ...rest]) => [`${CHAIN}-${chain === "INPUT" ? "IN" : "OUT"}`, ...rest])]));
  }

  async start(f: FaultSpec, t: FaultTopology): Promise<void> {
    if (f.type === "flap") {
      const node = this.lab.nodes.find((n) => n.name === (f.node === "holder" ? t.holder : f.node));
      if (!node) throw new Error(`lab ${this.lab.site} has no node ${f.node}`);
      const iface = node.interfaces[0]!.name;
      const state = { stop: false, done: Promise.resolve() };
      state.done = (async () => {
        while (!state.stop) {
          spawnSync("ip", ["-n", node.netns, "link", "set", iface, "down"], { stdio: "ignore" });
          await sleep(f.downMs!);
          spawnSync("ip", ["-n", node.netns, "link", "set", iface, "up"], { stdio: "ignore" });
          if (state.stop) break;
          await sleep(f.upMs!);
        }
        spawnSync("ip", ["-n", node.netns, "link", "set", iface, "up"], { stdio: "ignore" });
      })();
      this.flaps.set(f, state);
      return;
    }
    for (const [node, rules] of Object.entries(this.lines(f, t))) {
      this.ensureChains(node);
      for (const r of rules) this.ipt(node, ["-A", ...r]);
    }
  }

  async stop(f: FaultSpec, t: FaultTopology): Promise<void> {
    if (f.type === "flap") {
      const s = this.flaps.get(f);
      if (s) {
        s.stop = true;
        await s.done;
        this.flaps.delete(f);
      }
      return;
    }
    for (const [node, rules] of Object.entries(this.lines(f, t))) {
      // A node fenced during the fault came back with fresh tables: nothing to remove there.
      for (const r of rules) spawnSync("ip", ["netns", "exec", this.netns(node), "iptables", "-w", "5", "-D", ...r], { stdio: "ignore" });
    }
  }

  async clear(_t: FaultTopology): Promise<void> {
    for (const [f, s] of this.flaps) {
      s.stop = true;
      await s.done;
      this.flaps.delete(f);
    }
    for (const node of this.chained) {
      for (const chain of [`${CHAIN}-IN`, `${CHAIN}-OUT`]) spawnSync("ip", ["netns", "exec", this.netns(node), "iptables", "-w", "5", "-F", chain], { stdio: "ignore" });
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
