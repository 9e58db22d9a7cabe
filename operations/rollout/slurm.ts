/**
 * Slurm in the right order (issue 15): the deploy's last wave, run once every Slurm host has its
 * files. Nothing of Slurm rereads or restarts as a bundle lands (a controller's `scontrol
 * reconfigure` before the nodes have the new slurm.conf drains them: Slurm sees nodes whose
 * configuration differs from its own); this wave does it after:
 *
 * - a change Slurm 22.05 rereads: one `scontrol reconfigure` on the primary controller;
 * - a change it cannot (nodes added or removed, ports, SlurmctldHost, plugins, state location,
 *   enable_configless): slurmctld restarts (the primary first, each waited for until it answers
 *   `scontrol ping`), then every slurmd of the site's groups, at most `groupConcurrency` at a time
 *   (a node added in configless mode starts only now, when the controllers know it);
 * - a Slurm version change: before any file or package lands, a `mysqldump` of the accounting
 *   database kept on the slurmdbd host; then slurmdbd restarts (and answers), then slurmctld,
 *   then the slurmds;
 * - cgroup.conf, gres.conf or the configless drop-in changed on a group: its slurmd restart.
 *
 * The wave compares the slurm.conf the daemons run (recorded on each controller at the end of the
 * wave, `RUNNING_SLURM_CONF`; before the first such wave, the controller's file as it is) with the
 * synthesized one, so a deploy whose files landed without the wave (cdktf deploy, Ansible, a
 * deploy interrupted before its end) gets the wave at the next `hpcdk deploy`.
 *
 * Pure planning here; `runSlurmSteps` runs the steps through a runner (SSH for the deploy, the
 * Slurm lab's daemons in its test).
 */
import { compressHostlist, expandHostlist } from "../../common/hostlist.js";
import { shQuote } from "../../common/shell.js";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import type { SiteSpec } from "../../schema/site.js";
import { hostError } from "../deploy/result.js";
import { connect } from "../remote/connect.js";
import { lastLines, type SshSession } from "../remote/ssh.js";

/** What a host holds compared with its bundle, as far as the wave reads it (plan.ts's HostDelta). */
export interface SlurmHostDelta {
  readonly host: string;
  readonly bundle: string;
  readonly state: "current" | "changed" | "new" | "unreachable";
  readonly files: readonly { readonly path: string }[];
}

/** Where the wave records the slurm.conf the daemons run (on every controller). */
export const RUNNING_SLURM_CONF = "/var/lib/hpcdk/slurm/running-slurm.conf";
/** Where the database dumps before an upgrade are kept (on the slurmdbd host). */
export const SLURMDBD_DUMPS = "/var/lib/hpcdk/slurm/dumps";

/** The Slurm hosts of a site, as the wave needs them. */
export interface SlurmTopology {
  /** slurmctld hosts, the primary first. */
  readonly controllers: readonly string[];
  /** Pacemaker runs slurmctld (slurm.controllerIp): restarted with crm_resource. */
  readonly pacemaker: boolean;
  /** slurmdbd's host and database. */
  readonly dbd?: { readonly host: string; readonly database: string };
  /** Node groups that run slurmd: bundle (`groups/compute`) and hostlist. */
  readonly slurmdGroups: readonly { readonly bundle: string; readonly hosts: string }[];
  readonly configless: boolean;
}

/** The Slurm hosts of a loaded site; undefined without Slurm. */
export function slurmTopologyOf(spec: SiteSpec): SlurmTopology | undefined {
  const slurm = spec.slurm;
  if (!slurm) return undefined;
  const partitionGroups = [...new Set(slurm.partitions.flatMap((p) => p.nodeGroups))].sort();
  return {
    controllers: [...slurm.controllers],
    pacemaker: slurm.controllerIp !== undefined,
    ...(slurm.accounting ? { dbd: { host: slurm.accounting.host, database: slurm.accounting.database } } : {}),
    slurmdGroups: partitionGroups.map((g) => ({ bundle: `groups/${g}`, hosts: spec.nodeGroups.find((x) => x.name === g)!.hosts })),
    configless: slurm.configless,
  };
}

/** What the wave's input holds: the topology, slurm.conf as the daemons run it and as synthesized. */
export interface SlurmRolloutInput {
  readonly topology: SlurmTopology;
  /** The slurm.conf the daemons run (null: none recorded and no controller holds one: a first deploy). */
  readonly running: string | null;
  /** The synthesized slurm.conf. */
  readonly synthesized: string;
}

export type SlurmChange = "none" | "reconfigure" | "restart" | "upgrade";

/** slurm.conf keys whose change `scontrol reconfigure` does not apply in 22.05: slurmctld and the slurmds restart. */
export const RESTART_KEYS: ReadonlySet<string> = new Set(
  [
    "NodeName", "SlurmctldHost", "SlurmctldAddr", "SlurmctldPort", "SlurmdPort", "SlurmctldParameters", "AuthType", "AuthInfo",
    "AuthAltTypes", "AuthAltParameters", "CredType", "SelectType", "SelectTypeParameters", "ProctrackType", "TaskPlugin",
    "JobAcctGatherType", "PriorityType", "StateSaveLocation", "SlurmUser", "SlurmdSpoolDir", "SlurmctldPidFile", "SlurmdPidFile",
    "GresTypes", "AccountingStorageType", "AccountingStorageHost", "AccountingStoragePort", "ClusterName", "MpiDefault",
  ].map((k) => k.toLowerCase()),
);

/** slurm.conf's settings: key (lower case, as Slurm reads it) → every line's value, in order; comments and blank lines out. */
export function parseSlurmConf(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    const key = (eq < 0 ? line : line.slice(0, eq)).toLowerCase();
    const list = out.get(key) ?? [];
    list.push(eq < 0 ? "" : line.slice(eq + 1));
    out.set(key, list);
  }
  return out;
}

/** The Slurm release a slurm.conf hpcdk rendered names in its heading (`(Slurm 22.05)`). */
export function slurmConfVersion(text: string): string | undefined {
  return /^# slurm\.conf of cluster .* \(Slurm ([0-9][0-9.]*)\)\./m.exec(text)?.[1];
}

/** The hosts of the NodeName lines (hostlists expanded, so a split line or a reordering is no change). */
function nodeNames(conf: Map<string, string[]>): Set<string> {
  const names = new Set<string>();
  for (const v of conf.get("nodename") ?? []) {
    const list = /^(\S+)/.exec(v)?.[1];
    if (list) for (const h of expandHostlist(list)) names.add(h);
  }
  return names;
}

/** What a slurm.conf change needs, and why. */
export function classifySlurmConf(running: string, synthesized: string): { change: SlurmChange; reasons: string[] } {
  if (running === synthesized) return { change: "none", reasons: [] };
  const reasons: string[] = [];
  const from = slurmConfVersion(running);
  const to = slurmConfVersion(synthesized);
  if (from !== undefined && to !== undefined && from !== to) reasons.push(`Slurm ${from} -> ${to}: slurmdbd, then slurmctld, then the slurmds`);
  const a = parseSlurmConf(running);
  const b = parseSlurmConf(synthesized);
  const oldNodes = nodeNames(a);
  const newNodes = nodeNames(b);
  const added = [...newNodes].filter((n) => !oldNodes.has(n));
  const removed = [...oldNodes].filter((n) => !newNodes.has(n));
  if (added.length > 0) reasons.push(`nodes added: ${compressHostlist(added)} (22.05 adds nodes only at a restart)`);
  if (removed.length > 0) reasons.push(`nodes removed: ${compressHostlist(removed)} (22.05 removes nodes only at a restart)`);
  const restartKeys: string[] = [];
  const reloadKeys: string[] = [];
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (JSON.stringify(a.get(key) ?? []) === JSON.stringify(b.get(key) ?? [])) continue;
    if (key === "nodename" && added.length + removed.length > 0) continue;
    (RESTART_KEYS.has(key) ? restartKeys : reloadKeys).push(key);
  }
  if (restartKeys.length > 0) reasons.push(`changed, needs slurmctld and every slurmd restarted: ${restartKeys.join(", ")}`);
  if (reloadKeys.length > 0) reasons.push(`changed, scontrol reconfigure rereads: ${reloadKeys.join(", ")}`);
  const change: SlurmChange =
    from !== undefined && to !== undefined && from !== to ? "upgrade" : added.length + removed.length + restartKeys.length > 0 ? "restart" : reloadKeys.length > 0 ? "reconfigure" : "none";
  return { change, reasons };
}

/** One step of the Slurm wave, on its hosts. */
export interface SlurmStep {
  readonly id: "dump-database" | "restart-slurmdbd" | "restart-slurmctld" | "reconfigure" | "restart-slurmd" | "record";
  /** `before-files` steps run before Terraform sends anything, `after-files` once every host has its files. */
  readonly phase: "before-files" | "after-files";
  /** Host names, in order; a group's hosts as a hostlist in `hostlist`. */
  readonly hosts: readonly string[];
  /** A node group's hosts (`c[001-128]`), for steps on groups. */
  readonly hostlist?: string;
  /** One host after another (each must succeed before the next), else up to the group concurrency. */
  readonly serial: boolean;
  readonly what: string;
  /** The POSIX shell command each host runs (as root). */
  readonly command: string;
}

/** A bounded wait until slurmctld answers `scontrol ping` (any controller UP). */
const WAIT_CTLD =
  "i=0; until scontrol ping 2>/dev/null | grep -q ' is UP'; do i=$((i+1)); if [ \"$i\" -ge 120 ]; then echo 'slurmctld did not answer scontrol ping within 120 s' >&2; exit 1; fi; sleep 1; done";
/** A bounded wait until slurmdbd answers sacctmgr. */
const WAIT_DBD =
  "i=0; until sacctmgr -n -P show cluster >/dev/null 2>&1; do i=$((i+1)); if [ \"$i\" -ge 120 ]; then echo 'slurmdbd did not answer sacctmgr within 120 s' >&2; exit 1; fi; sleep 1; done";

/** The command that dumps the accounting database into SLURMDBD_DUMPS, named with the time and the running release. */
export function dumpCommand(database: string, release: string): string {
  const dir = shQuote(SLURMDBD_DUMPS);
  const base = `${SLURMDBD_DUMPS}/${database}-before-${release}-upgrade`;
  return (
    `install -d -m 0700 ${dir} && f=${shQuote(base)}-$(date -u +%Y%m%dT%H%M%SZ).sql && ` +
    `mysqldump --single-transaction --routines --databases ${shQuote(database)} > "$f.part" && mv "$f.part" "$f" && echo "dumped to $f"`
  );
}

/** The steps of the Slurm wave for a change of the given kind, plus the group restarts the files ask for. */
export function slurmSteps(
  topology: SlurmTopology,
  change: SlurmChange,
  options: { readonly restartGroups?: readonly string[]; readonly startGroups?: readonly string[]; readonly runningRelease?: string } = {},
): SlurmStep[] {
  const steps: SlurmStep[] = [];
  const primary = topology.controllers[0]!;
  const groups = (bundles: readonly string[]) => topology.slurmdGroups.filter((g) => bundles.includes(g.bundle));
  const restartSlurmd = (list: readonly { bundle: string; hosts: string }[], why: string) => {
    for (const g of list) {
      steps.push({
        id: "restart-slurmd",
        phase: "after-files",
        hosts: [],
        hostlist: g.hosts,
        serial: false,
        what: `${why} on ${g.bundle} (${g.hosts})`,
        command: "systemctl restart slurmd",
      });
    }
  };
  if (change === "upgrade" && topology.dbd) {
    steps.push({
      id: "dump-database",
      phase: "before-files",
      hosts: [topology.dbd.host],
      serial: true,
      what: `mysqldump of ${topology.dbd.database} on ${topology.dbd.host}, kept in ${SLURMDBD_DUMPS} (before any package or file lands)`,
      command: dumpCommand(topology.dbd.database, options.runningRelease ?? "unknown"),
    });
    steps.push({
      id: "restart-slurmdbd",
      phase: "after-files",
      hosts: [topology.dbd.host],
      serial: true,
      what: `restart slurmdbd on ${topology.dbd.host} and wait until it answers (it converts the database first)`,
      command: `systemctl restart slurmdbd && ${WAIT_DBD}`,
    });
  }
  if (change === "upgrade" || change === "restart") {
    steps.push(
      topology.pacemaker
        ? {
            id: "restart-slurmctld",
            phase: "after-files",
            hosts: [primary],
            serial: true,
            what: "restart slurmctld through Pacemaker (crm_resource --restart) and wait until it answers",
            command: `crm_resource --resource slurmctld --restart && ${WAIT_CTLD}`,
          }
        : {
            id: "restart-slurmctld",
            phase: "after-files",
            hosts: [...topology.controllers],
            serial: true,
            what: `restart slurmctld on ${topology.controllers.join(", ")}, the primary first, each answering before the next`,
            command: `systemctl restart slurmctld && ${WAIT_CTLD}`,
          },
    );
    restartSlurmd(topology.slurmdGroups, "restart slurmd (a node added starts now, when slurmctld knows it)");
  } else {
    if (change === "reconfigure") {
      steps.push({ id: "reconfigure", phase: "after-files", hosts: [primary], serial: true, what: "scontrol reconfigure, once every host has the files", command: "scontrol reconfigure" });
    }
    restartSlurmd(groups(options.restartGroups ?? []), "restart slurmd (cgroup.conf, gres.conf or its unit changed)");
  }
  // Hosts whose slurmd was never started after the controllers (a group deployed for the first time).
  const started = new Set(steps.filter((s) => s.id === "restart-slurmd").map((s) => s.hostlist));
  for (const g of groups(options.startGroups ?? []).filter((g) => !started.has(g.hosts))) {
    steps.push({ id: "restart-slurmd", phase: "after-files", hosts: [], hostlist: g.hosts, serial: false, what: `start slurmd on ${g.bundle} (${g.hosts}) where it is not running`, command: "systemctl start slurmd" });
  }
  if (steps.length > 0 || change !== "none") {
    steps.push({
      id: "record",
      phase: "after-files",
      hosts: [...topology.controllers],
      serial: false,
      what: `record the slurm.conf the daemons run (${RUNNING_SLURM_CONF})`,
      command: `install -D -m 0644 /etc/slurm/slurm.conf ${shQuote(RUNNING_SLURM_CONF)}`,
    });
  }
  return steps;
}

/** Files on a node group whose change needs its slurmd restarted. */
const SLURMD_RESTART_FILES = /^(\/etc\/slurm\/(cgroup|gres)\.conf|\/etc\/systemd\/system\/slurmd\.service\.d\/.*)$/;

/** The Slurm wave: its change, steps and reasons; none when Slurm needs nothing. */
export function planSlurm(input: SlurmRolloutInput, hosts: readonly SlurmHostDelta[]): { change: SlurmChange; steps: SlurmStep[]; reasons: string[] } {
  const { topology } = input;
  const slurmdBundles = new Set(topology.slurmdGroups.map((g) => g.bundle));
  const restartGroups = [
    ...new Set(hosts.filter((h) => slurmdBundles.has(h.bundle) && h.state === "changed" && h.files.some((f) => SLURMD_RESTART_FILES.test(f.path))).map((h) => h.bundle)),
  ].sort();
  const startGroups = [...new Set(hosts.filter((h) => slurmdBundles.has(h.bundle) && h.state === "new").map((h) => h.bundle))].sort();
  const { change, reasons } = input.running === null ? { change: "none" as const, reasons: [] } : classifySlurmConf(input.running, input.synthesized);
  // In configless mode cgroup.conf and gres.conf live on the controllers: every slurmd fetches them again at its restart.
  const controllerFiles = hosts.some((h) => topology.controllers.includes(h.host) && h.files.some((f) => /^\/etc\/slurm\/(cgroup|gres|oci|plugstack)\.conf$/.test(f.path)));
  const restart = topology.configless && controllerFiles && change === "none" ? ["configless: cgroup.conf, gres.conf, oci.conf or plugstack.conf changed on the controllers"] : [];
  const steps = slurmSteps(topology, restart.length > 0 ? "reconfigure" : change, {
    restartGroups: restart.length > 0 ? topology.slurmdGroups.map((g) => g.bundle) : restartGroups,
    startGroups,
    ...(input.running !== null && slurmConfVersion(input.running) ? { runningRelease: slurmConfVersion(input.running)! } : {}),
  });
  const why = [
    ...reasons,
    ...restart,
    ...restartGroups.map((g) => `${g}: cgroup.conf, gres.conf or slurmd's unit changed`),
    ...startGroups.map((g) => `${g}: first deploy, slurmd starts after the controllers`),
  ];
  // Only the record step: the daemons run this slurm.conf already (a first deploy records it).
  if (steps.every((s) => s.id === "record") && input.running !== null && change === "none") return { change: "none", steps: [], reasons: [] };
  return { change, steps, reasons: why.length > 0 ? why : ["record the slurm.conf the daemons run (first deploy with this hpcdk)"] };
}

/** What running one step on one host gave. */
export interface SlurmStepResult {
  readonly host: string;
  readonly ok: boolean;
  readonly error?: string;
}

/** Runs one step's command on one host (SSH for the deploy; the lab's daemons in its test). */
export type SlurmStepRunner = (step: SlurmStep, host: string) => Promise<SlurmStepResult>;

/**
 * Runs the steps of one phase in order; a step on many hosts goes up to `concurrency` at a time
 * (serial steps one after another). Stops at the first step with a failed host, naming it: the
 * steps after it never run (a slurmd restart never comes before the slurmctld it needs).
 */
export async function runSlurmSteps(
  steps: readonly SlurmStep[],
  phase: SlurmStep["phase"],
  runner: SlurmStepRunner,
  options: { readonly concurrency: number; readonly log?: (line: string) => void },
): Promise<{ ok: boolean; results: { step: SlurmStep; results: SlurmStepResult[]; ms: number }[]; failed?: string }> {
  const log = options.log ?? (() => {});
  const results: { step: SlurmStep; results: SlurmStepResult[]; ms: number }[] = [];
  for (const step of steps.filter((s) => s.phase === phase)) {
    const t0 = Date.now();
    const hosts = step.hostlist !== undefined ? expandHostlist(step.hostlist) : [...step.hosts];
    log(`slurm: ${step.what}`);
    const done: SlurmStepResult[] = [];
    if (step.serial) {
      for (const h of hosts) {
        const r = await runner(step, h);
        done.push(r);
        if (!r.ok) break;
      }
    } else {
      let next = 0;
      const worker = async () => {
        while (next < hosts.length) {
          const h = hosts[next++]!;
          done.push(await runner(step, h));
        }
      };
      await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, hosts.length)) }, worker));
    }
    const ms = Date.now() - t0;
    results.push({ step, results: done, ms });
    const failed = done.filter((r) => !r.ok);
    log(`slurm: ${step.id} ${failed.length === 0 ? "done" : "FAILED"} on ${compressHostlist(hosts)} in ${(ms / 1000).toFixed(1)} s`);
    if (failed.length > 0) {
      const first = failed[0]!;
      return { ok: false, results, failed: `${step.id} failed on ${compressHostlist(failed.map((f) => f.host))}: ${first.error ?? "failed"}; the Slurm steps after it were not run` };
    }
  }
  return { ok: true, results };
}

/** The deploy's runner: each step's command as root over SSH, bounded in time and output. */
export function sshSlurmRunner(inventory: Inventory, timeoutMs = 300_000): SlurmStepRunner {
  return async (step, host) => {
    let session: SshSession | undefined;
    try {
      session = await connect(inventory, host);
      const r = await session.exec(session.asRoot(`sh -c ${shQuote(step.command)}`), { timeoutMs, maxOutputBytes: 1024 * 1024 });
      return r.code === 0 ? { host, ok: true } : { host, ok: false, error: `exited ${r.code}: ${lastLines(r, 3)}` };
    } catch (err) {
      return { host, ok: false, error: hostError(err, host) };
    } finally {
      session?.close();
    }
  };
}

/**
 * The Slurm hosts of a synthesis, from its manifests and files (for `hpcdk diff`, which has no
 * loaded site): controllers in slurm.conf's SlurmctldHost order, slurmdbd's host and its
 * StorageLoc, the groups that install slurmd, SlurmctldAddr (Pacemaker), enable_configless.
 * Undefined when the synthesis has no slurm.conf on a controller.
 */
export function slurmTopologyFromManifests(
  manifests: Iterable<BundleManifest>,
  read: (bundleDir: string, path: string) => Buffer | undefined,
): { topology: SlurmTopology; slurmConf: string } | undefined {
  const list = [...manifests];
  const controllers = list.filter((m) => m.kind === "host" && m.packages.some((p) => p.debian === "slurmctld"));
  const first = controllers[0];
  const text = first ? read(first.dir, "/etc/slurm/slurm.conf")?.toString("utf8") : undefined;
  if (!first || text === undefined) return undefined;
  const conf = parseSlurmConf(text);
  const order = (conf.get("slurmctldhost") ?? []).map((h) => h.replace(/\(.*$/, ""));
  const names = controllers.map((m) => m.name).sort((a, b) => (order.indexOf(a) + 1 || 1e9) - (order.indexOf(b) + 1 || 1e9));
  const dbd = list.find((m) => m.kind === "host" && m.packages.some((p) => p.debian === "slurmdbd"));
  const database = dbd ? /^StorageLoc=(\S+)$/m.exec(read(dbd.dir, "/etc/slurm/slurmdbd.conf")?.toString("utf8") ?? "")?.[1] : undefined;
  return {
    slurmConf: text,
    topology: {
      controllers: names,
      pacemaker: conf.has("slurmctldaddr"),
      ...(dbd && database ? { dbd: { host: dbd.name, database } } : {}),
      slurmdGroups: list
        .filter((m) => m.kind === "group" && m.packages.some((p) => p.debian === "slurmd"))
        .map((m) => ({ bundle: m.dir, hosts: m.hosts ?? m.name }))
        .sort((a, b) => (a.bundle < b.bundle ? -1 : 1)),
      configless: (conf.get("slurmctldparameters") ?? []).some((v) => v.split(",").includes("enable_configless")),
    },
  };
}
