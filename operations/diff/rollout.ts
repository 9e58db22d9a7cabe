/**
 * The rollout section of `hpcdk diff`: the plan `hpcdk deploy` would follow if the hosts held the
 * old side, from the two syntheses' bundles (what changes per host, the pinned package versions,
 * both corosync.conf files, whether the CIB changes). The deploy itself plans from what the hosts
 * hold (`hpcdk deploy --plan`), which is the same when the old side is what was deployed.
 */
import { CIB_PATH } from "../../common/contracts/bundle.js";
import { planRollout, type HostDelta, type RolloutPlan } from "../rollout/plan.js";
import { slurmTopologyFromManifests } from "../rollout/slurm.js";
import type { StackDiff } from "./compare.js";
import type { StackTree } from "./tree.js";

const COROSYNC_CONF = "/etc/corosync/corosync.conf";

/** The plan from two syntheses; null when either side has no manifests (nothing to plan from). */
export function rolloutOfDiff(site: string, old: StackTree, next: StackTree, stack: StackDiff, maxUnavailable?: number): RolloutPlan | null {
  if (!old.hasManifests || !next.hasManifests) return null;
  const managementNodes = [...next.bundles.values()].filter((m) => m.kind === "host").map((m) => m.name);
  const byDir = new Map(stack.bundles.map((b) => [b.dir, b]));
  const hosts: HostDelta[] = [];
  for (const [dir, manifest] of next.bundles) {
    if (manifest.kind === "cluster") continue;
    const diff = byDir.get(dir);
    const host = manifest.kind === "host" ? manifest.name : `${manifest.hosts ?? manifest.name}`;
    if (!diff) {
      hosts.push({ host, bundle: dir, state: "current", files: [], packages: [] });
      continue;
    }
    hosts.push({
      host,
      bundle: dir,
      state: old.bundles.has(dir) ? "changed" : "new",
      files: [
        ...diff.files.filter((f) => f.status !== "removed").map((f) => ({ path: f.path, change: f.status === "added" ? ("added" as const) : ("changed" as const), impact: f.impact })),
        ...diff.secrets.filter((s) => s.status === "changed").flatMap((s) => s.paths.map((path) => ({ path, change: "changed" as const, impact: s.impact }))),
      ],
      packages: diff.packages.filter((p) => p.new !== undefined && p.change !== "removed").map((p) => ({ name: p.name, from: p.old ?? null, to: p.new! })),
    });
  }
  const corosyncOf = (tree: StackTree) => {
    const m = [...tree.bundles.values()].find((b) => b.kind === "host" && b.files.some((f) => f.path === COROSYNC_CONF));
    return m ? (tree.read(m.dir, COROSYNC_CONF)?.toString("utf8") ?? null) : null;
  };
  const cibChanged = (old.read("cluster", CIB_PATH)?.toString("utf8") ?? null) !== (next.read("cluster", CIB_PATH)?.toString("utf8") ?? null);
  // Slurm's wave: the old side's slurm.conf as what the daemons run.
  const nextSlurm = slurmTopologyFromManifests(next.bundles.values(), (d, p) => next.read(d, p));
  const oldSlurm = slurmTopologyFromManifests(old.bundles.values(), (d, p) => old.read(d, p));
  return planRollout({
    site,
    ...(nextSlurm ? { slurm: { topology: nextSlurm.topology, running: oldSlurm?.slurmConf ?? null, synthesized: nextSlurm.slurmConf } } : {}),
    managementNodes,
    hosts,
    corosync: { old: corosyncOf(old), new: corosyncOf(next) },
    cib: next.bundles.has("cluster") ? (cibChanged ? "changed" : "current") : "none",
    ...(maxUnavailable !== undefined ? { maxUnavailable } : {}),
  });
}
