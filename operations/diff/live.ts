/**
 * `hpcdk diff --live`: drift between what the site file says and what the hosts hold.
 *
 * The site is synthesized as for any diff. Then, over the deploy's SSH layer and read-only (stat
 * and base64, nothing is written on a host), every management node gives the files and secret
 * files of its manifest and the marker of its last complete deploy, and a sample of each node
 * group's hosts gives the group's files. They land in a private temporary tree
 * (`hosts/<host>/…`, `groups/<group>/<host>/…`), which the existing comparison reads as a tree
 * of host files: a managed file without its header is flagged as hand-edited, secret files are
 * compared by salted hash only. Owners and modes come from `stat` on the host. The live CIB
 * (`cibadmin --query` on a management node whose partition has quorum and a DC) is compared
 * with the synthesized configuration by `crm_diff`, and `crm_simulate` says what Pacemaker
 * would do when the deploy puts the site's configuration back.
 *
 * A host that cannot be reached is reported as such, never as drift.
 */
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CIB_PATH, manifestPath, type BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { markerOfManifest } from "../../common/contracts/marker.js";
import { compressHostlist } from "../../common/hostlist.js";
import { loadSiteFile, type LoadedSite } from "../../schema/load.js";
import { sshSettingProblems } from "../remote/connect.js";
import { PreflightError, readInventory } from "../remote/inventory.js";
import type { SshSession } from "../remote/ssh.js";
import type { StackDiff } from "./compare.js";
import { cibDrift } from "./live/cib.js";
import { fileDrift } from "./live/drift.js";
import { fetchAll, type Fetched } from "./live/fetch.js";
import { planTargets, type Target } from "./live/targets.js";
import { reportOf, type DiffReport, type LiveCib, type LiveHost, type LiveReport } from "./report.js";
import { DiffInputError, readStackTree, type StackTree, type SynthesizeSite } from "./tree.js";

export interface LiveOptions {
  /** The site file (working tree). */
  readonly siteFile: string;
  /** How a site is synthesized (what `hpcdk synth` does): the command hands it in. */
  readonly synthesize: SynthesizeSite;
  /** SSH overrides of the site's `deploy` settings (a lab's inventory). @default $HPCDK_INVENTORY, if set */
  readonly inventory?: InventoryOverride;
  /**
   * Hosts of node groups to check, as a hostlist (`c[01-04],login1`) or `all`. Management nodes
   * are always checked. @default the first host of each node group
   */
  readonly hosts?: string;
  /** The working tree's secrets. @default "secrets/<site>" */
  readonly secrets?: string;
  /** Lines of context in unified diffs. @default 3 */
  readonly context?: number;
  /** Hosts asked at once. @default 32 */
  readonly concurrency?: number;
}

/** What the hosts hold compared with what the site file says. */
export async function diffLive(options: LiveOptions): Promise<DiffReport> {
  const site = loadSiteFile(options.siteFile);
  const context = options.context ?? 3;
  const temp = mkdtempSync(join(tmpdir(), "hpcdk-live-"));
  // The live tree holds the hosts' secret files: private, and removed whatever happens.
  chmodSync(temp, 0o700);
  const sessions = new Map<string, SshSession>();
  try {
    const secrets = options.secrets ?? join("secrets", site.name);
    const { next, inventory, markerOf } = synthesizeSide(site, options, temp, secrets);
    const { targets, notChecked } = planTargets(next, markerOf, inventory.managementNodes, options.hosts);
    const fetched = await fetchAll(inventory, targets, options.concurrency ?? 32, sessions);
    const bundles = await fileDrift(site.name, next, targets, fetched.files, { liveDir: join(temp, "live"), secrets, context });
    const cluster = next.bundles.has("cluster")
      ? await cibDrift(inventory.managementNodes, sessions, next.read("cluster", CIB_PATH)!.toString("utf8"), context)
      : { cib: { status: "not in the site" } as const, pacemaker: null };
    if (cluster.bundle) bundles.push(cluster.bundle);
    return liveReport(site, targets, fetched, notChecked, { bundles, terraform: [], terraformSettings: [], pacemaker: cluster.pacemaker, notes: [] }, cluster.cib);
  } finally {
    for (const s of sessions.values()) s.close();
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * The site synthesized into `temp` with a copy of its secrets (so the bundles' markers are the
 * ones the hosts record), the inventory, and each bundle's marker.
 */
function synthesizeSide(site: LoadedSite, options: LiveOptions, temp: string, secrets: string): { next: StackTree; inventory: Inventory; markerOf: (m: BundleManifest) => string } {
  if (existsSync(secrets)) cpSync(secrets, join(temp, "secrets", site.name), { recursive: true });
  options.synthesize(site, join(temp, "new"));
  const stackDir = join(temp, "new", "stacks", site.name);
  let inventory: Inventory;
  try {
    inventory = readInventory(stackDir, options.inventory);
  } catch (err) {
    if (err instanceof PreflightError) throw new DiffInputError(err.message);
    throw err;
  }
  const problems = sshSettingProblems(inventory);
  if (problems.length > 0) throw new DiffInputError(`cannot reach the hosts: ${problems.join("; ")}`);
  // What each host records once it holds its bundle of this synthesis (and these secrets).
  const synthesizedSecrets = join(temp, "secrets", site.name);
  const markerOf = (m: BundleManifest) => markerOfManifest(JSON.parse(readFileSync(join(stackDir, manifestPath(m)), "utf8")) as BundleManifest, synthesizedSecrets);
  return { next: readStackTree(stackDir, site.name), inventory, markerOf };
}

/** The report: the drift found, every host asked (or why not), the live CIB. */
function liveReport(site: LoadedSite, targets: readonly Target[], fetched: Fetched, notChecked: LiveReport["notChecked"], stack: StackDiff, cib: LiveCib): DiffReport {
  const hosts = targets.map((t): LiveHost => {
    const f = fetched.files.get(t);
    if (!f) return { host: t.host, bundle: t.bundle, status: "unreachable", error: fetched.unreachable.get(t.host) ?? "not asked" };
    return { host: t.host, bundle: t.bundle, status: "checked", deployed: f.deployed === null ? "none" : f.deployed === t.marker ? "this synthesis" : "another synthesis" };
  });
  const unreachable = [...new Set(hosts.filter((h) => h.status === "unreachable").map((h) => h.host))];
  return reportOf(
    {
      site: site.name,
      siteFile: site.file,
      old: { description: "the hosts (deployed files and the live CIB, over SSH)" },
      new: { description: `${site.file} in the working tree` },
      settings: null,
      settingsNote: "not compared: the other side is the hosts",
      stack,
    },
    {
      hosts,
      notChecked,
      cib,
      unreachable: [...(unreachable.length > 0 ? [compressHostlist(unreachable)] : []), ...(cib.status === "unreachable" ? ["cluster"] : [])],
    },
  );
}
