/**
 * Fault windows, in the spirit of the ExaNeSt fault injection tool: a plan file lists network
 * faults, each with a type, where it applies (between nodes, the cluster link, the client
 * network), a window in milliseconds from the plan's start, and the outcome the plan expects
 * (nobody fenced, the minority fenced, NFS stalls no longer than N s). The drill runs the plan
 * under load (its probes and steady writer) and judges the outcome.
 *
 * Injection: real hosts get `tc netem` (every type); the namespace lab gets what this kernel
 * offers: iptables (`-m statistic` random loss, partitions) in the nodes' network namespaces and
 * `ip link set down/up` for flaps. The netem qdisc is missing here, so the lab refuses delay,
 * duplicate, corrupt and reorder faults and says so.
 * @see shared/seeds/002_4ef4b757e20a64b3.txt, section 6.3.2 (ExaNeSt fault injection)
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { z } from "zod";
import { shQuote } from "../../common/shell.js";
import { DrillError } from "./error.js";

export const FAULT_TYPES = ["drop", "partition", "flap", "delay", "duplicate", "corrupt", "reorder"] as const;
export type FaultType = (typeof FAULT_TYPES)[number];

/** Who a fault is between: a node by name, the node holding the drilled group, the other nodes, or the NFS client. */
const Endpoint = z.string().regex(/^(holder|others|client|[A-Za-z][A-Za-z0-9_.-]*)$/, { error: (iss) => `must be a node name, holder, others or client, got ${JSON.stringify(iss.input)}` });

const FaultSchema = z
  .strictObject({
    type: z.enum(FAULT_TYPES).describe("drop (ratio), partition (one-way or both ways), flap (a link down and up), delay, duplicate, corrupt, reorder (netem only)"),
    link: z.enum(["cluster", "client"]).optional().describe("cluster: every node-to-node packet; client: every packet between the NFS client and the nodes. Or give from/to."),
    from: Endpoint.optional(),
    to: Endpoint.optional(),
    direction: z.enum(["both", "one-way"]).default("both").describe("one-way: only packets from `from` to `to`"),
    ratio: z.number().gt(0).max(1).optional().describe("drop, duplicate, corrupt, reorder: the share of packets"),
    delayMs: z.int().min(1).max(60_000).optional().describe("delay, reorder: the delay"),
    node: Endpoint.optional().describe("flap: the node whose interface goes down and up"),
    downMs: z.int().min(10).max(60_000).optional(),
    upMs: z.int().min(10).max(60_000).optional(),
    startMs: z.int().min(0),
    endMs: z.int().min(1),
  })
  .superRefine((f, ctx) => {
    const add = (message: string) => ctx.addIssue({ code: "custom", message });
    if (f.endMs <= f.startMs) add(`endMs (${f.endMs}) must be after startMs (${f.startMs})`);
    if (f.type === "flap") {
      if (!f.node) add("a flap needs node (whose link goes down and up)");
      if (!f.downMs || !f.upMs) add("a flap needs downMs and upMs");
    } else {
      if (!f.link && !(f.from && f.to)) add("give link (cluster or client) or from and to");
      if (f.link && (f.from || f.to)) add("give link or from/to, not both");
    }
    if (["drop", "duplicate", "corrupt"].includes(f.type) && f.ratio === undefined) add(`a ${f.type} fault needs ratio (0 to 1)`);
    if (["delay", "reorder"].includes(f.type) && f.delayMs === undefined) add(`a ${f.type} fault needs delayMs`);
  });

const OutcomeSchema = z.strictObject({
  fenced: z.union([z.enum(["none", "minority", "holder"]), z.array(z.string()).min(1)]).describe("who must be fenced: none, the minority side of the plan's partitions, the holder, or these nodes"),
  groupMoves: z.boolean().optional().describe("whether the drilled NFS group must end up on another node"),
  nfsStallMaxSec: z.number().positive().optional().describe("no protocol's reads or writes may stall longer"),
  ackedWritesLost: z.int().min(0).default(0).describe("acknowledged stable writes that may be lost"),
});

export const FaultPlanSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  description: z.string().default(""),
  /** How long the drill watches after the plan starts (at least until the last fault ends). */
  observeMs: z.int().min(1000).max(600_000),
  faults: z.array(FaultSchema).min(1),
  expect: OutcomeSchema,
});

export type FaultSpec = z.output<typeof FaultSchema>;
export type FaultPlan = z.output<typeof FaultPlanSchema>;

/** Reads a plan file (YAML or JSON); every problem with its field path. */
export function loadFaultPlan(file: string): FaultPlan {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new DrillError(`cannot read the fault plan ${file}: ${(e as Error).message}`);
  }
  const r = FaultPlanSchema.safeParse(raw);
  if (!r.success) {
    throw new DrillError(`the fault plan ${file} is invalid: ${r.error.issues.map((i) => `${i.path.join(".") || "(top)"}: ${i.message}`).join("; ")}`);
  }
  for (const f of r.data.faults) {
    if (f.endMs > r.data.observeMs) throw new DrillError(`the fault plan ${file} is invalid: a fault ends at ${f.endMs} ms, after observeMs (${r.data.observeMs})`);
  }
  return r.data;
}

/** Where the plan's endpoints are: node cluster addresses, the client's address, each node's interface. */
export interface FaultTopology {
  readonly nodes: readonly { readonly name: string; readonly address: string; readonly iface: string }[];
  readonly client: string;
  readonly holder: string;
}

/** A fault made concrete: which node applies which rule (the lab never touches this machine's own tables). */
export interface RuleSet {
  /** Per node: iptables rules (arguments after `-A CHAIN`) in its network namespace. */
  readonly iptables: Record<string, string[][]>;
}

const nodesOf = (t: FaultTopology, e: string): string[] => {
  if (e === "holder") return [t.holder];
  if (e === "others") return t.nodes.map((n) => n.name).filter((n) => n !== t.holder);
  if (e === "client") return [];
  if (!t.nodes.some((n) => n.name === e)) throw new DrillError(`the fault plan names ${e}, which is not a node of the site (${t.nodes.map((n) => n.name).join(", ")})`);
  return [e];
};

/**
 * iptables rules for a drop or partition, each applied once per packet: on the receiving node's
 * INPUT, or on the sending node's OUTPUT when the client receives (this machine's tables stay
 * untouched). The drill's own SSH to the nodes is spared, so it keeps watching.
 */
export function iptablesRules(f: FaultSpec, t: FaultTopology): RuleSet {
  if (f.type !== "drop" && f.type !== "partition") throw new DrillError(`iptables cannot make a ${f.type} fault`);
  const rules: Record<string, string[][]> = {};
  const add = (node: string, rule: string[]) => (rules[node] ??= []).push(rule);
  const addr = (n: string) => t.nodes.find((x) => x.name === n)!.address;
  const drop = f.type === "drop" ? ["-m", "statistic", "--mode", "random", "--probability", String(f.ratio), "-j", "DROP"] : ["-j", "DROP"];
  /** Packets from `a` to `b` (each a node name or "client"). */
  const pair = (a: string, b: string) => {
    if (a === b) return;
    if (b !== "client") add(b, ["INPUT", "-s", a === "client" ? t.client : addr(a), ...drop]);
    else if (a !== "client") add(a, ["OUTPUT", "-d", t.client, ...drop]);
  };
  const names = t.nodes.map((n) => n.name);
  const ends = (e: string) => (e === "client" ? ["client"] : nodesOf(t, e));
  let pairs: [string, string][];
  if (f.link === "cluster") pairs = names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b] as [string, string]));
  else if (f.link === "client") pairs = names.flatMap((n) => [["client", n], [n, "client"]] as [string, string][]);
  else {
    const from = ends(f.from!);
    const to = ends(f.to!);
    pairs = from.flatMap((a) => to.map((b) => [a, b] as [string, string]));
    if (f.direction === "both") pairs = [...pairs, ...pairs.map(([a, b]) => [b, a] as [string, string])];
  }
  for (const [a, b] of pairs) pair(a, b);
  // The drill's SSH from the client to the nodes (and its answers) is never cut.
  for (const node of Object.keys(rules)) {
    if (rules[node]!.some((r) => r.includes(t.client))) {
      rules[node]!.unshift(["INPUT", "-s", t.client, "-p", "tcp", "--dport", "22", "-j", "RETURN"], ["OUTPUT", "-d", t.client, "-p", "tcp", "--sport", "22", "-j", "RETURN"]);
    }
  }
  return { iptables: rules };
}

/** The netem options of a fault (`loss 30.00%`, `delay 200ms`), as separate words. */
function netemArgs(f: FaultSpec): string[] {
  const pct = (r: number) => `${(r * 100).toFixed(2)}%`;
  switch (f.type) {
    case "drop":
      return ["loss", pct(f.ratio!)];
    case "delay":
      return ["delay", `${f.delayMs}ms`];
    case "duplicate":
      return ["duplicate", pct(f.ratio!)];
    case "corrupt":
      return ["corrupt", pct(f.ratio!)];
    case "reorder":
      return ["delay", `${f.delayMs}ms`, "reorder", pct(f.ratio ?? 0.25)];
    case "partition":
      return ["loss", "100%"];
    default:
      throw new DrillError(`tc netem does not make a ${f.type} fault: flaps are ip link set down/up`);
  }
}

/**
 * `tc netem` commands for real hosts (one qdisc tree per node and interface): a prio qdisc whose
 * third band holds netem, and u32 filters steering the packets to the fault's peers into it.
 * Every value from the site or the plan (interface, netem options, addresses) is one shell word
 * (shQuote): the commands run through SSH's shell on the node.
 */
export function netemCommands(f: FaultSpec, t: FaultTopology): Record<string, { start: string[]; stop: string[] }> {
  const netem = netemArgs(f).map(shQuote).join(" ");
  const out: Record<string, { start: string[]; stop: string[] }> = {};
  const names = t.nodes.map((n) => n.name);
  const ends = (e: string) => (e === "client" ? ["client"] : nodesOf(t, e));
  const pairs: [string, string][] =
    f.link === "cluster"
      ? names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b] as [string, string]))
      : f.link === "client"
        ? names.map((n) => [n, "client"] as [string, string])
        : ends(f.from!).flatMap((a) => ends(f.to!).map((b) => [a, b] as [string, string]));
  const both = f.direction === "both" && !f.link;
  const egress = both ? [...pairs, ...pairs.map(([a, b]) => [b, a] as [string, string])] : pairs;
  const byNode = new Map<string, string[]>();
  for (const [a, b] of egress) {
    if (a === "client") continue;
    const dst = b === "client" ? t.client : t.nodes.find((n) => n.name === b)!.address;
    byNode.set(a, [...(byNode.get(a) ?? []), dst]);
  }
  for (const [node, dsts] of byNode) {
    const dev = shQuote(t.nodes.find((n) => n.name === node)!.iface);
    out[node] = {
      start: [
        `tc qdisc add dev ${dev} root handle 1: prio`,
        `tc qdisc add dev ${dev} parent 1:3 handle 30: netem ${netem}`,
        ...[...new Set(dsts)].map((d) => `tc filter add dev ${dev} protocol ip parent 1:0 prio 3 u32 match ip dst ${shQuote(`${d}/32`)} flowid 1:3`),
      ],
      stop: [`tc qdisc del dev ${dev} root`],
    };
  }
  return out;
}

/**
 * A flap on a real host: the interface goes down for downMs and up for upMs, in a bounded loop run
 * in the background on the node (its SSH may go through that interface), its PID in `pidFile`;
 * the loop brings the link up at its end whatever happens to the drill.
 */
export function flapCommands(f: FaultSpec, iface: string, pidFile: string): { start: string; stop: string } {
  const cycles = Math.max(1, Math.ceil((f.endMs - f.startMs) / (f.downMs! + f.upMs!)));
  const dev = shQuote(iface);
  const loop = `i=0; while [ "$i" -lt ${cycles} ]; do ip link set dev ${dev} down; sleep ${(f.downMs! / 1000).toFixed(3)}; ip link set dev ${dev} up; sleep ${(f.upMs! / 1000).toFixed(3)}; i=$((i + 1)); done`;
  return {
    start: `nohup sh -c ${shQuote(loop)} > /dev/null 2>&1 & echo $! > ${shQuote(pidFile)}`,
    stop: `kill "$(cat ${shQuote(pidFile)} 2> /dev/null)" 2> /dev/null; rm -f ${shQuote(pidFile)}; ip link set dev ${dev} up`,
  };
}

/**
 * Faults on real hosts: tc netem for every packet fault, ip link for flaps, each command run on
 * its node as root through `run` (the drill's SSH). One netem tree per node and interface: two
 * packet faults on one node at the same time are refused by tc (the second does not start, and
 * the report says so).
 */
export class NetemFaultInjector implements FaultInjector {
  constructor(
    private readonly run: (host: string, command: string) => Promise<unknown>,
    private readonly pidFile = "/run/hpcdk-drill-flap.pid",
  ) {}

  unsupported(): string | undefined {
    return undefined;
  }

  private flapOf(f: FaultSpec, t: FaultTopology): { node: string; cmds: { start: string; stop: string } }[] {
    return nodesOf(t, f.node!).map((node) => ({ node, cmds: flapCommands(f, t.nodes.find((n) => n.name === node)!.iface, this.pidFile) }));
  }

  async start(f: FaultSpec, t: FaultTopology): Promise<void> {
    if (f.type === "flap") {
      for (const { node, cmds } of this.flapOf(f, t)) await this.run(node, cmds.start);
      return;
    }
    for (const [node, c] of Object.entries(netemCommands(f, t))) await this.run(node, c.start.join(" && "));
  }

  async stop(f: FaultSpec, t: FaultTopology): Promise<void> {
    if (f.type === "flap") {
      for (const { node, cmds } of this.flapOf(f, t)) await this.run(node, cmds.stop);
      return;
    }
    for (const [node, c] of Object.entries(netemCommands(f, t))) await this.run(node, c.stop.join(" && "));
  }

  async clear(t: FaultTopology): Promise<void> {
    for (const n of t.nodes) {
      const dev = shQuote(n.iface);
      await this.run(n.name, `tc qdisc del dev ${dev} root 2> /dev/null; kill "$(cat ${shQuote(this.pidFile)} 2> /dev/null)" 2> /dev/null; rm -f ${shQuote(this.pidFile)}; ip link set dev ${dev} up; true`).catch(() => undefined);
    }
  }
}

/** Makes and removes faults on the nodes. */
export interface FaultInjector {
  /** The fault types this injector cannot make, each with why. */
  unsupported(type: FaultType): string | undefined;
  start(f: FaultSpec, t: FaultTopology): Promise<void>;
  stop(f: FaultSpec, t: FaultTopology): Promise<void>;
  /** Removes every fault left (the plan ended, or the drill failed). */
  clear(t: FaultTopology): Promise<void>;
}

/** What happened during a plan, for the report. */
export interface FaultPlanResult {
  readonly name: string;
  readonly description: string;
  readonly applied: { readonly fault: FaultSpec; readonly startedMs?: number; readonly endedMs?: number; readonly note?: string }[];
  readonly fenced: string[];
  readonly expectedFenced: string[];
  readonly groupMoved: boolean;
  readonly longestStallSec: number;
}

/** The nodes a plan expects fenced: the smaller side of its first partition, the holder, the list, or none. */
export function expectedFenced(plan: FaultPlan, t: FaultTopology): string[] {
  const e = plan.expect.fenced;
  if (e === "none") return [];
  if (e === "holder") return [t.holder];
  if (Array.isArray(e)) return [...e].sort();
  const p = plan.faults.find((f) => f.type === "partition" && f.from && f.to && f.from !== "client" && f.to !== "client");
  if (!p) throw new DrillError(`the plan ${plan.name} expects the minority fenced, but has no partition between nodes`);
  const a = nodesOf(t, p.from!);
  const b = nodesOf(t, p.to!);
  return (a.length < b.length ? a : b).sort();
}
