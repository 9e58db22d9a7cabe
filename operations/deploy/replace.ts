/**
 * Which Terraform resources `hpcdk deploy` replaces before it applies: Terraform's state says
 * what Terraform did, not what the hosts hold. A resource whose hosts answer with anything but
 * the bundle they should hold is replaced, so this deploy finishes what an interrupted one began.
 *
 * The cluster bundle (the CIB) has no host of its own: its marker is read from the live CIB on a
 * quorate node, and is unknown when no node can be asked (a fresh cluster, or stale state left
 * from a lab that was torn down and brought up again). When the hosts' own resources are being
 * (re)applied and the cluster marker is unknown, the CIB cannot be assumed to hold anything: its
 * resource is replaced too, or the fresh cluster would never get its configuration.
 */

/** One deployment resource as the deploy sees it. */
export interface DeployedResource {
  /** Terraform address: `null_resource.hosts_m1`. */
  readonly address: string;
  /** `hosts/<host>`, `groups/<group>` or `cluster`. */
  readonly bundle: string;
  /** The marker its hosts record once they hold this synthesis. */
  readonly marker: string;
}

/**
 * Addresses to replace, in the order given.
 * @param inState addresses Terraform's state holds
 * @param markers per bundle: each host's marker, null (holds none or junk), undefined (did not answer)
 */
export function resourcesToReplace(
  resources: readonly DeployedResource[],
  inState: ReadonlySet<string>,
  markers: ReadonlyMap<string, readonly (string | null | undefined)[]>,
): string[] {
  const stale = (r: DeployedResource) => (markers.get(r.bundle) ?? []).some((m) => m !== undefined && m !== r.marker);
  const replaced = new Set(resources.filter((r) => inState.has(r.address) && stale(r)).map((r) => r.address));
  // Host and group resources that run in this deploy: replaced, or not in the state at all.
  const hostsRun = resources.some((r) => r.bundle !== "cluster" && (replaced.has(r.address) || !inState.has(r.address)));
  for (const r of resources) {
    if (r.bundle !== "cluster" || !inState.has(r.address) || replaced.has(r.address)) continue;
    const cluster = markers.get("cluster") ?? [undefined];
    if (cluster.every((m) => m === undefined) && hostsRun) replaced.add(r.address);
  }
  return resources.filter((r) => replaced.has(r.address)).map((r) => r.address);
}
