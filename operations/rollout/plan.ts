/**
 * The rollout plan: from what each host holds and the new synthesis, the ordered waves of a
 * deploy — which hosts, what each wave does, the strategy for each management node and the NFS
 * interruption to expect — and the changes that need an outage, which the deploy refuses unless
 * `--allow-outage` is given. Pure: the hosts' answers are gathered elsewhere (./gather.ts for
 * live hosts, `hpcdk diff` from the base synthesis) and handed in.
 *
 * Order (DESIGN.md, invariants; issue 15):
 * 1. outage: only with `--allow-outage`, every management node together;
 * 2. cluster-wide corosync settings: corosync.conf on every node, then one `corosync-cfgtool -R`;
 * 3. membership: joining nodes start once the others know them, leaving nodes are stopped first;
 * 4. management nodes, at most `maxUnavailable` at a time (never so many that quorum is lost),
 *    each with the least disruptive safe strategy: `files` (no daemon of the cluster restarts),
 *    `maintenance` (the cluster stack restarts under running resources: pacemaker, corosync,
 *    fence agents) or `standby` (the node's groups move away and back: what its
 *    resources run changes — ZFS, the NFS server, resource agents, the hostid);
 * 5. the CIB (the cluster bundle), once every node has its files;
 * 6. node groups, host by host up to their concurrency;
 * 7. Slurm, once every Slurm host has its files: `scontrol reconfigure`, or slurmctld then the
 *    slurmds restarted, or slurmdbd, slurmctld, slurmds after a database dump (./slurm.ts).
 */
import { IMPACT_KINDS, worstImpact, type Impact } from "../../common/contracts/impact.js";
import { corosyncChanges, parseCorosyncConf, type CorosyncChange } from "./corosync.js";
import { planSlurm, type SlurmRolloutInput, type SlurmStep } from "./slurm.js";

/** A file whose bytes on the host differ from the synthesis. */
export interface FileChange {
  readonly path: string;
  readonly change: "added" | "changed" | "removed";
  readonly impact: Impact;
}

/** A package whose installed version differs from the one the site pins. */
export interface PackageChange {
  readonly name: string;
  /** Installed now; null when it is not installed. */
  readonly from: string | null;
  readonly to: string;
}

/** What one host holds compared with its bundle of the new synthesis. */
export interface HostDelta {
  readonly host: string;
  /** `hosts/<host>` or `groups/<group>`. */
  readonly bundle: string;
  /**
   * - `current`: its marker is the new synthesis's: nothing to do;
   * - `changed`: it holds another (or no) bundle: `files` and `packages` say what differs;
   * - `new`: it holds no bundle of the site yet (a first deploy, or a node that joins);
   * - `unreachable`: it did not answer (the plan cannot say what it needs).
   */
  readonly state: "current" | "changed" | "new" | "unreachable";
  readonly files: readonly FileChange[];
  readonly packages: readonly PackageChange[];
  /** Why it did not answer. */
  readonly error?: string;
}

export interface RolloutInput {
  readonly site: string;
  /** Management nodes of the new synthesis, in node id order. */
  readonly managementNodes: readonly string[];
  /** Every management node's bundle, and a sample of each node group's hosts. */
  readonly hosts: readonly HostDelta[];
  /** corosync.conf as the cluster holds it now (null: not known) and as synthesized (null: none). */
  readonly corosync: { readonly old: string | null; readonly new: string | null };
  /** The CIB: `current` (the live CIB records this synthesis), `changed`, or `unknown`. */
  readonly cib: "current" | "changed" | "unknown" | "none";
  /** Management nodes down at once. @default 1 */
  readonly maxUnavailable?: number;
  /** Hosts of a node group at once. @default 32 */
  readonly groupConcurrency?: number;
  /** Groups (Pacemaker resource ids) each management node would give up in standby, as the scheduler says. */
  readonly standbyMoves?: Readonly<Record<string, readonly string[]>>;
  /** Slurm: its hosts and slurm.conf as the daemons run it and as synthesized (./slurm.ts). @default no Slurm wave */
  readonly slurm?: SlurmRolloutInput;
}

export type Strategy = "files" | "maintenance" | "standby";

export type WaveKind = "first" | "outage" | "together" | "membership" | "rolling" | "cib" | "group" | "slurm";

export interface Wave {
  /** 1-based, in the order the waves run. */
  readonly index: number;
  readonly kind: WaveKind;
  readonly hosts: readonly string[];
  /** The strategy of a management node's wave. */
  readonly strategy?: Strategy;
  /** What the wave does, in order. */
  readonly actions: readonly string[];
  /** Why: the changes behind it. */
  readonly reasons: readonly string[];
  /** The NFS interruption to expect. */
  readonly nfs: string;
  /** The Slurm wave's steps, which the deploy runs (./slurm.ts). */
  readonly slurmSteps?: readonly SlurmStep[];
  /** The together wave's corosync work, which the executor runs and checks (./execute.ts). */
  readonly corosync?: TogetherWork;
}

/** What the together wave makes corosync run: checked on every node afterwards. */
export interface TogetherWork {
  /** Totem keys that change → their new value (null: removed), as `corosync-cmapctl totem.<key>` shows it. */
  readonly totem: Readonly<Record<string, string | null>>;
}

/** A change that needs an outage, as the refusal names it. */
export interface OutageChange {
  readonly setting: string;
  readonly siteSetting?: string;
  readonly old?: string;
  readonly new?: string;
  readonly impact: string;
  readonly manualSteps: readonly string[];
}

export interface RolloutPlan {
  readonly site: string;
  readonly waves: readonly Wave[];
  /** Changes that need an outage: the deploy refuses them without `--allow-outage`. */
  readonly outages: readonly OutageChange[];
  /** Hosts that did not answer: the plan cannot say what they need. */
  readonly unreachable: readonly { readonly host: string; readonly error: string }[];
  readonly maxUnavailable: number;
  /** Nothing differs anywhere. */
  readonly upToDate: boolean;
}

/** Packages whose upgrade restarts the cluster stack only: the node's resources keep running under maintenance. */
export const MAINTENANCE_PACKAGES = /^(pacemaker|pacemaker-.*|libpacemaker.*|libcrmcommon.*|libcib.*|liblrmd.*|libpe-.*|libstonithd.*|corosync|libcorosync.*|libknet.*|libnozzle.*|libqb.*|libcfg.*|libcmap.*|libcpg.*|libquorum.*|libsam.*|libvotequorum.*|fence-agents.*|crmsh|pcs)$/;

/** Packages whose upgrade changes what the node's resources run: its groups move away first. */
export const STANDBY_PACKAGES = /^(resource-agents.*|zfsutils-linux|zfs-.*|libzfs.*|libzpool.*|nfs-ganesha.*|nfs-kernel-server|nfs-common|rpcbind|libntirpc.*)$/;

/** Files a running resource reads at its start or whose change the resource must see: standby. */
const STANDBY_FILES = /^(\/etc\/hostid|\/etc\/nfs\.conf(\.d\/.*)?|\/etc\/exports(\.d\/.*)?|\/etc\/ganesha\/.*|\/etc\/default\/nfs-.*)$/;

/** corosync's own files: their change is planned from corosync.conf's content. */
const COROSYNC_CONF = "/etc/corosync/corosync.conf";

const rank = (i: Impact) => IMPACT_KINDS.indexOf(i.kind);

/** The least disruptive safe strategy for a management node, and why. */
export function strategyOf(delta: HostDelta, quorumRestart: boolean): { strategy: Strategy; reasons: string[] } {
  const standby: string[] = [];
  const maintenance: string[] = [];
  for (const p of delta.packages) {
    const what = `package ${p.name} ${p.from ?? "(not installed)"} -> ${p.to}`;
    if (STANDBY_PACKAGES.test(p.name)) standby.push(`${what}: what the node's resources run`);
    else if (MAINTENANCE_PACKAGES.test(p.name)) maintenance.push(`${what}: the cluster stack`);
  }
  for (const f of delta.files) {
    if (f.path === COROSYNC_CONF) continue;
    if (f.impact.kind === "resource-move" || (f.impact.kind === "restart" && STANDBY_FILES.test(f.path))) standby.push(`${f.path}: ${f.impact.detail}`);
  }
  if (quorumRestart) maintenance.push("quorum.two_node changes (read at start): corosync restarts on it");
  if (standby.length > 0) return { strategy: "standby", reasons: [...standby, ...maintenance] };
  if (maintenance.length > 0) return { strategy: "maintenance", reasons: maintenance };
  return { strategy: "files", reasons: delta.files.map((f) => `${f.path}: ${f.impact.kind} (${f.impact.detail})`) };
}

/**
 * The most management nodes that can be down at once without losing quorum: with votequorum a
 * partition needs more than half the votes (`two_node` keeps quorum with one of two).
 */
export function quorumSafeUnavailable(nodes: number): number {
  if (nodes <= 2) return 1;
  return Math.max(1, nodes - (Math.floor(nodes / 2) + 1));
}

const MANUAL_OUTAGE = [
  "announce the outage: NFS stops on every login and compute node",
  "put the cluster in maintenance (pcs property set maintenance-mode=true), stop the NFS groups' clients' jobs",
  "stop pacemaker, then corosync, on every management node",
  "hpcdk deploy --allow-outage (the new files reach every node)",
  "start corosync, then pacemaker, on every management node; pcs property set maintenance-mode=false",
  "check: crm_mon -1 shows every node online and every group started, no failed actions",
];

/** The plan. */
export function planRollout(input: RolloutInput): RolloutPlan {
  const management = new Set(input.managementNodes);
  const maxUnavailable = Math.min(input.maxUnavailable ?? 1, quorumSafeUnavailable(input.managementNodes.length));
  const unreachable = input.hosts.filter((h) => h.state === "unreachable").map((h) => ({ host: h.host, error: h.error ?? "did not answer" }));
  const changed = input.hosts.filter((h) => h.state === "changed");
  const fresh = input.hosts.filter((h) => h.state === "new");
  const waves: Omit<Wave, "index">[] = [];
  const outages: OutageChange[] = [];
  // Hosts that hold nothing of the site yet run no cluster: they get everything at once.
  const joining = corosyncJoining(input);
  const firstDeploy = fresh.filter((h) => !joining.has(h.host));
  if (firstDeploy.length > 0) {
    waves.push({
      kind: "first",
      hosts: firstDeploy.map((h) => h.host),
      actions: ["packages, files and handlers on every host at once (nothing of the site runs there yet)"],
      reasons: firstDeploy.map((h) => `${h.host}: holds no bundle of the site (${h.bundle})`),
      nfs: "none (not serving yet)",
    });
  }

  // corosync.conf: what changes in corosync's terms (every node shares one file).
  let corosync: CorosyncChange[] = [];
  if (input.corosync.old !== null && input.corosync.new !== null && input.corosync.old !== input.corosync.new) {
    corosync = corosyncChanges(parseCorosyncConf(input.corosync.old), parseCorosyncConf(input.corosync.new));
  }
  for (const c of corosync.filter((c) => c.kind === "outage")) {
    outages.push({ setting: c.setting, ...(c.siteSetting ? { siteSetting: c.siteSetting } : {}), ...(c.old !== undefined ? { old: c.old } : {}), ...(c.new !== undefined ? { new: c.new } : {}), impact: c.detail, manualSteps: MANUAL_OUTAGE });
  }
  // Files whose own declared impact is an outage (the corosync authkey: every node at once).
  const outageFiles = new Map<string, { impact: Impact; hosts: string[] }>();
  for (const h of changed) {
    for (const f of h.files.filter((f) => f.impact.kind === "outage" && f.path !== COROSYNC_CONF)) {
      const entry = outageFiles.get(f.path) ?? { impact: f.impact, hosts: [] };
      entry.hosts.push(h.host);
      outageFiles.set(f.path, entry);
    }
  }
  for (const [path, { impact, hosts }] of [...outageFiles].sort(([a], [b]) => (a < b ? -1 : 1))) {
    outages.push({ setting: path, impact: `${impact.detail} (on ${hosts.join(", ")})`, manualSteps: MANUAL_OUTAGE });
  }
  if (outages.length > 0) {
    waves.push({
      kind: "outage",
      hosts: input.managementNodes,
      actions: ["stop pacemaker, then corosync, on every management node", "apply every node's files and packages", "start corosync, then pacemaker, on every node", "wait until the cluster has settled"],
      reasons: outages.map((o) => `${o.setting}${o.siteSetting ? ` (${o.siteSetting})` : ""}: ${o.impact}`),
      nfs: "down on every client until the cluster is back (needs --allow-outage)",
    });
  }

  const together = corosync.filter((c) => c.kind === "together");
  if (together.length > 0 && outages.length === 0) {
    const totem = Object.fromEntries(together.map((c) => [c.setting.replace(/^totem\./, ""), c.new ?? null]));
    waves.push({
      kind: "together",
      hosts: input.managementNodes,
      actions: [
        "every management node's bundle, corosync.conf's reload held back (the node's other handlers run)",
        "corosync-cfgtool -R once, from one node, after every node has the file",
        "check on every node that corosync runs the new values (corosync-cmapctl, corosync-cfgtool -s)",
      ],
      reasons: together.map((c) => `${c.setting}: ${c.old ?? "-"} -> ${c.new ?? "-"}`),
      nfs: "none",
      corosync: { totem },
    });
  }
  const membership = corosync.filter((c) => c.kind === "membership");
  if (membership.length > 0 && outages.length === 0) {
    const joining = membership.filter((c) => c.new !== undefined && c.old === undefined && c.node).map((c) => c.node!);
    const leaving = membership.filter((c) => c.old !== undefined && c.new === undefined && c.node).map((c) => c.node!);
    waves.push({
      kind: "membership",
      hosts: [...leaving, ...joining],
      actions: [
        ...leaving.map((n) => `${n}: standby until its groups have moved, stop pacemaker then corosync`),
        "corosync.conf to the staying nodes, corosync-cfgtool -R (they learn the new node list)",
        ...leaving.map((n) => `${n}: crm_node --force --remove ${n}; fence device host lists follow in the CIB`),
        ...joining.map((n) => `${n}: files and packages, then corosync and pacemaker start (the others know it now)`),
        ...membership.filter((c) => c.setting.startsWith("quorum.")).map((c) => `${c.setting} ${c.old ?? "-"} -> ${c.new ?? "-"}: every node restarts, one at a time under maintenance`),
      ],
      reasons: membership.map((c) => `${c.setting}: ${c.detail}`),
      nfs: leaving.length > 0 ? "the leaving nodes' groups move once (standby)" : "none",
    });
  }

  // Management nodes, one wave per maxUnavailable nodes, least disruptive first.
  const quorumRestart = corosync.some((c) => c.setting === "quorum.two_node");
  const rolling = input.managementNodes
    .map((host) => {
      const found = changed.find((h) => h.host === host && h.bundle === `hosts/${host}`);
      // corosync.conf itself goes in the cluster-wide or membership wave when corosync's content changes.
      const delta = found && corosync.length > 0 ? { ...found, files: found.files.filter((f) => f.path !== COROSYNC_CONF) } : found;
      const empty = !delta || (delta.files.length === 0 && delta.packages.length === 0);
      if (empty && !quorumRestart) return undefined;
      const d: HostDelta = delta ?? { host, bundle: `hosts/${host}`, state: "changed", files: [], packages: [] };
      const { strategy, reasons } = strategyOf(d, quorumRestart);
      return { host, strategy, reasons, delta: d };
    })
    .filter((x) => x !== undefined);
  const actionsOf = (strategy: Strategy, delta: HostDelta): string[] => {
    const pkgs = delta.packages.length > 0 ? [`install ${delta.packages.map((p) => `${p.name}=${p.to}`).join(" ")} with daemon restarts held back (policy-rc.d)`] : [];
    const handlers = worstImpactOf(delta.files);
    if (strategy === "files") return [...pkgs, `files and their handlers${handlers ? ` (worst: ${handlers.kind})` : ""}`];
    if (strategy === "maintenance") {
      return [
        "cluster maintenance-mode on (resources keep running, unmanaged: nothing starts elsewhere while its pacemaker is down)",
        "stop pacemaker, then corosync",
        ...pkgs,
        "files",
        "start corosync, then pacemaker; wait until the node is online and its resources are re-probed as running",
        "maintenance-mode off once the node is back; wait until the cluster has settled",
      ];
    }
    return [
      "standby: wait until its groups run elsewhere and the cluster has settled",
      "stop pacemaker, then corosync",
      ...pkgs,
      "files",
      "start corosync, then pacemaker; unstandby; wait until the cluster has settled",
    ];
  };
  const order: Strategy[] = ["files", "maintenance", "standby"];
  const sortedRolling = [...rolling].sort((a, b) => order.indexOf(a.strategy) - order.indexOf(b.strategy) || input.managementNodes.indexOf(a.host) - input.managementNodes.indexOf(b.host));
  // Files-only nodes may go together (nothing of the cluster stops); the others maxUnavailable at a time.
  const filesOnly = sortedRolling.filter((r) => r.strategy === "files");
  if (filesOnly.length > 0) {
    waves.push({
      kind: "rolling",
      hosts: filesOnly.map((r) => r.host),
      strategy: "files",
      actions: ["one node at a time: " + actionsOf("files", filesOnly[0]!.delta).join("; ")],
      reasons: filesOnly.flatMap((r) => r.reasons.map((x) => `${r.host}: ${x}`)),
      nfs: filesOnly.some((r) => r.delta.files.some((f) => rank(f.impact) >= rank({ kind: "restart", detail: "" }))) ? "none expected (handlers restart daemons Pacemaker does not own)" : "none",
    });
  }
  const disruptive = sortedRolling.filter((r) => r.strategy !== "files");
  for (let i = 0; i < disruptive.length; i += maxUnavailable) {
    const batch = disruptive.slice(i, i + maxUnavailable);
    const strategy = batch.some((b) => b.strategy === "standby") ? "standby" : "maintenance";
    const moves = batch.flatMap((b) => input.standbyMoves?.[b.host] ?? []);
    waves.push({
      kind: "rolling",
      hosts: batch.map((b) => b.host),
      strategy,
      actions: actionsOf(strategy, batch[0]!.delta),
      reasons: batch.flatMap((b) => b.reasons.map((x) => `${b.host}: ${x}`)),
      nfs:
        strategy === "maintenance"
          ? "none: resources keep running (nothing fails over while the node is in maintenance)"
          : moves.length > 0
            ? `${moves.join(", ")} move${moves.length === 1 ? "s" : ""} away and back: reads pause for a failover, writes for the grace period`
            : input.standbyMoves
              ? "none: the scheduler moves nothing away from it"
              : "the groups it runs move away and back (a failover each)",
    });
  }

  if (input.cib === "changed" || input.cib === "unknown") {
    waves.push({
      kind: "cib",
      hosts: input.managementNodes.slice(0, 1),
      actions: ["the CIB patch from one quorate node, once every node has its files", "wait until the cluster has settled"],
      reasons: [input.cib === "changed" ? "the CIB differs from the one the cluster holds" : "the live CIB could not be read: applied to be sure"],
      nfs: "what crm_simulate lists in hpcdk diff (Pacemaker stops, starts or moves resources)",
    });
  }

  const groups = new Map<string, HostDelta[]>();
  for (const h of changed.filter((h) => h.bundle.startsWith("groups/"))) groups.set(h.bundle, [...(groups.get(h.bundle) ?? []), h]);
  for (const [bundle, list] of [...groups].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const worst = worstImpactOf(list.flatMap((h) => h.files));
    const slurm = list.some((h) => h.files.some((f) => /\/slurm\.conf$/.test(f.path)));
    waves.push({
      kind: "group",
      hosts: list.map((h) => h.host).filter((h) => !management.has(h)),
      actions: [
        `files to every host of ${bundle}, ${input.groupConcurrency ?? 32} at a time`,
        ...(slurm ? ["no Slurm daemon rereads or restarts here: the Slurm wave does, once every host has its files"] : []),
        ...(list.some((h) => h.packages.length > 0) ? ["packages with daemon restarts held back, then the handlers' restarts"] : []),
      ],
      reasons: [...new Set(list.flatMap((h) => [...h.files.map((f) => `${f.path}: ${f.impact.kind} (${f.impact.detail})`), ...h.packages.map((p) => `package ${p.name} ${p.from ?? "-"} -> ${p.to}`)]))],
      nfs: worst && worst.kind === "outage" ? "see the outage above" : "none",
    });
  }
  // Slurm last: every Slurm host has its files before any daemon rereads them (./slurm.ts).
  if (input.slurm) {
    const slurm = planSlurm(input.slurm, input.hosts);
    if (slurm.steps.length > 0) {
      const hosts = [...new Set(slurm.steps.flatMap((s) => (s.hostlist !== undefined ? [s.hostlist] : s.hosts)))];
      waves.push({
        kind: "slurm",
        hosts,
        actions: slurm.steps.map((s) => `${s.phase === "before-files" ? "before any file is sent: " : ""}${s.what}`),
        reasons: slurm.reasons,
        nfs: "none",
        slurmSteps: slurm.steps,
      });
    }
  }
  const upToDate = waves.length === 0 && unreachable.length === 0;
  return { site: input.site, waves: waves.map((w, i) => ({ index: i + 1, ...w })), outages, unreachable, maxUnavailable, upToDate };
}

/** Nodes the corosync node list gains: they go in the membership wave, not the first deploy. */
function corosyncJoining(input: RolloutInput): Set<string> {
  if (input.corosync.old === null || input.corosync.new === null) return new Set();
  const old = new Set(parseCorosyncConf(input.corosync.old).nodes.map((n) => n.name));
  return new Set(parseCorosyncConf(input.corosync.new).nodes.map((n) => n.name).filter((n) => !old.has(n)));
}

function worstImpactOf(files: readonly FileChange[]): Impact | undefined {
  return files.length === 0 ? undefined : files.map((f) => f.impact).reduce(worstImpact);
}

/** Why the deploy refuses a plan without `--allow-outage`: each setting, its impact, the manual steps. */
export function outageRefusal(plan: RolloutPlan): string {
  const lines = [`${plan.site}: refused: ${plan.outages.length === 1 ? "this change needs" : "these changes need"} an outage; nothing was sent to any host`];
  for (const o of plan.outages) {
    const values = o.old !== undefined || o.new !== undefined ? `: ${JSON.stringify(o.old ?? null)} -> ${JSON.stringify(o.new ?? null)}` : "";
    lines.push(`  ${o.setting}${o.siteSetting ? ` (site setting ${o.siteSetting})` : ""}${values}`);
    lines.push(`    impact: outage: ${o.impact}`);
  }
  lines.push("manual steps:");
  (plan.outages[0]?.manualSteps ?? MANUAL_OUTAGE).forEach((s, i) => lines.push(`  ${i + 1}. ${s}`));
  lines.push("or rerun with --allow-outage to have hpcdk stop and start the cluster on every node together");
  return lines.join("\n");
}
