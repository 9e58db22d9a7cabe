/**
 * The ids of the Pacemaker configuration (CIB) hpcdk makes from a site: one naming function per
 * kind of object, used by the constructs that build the CIB and by the rule that checks a site
 * before anything is built. Two objects with one id, or an id that is also the id of another
 * object's attributes (`<resource>-instance_attributes`, `<resource>-monitor-interval-10s`), make
 * a CIB that Pacemaker refuses; the rule reports them as site errors at the fields that made them.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/
 */
import type { SiteSpec } from "./site.js";

/** A CIB id: an XML id (NCName). */
export const XML_ID = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Turns a path or clientspec into a piece of a CIB id: `/tank/home` → `tank-home`. */
export function idPart(text: string): string {
  return text.replace(/^\/+|\/+$/g, "").replace(/\//g, "-").replace(/[^A-Za-z0-9_.-]/g, "_") || "root";
}

/** Every id hpcdk gives an object of the CIB. */
export const CibId = {
  pool: (pool: string) => `zfs-${pool}`,
  group: (group: string) => `group-${group}`,
  floatingIp: (group: string) => `ip-${group}`,
  nfsServer: (group: string) => `nfs-server-${group}`,
  ganesha: (group: string) => `nfs-ganesha-${group}`,
  notify: (group: string) => `notify-${group}`,
  export: (path: string, clientspec: string) => `export-${idPart(path)}-${idPart(clientspec)}`,
  /** The kernel NFS server cloned on every node (active/active). */
  sharedNfsServer: "nfs-server",
  sharedNfsServerClone: "nfs-server-clone",
  location: (rsc: string, node: string) => `location-${rsc}-${node}`,
  order: (first: string, then: string) => `order-${first}-then-${then}`,
  colocation: (rsc: string, withRsc: string) => `colocation-${rsc}-with-${withRsc}`,
  fencingLevel: (target: string, index: number) => `fencing-${target}-${index}`,
  /** A Pacemaker-run slurmctld (slurm.controllerIp). */
  slurmctldGroup: "group-slurmctld",
  slurmState: "slurm-state",
  slurmctldIp: "slurmctld-ip",
  slurmctld: "slurmctld",
  /** The attribute sets every CIB has. */
  clusterProperties: "cib-bootstrap-options",
  resourceDefaults: "rsc-options",
} as const;

/** What an attribute set, attribute or operation of an object with id `owner` is called: `<owner>-<suffix>`. */
const SUB_ID = /^(?:(?:instance_attributes|meta_attributes)(?:-.*)?|(?:start|stop|monitor)-interval-[0-9]+s)$/;

/** An id the CIB of a site will hold, what it names, and the site field it comes from. */
export interface PlannedId {
  readonly id: string;
  readonly what: string;
  readonly path: readonly (string | number)[];
}

/**
 * Every id of objects the site's CIB will hold, in the order the constructs make them. The
 * attribute and operation ids below them are `<id>-…` (see {@link subIdClash}).
 */
export function plannedCibIds(site: SiteSpec): PlannedId[] {
  const ids: PlannedId[] = [
    { id: CibId.clusterProperties, what: "the cluster properties", path: ["cluster"] },
    { id: CibId.resourceDefaults, what: "the resource defaults", path: ["cluster"] },
  ];
  const add = (id: string, what: string, path: readonly (string | number)[]) => ids.push({ id, what, path });
  site.storage.pools.forEach((p, i) => add(CibId.pool(p.name), `the pool resource of ${p.name}`, ["storage", "pools", i, "name"]));
  const ganesha = site.nfs.server === "ganesha";
  const shared = site.cluster.mode === "active-active" && !ganesha;
  if (shared) {
    add(CibId.sharedNfsServer, "the NFS server", ["nfs", "server"]);
    add(CibId.sharedNfsServerClone, "the NFS server clone", ["nfs", "server"]);
  }
  site.nfs.groups.forEach((g, gi) => {
    const at = (...rest: (string | number)[]) => ["nfs", "groups", gi, ...rest];
    add(CibId.group(g.name), `the resource group of NFS group ${g.name}`, at("name"));
    if (ganesha) add(CibId.ganesha(g.name), `the ganesha resource of NFS group ${g.name}`, at("name"));
    else if (!shared) add(CibId.nfsServer(g.name), `the NFS server of NFS group ${g.name}`, at("name"));
    if (!ganesha) {
      g.exports.forEach((ex, ei) =>
        ex.clients.forEach((c, ci) => add(CibId.export(ex.path, c.spec), `the export of ${ex.path} to ${c.spec}`, at("exports", ei, "clients", ci, "spec"))),
      );
    }
    add(CibId.floatingIp(g.name), `the floating IP of NFS group ${g.name}`, at("name"));
    if (!ganesha) add(CibId.notify(g.name), `the nfsnotify resource of NFS group ${g.name}`, at("name"));
    if (shared) {
      add(CibId.order(CibId.sharedNfsServerClone, CibId.group(g.name)), `the order of NFS group ${g.name} after the NFS server`, at("name"));
      add(CibId.colocation(CibId.group(g.name), CibId.sharedNfsServerClone), `the colocation of NFS group ${g.name} with the NFS server`, at("name"));
    }
    if (g.preferredNode) add(CibId.location(CibId.group(g.name), g.preferredNode), `the preferred node of NFS group ${g.name}`, at("preferredNode"));
  });
  site.fencing.devices.forEach((d, i) => add(d.name, `fence device ${d.name}`, ["fencing", "devices", i, "name"]));
  const nodeNames = site.nodes.map((n) => n.name);
  site.fencing.levels.forEach((level, l) => {
    (level.nodes ?? nodeNames).forEach((node, k) =>
      add(CibId.fencingLevel(node, l + 1), `fencing level ${l + 1} of ${node}`, level.nodes ? ["fencing", "levels", l, "nodes", k] : ["fencing", "levels", l]),
    );
  });
  const slurm = site.slurm;
  if (slurm?.controllerIp && slurm.stateSave) {
    const at = ["slurm", "controllerIp"];
    add(CibId.slurmctldGroup, "the group of the Pacemaker-run slurmctld", at);
    add(CibId.slurmState, "the mount of slurmctld's state", at);
    add(CibId.slurmctldIp, "slurmctld's floating IP", at);
    add(CibId.slurmctld, "the slurmctld resource", at);
    const nfsGroup = site.nfs.groups.find((g) => g.exports.some((e) => e.path === slurm.stateSave!.export));
    if (nfsGroup) add(CibId.order(CibId.group(nfsGroup.name), CibId.slurmctldGroup), "the order of slurmctld after its NFS group", at);
    for (const n of site.nodes) {
      if (!slurm.controllers.includes(n.name) || n.name === slurm.controllers[0]) {
        add(CibId.location(CibId.slurmctldGroup, n.name), `where slurmctld may run (${n.name})`, at);
      }
    }
  }
  return ids;
}

/**
 * The planned id whose attribute or operation ids `id` would be (`zfs-tank-instance_attributes`
 * of `zfs-tank`), or undefined.
 */
export function subIdClash(id: string, planned: ReadonlyMap<string, PlannedId>): PlannedId | undefined {
  for (let k = id.indexOf("-"); k > 0; k = id.indexOf("-", k + 1)) {
    const owner = planned.get(id.slice(0, k));
    if (owner && SUB_ID.test(id.slice(k + 1))) return owner;
  }
  return undefined;
}
