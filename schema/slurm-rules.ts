/**
 * The rules of the site's Slurm section that relate it to the rest of the site, apart from its
 * schema (schema/slurm.ts) so that the site's schema (schema/site.ts) composes the section's
 * schema and schema/rules.ts composes these rules, with no circle through site.ts.
 */
import { expandHostlist } from "../common/hostlist.js";
import { hostAddressProblem, networkContains, parseCidr, type Cidr } from "../common/net.js";
import type { SiteSpec } from "./site.js";
import { SLURM_RELEASES, quoted, type SlurmSpec } from "./slurm.js";

type Path = (string | number)[];
type Report = (path: Path, message: string) => void;

const at = (...rest: Path): Path => ["slurm", ...rest];

/** Networks (CIDR) of a management node, link and service addresses. */
function addressesOf(node: SiteSpec["nodes"][number]): Cidr[] {
  return [...node.addresses, ...node.serviceAddresses];
}

/** The site's export a path names, with its group. */
export function findExport(site: SiteSpec, path: string) {
  for (const group of site.nfs.groups) for (const ex of group.exports) if (ex.path === path) return { group, ex };
  return undefined;
}

/** Rules of the slurm section that relate it to the rest of the site. */
export function checkSlurm(site: SiteSpec, report: Report): void {
  const slurm = site.slurm;
  if (!slurm) return;
  const nodes = new Map(site.nodes.map((n) => [n.name, n]));
  const nodeList = site.nodes.map((n) => n.name).join(", ");
  const groups = new Map(site.nodeGroups.map((g) => [g.name, g]));
  const groupList = site.nodeGroups.map((g) => g.name).join(", ") || "none";
  const managementNode = (name: string, path: Path) => {
    if (!nodes.has(name)) report(path, `unknown management node ${quoted(name)} (nodes: ${nodeList})`);
    return nodes.get(name);
  };
  const unique = () => {
    const seen = new Map<string, Path>();
    return (value: string, path: Path, what: string) => {
      const first = seen.get(value);
      if (first) report(path, `${what} ${quoted(value)} is already used by ${first.join(".")}`);
      else seen.set(value, path);
    };
  };

  if (!slurm.configless && slurm.configlessLoginGroups !== "files") {
    report(at("configlessLoginGroups"), `${quoted(slurm.configlessLoginGroups)} needs slurm.configless: true (without it every Slurm host gets slurm.conf)`);
  }

  // Parsed by the schema (slurm.network is a network in CIDR form or refused there).
  const network = slurm.network;
  const needsAddress = (name: string, path: Path) => {
    const node = nodes.get(name);
    if (!node || !network) return;
    if (!addressesOf(node).some((c) => networkContains(network!, c.address))) {
      report(path, `${quoted(name)} has no address in slurm.network ${slurm.network!.text}`);
    }
  };

  const controllers = unique();
  slurm.controllers.forEach((c, i) => {
    controllers(c, at("controllers", i), "controller");
    managementNode(c, at("controllers", i));
    needsAddress(c, at("controllers", i));
  });

  if (slurm.controllerIp) {
    const ip = slurm.controllerIp;
    if (slurm.controllers.length < 2) {
      report(at("controllerIp"), `a Pacemaker-run slurmctld moves between controllers: name two or more in slurm.controllers, got ${slurm.controllers.length}`);
    }
    const parsed = parseCidr(`${ip.address}/${ip.cidr}`);
    if (typeof parsed === "string") report(at("controllerIp", "address"), parsed);
    else {
      const notHost = hostAddressProblem(parsed);
      if (notHost) report(at("controllerIp", "address"), notHost);
      slurm.controllers.forEach((c) => {
        const node = nodes.get(c);
        if (node && !addressesOf(node).some((a) => networkContains(parsed, a.address))) {
          report(at("controllerIp", "address"), `${ip.address}/${ip.cidr} is outside the networks of controller ${quoted(c)}: every controller that may run slurmctld needs an address in it`);
        }
      });
    }
    const owner = site.nodes.find((n) => addressesOf(n).some((a) => a.address === ip.address));
    if (owner) report(at("controllerIp", "address"), `${ip.address} is also the address of ${owner.name}: a floating IP must not belong to a node`);
    const nfs = site.nfs.groups.find((g) => g.floatingIp.address === ip.address);
    if (nfs) report(at("controllerIp", "address"), `${ip.address} is also the floating IP of NFS group ${quoted(nfs.name)}`);
  }
  if (slurm.controllers.length > 1 && !slurm.stateSave) {
    report(
      at("stateSave"),
      `${slurm.controllers.length} controllers need a shared StateSaveLocation: name an export of the site's NFS (slurm.stateSave.export), exports: ${site.nfs.groups.flatMap((g) => g.exports.map((e) => e.path)).join(", ")}`,
    );
  }
  if (slurm.stateSave) {
    const found = findExport(site, slurm.stateSave.export);
    if (!found) {
      report(
        at("stateSave", "export"),
        `${quoted(slurm.stateSave.export)} is not an export of the site's NFS (exports: ${site.nfs.groups.flatMap((g) => g.exports.map((e) => e.path)).join(", ")})`,
      );
    } else {
      const writable = found.ex.clients.filter((c) => c.options.split(",").includes("rw"));
      if (writable.length === 0) {
        report(at("stateSave", "export"), `${quoted(slurm.stateSave.export)} is exported read-only to every client: slurmctld must write its state there`);
      } else {
        // Clients given as networks can be checked: every controller must be inside one that may write.
        const nets = writable.map((c) => parseCidr(c.spec.includes("/") ? c.spec : `${c.spec}/32`));
        if (nets.every((n) => typeof n !== "string")) {
          slurm.controllers.forEach((c, i) => {
            const node = nodes.get(c);
            if (node && !addressesOf(node).some((a) => nets.some((n) => networkContains(n as Cidr, a.address)))) {
              report(
                at("controllers", i),
                `${quoted(c)} has no address that ${slurm.stateSave!.export} is exported read-write to (${writable.map((w) => w.spec).join(", ")}): it could not write the shared StateSaveLocation`,
              );
            }
          });
        }
      }
    }
  }

  const ports = unique();
  (["slurmctld", "slurmd", "slurmdbd"] as const).forEach((p) => ports(String(slurm.ports[p]), at("ports", p), "port"));

  if (slurm.plugins.task.includes("task/none") && slurm.plugins.task.length > 1) {
    report(at("plugins", "task"), `task/none cannot be combined with other task plugins, got ${slurm.plugins.task.join(",")}`);
  }
  const taskPlugins = unique();
  slurm.plugins.task.forEach((t, i) => taskPlugins(t, at("plugins", "task", i), "task plugin"));
  if (slurm.plugins.jobacctGather === "jobacct_gather/cgroup" && slurm.plugins.proctrack !== "proctrack/cgroup") {
    report(at("plugins", "jobacctGather"), `jobacct_gather/cgroup needs proctrack/cgroup, got ${slurm.plugins.proctrack} (use jobacct_gather/linux)`);
  }

  const partitionNames = unique();
  const defaults: number[] = [];
  slurm.partitions.forEach((p, i) => {
    partitionNames(p.name, at("partitions", i, "name"), "partition name");
    if (p.name === "default") report(at("partitions", i, "name"), `"default" is reserved by Slurm (PartitionName=DEFAULT sets defaults for every partition)`);
    if (p.default) defaults.push(i);
    const inPartition = unique();
    p.nodeGroups.forEach((g, k) => {
      inPartition(g, at("partitions", i, "nodeGroups", k), "node group");
      const group = groups.get(g);
      if (!group) report(at("partitions", i, "nodeGroups", k), `unknown node group ${quoted(g)} (nodeGroups: ${groupList})`);
      else if (!group.hardware) {
        const gi = site.nodeGroups.indexOf(group);
        report(
          at("partitions", i, "nodeGroups", k),
          `node group ${quoted(g)} has no hardware (nodeGroups.${gi}.hardware): Slurm's node definition needs its sockets, cores, threads and memory`,
        );
      }
    });
  });
  // Each partition group becomes a Slurm NodeSet of its name, which must not be a node's name;
  // its GPUs' device files must be as many as it says.
  const hostNames = new Set(site.nodeGroups.flatMap((g) => expandHostlist(g.hosts)));
  const checked = new Set<string>();
  for (const name of slurm.partitions.flatMap((p) => p.nodeGroups)) {
    const group = groups.get(name);
    if (!group || checked.has(name)) continue;
    checked.add(name);
    const gi = site.nodeGroups.indexOf(group);
    if (hostNames.has(name)) {
      report(["nodeGroups", gi, "name"], `${quoted(name)} is also a host name: Slurm's NodeSet ${name} would overlap NodeName ${name}`);
    }
    const gpus = group.hardware?.gpus;
    if (!gpus) continue;
    let devices: readonly string[];
    try {
      devices = expandHostlist(gpus.devices);
    } catch (err) {
      report(["nodeGroups", gi, "hardware", "gpus", "devices"], (err as Error).message);
      continue;
    }
    if (devices.length !== gpus.count) {
      report(["nodeGroups", gi, "hardware", "gpus", "devices"], `${quoted(gpus.devices)} names ${devices.length} device file(s) but count is ${gpus.count}`);
    }
  }
  if (defaults.length > 1) report(at("partitions", defaults[1]!, "default"), `only one partition can be the default, partitions.${defaults[0]} already is`);

  const login = unique();
  slurm.loginGroups.forEach((g, i) => {
    login(g, at("loginGroups", i), "node group");
    if (!groups.has(g)) report(at("loginGroups", i), `unknown node group ${quoted(g)} (nodeGroups: ${groupList})`);
  });

  if (slurm.accounting) {
    managementNode(slurm.accounting.host, at("accounting", "host"));
    needsAddress(slurm.accounting.host, at("accounting", "host"));
    if (slurm.accounting.storageUser === "root") report(at("accounting", "storageUser"), `slurmdbd must not use MariaDB's root account, got "root"`);
  }

  const api = slurm.restApi;
  if (api) {
    const restHosts = unique();
    api.hosts.forEach((h, i) => {
      restHosts(h, at("restApi", "hosts", i), "host");
      managementNode(h, at("restApi", "hosts", i));
    });
    if (api.user === "root" || api.user === slurm.slurmUser) {
      report(at("restApi", "user"), `slurmrestd must run as its own unprivileged user, not root or SlurmUser, got ${quoted(api.user)}`);
    }
    const release = SLURM_RELEASES[slurm.version]!;
    const known = new Set(release.openapi);
    const plugins = unique();
    (api.openapiPlugins ?? []).forEach((p, i) => {
      plugins(p, at("restApi", "openapiPlugins", i), "plugin");
      if (!known.has(p)) report(at("restApi", "openapiPlugins", i), `Slurm ${slurm.version} ships no ${quoted(p)} (openapi plugins: ${release.openapi.join(", ")})`);
      else if (p.startsWith("openapi/dbv") && !slurm.accounting) report(at("restApi", "openapiPlugins", i), `${p} serves /slurmdb/ and needs slurm.accounting`);
    });
    if (!api.authTypes.includes("rest_auth/jwt")) report(at("restApi", "authTypes"), `nginx passes X-SLURM-USER-TOKEN: slurmrestd needs rest_auth/jwt, got ${api.authTypes.join(",")}`);
    if (!slurm.plugins.authAltTypes.includes("auth/jwt")) report(at("plugins", "authAltTypes"), `slurmrestd with rest_auth/jwt needs auth/jwt in AuthAltTypes`);
    api.nginx.allow.forEach((a, i) => {
      const parsed = parseCidr(a.includes("/") ? a : `${a}/${a.includes(":") ? 128 : 32}`);
      if (typeof parsed === "string") report(at("restApi", "nginx", "allow", i), parsed);
    });
    if (api.hosts.some((h) => slurm.controllers.includes(h)) && api.nginx.port === slurm.ports.slurmctld) {
      report(at("restApi", "nginx", "port"), `port ${api.nginx.port} is slurmctld's (slurm.ports.slurmctld)`);
    }
  }
}

/** The openapi plugins slurmrestd loads: the site's choice, or the release's default (without dbv plugins when there is no accounting). */
export function openapiPlugins(slurm: SlurmSpec): string[] {
  if (slurm.restApi?.openapiPlugins) return [...slurm.restApi.openapiPlugins];
  return SLURM_RELEASES[slurm.version]!.defaultOpenapi.filter((p) => slurm.accounting || !p.startsWith("openapi/dbv"));
}

/** The cluster name Slurm records: the site's choice or cluster.name in lower case. */
export function slurmClusterName(site: SiteSpec): string {
  return site.slurm?.clusterName ?? site.cluster.name.toLowerCase().replace(/-/g, "_").slice(0, 40);
}
