/**
 * What changing a generated file does to a running site: the update policy each construct
 * declares for its files (recorded in the bundle's manifest), which `hpcdk diff` reports for
 * every change. A contract between the constructs and the operations, on the ground floor.
 */

/** Impact classes, least to most disruptive. */
export const IMPACT_KINDS = ["none", "reload", "restart", "resource-move", "outage"] as const;
export type ImpactKind = (typeof IMPACT_KINDS)[number];

export interface Impact {
  /**
   * - `none`: comments, documentation, scripts run by hand;
   * - `reload`: the daemon rereads it (`scontrol reconfigure`, `nginx -s reload`, `corosync-cfgtool -R`);
   * - `restart`: a daemon restarts on the hosts that have the file;
   * - `resource-move`: Pacemaker stops, starts or moves resources;
   * - `outage`: the service is down until the cluster is rebuilt (cluster name, node ids).
   */
  readonly kind: ImpactKind;
  /** What happens, in a few words: "corosync-cfgtool -R on every node", "restart slurmctld". */
  readonly detail: string;
}

/** The impact of a file whose construct declares none: the most cautious one. */
export const UNDECLARED_IMPACT: Impact = { kind: "outage", detail: "impact not declared by the construct: assume the worst" };

/** The more disruptive of two impacts. */
export function worstImpact(a: Impact, b: Impact): Impact {
  return IMPACT_KINDS.indexOf(b.kind) > IMPACT_KINDS.indexOf(a.kind) ? b : a;
}
