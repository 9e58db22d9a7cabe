/**
 * What a failover drill takes and what it reports. A drill fails one node for one NFS group and
 * goes through five phases (settle, predict, fault, observe, judge: see `phases.ts`); `runDrill`
 * runs one per NFS group, one after the other.
 */
import type { SiteSpec } from "../../schema/site.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
export { DrillError } from "./error.js";
import type { FaultPlan, FaultPlanResult } from "./faults.js";

/** How the node fails. */
export type DrillMode = "power-off" | "kill" | "link-down" | "standby";
export const DRILL_MODES: readonly DrillMode[] = ["power-off", "kill", "link-down", "standby"];

/** What a drill can do to a node besides asking the cluster (the namespace lab gives these). */
export interface NodeControl {
  /** Cut the node's power without the cluster knowing (kill). */
  kill(node: string): Promise<void>;
  /** Take the node's cluster link down (link-down). */
  linkDown(node: string): Promise<void>;
  /** Network faults of a fault plan (iptables in the lab, tc netem on real hosts). */
  readonly faults?: import("./faults.js").FaultInjector;
  /** The NFS client's address as the nodes see it: fault plans spare its SSH to them. */
  readonly clientAddress?: string;
}

/** The NFS protocols a drill probes, each with its own clients. */
export type Protocol = "nfs3" | "nfs4";
export const PROTOCOLS: readonly Protocol[] = ["nfs3", "nfs4"];

export interface DrillOptions {
  readonly stackDir: string;
  readonly spec: SiteSpec;
  readonly site: string;
  readonly override?: InventoryOverride;
  /** The NFS groups to drill, in turn. @default every group of the site */
  readonly groups?: readonly string[];
  /** The node to fail. @default the node running the group */
  readonly node?: string;
  /** @default "power-off" */
  readonly mode?: DrillMode;
  /** Needed for kill, link-down and fault plans (the namespace lab provides it). */
  readonly control?: NodeControl;
  /** Targets the verdict checks (`--expect nfs4-write-back=15s`), on top of the site's. */
  readonly expect?: readonly string[];
  /** A fault plan instead of a node failure (`--plan FILE`). */
  readonly plan?: FaultPlan;
  /** @default 250 */
  readonly pollMs?: number;
  /** The drill gives up after this long. @default 180 */
  readonly timeoutSec?: number;
  /** The NFSv4 lock probe (an NFSv4.0 client holding an OPEN and a LOCK). @default true */
  readonly lockProbe?: boolean;
  /** The steady writer's interval (stable writes, acknowledged records checked at the end). @default 100 */
  readonly writerIntervalMs?: number;
  /** Where the probes' helper finds python3. @default /usr/bin/python3 */
  readonly python?: string;
  readonly log?: (line: string) => void;
  /** Extra sources of timeline events (monitoring: the alerts that fired). */
  readonly timelineSources?: readonly TimelineSource[];
}

/** One event of the timeline, in milliseconds after the fault. */
export interface DrillEvent {
  readonly atMs: number;
  readonly what: string;
  /** The phase it marks (absent for plain events), and where it came from. */
  readonly phase?: PhaseName;
  readonly source?: string;
  /** The span it closes began here (e.g. the pool import began; the MMP wait inside it). */
  readonly fromMs?: number;
}

/** The phases of a failover, in the order they happen. */
export type PhaseName =
  | "fault"
  | "power-cut"
  | "membership-lost"
  | "fence-confirmed"
  | "pool-import"
  | "mmp-wait"
  | "pool-imported"
  | "nfs-server-up"
  | "grace-started"
  | "grace-ended"
  | "ip-up"
  | "nfs3-read-back"
  | "nfs3-write-back"
  | "nfs4-read-back"
  | "nfs4-write-back"
  | "lock-reclaimed"
  | "node-rejoined";

/** A source of timeline events read after a drill (the cluster, the NFS server's log, monitoring). */
export interface TimelineSource {
  readonly name: string;
  /** Events of one drill, in milliseconds after the fault. */
  collect(drill: TimelineContext): Promise<DrillEvent[]>;
}

export interface TimelineContext {
  readonly site: string;
  readonly group: string;
  readonly node: string;
  /** The fault, in seconds since the epoch by this machine's clock. */
  readonly faultEpochSec: number;
  /** The node the group moved to. */
  readonly newHolder?: string;
  /** Runs a command on a node as root (over SSH). */
  run(host: string, command: string): Promise<string>;
}

export interface DrillCheck {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** Outage figures of one protocol: seconds from the fault; absent when it never came back. */
export interface ProtocolMetrics {
  readBackSec?: number;
  writeBackSec?: number;
  readOutageSec: number;
  writeOutageSec: number;
  /** Probes that ran (reads, writes). */
  samples: { reads: number; writes: number };
}

export interface LockResult {
  /** held: the same server kept it; reclaimed: the new server gave it back; lost: refused; none: no probe. */
  readonly state: "held" | "reclaimed" | "lost" | "not-taken" | "none";
  readonly detail: string;
  readonly reclaimedSec?: number;
  /** A second client's LOCKT at the end: the lock is (still) held by the probe. */
  readonly heldAtEnd?: boolean;
}

export interface DataLoss {
  /** Records the steady writer wrote with stable writes and the server acknowledged. */
  readonly acknowledged: number;
  /** Of those, the ones that do not read back after the drill. */
  readonly lost: number;
  readonly lostRecords: number[];
  /** The file written before the fault reads back unchanged. */
  readonly seedIntact: boolean;
  readonly detail: string;
}

export interface DrillReport {
  readonly site: string;
  readonly group: string;
  readonly node: string;
  readonly mode: DrillMode | "plan";
  readonly survivor: string;
  readonly startedAt: string;
  readonly predicted: { fenced: string[]; placement: Record<string, string[]> };
  readonly before: { pcsStatus: string; placement: Record<string, string[]> };
  readonly after: { pcsStatus: string; placement: Record<string, string[]> };
  /** Where the NFS group ran once it had failed over (absent if it never did). */
  readonly failover?: Record<string, string[]>;
  readonly timeline: DrillEvent[];
  /** Seconds from the fault; absent when it never happened. */
  readonly metrics: {
    nodeLostSec?: number;
    fencedSec?: number;
    resourcesStartedSec?: number;
    /** The later of the protocols: when every client could read (write) again. */
    readsBackSec?: number;
    writesBackSec?: number;
    rejoinedSec?: number;
    readOutageSec: number;
    writeOutageSec: number;
    protocols: Partial<Record<Protocol, ProtocolMetrics>>;
    /** Each phase's time (seconds from the fault) and the MMP wait (seconds). */
    phases: Partial<Record<PhaseName, number>>;
    mmpWaitSec?: number;
    /** The MMP wait the site's rendered ZFS module settings give (zfs_multihost_*). */
    mmpModelSec: number;
    graceSec?: number;
  };
  readonly lock: LockResult;
  readonly dataLoss: DataLoss;
  readonly plan?: FaultPlanResult;
  readonly expectations: ExpectationResult[];
  readonly checks: DrillCheck[];
  readonly ok: boolean;
}

/** A target of the verdict: a metric and the most it may be. */
export interface Expectation {
  readonly metric: string;
  /** The limit in seconds (or a count), the MMP wait added when `plusMmp`. */
  readonly limit: number;
  readonly plusMmp: boolean;
  /** Where it came from: the command line or the site. */
  readonly from: "command line" | "site";
  readonly text: string;
}

export interface ExpectationResult extends Expectation {
  readonly value?: number;
  readonly ok: boolean;
}

