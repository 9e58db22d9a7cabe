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
import { mapLimited } from "../../common/async.js";
import { CIB_PATH, manifestPath, type BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { markerOfManifest } from "../../common/contracts/marker.js";
import { HpcdkError } from "../../common/errors.js";
import { compressHostlist } from "../../schema/hostlist.js";
import { loadSiteFile } from "../../schema/load.js";
import { connect, sshSettingProblems } from "../remote/connect.js";
import { PreflightError, readInventory } from "../remote/inventory.js";
import { SshError, type SshSession } from "../remote/ssh.js";
import { compareStacks, type BundleDiff, type PacemakerDiff } from "./compare.js";
import { compareCib, readLiveCib } from "./live/cib.js";
import { driftOf } from "./live/drift.js";
import { fetchHostFiles, type HostFetch } from "./live/fetch.js";
import { writeLiveTree } from "./live/secrets.js";
import { planTargets, type Target } from "./live/targets.js";
import { reportOf, type DiffReport, type LiveCib, type LiveHost } from "./report.js";
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

interface Fetched {
  readonly files: Map<Target, HostFetch>;
  /** Host → SSH error. */
  readonly unreachable: Map<string, string>;
}

/**
 * Fetches every target, one connection per host, `concurrency` hosts at once. The management
 * nodes that answered stay connected in `sessions`, for the CIB; the caller closes them.
 */
async function fetchAll(inventory: Inventory, targets: readonly Target[], concurrency: number, sessions: Map<string, SshSession>): Promise<Fetched> {
  const hostNames = [...new Set([...targets.map((t) => t.host), ...inventory.managementNodes])];
  const files = new Map<Target, HostFetch>();
  const unreachable = new Map<string, string>();
  await mapLimited(hostNames, concurrency, async (host) => {
    let session: SshSession | undefined;
    try {
      session = await connect(inventory, host);
      const asRoot = session.asRoot.bind(session);
      for (const t of targets.filter((t) => t.host === host)) {
        const paths = [...t.manifest.files.map((f) => f.path), ...t.manifest.secretFiles.map((s) => s.path)];
        files.set(t, await fetchHostFiles(session, host, paths, t.stateFile, asRoot));
      }
      if (inventory.managementNodes.includes(host)) {
        sessions.set(host, session);
        session = undefined;
      }
    } catch (err) {
      unreachable.set(host, errorText(host, err));
    } finally {
      session?.close();
    }
  });
  return { files, unreachable };
}

const errorText = (host: string, err: unknown) => (err instanceof SshError ? err.message.replace(`${host}: `, "") : String((err as Error)?.message ?? err));

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
    // The same secrets as the deploy saw, so the bundles' markers are the ones the hosts record.
    if (existsSync(secrets)) cpSync(secrets, join(temp, "secrets", site.name), { recursive: true });
    options.synthesize(site, join(temp, "new"));
    const stackDir = join(temp, "new", "stacks", site.name);
    const next = readStackTree(stackDir, site.name);
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
    const { targets, notChecked } = planTargets(next, markerOf, inventory.managementNodes, options.hosts);
    const fetched = await fetchAll(inventory, targets, options.concurrency ?? 32, sessions);
    const liveDir = join(temp, "live");
    const filled = writeLiveTree(liveDir, next, fetched.files, secrets);

    // The synthesis as the checked hosts see it: one bundle per checked host, compared with the
    // live tree by the same code as any tree of host files.
    const checked = targets.filter((t) => fetched.files.has(t)).sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
    const view: StackTree = {
      dir: next.dir,
      hasManifests: true,
      bundles: new Map(checked.map((t) => [t.dir, t.dir === t.bundle ? t.manifest : { ...t.manifest, kind: "host" as const, name: t.host, dir: t.dir }])),
      terraform: null,
      read: (dir, path) => next.read(checked.find((t) => t.dir === dir)?.bundle ?? dir, path),
    };
    const compared = await compareStacks(readStackTree(liveDir, site.name), view, { newSecrets: { dir: secrets }, oldSecrets: {}, context, otherSide: "the host" });
    const byDir = new Map(compared.bundles.map((b) => [b.dir, b]));
    const bundles: BundleDiff[] = [];
    for (const t of checked) {
      const m = view.bundles.get(t.dir)!;
      const base = byDir.get(t.dir) ?? { kind: m.kind, name: m.name, dir: t.dir, status: "changed" as const, files: [], secrets: [], packages: [], steps: [] };
      const b = driftOf(base, t, fetched.files.get(t)!, filled.get(t)!);
      if (b.files.length + b.secrets.length > 0) bundles.push(b);
    }
    // Management nodes first, then the hosts of node groups, as everywhere in the report.
    bundles.sort((a, b) => Number(!a.dir.startsWith("hosts/")) - Number(!b.dir.startsWith("hosts/")));

    let cib: LiveCib = { status: "not in the site" };
    let pacemaker: PacemakerDiff | null = null;
    if (next.bundles.has("cluster")) {
      const live = await readLiveCib(inventory.managementNodes, sessions, errorText);
      if ("error" in live) {
        cib = { status: "unreachable", error: live.error };
      } else {
        const c = await compareCib(live.xml, next.read("cluster", CIB_PATH)!.toString("utf8"), context).catch((err: unknown) => {
          // A CIB the host answered that cannot be read cannot be compared: that node's error.
          if (err instanceof HpcdkError && !(err instanceof DiffInputError)) return { error: `${live.host}: its CIB cannot be read: ${err.message}` };
          throw err;
        });
        if ("error" in c) {
          cib = { status: "unreachable", error: c.error };
        } else {
          cib = { status: "checked", host: live.host, record: c.record, crmDiff: c.crmDiff };
          if (c.file) {
            bundles.push({ kind: "cluster", name: "cluster", dir: "cluster", status: "changed", files: [c.file], secrets: [], packages: [], steps: [] });
            pacemaker = c.pacemaker;
          }
        }
      }
    }

    const hosts = targets.map((t): LiveHost => {
      const f = fetched.files.get(t);
      if (!f) return { host: t.host, bundle: t.bundle, status: "unreachable", error: fetched.unreachable.get(t.host) ?? "not asked" };
      return { host: t.host, bundle: t.bundle, status: "checked", deployed: f.deployed === null ? "none" : f.deployed === t.marker ? "this synthesis" : "another synthesis" };
    });
    const unreachable = [...new Set(hosts.filter((h) => h.status === "unreachable").map((h) => h.host))];
    const stackDiff = { bundles, terraform: [], terraformSettings: [], pacemaker, notes: [] };
    return reportOf(
      {
        site: site.name,
        siteFile: site.file,
        old: { description: "the hosts (deployed files and the live CIB, over SSH)" },
        new: { description: `${site.file} in the working tree` },
        settings: null,
        settingsNote: "not compared: the other side is the hosts",
        stack: stackDiff,
      },
      {
        hosts,
        notChecked,
        cib,
        unreachable: [...(unreachable.length > 0 ? [compressHostlist(unreachable)] : []), ...(cib.status === "unreachable" ? ["cluster"] : [])],
      },
    );
  } finally {
    for (const s of sessions.values()) s.close();
    rmSync(temp, { recursive: true, force: true });
  }
}

