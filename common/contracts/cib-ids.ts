/**
 * The ids of the Pacemaker configuration (CIB) hpcdk makes from a site: one naming function per
 * kind of object, used by the constructs that build the CIB and by the site rule
 * (schema/cib-ids.ts) that checks a site before anything is built. The ground floor: it imports
 * nothing of hpcdk.
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
