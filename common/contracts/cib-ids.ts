/**
 * The ids hpcdk gives the objects of the Pacemaker configuration (CIB), made in this one place:
 * the constructs that build the CIB, the steps that wait for a resource and the operations that
 * read a live cluster take them from here (or from the cluster manifest, which records them),
 * never by rebuilding `group-<name>` as a string. The ground floor: it imports nothing.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/
 */

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

/**
 * One NFS group of the HA NFS service as the CIB runs it: what `HaNfsCluster` hands the stack,
 * the stack hands other domains (Slurm's state on the NFS), and the cluster manifest records
 * for the operations (the drill, the labs).
 */
export interface NfsGroupResources {
  /** The group's name in the site (`nfs.groups[].name`). */
  readonly name: string;
  /** The CIB id of its resource group. */
  readonly groupId: string;
  /** The CIB id of its floating IP resource (up last but nfsnotify: the exports are served then). */
  readonly ipResourceId: string;
  /** The floating IP's address, without prefix length. */
  readonly address: string;
  /** The ZFS pools the group imports, in start order. */
  readonly pools: readonly string[];
  /** The exported directories, in the site's order. */
  readonly exports: readonly string[];
}
