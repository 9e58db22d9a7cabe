/**
 * The failover drill: on a live cluster, for each NFS group in turn (or the ones asked for), fail
 * the node holding it and time the failover in phases while NFSv3 and NFSv4 clients read and
 * write through the floating IP, an NFSv4 client holds a lock, and a steady writer's
 * acknowledged writes are checked at the end. The phases (settle, predict, fault, observe,
 * judge) are in `drill/phases.ts`; this file connects to the cluster (over the one SSH layer)
 * and reads what crm_mon, the CIB and the fencer say.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { readXml } from "./xml.js";
import { lastFenced, parseCrmMon } from "./pacemaker/crm-mon.js";
import { nfsGroupOf } from "./pacemaker/resources.js";
import { connect as connectTo } from "./remote/connect.js";
import { readInventory } from "./remote/inventory.js";
import { simulateLiveFailure } from "./simulate/index.js";
import { drillGroup, type DrillCluster } from "./drill/phases.js";
import { nfsServerLogSource, type StartOp } from "./drill/timeline.js";
import { DrillError, type DrillOptions, type DrillReport, type TimelineSource } from "./drill/types.js";
import { AlertWatcher, commandGet, describeEvent } from "./alert-timeline.js";
import { monitoringServer } from "../schema/monitoring-rules.js";
import type { SiteSpec } from "../schema/site.js";

export * from "./drill/types.js";
export { drillHtml, drillMarkdown, spread } from "./drill/report.js";
export { backAfter, servedSince, type ProbeSample } from "./drill/probes.js";


const all = (xml: string, tag: string) => readXml(xml).getElementsByTagName(tag);

/** The primitives of a group in a CIB, in start order, with their agents (`ocf:heartbeat:ZFS`). */
export function groupMemberAgents(cibXml: string, groupId: string): { id: string; agent: string }[] {
  const group = all(cibXml, "group").find((g) => g.getAttribute("id") === groupId);
  return group
    ? group.getElementsByTagName("primitive").map((p) => ({
        id: p.getAttribute("id")!,
        agent: [p.getAttribute("class"), p.getAttribute("provider"), p.getAttribute("type")].filter(Boolean).join(":"),
      }))
    : [];
}

/** The start operations of resources on a node, from the CIB's status section. */
export function startOpsOf(statusXml: string, node: string, resources: readonly string[]): StartOp[] {
  const state = all(statusXml, "node_state").find((n) => n.getAttribute("uname") === node);
  if (!state) return [];
  const out: StartOp[] = [];
  for (const r of state.getElementsByTagName("lrm_resource")) {
    const id = r.getAttribute("id")!;
    if (!resources.includes(id)) continue;
    const op = r.getElementsByTagName("lrm_rsc_op").find((o) => o.getAttribute("operation") === "start");
    if (!op) continue;
    out.push({ resource: id, node, lastRcChangeSec: Number(op.getAttribute("last-rc-change")), execMs: Number(op.getAttribute("exec-time")), rc: Number(op.getAttribute("rc-code")) });
  }
  return out;
}

/**
 * The alerts that fired and resolved during a drill, on its timeline: Alertmanager's API polled
 * every second (curl on the node watching the cluster, so it follows the watcher when that node
 * moves) from the drill's start until its timeline is collected. A site with monitoring only.
 */
export function alertSource(spec: SiteSpec, cluster: Pick<DrillCluster, "run">): TimelineSource & { close(): void } {
  const server = monitoringServer(spec);
  const host = server.kind === "ha" ? server.floatingIp.address : server.host;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${spec.monitoring!.alertmanager.port}`;
  const watcher = new AlertWatcher({ get: commandGet((command) => cluster.run(command, 15_000), url) });
  watcher.start();
  let stopped: ReturnType<AlertWatcher["stop"]> | undefined;
  const stop = () => (stopped ??= watcher.stop());
  return {
    name: "alertmanager",
    /** Stops polling (after the timeline was collected, or a drill that failed before). */
    close: () => void stop().catch(() => {}),
    async collect(ctx) {
      const t0 = ctx.faultEpochSec * 1000;
      // Resolutions from the fault on; an alert already firing then is listed as fired before it.
      const events = await stop();
      return events.filter((e) => e.kind === "fired" || e.atMs >= t0).map((e) => ({ atMs: e.atMs - t0, what: describeEvent(e) + (e.summary ? `: ${e.summary}` : "") }));
    },
  };
}

/**
 * Runs the drill of each NFS group asked for (default every group, one after the other); one
 * report per group. The cluster settles between groups.
 */
export async function runDrill(options: DrillOptions): Promise<DrillReport[]> {
  const mode = options.plan ? "plan" : (options.mode ?? "power-off");
  const log = options.log ?? (() => {});
  if ((mode === "kill" || mode === "link-down") && !options.control) {
    throw new DrillError(`--mode ${mode} needs direct control of the node (the namespace lab); on real hosts use power-off or standby`);
  }
  const spec = options.spec;
  const wanted = options.groups ?? spec.nfs.groups.map((g) => g.name);
  const unknown = wanted.filter((g) => !spec.nfs.groups.some((x) => x.name === g));
  if (unknown.length > 0) throw new DrillError(`no NFS group ${unknown.join(", ")} in the site (groups: ${spec.nfs.groups.map((g) => g.name).join(", ")})`);
  if (options.node && !spec.nodes.some((n) => n.name === options.node)) {
    throw new DrillError(`no node to fail: ${options.node} (nodes: ${spec.nodes.map((n) => n.name).join(", ")})`);
  }
  const inventory = readInventory(options.stackDir, options.override);
  const connect = (host: string) => connectTo(inventory, host);
  const cibXml = readFileSync(join(options.stackDir, "cluster", "cib.xml"), "utf8");
  log(`connecting to ${inventory.managementNodes[0]}`);
  let watcher = await connect(inventory.managementNodes[0]!);
  const reports: DrillReport[] = [];
  try {
    for (const name of wanted) {
      const group = spec.nfs.groups.find((g) => g.name === name)!;
      const members = groupMemberAgents(cibXml, nfsGroupOf(options.stackDir, group.name).groupId);
      const cluster: DrillCluster = {
        get watcher() {
          return watcher.host;
        },
        async watchFrom(host: string) {
          watcher.close();
          watcher = await connect(host);
        },
        mon: async () => parseCrmMon(await watcher.run(watcher.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 10_000 })),
        run: (command, timeoutMs) => watcher.run(watcher.asRoot(command), timeoutMs ? { timeoutMs } : {}),
        exec: async (command, timeoutMs) => {
          const r = await watcher.exec(watcher.asRoot(command), timeoutMs ? { timeoutMs } : {});
          return { stdout: r.stdout, code: r.code };
        },
        runOn: async (host, command) => {
          if (host === watcher.host) return watcher.run(watcher.asRoot(command), { timeoutMs: 30_000 });
          const s = await connect(host);
          try {
            return await s.run(s.asRoot(command), { timeoutMs: 30_000 });
          } finally {
            s.close();
          }
        },
        lastFenced: async (n) => lastFenced((await watcher.exec(watcher.asRoot(`stonith_admin --last ${n} --output-as=xml`))).stdout, n),
        members,
        startOps: async (node) => startOpsOf(await watcher.run(watcher.asRoot("cibadmin --query --scope status"), { timeoutMs: 30_000 }), node, members.map((m) => m.id)),
        predictFailure: async (node) => simulateLiveFailure(await watcher.run(watcher.asRoot("cibadmin --query"), { timeoutMs: 30_000 }), node),
      };
      const alerts = spec.monitoring ? alertSource(spec, cluster) : undefined;
      log(`drill of NFS group ${group.name}${wanted.length > 1 ? ` (${reports.length + 1} of ${wanted.length})` : ""}`);
      try {
      reports.push(
        await drillGroup({
          options,
          spec,
          group,
          cluster,
          ...(options.control?.clientAddress ? { clientAddress: options.control.clientAddress } : {}),
          timelineSources: [nfsServerLogSource(), ...(alerts ? [alerts] : []), ...(options.timelineSources ?? [])],
        }),
      );
      } finally {
        alerts?.close();
      }
    }
  } finally {
    watcher.close();
  }
  return reports;
}
