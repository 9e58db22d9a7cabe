/**
 * `deploy.json` in each stack directory: the inventory (common/contracts/inventory.ts), written
 * at synth from the site file's `deploy` section. Nothing in it is secret (keys are paths). A lab
 * or a site-local file overrides it at deploy time (`HPCDK_INVENTORY`, `hpcdk deploy --inventory`).
 */
import type { Inventory } from "../common/contracts/inventory.js";
import type { SiteSpec } from "../schema/site.js";

export function inventoryOf(site: string, source: string, spec: SiteSpec): Inventory {
  return {
    site,
    source,
    secretsDir: `../../../secrets/${site}`,
    ssh: spec.deploy.ssh,
    hosts: spec.deploy.hosts,
    groupConcurrency: spec.deploy.groupConcurrency,
    maxFailPercent: spec.deploy.maxFailPercent,
    clusterWaitSec: spec.deploy.clusterWaitSec,
    managementNodes: [...spec.nodes].sort((a, b) => a.id - b.id).map((n) => n.name),
  };
}
