/**
 * The rules of the site's monitoring section that relate it to the rest of the site (the pool,
 * the nodes and their networks, the node groups, the other floating IPs) and the values the stack
 * resolves from it, apart from its schema (schema/monitoring.ts) so that the site's schema
 * (schema/site.ts) composes the section's schema and schema/rules.ts composes these rules, with no
 * circle through site.ts.
 */
import { networkContains, parseCidr, type Cidr } from "../common/net.js";
import type { SiteSpec } from "./site.js";
import { MONITORING_IDS, quoted, type MonitoringServer, type MonitoringSpec } from "./monitoring.js";

type Path = (string | number)[];
type Report = (path: Path, message: string) => void;

const at = (...rest: Path): Path => ["monitoring", ...rest];

/** The resolved server of a validated site's monitoring section. */
export function monitoringServer(site: SiteSpec): MonitoringServer {
  const m = site.monitoring;
  if (!m) throw new Error("monitoringServer: the site has no monitoring section");
  const s = m.server;
  if (s.pool !== undefined) {
    const pool = site.storage.pools.find((p) => p.name === s.pool);
    if (!pool || !s.floatingIp) throw new Error(`monitoringServer: monitoring.server.pool ${s.pool} is not checked`);
    const dataset = s.dataset ?? "monitoring";
    return {
      kind: "ha",
      pool: pool.name,
      dataset: `${pool.name}/${dataset}`,
      dataDir: `${pool.mountpoint.replace(/\/+$/, "")}/${dataset}`,
      ...(s.quota !== undefined ? { quota: s.quota } : {}),
      floatingIp: s.floatingIp,
    };
  }
  return { kind: "host", host: s.host!, dataDir: (s.dataDir ?? "/var/lib/prometheus").replace(/\/+$/, "") || "/" };
}

/** The external labels Prometheus attaches: the site's, with `site` set to the site name unless given. */
export function externalLabels(siteName: string, m: MonitoringSpec): Record<string, string> {
  return { site: siteName, ...m.prometheus.externalLabels };
}

function addressesOf(node: SiteSpec["nodes"][number]): Cidr[] {
  return [...node.addresses, ...node.serviceAddresses];
}

/** The address each management node is scraped on: its address in `monitoring.network`, else link 0. */
export function scrapeAddresses(site: SiteSpec): Record<string, string> {
  const network = site.monitoring?.network !== undefined ? parseCidr(site.monitoring.network) : undefined;
  return Object.fromEntries(
    site.nodes.map((n) => {
      const inNetwork = network && typeof network !== "string" ? addressesOf(n).find((a) => networkContains(network, a.address))?.address : undefined;
      return [n.name, inNetwork ?? n.addresses[0]!.address];
    }),
  );
}

const isUnder = (path: string, dir: string) => {
  const d = dir.replace(/\/+$/, "");
  return path === d || path.startsWith(`${d}/`) || d === "";
};

/** Rules of the monitoring section that relate it to the rest of the site. */
export function checkMonitoring(site: SiteSpec, report: Report): void {
  const m = site.monitoring;
  if (!m) return;
  const nodes = new Map(site.nodes.map((n) => [n.name, n]));
  const nodeList = site.nodes.map((n) => n.name).join(", ");
  const groupList = site.nodeGroups.map((g) => g.name).join(", ") || "none";
  const s = m.server;

  // Where the server runs: exactly one of a pool (HA) or a host.
  if ((s.pool === undefined) === (s.host === undefined)) {
    report(at("server"), "name either pool (HA: Prometheus and Alertmanager on a dataset of the pool, with floatingIp) or host (one management node, not HA), not both or neither");
  }
  if (s.pool !== undefined) {
    const pool = site.storage.pools.find((p) => p.name === s.pool);
    if (!pool) report(at("server", "pool"), `unknown pool ${quoted(s.pool)} (pools: ${site.storage.pools.map((p) => p.name).join(", ")})`);
    if (s.dataDir !== undefined) report(at("server", "dataDir"), "is for server.host: with server.pool the data lives on the pool's dataset (server.dataset)");
    if (!s.floatingIp) report(at("server", "floatingIp"), "Prometheus and Alertmanager move with the pool: they need a floating IP of their own (server.floatingIp)");
    if (pool) {
      const dir = `${pool.mountpoint.replace(/\/+$/, "")}/${s.dataset ?? "monitoring"}`;
      for (const [gi, g] of site.nfs.groups.entries()) {
        for (const [ei, e] of g.exports.entries()) {
          if (isUnder(e.path, dir) || isUnder(dir, e.path)) {
            report(at("server", "dataset"), `${dir} would be inside NFS export ${e.path} (nfs.groups.${gi}.exports.${ei}.path): Prometheus' TSDB must not be on NFS, choose another dataset`);
          }
        }
      }
    }
  }
  if (s.host !== undefined) {
    if (!nodes.has(s.host)) report(at("server", "host"), `unknown management node ${quoted(s.host)} (nodes: ${nodeList})`);
  }
  if (s.host !== undefined && s.pool === undefined) {
    for (const key of ["dataset", "quota", "floatingIp"] as const) {
      if (s[key] !== undefined) report(at("server", key), `is for server.pool (HA); with server.host nothing moves`);
    }
    const dataDir = s.dataDir ?? "/var/lib/prometheus";
    for (const p of site.storage.pools) {
      if (isUnder(dataDir, p.mountpoint)) {
        report(at("server", "dataDir"), `${dataDir} is on pool ${p.name} (${p.mountpoint}), which Pacemaker imports on one node at a time: use server.pool for HA, or a local directory`);
      }
    }
    for (const e of site.nfs.groups.flatMap((g) => g.exports)) {
      if (isUnder(dataDir, e.path)) report(at("server", "dataDir"), `${dataDir} is inside NFS export ${e.path}: Prometheus' TSDB does not support NFS`);
    }
    for (const shared of site.containers?.sharedPaths ?? []) {
      if (isUnder(dataDir, shared)) report(at("server", "dataDir"), `${dataDir} is under ${shared} (containers.sharedPaths), where the site mounts NFS: Prometheus' TSDB does not support NFS`);
    }
  }

  // The floating IP: reachable from every node that may import the pool, and nobody else's.
  const ip = s.floatingIp;
  if (ip) {
    const parsed = parseCidr(`${ip.address}/${ip.cidr}`);
    if (typeof parsed === "string") report(at("server", "floatingIp", "address"), parsed);
    else {
      const outside = site.nodes.filter((n) => !addressesOf(n).some((a) => networkContains(parsed, a.address))).map((n) => n.name);
      if (outside.length > 0) {
        report(
          at("server", "floatingIp", "address"),
          `${ip.address}/${ip.cidr} is outside the networks of ${outside.join(", ")}: every node that may import the pool needs an address in it`,
        );
      }
    }
    const owner = site.nodes.find((n) => addressesOf(n).some((a) => a.address === ip.address));
    if (owner) report(at("server", "floatingIp", "address"), `${ip.address} is also the address of ${owner.name}: a floating IP must not belong to a node`);
    const nfs = site.nfs.groups.find((g) => g.floatingIp.address === ip.address);
    if (nfs) report(at("server", "floatingIp", "address"), `${ip.address} is also the floating IP of NFS group ${quoted(nfs.name)}`);
    if (site.slurm?.controllerIp?.address === ip.address) report(at("server", "floatingIp", "address"), `${ip.address} is also slurm.controllerIp`);
  }

  if (m.network !== undefined) {
    const net = parseCidr(m.network);
    if (typeof net === "string") report(at("network"), net);
    else {
      const outside = site.nodes.filter((n) => !addressesOf(n).some((a) => networkContains(net, a.address))).map((n) => n.name);
      if (outside.length > 0) report(at("network"), `${outside.join(", ")} ha${outside.length === 1 ? "s" : "ve"} no address in ${m.network}: Prometheus could not scrape ${outside.length === 1 ? "it" : "them"}`);
    }
  }

  if (m.prometheus.scrapeTimeoutSec > m.prometheus.scrapeIntervalSec) {
    report(at("prometheus", "scrapeTimeoutSec"), `must not be longer than scrapeIntervalSec (${m.prometheus.scrapeIntervalSec}), got ${m.prometheus.scrapeTimeoutSec}`);
  }
  (m.prometheus.nodeGroups ?? []).forEach((g, i) => {
    if (!site.nodeGroups.some((x) => x.name === g)) report(at("prometheus", "nodeGroups", i), `unknown node group ${quoted(g)} (nodeGroups: ${groupList})`);
  });

  // Ports of the daemons that may share a management node.
  const ports = new Map<number, Path>();
  const portsToCheck: [number, Path][] = [
    [m.prometheus.port, at("prometheus", "port")],
    [m.alertmanager.port, at("alertmanager", "port")],
    [m.exporters.nodeExporterPort, at("exporters", "nodeExporterPort")],
    [m.exporters.haclusterExporterPort, at("exporters", "haclusterExporterPort")],
    [m.exporters.blackboxExporterPort, at("exporters", "blackboxExporterPort")],
  ];
  if (site.slurm) {
    portsToCheck.push([site.slurm.ports.slurmctld, ["slurm", "ports", "slurmctld"]], [site.slurm.ports.slurmdbd, ["slurm", "ports", "slurmdbd"]]);
    if (site.slurm.restApi) portsToCheck.push([site.slurm.restApi.nginx.port, ["slurm", "restApi", "nginx", "port"]]);
  }
  for (const [p, path] of portsToCheck) {
    const first = ports.get(p);
    if (first) report(path, `port ${p} is already used by ${first.join(".")}`);
    else ports.set(p, path);
  }

  // Receivers and the route.
  const am = m.alertmanager;
  const receivers = new Map<string, number>();
  am.receivers.forEach((r, i) => {
    if (receivers.has(r.name)) report(at("alertmanager", "receivers", i, "name"), `receiver name ${quoted(r.name)} is already used by monitoring.alertmanager.receivers.${receivers.get(r.name)}.name`);
    else receivers.set(r.name, i);
    if (!r.email && !r.webhook) report(at("alertmanager", "receivers", i), `receiver ${quoted(r.name)} sends nowhere: give it email or webhook`);
    if (r.email && !am.smtp) report(at("alertmanager", "receivers", i, "email"), "e-mail needs alertmanager.smtp (smarthost and from)");
    if (r.webhook?.bearerToken && r.webhook.basicAuth) report(at("alertmanager", "receivers", i, "webhook"), "give bearerToken or basicAuth, not both");
  });
  const known = [...receivers.keys()].join(", ");
  if (!receivers.has(am.route.receiver)) report(at("alertmanager", "route", "receiver"), `unknown receiver ${quoted(am.route.receiver)} (receivers: ${known})`);
  am.route.routes.forEach((r, i) => {
    if (!receivers.has(r.receiver)) report(at("alertmanager", "route", "routes", i, "receiver"), `unknown receiver ${quoted(r.receiver)} (receivers: ${known})`);
  });

  const writes = new Map<string, number>();
  m.remoteWrite.forEach((w, i) => {
    if (writes.has(w.name)) report(at("remoteWrite", i, "name"), `remote write name ${quoted(w.name)} is already used by monitoring.remoteWrite.${writes.get(w.name)}.name`);
    else writes.set(w.name, i);
  });

  // The CIB ids monitoring adds must not be another resource's.
  const { alert, ...resources } = MONITORING_IDS;
  const ids = new Set<string>([alert, ...(s.pool !== undefined ? Object.values(resources) : [])]);
  site.nfs.groups.forEach((g, i) => {
    for (const id of [`group-${g.name}`, `ip-${g.name}`]) {
      if (ids.has(id)) report(["nfs", "groups", i, "name"], `NFS group ${quoted(g.name)} would get the CIB id ${quoted(id)}, which monitoring uses: rename the group`);
    }
  });
  site.fencing.devices.forEach((d, i) => {
    if (ids.has(d.name)) report(["fencing", "devices", i, "name"], `fence device name ${quoted(d.name)} is a CIB id monitoring uses: rename the device`);
  });

  if (m.grafana && !site.nodeGroups.some((g) => g.name === m.grafana!.nodeGroup)) {
    report(at("grafana", "nodeGroup"), `unknown node group ${quoted(m.grafana.nodeGroup)} (nodeGroups: ${groupList})`);
  }
}

/** What an admin must hear at every synth about the monitoring section. */
export function monitoringWarnings(site: SiteSpec): string[] {
  const s = site.monitoring?.server;
  if (s?.host === undefined || s.pool !== undefined) return [];
  return [
    `monitoring.server.host: Prometheus and Alertmanager run on ${s.host} alone, not HA: when ${s.host} fails nobody is alerted (name a pool and a floating IP in monitoring.server for HA)`,
  ];
}
