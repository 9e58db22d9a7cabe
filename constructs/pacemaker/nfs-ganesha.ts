import { createHash } from "node:crypto";
import type { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

/** One export of ganesha: a directory and its clients (options as in exports(5)). */
export interface GaneshaExport {
  readonly path: string;
  readonly fsid: string;
  readonly clients: readonly { readonly spec: string; readonly options: string }[];
}

export interface NfsGaneshaProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /** The NFS group, for comments. */
  readonly group: string;
  readonly floatingIp: string;
  readonly exports: readonly GaneshaExport[];
  /** NFSv4 recovery directory on the group's first pool, so client state moves with it. */
  readonly recoveryRoot: string;
  /** NFSv4 Lease_Lifetime. @default ganesha's (60) */
  readonly leaseSec?: number;
  /** NFSv4 Grace_Period. @default ganesha's (90) */
  readonly graceSec?: number;
  /** @default 10 */
  readonly monitorIntervalSec?: number;
  /** Every management node: the agent, the configuration, and no ganesha started at boot. */
  readonly hosts: readonly Bundle[];
}

const AGENT = "/usr/lib/ocf/resource.d/hpcdk/ganesha";
const CONFIG = "/etc/ganesha/ganesha.conf";
const PIDFILE = "/run/ganesha/hpcdk-ganesha.pid";

/** Export_Id: 1-65535, unique, stable; 0 is ganesha's pseudo root. */
function exportId(fsid: string): number {
  if (/^\d+$/.test(fsid) && Number(fsid) < 65535) return Number(fsid) + 1;
  return 10000 + (createHash("sha256").update(fsid).digest().readUInt16BE(0) % 50000);
}

/** ganesha's Filesystem_Id is MAJOR.MINOR; a UUID fsid becomes two numbers from its hash. */
function filesystemId(fsid: string): { major: number; minor: number } {
  if (/^\d+$/.test(fsid)) return { major: Number(fsid), minor: 0 };
  const h = createHash("sha256").update(fsid).digest();
  return { major: h.readUInt32BE(0), minor: h.readUInt32BE(4) };
}

/** exports(5) options → ganesha's access type and squash. */
function accessOf(options: string): { access: string; squash: string } {
  const opts = options.split(",");
  return {
    access: opts.includes("ro") ? "RO" : "RW",
    squash: opts.includes("no_root_squash") ? "No_Root_Squash" : opts.includes("all_squash") ? "All_Squash" : "Root_Squash",
  };
}

/**
 * nfs-ganesha as the cluster's NFS server (ocf:hpcdk:ganesha, an agent hpcdk ships): the server
 * and all exports of the group in `/etc/ganesha/ganesha.conf`, NFSv4 client state on the pool.
 * Used where the kernel NFS server cannot run (containers, the namespace lab) or is not wanted.
 * @see https://github.com/nfs-ganesha/nfs-ganesha/blob/next/src/config_samples/config.txt
 */
export class NfsGanesha extends Primitive {
  constructor(scope: Construct, id: string, props: NfsGaneshaProps) {
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.ocf("hpcdk", "ganesha"),
      params: { config: CONFIG, pidfile: PIDFILE, recovery_root: props.recoveryRoot },
      operations: [
        { name: "start", timeoutSec: 60 },
        { name: "stop", timeoutSec: 60 },
        { name: "monitor", intervalSec: props.monitorIntervalSec ?? 10, timeoutSec: 30 },
      ],
    });
    const context = {
      group: props.group,
      floatingIp: props.floatingIp,
      recoveryRoot: props.recoveryRoot,
      leaseSec: props.leaseSec ?? false,
      graceSec: props.graceSec ?? false,
      exports: [...props.exports]
        .sort((a, b) => (a.path < b.path ? -1 : 1))
        .map((e) => ({
          exportId: exportId(e.fsid),
          path: e.path,
          filesystemId: filesystemId(e.fsid),
          clients: e.clients.map((c) => ({ spec: c.spec, ...accessOf(c.options) })),
        })),
    };
    for (const host of props.hosts) {
      host.addPackage({ debian: "nfs-ganesha", rhel: "nfs-ganesha" });
      host.addPackage({ debian: "nfs-ganesha-vfs", rhel: "nfs-ganesha-vfs" });
      host.addPackage({ debian: "rpcbind", rhel: "rpcbind" });
      new GeneratedFile(this, `agent-${host.name}`, {
        bundle: host,
        path: AGENT,
        mode: 0o755,
        template: "pacemaker/ganesha-ocf.sh",
        impact: { kind: "none", detail: "the agent's next action uses it; the running server is untouched" },
      });
      new GeneratedFile(this, `config-${host.name}`, {
        bundle: host,
        path: CONFIG,
        template: "pacemaker/ganesha.conf",
        context,
        // ganesha rereads its exports on SIGHUP, where it runs; lease and grace only at start.
        handlers: [shell`if [ -f ${PIDFILE} ] && kill -0 "$(cat ${PIDFILE})" 2>/dev/null; then kill -HUP "$(cat ${PIDFILE})"; fi`],
        impact: { kind: "reload", detail: "ganesha reloads its exports on SIGHUP (a new lease or grace takes effect at its next start)" },
      });
      host.addStep({
        id: "ganesha-disable-at-boot",
        phase: "after-files",
        description: "disable nfs-ganesha.service at boot (Pacemaker starts ganesha)",
        run: "if systemctl cat nfs-ganesha.service >/dev/null 2>&1; then systemctl disable nfs-ganesha.service; fi",
        impact: { kind: "none", detail: "changes only what starts at boot" },
      });
    }
  }
}
