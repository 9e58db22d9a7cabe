import type { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import type { PacemakerCluster } from "./pacemaker-cluster.js";
import { Primitive } from "./primitive.js";
import { ResourceAgent } from "./resource-agent.js";

export interface NfsServerProps {
  readonly cluster: PacemakerCluster;
  readonly resourceId: string;
  /**
   * Directory on a shared pool where the server keeps its state (`/var/lib/nfs`): NFSv4 client
   * records and NSM state then move with the pool, so clients reclaim locks after failover.
   * @default none (a cloned server keeps its state locally)
   */
  readonly sharedInfoDir?: string;
  /** Floating IP the server is reached on; also its NFSv4 server scope. @default none */
  readonly floatingIp?: string;
  /** Seconds between monitor operations. @default 10 */
  readonly monitorIntervalSec?: number;
  /** Hosts on which the system's NFS server must not start at boot: Pacemaker starts it. */
  readonly hosts: readonly Bundle[];
}

/**
 * The kernel NFS server run by Pacemaker (ocf:heartbeat:nfsserver). Pacemaker owns it, so every
 * host gets a step that disables the distribution's `nfs-server.service` at boot. With the state
 * on the pool, nfsdcld becomes part of `nfs-server.service`: it holds the state directory open,
 * and the agent (init-script mode on Debian) would otherwise never stop it, so the state
 * directory could not be unmounted, the stop would fail and the node be fenced (found in the
 * Vagrant lab's drill).
 * @see https://github.com/ClusterLabs/resource-agents/blob/main/heartbeat/nfsserver
 */
export class NfsServer extends Primitive {
  constructor(scope: Construct, id: string, props: NfsServerProps) {
    super(scope, id, {
      cluster: props.cluster,
      resourceId: props.resourceId,
      agent: ResourceAgent.ocf("heartbeat", "nfsserver"),
      params: {
        ...(props.sharedInfoDir ? { nfs_shared_infodir: props.sharedInfoDir } : {}),
        ...(props.floatingIp ? { nfs_ip: props.floatingIp, nfs_server_scope: props.floatingIp } : {}),
      },
      operations: [
        { name: "start", timeoutSec: 40 },
        { name: "stop", timeoutSec: 20 },
        { name: "monitor", intervalSec: props.monitorIntervalSec ?? 10, timeoutSec: 20 },
      ],
    });
    for (const host of props.hosts) {
      host.addPackage({ debian: "nfs-kernel-server", rhel: "nfs-utils" });
      if (props.sharedInfoDir) {
        new GeneratedFile(this, `nfsdcld-dropin-${host.name}`, {
          bundle: host,
          path: "/etc/systemd/system/nfsdcld.service.d/hpcdk-part-of-nfs-server.conf",
          template: "pacemaker/nfsdcld-part-of-nfs-server.conf",
          context: { sharedInfoDir: props.sharedInfoDir },
          // Hosts without systemd (the namespace lab) have no unit to reload.
          handlers: ["if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi"],
          impact: { kind: "none", detail: "systemctl daemon-reload: nfsdcld stops and starts with the NFS server from then on" },
        });
      }
      host.addStep({
        id: "nfs-server-disable-at-boot",
        phase: "after-files",
        description: "disable nfs-server.service at boot (Pacemaker starts the NFS server)",
        impact: { kind: "none", detail: "changes only what starts at boot" },
        run: "if systemctl cat nfs-server.service >/dev/null 2>&1; then systemctl disable nfs-server.service; fi",
      });
    }
  }
}
