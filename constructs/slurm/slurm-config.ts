import { Construct } from "constructs";
import { GeneratedFile, slurmLine, type Bundle, type Written } from "../core/index.js";
import { compressHostlist } from "../../common/hostlist.js";

/** One node group as Slurm sees it: a NodeName definition, a feature and a NodeSet of the same name. */
export interface SlurmNodeGroup {
  /** Node group name: the nodes' feature and NodeSet name. */
  readonly name: string;
  readonly hosts: readonly string[];
  readonly sockets: number;
  readonly coresPerSocket: number;
  readonly threadsPerCore: number;
  /** RealMemory in MB. */
  readonly realMemoryMB: number;
  readonly gpus?: { readonly type: string; readonly count: number; readonly devices: string };
}

export interface SlurmPartition {
  readonly name: string;
  /** Node group names (their NodeSets). */
  readonly nodeGroups: readonly string[];
  readonly default: boolean;
  readonly maxTime: string;
  readonly defaultTime?: string;
  readonly priorityTier?: number;
  readonly oversubscribe: string;
  readonly allowGroups?: readonly string[];
  readonly state: string;
}

export interface SlurmConfigProps {
  readonly version: string;
  readonly clusterName: string;
  /** SlurmctldHost values, primary first: `name` or `name(address)`. */
  readonly controllers: readonly string[];
  /** SlurmctldAddr: the floating IP of a Pacemaker-run slurmctld. @default none */
  readonly controllerAddr?: string;
  readonly slurmUser: string;
  readonly ports: { readonly slurmctld: number; readonly slurmd: number };
  readonly stateSaveLocation: string;
  /** Why the state lives where it does (a comment in slurm.conf). */
  readonly stateSaveNote: string;
  /** @default "/var/spool/slurmd" */
  readonly slurmdSpoolDir?: string;
  readonly slurmctldTimeoutSec: number;
  readonly slurmdTimeoutSec: number;
  readonly plugins: {
    readonly select: string;
    readonly selectTypeParameters: string;
    readonly proctrack: string;
    readonly task: readonly string[];
    readonly jobacctGather: string;
    readonly scheduler: string;
    readonly priority: string;
    readonly mpiDefault: string;
    readonly authAltTypes: readonly string[];
  };
  /** Where slurmctld and slurmdbd read the JWT key (AuthAltParameters jwt_key). */
  readonly jwtKeyPath: string;
  /** max_token_lifespan of user tokens. @default none */
  readonly maxTokenLifespanSec?: number;
  readonly accounting?: { readonly host: string; readonly port: number; readonly enforce: readonly string[] };
  readonly cgroup: {
    readonly plugin: string;
    readonly constrainCores: boolean;
    readonly constrainRAMSpace: boolean;
    readonly constrainSwapSpace: boolean;
    readonly constrainDevices: boolean;
  };
  readonly nodeGroups: readonly SlurmNodeGroup[];
  readonly partitions: readonly SlurmPartition[];
  /**
   * Slurm's configless mode: slurmctld serves its files (SlurmctldParameters=enable_configless) to
   * the slurmd started with --conf-server, and PlugStackConfig is left at its default (beside
   * slurm.conf: the fetched copy on those nodes). @default false
   */
  readonly configless?: boolean;
  /**
   * What the container runtimes need from slurm.conf: Podman's TaskProlog, Shifter's prolog and
   * epilog directories and PrologFlags. @default none
   */
  readonly containers?: {
    readonly taskProlog?: string;
    readonly prologDir?: string;
    readonly epilogDir?: string;
    readonly prologFlags?: string;
  };
}

/** Longest hostlist written on one NodeName line; longer lists are split over several lines. */
export const MAX_HOSTLIST_CHARS = 1000;

/** Splits hosts into chunks whose compressed hostlist fits on one line. */
export function hostlistLines(hosts: readonly string[], limit = MAX_HOSTLIST_CHARS): string[] {
  const text = compressHostlist(hosts);
  if (text.length <= limit || hosts.length < 2) return [text];
  const half = Math.ceil(hosts.length / 2);
  return [...hostlistLines(hosts.slice(0, half), limit), ...hostlistLines(hosts.slice(half), limit)];
}

const yesNo = (b: boolean) => (b ? "yes" : "no");

/**
 * The configuration every Slurm host shares: `slurm.conf`, `cgroup.conf`, `plugstack.conf`
 * (which includes `plugstack.conf.d/*.conf`) and, when a node group has GPUs, `gres.conf`.
 * Rendered once; `install` puts the same files into a bundle.
 * @see https://slurm.schedmd.com/slurm.conf.html
 */
export class SlurmConfig extends Construct {
  readonly clusterName: string;
  readonly stateSaveLocation: string;
  readonly slurmUser: string;
  readonly jwtKeyPath: string;
  readonly hasGres: boolean;
  /** slurmctld serves the files; the slurmd of the node groups fetch them (--conf-server). */
  readonly configless: boolean;
  private readonly context: object;
  private readonly cgroupContext: object;
  private readonly gresLines: Written[];
  private readonly installed = new Map<string, GeneratedFile[]>();

  constructor(scope: Construct, id: string, props: SlurmConfigProps) {
    super(scope, id);
    const where = `SlurmConfig [${this.node.path}]`;
    this.clusterName = props.clusterName;
    this.stateSaveLocation = props.stateSaveLocation;
    this.slurmUser = props.slurmUser;
    this.jwtKeyPath = props.jwtKeyPath;
    this.configless = props.configless ?? false;
    if (props.controllers.length === 0) throw new Error(`${where}: needs at least one controller`);
    const groupNames = new Set(props.nodeGroups.map((g) => g.name));
    const allHosts = new Set<string>();
    for (const g of props.nodeGroups) {
      if (g.hosts.length === 0) throw new Error(`${where}: node group ${g.name} has no hosts`);
      for (const h of g.hosts) {
        if (allHosts.has(h)) throw new Error(`${where}: host ${h} is in two node groups`);
        allHosts.add(h);
      }
    }
    // A NodeSet must not share a name with a node (slurm.conf(5), NODESET CONFIGURATION).
    const clash = [...groupNames].find((n) => allHosts.has(n));
    if (clash) throw new Error(`${where}: node group "${clash}" has the name of one of its hosts: Slurm's NodeSet ${clash} would overlap NodeName ${clash}`);
    for (const p of props.partitions) {
      const unknown = p.nodeGroups.find((g) => !groupNames.has(g));
      if (unknown) throw new Error(`${where}: partition ${p.name} names unknown node group "${unknown}"`);
    }
    if (props.partitions.filter((p) => p.default).length > 1) throw new Error(`${where}: more than one default partition`);

    const groups = [...props.nodeGroups].sort((a, b) => (a.name < b.name ? -1 : 1));
    this.hasGres = groups.some((g) => g.gpus);
    const nodeLines: Written[] = [];
    const nodeSets: Written[] = [];
    this.gresLines = [];
    for (const g of groups) {
      const attrs: [string, string | number][] = [
        ["Sockets", g.sockets],
        ["CoresPerSocket", g.coresPerSocket],
        ["ThreadsPerCore", g.threadsPerCore],
        ["RealMemory", g.realMemoryMB],
        ...(g.gpus ? [["Gres", `gpu:${g.gpus.type}:${g.gpus.count}`] as [string, string]] : []),
        ["Features", g.name],
        ["State", "UNKNOWN"],
      ];
      for (const list of hostlistLines(g.hosts)) {
        nodeLines.push(slurmLine([["NodeName", list], ...attrs]));
        if (g.gpus) this.gresLines.push(slurmLine([["NodeName", list], ["Name", "gpu"], ["Type", g.gpus.type], ["File", g.gpus.devices]]));
      }
      nodeSets.push(slurmLine([["NodeSet", g.name], ["Feature", g.name]]));
    }
    const partitionLines = props.partitions.map((p) =>
      slurmLine([
        ["PartitionName", p.name],
        ["Nodes", p.nodeGroups.join(",")],
        ...(p.default ? [["Default", "YES"] as [string, string]] : []),
        ["MaxTime", p.maxTime],
        ...(p.defaultTime ? [["DefaultTime", p.defaultTime] as [string, string]] : []),
        ...(p.priorityTier !== undefined ? [["PriorityTier", p.priorityTier] as [string, number]] : []),
        ["OverSubscribe", p.oversubscribe],
        ...(p.allowGroups ? [["AllowGroups", p.allowGroups.join(",")] as [string, string]] : []),
        ["State", p.state],
      ]),
    );
    const altParameters = [`jwt_key=${props.jwtKeyPath}`, ...(props.maxTokenLifespanSec ? [`max_token_lifespan=${props.maxTokenLifespanSec}`] : [])];
    this.context = {
      version: props.version,
      clusterName: props.clusterName,
      controllers: props.controllers,
      controllerAddr: props.controllerAddr ?? "",
      slurmUser: props.slurmUser,
      ports: props.ports,
      authAltTypes: props.plugins.authAltTypes.join(","),
      authAltParameters: props.plugins.authAltTypes.length > 0 ? altParameters.join(",") : "",
      hasAuthAlt: props.plugins.authAltTypes.length > 0,
      stateSaveLocation: props.stateSaveLocation,
      stateSaveNote: props.stateSaveNote,
      slurmdSpoolDir: props.slurmdSpoolDir ?? "/var/spool/slurmd",
      slurmctldTimeoutSec: props.slurmctldTimeoutSec,
      slurmdTimeoutSec: props.slurmdTimeoutSec,
      plugins: props.plugins,
      configless: props.configless ?? false,
      taskPlugin: props.plugins.task.join(","),
      gresTypes: this.hasGres ? "gpu" : "",
      accounting: props.accounting ? { ...props.accounting, enforce: props.accounting.enforce.join(",") } : false,
      nodeLines: [...nodeLines, ...nodeSets],
      partitionLines,
      // Every key present, so the strict template can test it.
      jobHooks: [
        ...(props.containers?.prologFlags ? [slurmLine([["PrologFlags", props.containers.prologFlags]])] : []),
        ...(props.containers?.prologDir ? [slurmLine([["Prolog", `${props.containers.prologDir}/*`]])] : []),
        ...(props.containers?.epilogDir ? [slurmLine([["Epilog", `${props.containers.epilogDir}/*`]])] : []),
        ...(props.containers?.taskProlog ? [slurmLine([["TaskProlog", props.containers.taskProlog]])] : []),
      ],
    };
    this.cgroupContext = {
      plugin: props.cgroup.plugin,
      constrainCores: yesNo(props.cgroup.constrainCores),
      constrainRAMSpace: yesNo(props.cgroup.constrainRAMSpace),
      constrainSwapSpace: yesNo(props.cgroup.constrainSwapSpace),
      constrainDevices: yesNo(props.cgroup.constrainDevices),
    };
  }

  /**
   * Puts the shared files into a bundle. No file has a handler: a host that rereads slurm.conf as
   * its bundle lands (`scontrol reconfigure` on a controller before the nodes have the file)
   * drains nodes. The deploy's Slurm wave (operations/rollout/slurm.ts) reconfigures or restarts
   * in order once every Slurm host has its files. `_role` (what the host runs) is kept for the callers.
   */
  install(bundle: Bundle, _role: "controller" | "slurmd" | "client"): GeneratedFile[] {
    const key = `${bundle.kind}-${bundle.name}`;
    if (this.installed.has(key)) throw new Error(`SlurmConfig [${this.node.path}]: already installed in ${key}`);
    const files = [
      new GeneratedFile(this, `slurm-conf-${key}`, {
        bundle,
        path: "/etc/slurm/slurm.conf",
        template: "slurm/slurm.conf",
        context: this.context,
        impact: {
          kind: "reload",
          detail: "the deploy's Slurm wave, once every host has it: scontrol reconfigure rereads it everywhere; added or removed nodes, ports and SlurmctldHost restart slurmctld, then every slurmd",
        },
      }),
      new GeneratedFile(this, `cgroup-conf-${key}`, {
        bundle,
        path: "/etc/slurm/cgroup.conf",
        template: "slurm/cgroup.conf",
        context: this.cgroupContext,
        impact: { kind: "restart", detail: "the deploy's Slurm wave restarts slurmd on the node group (running jobs survive); new job steps use it" },
      }),
      new GeneratedFile(this, `plugstack-conf-${key}`, {
        bundle,
        path: "/etc/slurm/plugstack.conf",
        template: "slurm/plugstack.conf",
        context: {},
        impact: { kind: "reload", detail: "read at every job step; no daemon restarts" },
      }),
    ];
    if (this.hasGres) {
      files.push(
        new GeneratedFile(this, `gres-conf-${key}`, {
          bundle,
          path: "/etc/slurm/gres.conf",
          template: "slurm/gres.conf",
          context: { lines: this.gresLines },
          impact: { kind: "restart", detail: "the deploy's Slurm wave: scontrol reconfigure, and slurmd restarts on the GPU nodes" },
        }),
      );
    }
    this.installed.set(key, files);
    return files;
  }
}
