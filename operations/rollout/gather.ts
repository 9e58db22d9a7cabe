/**
 * What the hosts hold, for the rollout plan, read-only over the one SSH layer: every management
 * node's files (the same read `hpcdk diff --live` does: stat and base64, nothing written), the
 * versions of the packages the site pins (`dpkg-query`), its applied marker; a sample host of each
 * node group the same way; and, from one quorate management node, the live CIB, which Pacemaker's
 * scheduler (crm_simulate, on this machine) is asked what moves when each node goes into standby.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { mapLimited } from "../../common/async.js";
import { appliedMarkerPath, parseBundleRef, type BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import { shQuote } from "../../common/shell.js";
import { expandHostlist } from "../../common/hostlist.js";
import { cibMarker, parseMarkerFile } from "../deploy/markers.js";
import { fetchHostFiles, hostError, type HostFetch } from "../diff/live/fetch.js";
import { filledValues } from "../diff/live/secrets.js";
import { placementOf } from "../pacemaker/tools.js";
import { quorateCib } from "../pacemaker/live-cluster.js";
import { AnswerError, answerLines, unexpectedLine } from "../remote/answer.js";
import { connect } from "../remote/connect.js";
import type { SessionPool } from "../remote/shared.js";
import type { SshSession } from "../remote/ssh.js";
import type { FileChange, HostDelta, PackageChange, RolloutInput } from "./plan.js";
import { RUNNING_SLURM_CONF } from "./slurm.js";
import { RUNNING_COROSYNC_CONF } from "./together.js";

const run = promisify(execFile);

export interface GatherOptions {
  readonly stackDir: string;
  readonly inventory: Inventory;
  /** Bundle directory → its synthesized manifest (`hosts/m1`, `groups/compute`, `cluster`). */
  readonly manifests: ReadonlyMap<string, BundleManifest>;
  /** Bundle directory → the marker its hosts record once they hold this synthesis. */
  readonly markers: ReadonlyMap<string, string>;
  /** The site's secrets folder. */
  readonly secretsDir: string;
  readonly maxUnavailable?: number;
  /** Seconds to wait for a quorate node. @default 5 */
  readonly clusterWaitSec?: number;
  /** The deploy's connections, kept open for its marker reads and apply. @default each host's connection closed after its read */
  readonly pool?: SessionPool;
  /** Slurm's controllers, the primary first: the slurm.conf its daemons run is read there (./slurm.ts). @default no Slurm */
  readonly slurmControllers?: readonly string[];
}

/** What gatherRollout reads besides the plan's input: the slurm.conf Slurm's daemons run (null: none known). */
export interface Gathered extends Omit<RolloutInput, "site"> {
  readonly slurmRunning: string | null;
  /**
   * The marker each host bundle's host holds and the CIB records ("cluster"), as read: null when
   * none (or junk); a bundle whose host did not answer is absent. What readMarkers would read again.
   */
  readonly markersRead: ReadonlyMap<string, string | null>;
}

const COROSYNC_CONF = "/etc/corosync/corosync.conf";
const SLURM_CONF = "/etc/slurm/slurm.conf";

/** `dpkg-query` of the pinned packages: one line `name version` each, `HPCDK-NONE name` for one not installed. */
export function packageQuery(names: readonly string[]): string {
  return names.map((n) => `v=$(dpkg-query -W -f '\${Status} \${Version}' ${shQuote(n)} 2>/dev/null) && case "$v" in *" installed "*) echo "HPCDK-PKG ${n} \${v##* }";; *) echo "HPCDK-NONE ${n}";; esac || echo "HPCDK-NONE ${n}"`).join("\n") + "\necho HPCDK-END\n";
}

/** Reads what `packageQuery` printed: every package once, in order, and nothing else. */
export function parsePackages(names: readonly string[], stdout: string): Map<string, string | null> {
  const found = new Map<string, string | null>();
  const lines = answerLines(stdout, "dpkg-query's answer", names.length + 1);
  for (const [i, line] of lines.entries()) {
    if (i === names.length) {
      if (line !== "HPCDK-END") throw unexpectedLine("dpkg-query's answer", line);
      return found;
    }
    const m = /^HPCDK-(PKG|NONE) ([a-z0-9][a-z0-9+.-]*)(?: ([0-9][A-Za-z0-9.+~:_-]*))?$/.exec(line);
    if (!m || m[2] !== names[i] || (m[1] === "PKG") !== (m[3] !== undefined)) throw unexpectedLine("dpkg-query's answer", line);
    found.set(m[2]!, m[3] ?? null);
  }
  throw new AnswerError("dpkg-query's answer was cut short");
}

/** What differs between a host's files and its synthesized bundle. */
export function fileChanges(stackDir: string, manifest: BundleManifest, fetched: HostFetch, secretsDir: string): FileChange[] {
  const changes: FileChange[] = [];
  for (const f of manifest.files) {
    const live = fetched.files.get(f.path);
    if (!live || live.kind !== "file") {
      changes.push({ path: f.path, change: "added", impact: f.impact });
      continue;
    }
    if (createHash("sha256").update(live.bytes).digest("hex") === f.sha256) continue;
    if (f.secrets.length > 0) {
      const template = readFileSync(join(stackDir, manifest.dir, f.path), "utf8");
      const values = filledValues(template, live.bytes.toString("utf8"));
      if (values !== null && Object.entries(values).every(([name, v]) => secretEquals(secretsDir, name, Buffer.from(v)))) continue;
    }
    changes.push({ path: f.path, change: "changed", impact: f.impact });
  }
  for (const s of manifest.secretFiles) {
    const live = fetched.files.get(s.path);
    // Compared byte for byte with the secrets folder; the value goes nowhere.
    if (live?.kind === "file" && secretEquals(secretsDir, s.secret, live.bytes)) continue;
    changes.push({ path: s.path, change: live?.kind === "file" ? "changed" : "added", impact: s.impact });
  }
  return changes;
}

function secretEquals(dir: string, name: string, bytes: Buffer): boolean {
  const file = join(dir, name);
  return existsSync(file) && readFileSync(file).equals(bytes);
}

/** The hosts' side of the plan: what each holds, the live corosync.conf and CIB, what standby moves. */
export async function gatherRollout(options: GatherOptions): Promise<Gathered> {
  const { inventory, manifests, stackDir } = options;
  const targets: { host: string; bundle: string; manifest: BundleManifest }[] = [];
  for (const [bundle, manifest] of manifests) {
    if (manifest.kind === "host") targets.push({ host: manifest.name, bundle, manifest });
    if (manifest.kind === "group") {
      const first = expandHostlist(manifest.hosts ?? "")[0];
      if (first !== undefined) targets.push({ host: first, bundle, manifest });
    }
  }
  const liveCorosyncOf = new Map<string, string>();
  // Each host bundle's marker as read (null: none or junk): the deploy's marker check reuses it.
  const markersRead = new Map<string, string | null>();
  const slurmControllers = new Set(options.slurmControllers ?? []);
  // Per controller: the slurm.conf the wave recorded as running, else (before any wave) the one hpcdk put there.
  const slurmRunningOf = new Map<string, string>();
  // The live CIB is asked for at the same time as the hosts' files (one command on the first
  // quorate node, over the same connection): a no-op deploy waits for one round trip, not two.
  const cibAsked = manifests.has("cluster") ? quorateCib(inventory, options.clusterWaitSec ?? 5, options.pool) : undefined;
  const hosts: HostDelta[] = await mapLimited(targets, 32, async ({ host, bundle, manifest }): Promise<HostDelta> => {
    let session: SshSession | undefined;
    try {
      session = options.pool ? await options.pool.session(host, { connectTimeoutMs: 5000 }) : await connect(inventory, host, { connectTimeoutMs: 5000 });
      const slurmController = manifest.kind === "host" && slurmControllers.has(host);
      const markerFile = appliedMarkerPath(parseBundleRef(bundle)!);
      const asRoot = session.asRoot.bind(session);
      // First what every host's plan needs (its marker, corosync.conf, the slurm.conf its daemons
      // run): a host that holds this synthesis already is done with that one short read, so a
      // no-op deploy reads no file it does not use. Only a host that changes has all its files read.
      // The marker file itself too, read as the deploy's marker check reads it (one line exactly).
      const always = [
        markerFile,
        ...(manifest.kind === "host" && manifest.files.some((f) => f.path === COROSYNC_CONF) ? [COROSYNC_CONF, RUNNING_COROSYNC_CONF] : []),
        ...(slurmController ? [SLURM_CONF, RUNNING_SLURM_CONF] : []),
      ];
      let fetched = await fetchHostFiles(session, host, always, markerFile, asRoot);
      if (fetched.deployed !== options.markers.get(bundle)) {
        const paths = [...new Set([...manifest.files.map((f) => f.path), ...manifest.secretFiles.map((s) => s.path), ...always])];
        fetched = await fetchHostFiles(session, host, paths, markerFile, asRoot);
      }
      if (manifest.kind === "host") {
        const m = fetched.files.get(markerFile);
        markersRead.set(bundle, m?.kind === "file" ? parseMarkerFile(m.bytes) : null);
      }
      if (slurmController && fetched.deployed !== null) {
        const running = fetched.files.get(RUNNING_SLURM_CONF);
        const current = fetched.files.get(SLURM_CONF);
        if (running?.kind === "file") slurmRunningOf.set(host, running.bytes.toString("utf8"));
        else if (current?.kind === "file") slurmRunningOf.set(host, current.bytes.toString("utf8"));
      }
      // A together wave that stopped recorded what the cluster ran before it sent the new file:
      // that is what runs (./together.ts), whatever file the host holds now.
      const recorded = fetched.files.get(RUNNING_COROSYNC_CONF);
      const cc = recorded?.kind === "file" ? recorded : fetched.files.get(COROSYNC_CONF);
      // Only a corosync.conf hpcdk put there says what the cluster runs: a host that holds no
      // bundle of the site has the distribution's example (cluster_name debian) or nothing.
      if (manifest.kind === "host" && fetched.deployed !== null && cc?.kind === "file") liveCorosyncOf.set(host, cc.bytes.toString("utf8"));
      if (fetched.deployed === options.markers.get(bundle)) return { host, bundle, state: "current", files: [], packages: [] };
      const pinned = manifest.packages.filter((p) => p.version !== undefined);
      let packages: PackageChange[] = [];
      if (pinned.length > 0) {
        const r = await session.exec(session.asRoot("sh -s"), { stdin: packageQuery(pinned.map((p) => p.debian)), timeoutMs: 60_000, maxOutputBytes: 1024 * 1024 });
        const versions = parsePackages(
          pinned.map((p) => p.debian),
          r.stdout,
        );
        packages = pinned.filter((p) => versions.get(p.debian) !== p.version).map((p) => ({ name: p.debian, from: versions.get(p.debian) ?? null, to: p.version! }));
      }
      return { host, bundle, state: fetched.deployed === null ? "new" : "changed", files: fileChanges(stackDir, manifest, fetched, options.secretsDir), packages };
    } catch (err) {
      return { host, bundle, state: "unreachable", files: [], packages: [], error: hostError(host, err) };
    } finally {
      if (session) options.pool ? options.pool.release(host, session) : session.close();
    }
  });
  // The first management node (in node id order) that holds one: the same answer whatever order the hosts answer in.
  const liveCorosync = inventory.managementNodes.map((n) => liveCorosyncOf.get(n)).find((t) => t !== undefined) ?? null;
  const first = [...manifests.values()].find((m) => m.kind === "host" && m.files.some((f) => f.path === COROSYNC_CONF));
  const newCorosync = first ? readFileSync(join(stackDir, first.dir, COROSYNC_CONF), "utf8") : null;

  let cib: RolloutInput["cib"] = manifests.has("cluster") ? "unknown" : "none";
  let standbyMoves: Record<string, string[]> | undefined;
  // The live CIB's record, once a management node answered (else the plan says the CIB is unknown).
  const found = cibAsked ? await cibAsked : undefined;
  if (found && "xml" in found && hosts.some((h) => h.bundle.startsWith("hosts/") && h.state !== "unreachable")) {
    try {
      const recorded = cibMarker(found.xml);
      markersRead.set("cluster", recorded);
      cib = recorded === options.markers.get("cluster") ? "current" : "changed";
      // What a node's standby moves matters only for a host that changes (a rolling wave):
      // when every host holds its bundle already (a no-op deploy), Pacemaker's scheduler is
      // not asked (one crm_simulate per management node: seconds on a loaded machine).
      if (hosts.some((h) => h.state !== "current")) standbyMoves = await standbySimulation(found.xml, inventory.managementNodes);
    } catch {
      // The plan says the CIB is unknown; the deploy applies it.
    }
  }
  return {
    markersRead,
    slurmRunning: (options.slurmControllers ?? []).map((c) => slurmRunningOf.get(c)).find((t) => t !== undefined) ?? null,
    managementNodes: inventory.managementNodes,
    hosts,
    corosync: { old: liveCorosync, new: newCorosync },
    cib,
    ...(options.maxUnavailable !== undefined ? { maxUnavailable: options.maxUnavailable } : {}),
    groupConcurrency: inventory.groupConcurrency,
    ...(standbyMoves ? { standbyMoves } : {}),
  };
}

/**
 * Pacemaker's scheduler asked, on a copy of the live CIB (status included): with this node in
 * standby, which resources that run on it now run elsewhere or stop. Per node, resource ids sorted.
 */
export async function standbySimulation(cibXml: string, nodes: readonly string[]): Promise<Record<string, string[]>> {
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-standby-"));
  try {
    const live = join(dir, "live.xml");
    writeFileSync(live, cibXml);
    const before = await placementOf(live);
    const moves: Record<string, string[]> = {};
    for (const node of nodes) {
      const copy = join(dir, `${node}.xml`);
      const after = join(dir, `${node}-after.xml`);
      writeFileSync(copy, cibXml);
      await run("crm_attribute", ["--type", "nodes", "--node", node, "--name", "standby", "--update", "on"], { env: { ...process.env, CIB_file: copy } });
      await run("crm_simulate", ["-Q", "-S", "-x", copy, "-O", after], { maxBuffer: 64 * 1024 * 1024 });
      const placed = await placementOf(after);
      moves[node] = Object.keys(before)
        .filter((id) => (before[id] ?? []).includes(node) && !(placed[id] ?? []).includes(node))
        .sort();
    }
    return moves;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
