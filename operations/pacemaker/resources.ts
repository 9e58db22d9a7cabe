/**
 * The resources of the synthesized CIB that operations look up, as the cluster manifest records
 * them (`cib.nfsGroups`: each NFS group's resource group id, floating IP resource id, address,
 * pools, exports). Operations read these ids; they never rebuild `group-<name>` as a string.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { manifestPath, type BundleManifest } from "../../common/contracts/bundle.js";
import type { NfsGroupResources } from "../../common/contracts/cib-ids.js";
import { HpcdkError } from "../../common/errors.js";

/** Every NFS group of the stack directory's CIB, in the site's order. */
export function readNfsGroups(stackDir: string): readonly NfsGroupResources[] {
  const file = join(stackDir, manifestPath({ kind: "cluster", name: "cluster" }));
  if (!existsSync(file)) throw new HpcdkError(`no cluster manifest ${file}: run hpcdk synth first`);
  const manifest = JSON.parse(readFileSync(file, "utf8")) as BundleManifest;
  const groups = manifest.cib?.nfsGroups;
  if (!Array.isArray(groups)) throw new HpcdkError(`${file} records no NFS groups (cib.nfsGroups): it was synthesized by an older hpcdk; run hpcdk synth again`);
  return groups;
}

/** The NFS group `name` of the stack directory's CIB. */
export function nfsGroupOf(stackDir: string, name: string): NfsGroupResources {
  const groups = readNfsGroups(stackDir);
  const group = groups.find((g) => g.name === name);
  if (!group) throw new HpcdkError(`the synthesized CIB has no NFS group ${name} (groups: ${groups.map((g) => g.name).join(", ") || "none"}): run hpcdk synth again`);
  return group;
}
