/**
 * `deploy.json` in each stack directory: everything `hpcdk apply-bundle` needs to reach the
 * hosts, written at synth from the site file. Nothing in it is secret (keys are paths). A lab or
 * a site-local file can override it at deploy time (`HPCDK_INVENTORY`, `hpcdk deploy --inventory`).
 */
import type { DeploySpec } from "../schema/deploy.js";
import type { SiteSpec } from "../schema/site.js";

export interface SshTarget {
  /** The host's name in the site. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
}

export interface Inventory {
  readonly site: string;
  /** The site file, as named in generated headers. */
  readonly source: string;
  /** The secrets folder, relative to the stack directory. */
  readonly secretsDir: string;
  readonly ssh: DeploySpec["ssh"];
  readonly hosts: DeploySpec["hosts"];
  readonly groupConcurrency: number;
  readonly clusterWaitSec: number;
  /** Management nodes in corosync node id order: the CIB step uses the first reachable one. */
  readonly managementNodes: readonly string[];
}

export function inventoryOf(site: string, source: string, spec: SiteSpec): Inventory {
  return {
    site,
    source,
    secretsDir: `../../../secrets/${site}`,
    ssh: spec.deploy.ssh,
    hosts: spec.deploy.hosts,
    groupConcurrency: spec.deploy.groupConcurrency,
    clusterWaitSec: spec.deploy.clusterWaitSec,
    managementNodes: [...spec.nodes].sort((a, b) => a.id - b.id).map((n) => n.name),
  };
}

/** Overrides from an inventory file (a lab's addresses and key) over the site's settings. */
export interface InventoryOverride {
  readonly ssh?: Partial<DeploySpec["ssh"]>;
  readonly hosts?: DeploySpec["hosts"];
}

export function applyOverride(base: Inventory, override: InventoryOverride | undefined): Inventory {
  if (!override) return base;
  const hosts: Record<string, DeploySpec["hosts"][string]> = { ...base.hosts };
  for (const [name, h] of Object.entries(override.hosts ?? {})) hosts[name] = { ...hosts[name], ...h };
  return { ...base, ssh: { ...base.ssh, ...override.ssh }, hosts };
}

/** Where to connect for a host: its override, or its name, with the site's defaults. */
export function targetOf(inventory: Inventory, host: string): SshTarget {
  const h = inventory.hosts[host] ?? {};
  return { host, address: h.address ?? host, port: h.port ?? inventory.ssh.port, user: h.user ?? inventory.ssh.user };
}
