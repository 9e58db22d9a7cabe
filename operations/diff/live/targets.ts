/**
 * Which hosts `hpcdk diff --live` asks, and what: every management node's bundle, and a sample
 * of each node group's hosts (`--live-hosts` chooses), each with the marker file it keeps.
 */
import { appliedMarkerPath, type BundleManifest } from "../../../common/contracts/bundle.js";
import { compressHostlist, expandHostlist } from "../../../common/hostlist.js";
import type { LiveReport } from "../report.js";
import { DiffInputError, type StackTree } from "../tree.js";

/** One bundle to check on one host. */
export interface Target {
  readonly host: string;
  /** The bundle's directory in the synthesis (`hosts/lv1`, `groups/compute`). */
  readonly bundle: string;
  /** Where this host's files go in the live tree and the report (`hosts/lv1`, `groups/compute/c01`). */
  readonly dir: string;
  readonly manifest: BundleManifest;
  readonly stateFile: string;
  readonly marker: string;
}

/** Which hosts of node groups to check. */
export function groupSample(groups: readonly BundleManifest[], managementNodes: readonly string[], hosts: string | undefined): { chosen: Map<string, readonly string[]>; notChecked: LiveReport["notChecked"] } {
  const members = new Map(groups.map((g) => [g.name, expandHostlist(g.hosts ?? "")]));
  let wanted: Set<string> | undefined;
  if (hosts !== undefined && hosts !== "all") {
    let names: readonly string[];
    try {
      names = expandHostlist(hosts);
    } catch (err) {
      throw new DiffInputError(`--live-hosts: ${(err as Error).message}`);
    }
    const known = new Set([...managementNodes, ...[...members.values()].flat()]);
    const unknown = names.filter((n) => !known.has(n));
    if (unknown.length > 0) throw new DiffInputError(`--live-hosts: ${compressHostlist(unknown)} ${unknown.length === 1 ? "is" : "are"} not a host of the site`);
    wanted = new Set(names);
  }
  const chosen = new Map<string, readonly string[]>();
  const notChecked: LiveReport["notChecked"] = [];
  for (const [group, list] of members) {
    const picked = hosts === undefined ? list.slice(0, 1) : wanted ? list.filter((h) => wanted.has(h)) : list;
    chosen.set(group, picked);
    const rest = list.filter((h) => !picked.includes(h));
    if (rest.length > 0) notChecked.push({ group, hosts: compressHostlist(rest) });
  }
  return { chosen, notChecked };
}

/** What to ask: every management node's bundle, and a sample of each node group's hosts. */
export function planTargets(next: StackTree, markerOf: (manifest: BundleManifest) => string, managementNodes: readonly string[], hosts: string | undefined): { targets: Target[]; notChecked: LiveReport["notChecked"] } {
  const targets: Target[] = [];
  const manifests = [...next.bundles.values()];
  for (const m of manifests.filter((m) => m.kind === "host")) {
    targets.push({ host: m.name, bundle: m.dir, dir: m.dir, manifest: m, stateFile: appliedMarkerPath(m), marker: markerOf(m) });
  }
  const groups = manifests.filter((m) => m.kind === "group");
  const { chosen, notChecked } = groupSample(groups, managementNodes, hosts);
  for (const g of groups) {
    for (const host of chosen.get(g.name) ?? []) {
      targets.push({ host, bundle: g.dir, dir: `${g.dir}/${host}`, manifest: g, stateFile: appliedMarkerPath(g), marker: markerOf(g) });
    }
  }
  return { targets, notChecked };
}

