/**
 * Which bundle each host holds, asked before Terraform plans: a deploy that was killed half-way
 * leaves resources in Terraform's state whose hosts never finished, and `hpcdk deploy` replaces
 * them. A host's answer is its marker file, read strictly: anything but a marker as hpcdk writes
 * it (junk, a second line, a huge file) counts as "holds no complete apply", so the host is
 * deployed again, never skipped.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { mapLimited } from "../../common/async.js";
import { appliedMarkerPath, parseBundleRef, type BundleManifest } from "../../common/contracts/bundle.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { MARKER } from "../../common/contracts/marker.js";
import { expandHostlist } from "../../common/hostlist.js";
import { cibRecord } from "../pacemaker/cib-record.js";
import { quorateCib } from "../pacemaker/live-cluster.js";
import { connect } from "../remote/connect.js";
import { readInventory } from "../remote/inventory.js";
import type { SessionPool } from "../remote/shared.js";
import { SshError, type SshSession } from "../remote/ssh.js";
import { manifestPathOf } from "./bundle.js";

/** The marker in a host's marker file, or null when the file holds anything else (it was written by `printf '%s\n'`). */
export function parseMarkerFile(bytes: Buffer): string | null {
  const text = bytes.toString("utf8");
  if (!text.endsWith("\n")) return null;
  const marker = text.slice(0, -1);
  return MARKER.test(marker) ? marker : null;
}

/** The cluster bundle's marker in hpcdk's record of a live CIB, or null when there is none (or junk). */
export function cibMarker(cibXml: string): string | null {
  const applied = cibRecord(cibXml).applied;
  return applied !== undefined && MARKER.test(applied) ? applied : null;
}

/**
 * What each bundle's hosts hold now, by bundle directory: the marker of the last complete apply,
 * null when a host answered and holds none (or junk), undefined when it did not answer. Hosts are
 * asked in parallel.
 */
export async function readMarkers(
  stackDir: string,
  bundles: readonly string[],
  override?: InventoryOverride,
  /** Keeps each host's connection open for the apply that follows (`hpcdk deploy`). @default each closed after its read */
  pool?: SessionPool,
  /**
   * Markers read a moment ago with nothing applied since (the rollout plan's read of each host
   * bundle's host and of the CIB's record): not read again. @default none
   */
  known: ReadonlyMap<string, string | null> = new Map(),
): Promise<Map<string, (string | null | undefined)[]>> {
  const inventory = readInventory(stackDir, override);
  const markers = new Map<string, (string | null | undefined)[]>();
  const jobs: { bundle: string; host: string; index: number; file: string }[] = [];
  for (const bundle of bundles) {
    if (bundle === "cluster") continue;
    const already = known.get(bundle);
    if (already !== undefined && bundle.startsWith("hosts/")) {
      markers.set(bundle, [already]);
      continue;
    }
    const manifest = JSON.parse(readFileSync(join(stackDir, manifestPathOf(bundle)), "utf8")) as BundleManifest;
    const hosts = manifest.kind === "host" ? [manifest.name] : expandHostlist(manifest.hosts ?? "");
    markers.set(bundle, new Array(hosts.length).fill(undefined));
    const file = appliedMarkerPath(parseBundleRef(bundle)!);
    hosts.forEach((host, index) => jobs.push({ bundle, host, index, file }));
  }
  // As many at once as a group's deploy (deploy.groupConcurrency), at least 32: a marker is one
  // short command per host, so a large group is read at the rate its hosts answer.
  await mapLimited(jobs, Math.max(32, inventory.groupConcurrency), async ({ bundle, host, index, file }) => {
    let s: SshSession | undefined;
    try {
      s = pool ? await pool.session(host, { connectTimeoutMs: 5000 }) : await connect(inventory, host, { connectTimeoutMs: 5000 });
      // A marker is 130 bytes: a longer file is junk, and junk is not read into memory.
      let marker: string | null;
      try {
        const bytes = await s.readFile(file, 4096);
        marker = bytes === undefined ? null : parseMarkerFile(bytes);
      } catch (err) {
        if (!(err instanceof SshError && err.stage === "answer")) throw err;
        marker = null;
      }
      markers.get(bundle)![index] = marker;
    } catch {
      // Unreachable: Terraform decides, and the deploy reports the host if it must change.
    } finally {
      if (s) pool ? pool.release(host, s) : s.close();
    }
  });
  // Without a host that completed an apply there is no cluster to ask yet.
  const anyApplied = [...markers.values()].some((list) => list.some((m) => typeof m === "string"));
  const knownCib = known.get("cluster");
  if (bundles.includes("cluster") && knownCib !== undefined) {
    markers.set("cluster", [knownCib]);
  } else if (bundles.includes("cluster")) {
    const found = anyApplied ? await quorateCib(inventory, 5, pool) : { error: "no host holds a bundle yet" };
    if ("xml" in found) {
      try {
        markers.set("cluster", [cibMarker(found.xml)]);
      } catch {
        // A CIB that cannot be read: Terraform decides, as for a node that does not answer.
        markers.set("cluster", [undefined]);
      }
    } else {
      markers.set("cluster", [undefined]);
    }
  }
  return markers;
}
