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
import { execFile } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { convert } from "xmlbuilder2";
import { SECRET_REF, type BundleManifest, type Impact } from "../../constructs/core/index.js";
import { compressHostlist, expandHostlist } from "../../schema/hostlist.js";
import { loadSiteFile } from "../../schema/load.js";
import type { Inventory, InventoryOverride } from "../../stacks/inventory.js";
import { synthesize } from "../../stacks/synth.js";
import { cibRecord, configurationDigest, mergeCib, readInventory, sshOptions, PreflightError } from "../deploy.js";
import { summarize, type DiffReport } from "../diff.js";
import { liveCibTransition } from "../simulate.js";
import { expandHome, SshError, SshSession, type ExecResult } from "../ssh.js";
import { compareStacks, transitionImpact, unifiedHunks, worse, type BundleDiff, type FileDiff, type PacemakerDiff, type SecretDiff } from "./compare.js";
import { DiffInputError, readStackTree, type StackTree } from "./tree.js";
import { mapLimited } from "../../common/async.js";

const runFile = promisify(execFile);

type ManifestFile = BundleManifest["files"][number];
type ManifestSecretFile = BundleManifest["secretFiles"][number];

export interface LiveOptions {
  /** The site file (working tree). */
  readonly siteFile: string;
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

/** What one host said, or why it said nothing. */
export interface LiveHost {
  readonly host: string;
  /** The bundle checked on it: `hosts/<host>`, or `groups/<group>` for a host of a node group. */
  readonly bundle: string;
  readonly status: "checked" | "unreachable";
  /** The SSH error of an unreachable host. */
  readonly error?: string;
  /**
   * The host's record of its last complete deploy of the bundle: `this synthesis` (so every
   * difference happened on the host since), `another synthesis` (the site changed since, or a
   * deploy is pending), or `none`.
   */
  readonly deployed?: "this synthesis" | "another synthesis" | "none";
}

export interface LiveCib {
  readonly status: "checked" | "unreachable" | "not in the site";
  /** The management node the CIB came from. */
  readonly host?: string;
  readonly error?: string;
  /**
   * hpcdk's record in the CIB: `as applied` (the configuration is what the last deploy left),
   * `changed since applied` (someone changed it; a deploy refuses to replace it without --force),
   * `never applied`.
   */
  readonly record?: "as applied" | "changed since applied" | "never applied";
  /** crm_diff's patch from the live configuration to the site's; "" when they are the same. */
  readonly crmDiff?: string;
}

export interface LiveReport {
  /** Every host asked, by bundle then host. */
  readonly hosts: LiveHost[];
  /** Hosts of node groups that were not asked (`--live-hosts` chooses). */
  readonly notChecked: { readonly group: string; readonly hosts: string }[];
  readonly cib: LiveCib;
  /** Hosts (and `cluster` for the CIB) that could not be checked: the report cannot say "no drift" for them. */
  readonly unreachable: string[];
}

// ---------------------------------------------------------------------------------------------
// Reading files on a host

/** One path on a host, as the fetch found it. */
export type FetchedFile =
  | { readonly kind: "file"; readonly owner: string; readonly group: string; readonly mode: string; readonly bytes: Buffer }
  | { readonly kind: "missing" }
  | { readonly kind: "not-a-file" }
  | { readonly kind: "unreadable"; readonly error: string };

export interface HostFetch {
  /** By path. */
  readonly files: Map<string, FetchedFile>;
  /** The marker of the last complete deploy (`<sha256>:<fingerprint>`), or null. */
  readonly deployed: string | null;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * The POSIX shell script that reads `paths` and the deploy marker in `stateFile` on a host. It
 * only reads (`stat`, `base64`, `cat`); every path answers with one line by its index, files
 * with their owner, group and mode and the content in base64 on the next line.
 */
export function fetchScript(paths: readonly string[], stateFile: string): string {
  const loop = [
    "i=0",
    `for p in ${paths.map(quote).join(" ")}; do`,
    `    if [ ! -e "$p" ]; then`,
    `        echo "HPCDK-MISSING $i"`,
    `    elif [ ! -f "$p" ]; then`,
    `        echo "HPCDK-NOT-A-FILE $i"`,
    `    elif ! meta=$(stat -L -c '%U:%G:%a' -- "$p" 2>&1); then`,
    `        echo "HPCDK-UNREADABLE $i $(printf '%s' "$meta" | head -n 1)"`,
    `    elif ! data=$(base64 -w0 -- "$p" 2>&1); then`,
    `        echo "HPCDK-UNREADABLE $i $(printf '%s' "$data" | head -n 1)"`,
    "    else",
    `        echo "HPCDK-FILE $i $meta"`,
    `        printf '%s\\n' "$data"`,
    "    fi",
    "    i=$((i + 1))",
    "done",
  ];
  return [
    "set -u",
    ...(paths.length > 0 ? loop : []),
    `if [ -f ${quote(stateFile)} ]; then echo "HPCDK-DEPLOYED $(head -n 1 ${quote(stateFile)})"; else echo "HPCDK-DEPLOYED"; fi`,
    "echo HPCDK-END",
    "",
  ].join("\n");
}

/** Reads what `fetchScript` printed; throws when the output is cut short or garbled. */
export function parseFetch(paths: readonly string[], stdout: string): HostFetch {
  const files = new Map<string, FetchedFile>();
  const lines = stdout.split("\n");
  let deployed: string | null | undefined;
  let ended = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const m = /^HPCDK-(FILE|MISSING|NOT-A-FILE|UNREADABLE|DEPLOYED|END)(?: (.*))?$/.exec(line);
    if (!m) continue;
    const [, what, rest = ""] = m;
    if (what === "END") {
      ended = true;
      break;
    }
    if (what === "DEPLOYED") {
      deployed = rest.trim() === "" ? null : rest.trim();
      continue;
    }
    const [index, ...more] = rest.split(" ");
    const path = paths[Number(index)];
    if (path === undefined) throw new Error(`unexpected answer "${line}"`);
    if (what === "MISSING") files.set(path, { kind: "missing" });
    else if (what === "NOT-A-FILE") files.set(path, { kind: "not-a-file" });
    else if (what === "UNREADABLE") files.set(path, { kind: "unreadable", error: more.join(" ") });
    else {
      const meta = /^([^:]+):([^:]+):([0-7]+)$/.exec(more.join(" "));
      if (!meta) throw new Error(`cannot read the owner and mode of ${path} from "${line}"`);
      const data = lines[++i] ?? "";
      files.set(path, { kind: "file", owner: meta[1]!, group: meta[2]!, mode: meta[3]!.padStart(4, "0"), bytes: Buffer.from(data, "base64") });
    }
  }
  const missing = paths.filter((p) => !files.has(p));
  if (!ended || deployed === undefined || missing.length > 0) throw new Error(`the answer was cut short${missing.length > 0 ? ` before ${missing[0]}` : ""}`);
  return { files, deployed };
}

/** Something that runs a command on a host: an SSH session, or a local shell in tests. */
export interface RemoteShell {
  exec(command: string, opts?: { stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
}

/** Reads `paths` and the deploy marker in `stateFile` on a host, read-only. */
export async function fetchHostFiles(shell: RemoteShell, host: string, paths: readonly string[], stateFile: string, sudo = ""): Promise<HostFetch> {
  const r = await shell.exec(`${sudo}sh -s`, { stdin: fetchScript(paths, stateFile), timeoutMs: 120_000 });
  if (r.code !== 0) throw new SshError(host, "exec", `cannot read the deployed files: sh exited ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
  try {
    return parseFetch(paths, r.stdout);
  } catch (err) {
    throw new SshError(host, "exec", `cannot read the deployed files: ${(err as Error).message}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Files with secrets filled in

/**
 * The values a host filled into a file with secret placeholders, when the file is the
 * synthesized one with only the placeholders replaced (the deploy fills in letters and digits
 * only); null when anything else differs.
 */
export function filledValues(template: string, filled: string): Record<string, string> | null {
  const names: string[] = [];
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  let pattern = "";
  let last = 0;
  for (const m of template.matchAll(new RegExp(SECRET_REF.source, "g"))) {
    pattern += `${escape(template.slice(last, m.index))}([A-Za-z0-9]*)`;
    names.push(m[1]!);
    last = m.index! + m[0].length;
  }
  pattern += escape(template.slice(last));
  const match = new RegExp(`^${pattern}$`).exec(filled);
  if (!match) return null;
  const values: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    const v = match[i + 1]!;
    if (name in values && values[name] !== v) return null;
    values[name] = v;
  }
  return values;
}

// ---------------------------------------------------------------------------------------------
// The CIB

/** Properties the cluster keeps itself and hpcdk's own record: not part of the site's configuration. */
const CLUSTER_MANAGED = /\s*<nvpair [^>]*name="(?:dc-version|cluster-infrastructure|cluster-name|have-watchdog|last-lrm-refresh)"[^>]*\/>/g;
const HPCDK_RECORD = /\s*<cluster_property_set id="hpcdk-deploy"(?:\/>|>[\s\S]*?<\/cluster_property_set>)/;

function configurationOf(cibXml: string): string {
  const m = /<configuration>[\s\S]*<\/configuration>/.exec(cibXml);
  if (!m) throw new DiffInputError("the CIB has no configuration section");
  return m[0];
}

/** A configuration section as the site would write it: without what the cluster and hpcdk keep there. */
function siteConfiguration(config: string): string {
  return config.replace(HPCDK_RECORD, "").replace(CLUSTER_MANAGED, "");
}

/** The same XML printed the same way, whoever wrote it, for a readable unified diff. */
function prettyXml(xml: string): string {
  return `${convert(xml.replace(/>\s+</g, "><"), { format: "xml", prettyPrint: true, headless: true } as never) as unknown as string}\n`;
}

export interface CibComparison {
  readonly record: NonNullable<LiveCib["record"]>;
  /** crm_diff's patch (XML), "" when the configurations are the same. */
  readonly crmDiff: string;
  /** The file diff of `/cib.xml`, null when the same. */
  readonly file: FileDiff | null;
  readonly pacemaker: PacemakerDiff | null;
}

async function crmDiff(dir: string, original: string, next: string): Promise<string> {
  writeFileSync(join(dir, "original.xml"), original);
  writeFileSync(join(dir, "new.xml"), next);
  try {
    await runFile("crm_diff", ["--no-version", "--original", join(dir, "original.xml"), "--new", join(dir, "new.xml")], { maxBuffer: 64 * 1024 * 1024 });
    return "";
  } catch (err) {
    const e = err as Omit<NodeJS.ErrnoException, "code"> & { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 1 && e.stdout) return e.stdout;
    if (e.code === "ENOENT") throw new DiffInputError("crm_diff is not installed: apt-get install pacemaker-cli-utils (Debian) or dnf install pacemaker-cli (RHEL)");
    throw new DiffInputError(`crm_diff failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Compares a live CIB with the synthesized one: crm_diff decides whether the configurations
 * differ (the properties the cluster keeps itself and hpcdk's record left out), a unified diff
 * shows how, and crm_simulate plans what Pacemaker does on the live status when the deploy
 * pushes the site's configuration.
 */
export async function compareCib(liveXml: string, synthesizedXml: string, context: number): Promise<CibComparison> {
  const recorded = cibRecord(liveXml);
  const record: CibComparison["record"] = !recorded.digest ? "never applied" : recorded.digest === configurationDigest(liveXml) ? "as applied" : "changed since applied";
  const liveConfig = siteConfiguration(configurationOf(liveXml));
  const siteConfig = configurationOf(synthesizedXml);
  const withConfig = (config: string) => liveXml.replace(/<configuration>[\s\S]*<\/configuration>/, () => config);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-live-cib-"));
  let patch: string;
  try {
    patch = await crmDiff(dir, withConfig(liveConfig), withConfig(siteConfig));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (patch === "") return { record, crmDiff: "", file: null, pacemaker: null };
  const transition = await liveCibTransition(liveXml, mergeCib(liveXml, synthesizedXml));
  const pacemaker = { transition, impact: transitionImpact(transition) };
  const notes = [
    record === "changed since applied"
      ? "changed on the cluster since hpcdk applied it, by hand or by another tool: hpcdk deploy replaces it only with --force"
      : record === "as applied"
        ? "the cluster holds what hpcdk applied last: the site changed since"
        : "hpcdk has not applied a CIB to this cluster",
  ];
  const hunks = unifiedHunks(prettyXml(liveConfig), prettyXml(siteConfig), context);
  if (hunks === undefined) notes.push("too many changes to show a diff");
  return {
    record,
    crmDiff: patch,
    file: { path: "/cib.xml", status: "changed", ...(hunks ? { patch: hunks } : {}), notes, handlers: [], impact: pacemaker.impact },
    pacemaker,
  };
}

// ---------------------------------------------------------------------------------------------
// The drift check

/** One bundle to check on one host. */
interface Target {
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
export function groupSample(groups: readonly BundleManifest[], managementNodes: readonly string[], hosts: string | undefined): { chosen: Map<string, string[]>; notChecked: LiveReport["notChecked"] } {
  const members = new Map(groups.map((g) => [g.name, expandHostlist(g.hosts ?? "")]));
  let wanted: Set<string> | undefined;
  if (hosts !== undefined && hosts !== "all") {
    let names: string[];
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
  const chosen = new Map<string, string[]>();
  const notChecked: LiveReport["notChecked"] = [];
  for (const [group, list] of members) {
    const picked = hosts === undefined ? list.slice(0, 1) : wanted ? list.filter((h) => wanted.has(h)) : list;
    chosen.set(group, picked);
    const rest = list.filter((h) => !picked.includes(h));
    if (rest.length > 0) notChecked.push({ group, hosts: compressHostlist(rest) });
  }
  return { chosen, notChecked };
}

function checkSshSettings(inventory: Inventory): void {
  const problems: string[] = [];
  const ssh = inventory.ssh;
  if (ssh.privateKey && !existsSync(expandHome(ssh.privateKey))) problems.push(`private key ${ssh.privateKey} does not exist`);
  if (ssh.bastion?.privateKey && !existsSync(expandHome(ssh.bastion.privateKey))) problems.push(`bastion private key ${ssh.bastion.privateKey} does not exist`);
  if (!ssh.privateKey && !process.env.SSH_AUTH_SOCK) problems.push("no private key (deploy.ssh.privateKey) and no SSH agent ($SSH_AUTH_SOCK)");
  if (!existsSync(expandHome(ssh.knownHosts))) problems.push(`known_hosts file ${ssh.knownHosts} does not exist: host keys are always checked`);
  if (problems.length > 0) throw new DiffInputError(`cannot reach the hosts: ${problems.join("; ")}`);
}

const errorText = (host: string, err: unknown) => (err instanceof SshError ? err.message.replace(`${host}: `, "") : String((err as Error)?.message ?? err));

/** What to ask: every management node's bundle, and a sample of each node group's hosts. */
function planTargets(next: StackTree, markerOf: (dir: string) => string, managementNodes: readonly string[], hosts: string | undefined): { targets: Target[]; notChecked: LiveReport["notChecked"] } {
  const targets: Target[] = [];
  const manifests = [...next.bundles.values()];
  for (const m of manifests.filter((m) => m.kind === "host")) {
    targets.push({ host: m.name, bundle: m.dir, dir: m.dir, manifest: m, stateFile: `/var/lib/hpcdk/state/host-${m.name}/applied`, marker: markerOf(m.dir) });
  }
  const groups = manifests.filter((m) => m.kind === "group");
  const { chosen, notChecked } = groupSample(groups, managementNodes, hosts);
  for (const g of groups) {
    for (const host of chosen.get(g.name) ?? []) {
      targets.push({ host, bundle: g.dir, dir: `${g.dir}/${host}`, manifest: g, stateFile: `/var/lib/hpcdk/state/group-${g.name}/applied`, marker: markerOf(g.dir) });
    }
  }
  return { targets, notChecked };
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
      const ssh = sshOptions(inventory, host);
      session = await SshSession.connect(ssh);
      for (const t of targets.filter((t) => t.host === host)) {
        const paths = [...t.manifest.files.map((f) => f.path), ...t.manifest.secretFiles.map((s) => s.path)];
        files.set(t, await fetchHostFiles(session, host, paths, t.stateFile, ssh.user === "root" ? "" : "sudo -n "));
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

/**
 * Writes what the hosts hold into `liveDir`, where the synthesis has it. A file with secrets
 * filled in that is the synthesized file but for the values is written as synthesized (no
 * difference), and each value is compared with the secrets folder: the result, never the value,
 * is returned per target.
 */
function writeLiveTree(liveDir: string, next: StackTree, fetched: ReadonlyMap<Target, HostFetch>, secretsDir: string): Map<Target, Map<string, "changed" | "unchanged">> {
  mkdirSync(join(liveDir, "hosts"), { recursive: true, mode: 0o700 });
  const put = (dir: string, path: string, bytes: Buffer) => {
    const file = join(liveDir, dir, path);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, bytes, { mode: 0o600 });
  };
  const secretValue = (name: string): string | undefined => {
    try {
      // The deploy fills in the file's content without trailing newlines (`$(cat file)`).
      return readFileSync(join(secretsDir, name), "utf8").replace(/\n+$/, "");
    } catch {
      return undefined;
    }
  };
  const filled = new Map<Target, Map<string, "changed" | "unchanged">>();
  for (const [t, f] of fetched) {
    const compared = new Map<string, "changed" | "unchanged">();
    filled.set(t, compared);
    for (const mf of t.manifest.files) {
      const got = f.files.get(mf.path);
      if (got?.kind !== "file") continue;
      const template = mf.secrets.length > 0 ? (next.read(t.bundle, mf.path)?.toString("utf8") ?? "") : undefined;
      const values = template === undefined ? null : filledValues(template, got.bytes.toString("utf8"));
      if (values) {
        for (const [name, value] of Object.entries(values)) {
          const local = secretValue(name);
          if (local !== undefined) compared.set(name, local === value ? "unchanged" : "changed");
        }
        put(t.dir, mf.path, Buffer.from(template!, "utf8"));
      } else {
        put(t.dir, mf.path, got.bytes);
      }
    }
    for (const sf of t.manifest.secretFiles) {
      const got = f.files.get(sf.path);
      if (got?.kind === "file") put(t.dir, sf.path, got.bytes);
    }
  }
  return filled;
}

/** The live CIB from the first management node (in node id order) whose partition has quorum and a DC. */
async function readLiveCib(managementNodes: readonly string[], sessions: ReadonlyMap<string, SshSession>): Promise<{ host: string; xml: string } | { error: string }> {
  const problems: string[] = [];
  for (const host of managementNodes) {
    const s = sessions.get(host);
    if (!s) {
      problems.push(`${host}: unreachable`);
      continue;
    }
    try {
      const mon = await s.exec(s.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 30_000 });
      if (mon.code !== 0) problems.push(`${host}: pacemaker is not running (${mon.stderr.trim().split("\n")[0]})`);
      else if (!/<current_dc [^>]*present="true"[^>]*with_quorum="true"/.test(mon.stdout)) problems.push(`${host}: its partition has no DC with quorum`);
      else return { host, xml: await s.run(s.asRoot("cibadmin --query"), { timeoutMs: 60_000 }) };
    } catch (err) {
      problems.push(`${host}: ${errorText(host, err)}`);
    }
  }
  return { error: `no management node gives a CIB with quorum (${problems.join("; ")})` };
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
    // The same secrets as the deploy saw, so the bundles' markers are the ones the hosts record.
    if (existsSync(secrets)) cpSync(secrets, join(temp, "secrets", site.name), { recursive: true });
    const stack = synthesize([site], join(temp, "new")).stacks[0]!;
    const stackDir = join(temp, "new", "stacks", site.name);
    const next = readStackTree(stackDir, site.name);
    let inventory: Inventory;
    try {
      inventory = readInventory(stackDir, options.inventory);
    } catch (err) {
      if (err instanceof PreflightError) throw new DiffInputError(err.message);
      throw err;
    }
    checkSshSettings(inventory);

    const markerOf = (dir: string) => stack.markerOf(stack.bundles.find((b) => b.dir === dir)!);
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
      const live = await readLiveCib(inventory.managementNodes, sessions);
      if ("error" in live) {
        cib = { status: "unreachable", error: live.error };
      } else {
        const c = await compareCib(live.xml, next.read("cluster", "/cib.xml")!.toString("utf8"), context);
        cib = { status: "checked", host: live.host, record: c.record, crmDiff: c.crmDiff };
        if (c.file) {
          bundles.push({ kind: "cluster", name: "cluster", dir: "cluster", status: "changed", files: [c.file], secrets: [], packages: [], steps: [] });
          pacemaker = c.pacemaker;
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
    const summary = summarize(null, stackDiff);
    return {
      site: site.name,
      siteFile: site.file,
      old: { description: "the hosts (deployed files and the live CIB, over SSH)" },
      new: { description: `${site.file} in the working tree` },
      settings: null,
      settingsNote: "not compared: the other side is the hosts",
      stack: stackDiff,
      summary,
      impact: summary.reduce<Impact | null>((w, r) => (w ? worse(w, r.impact) : r.impact), null)?.kind ?? null,
      changed: summary.length > 0,
      live: {
        hosts,
        notChecked,
        cib,
        unreachable: [...(unreachable.length > 0 ? [compressHostlist(unreachable)] : []), ...(cib.status === "unreachable" ? ["cluster"] : [])],
      },
    };
  } finally {
    for (const s of sessions.values()) s.close();
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * Adds to a bundle's comparison what only the hosts can tell: owners and modes, files that are
 * not regular files or cannot be read, secret files that are missing, edits made since the
 * deploy of this very synthesis, and secrets filled into files compared with the secrets folder.
 */
function driftOf(b: BundleDiff, t: Target, f: HostFetch, filled: Map<string, "changed" | "unchanged">): BundleDiff {
  const inSync = f.deployed === t.marker;
  const files = new Map(b.files.map((x) => [x.path, x]));
  const meta = (declared: { owner: string; group: string; mode: string }, got: FetchedFile) => {
    if (got.kind !== "file") return {};
    return {
      ...(got.owner !== declared.owner ? { owner: [got.owner, declared.owner] as const } : {}),
      ...(got.group !== declared.group ? { group: [got.group, declared.group] as const } : {}),
      ...(got.mode !== declared.mode ? { mode: [got.mode, declared.mode] as const } : {}),
    };
  };
  const absent = (got: FetchedFile | undefined): string | undefined =>
    got === undefined || got.kind === "missing"
      ? "missing on the host"
      : got.kind === "not-a-file"
        ? "not a regular file on the host"
        : got.kind === "unreadable"
          ? `cannot be read on the host: ${got.error}`
          : undefined;
  // The deploy resets owner and mode; only the file's handlers, if any, make that disruptive.
  const metadataImpact = (declared: Impact, handlers: readonly string[]): Impact =>
    handlers.length > 0 ? declared : { kind: "none", detail: "the deploy sets the owner and mode back; no handler runs" };
  const entries: { declared: ManifestFile | ManifestSecretFile; secret?: string }[] = [
    ...t.manifest.files.map((declared) => ({ declared })),
    ...t.manifest.secretFiles.map((declared) => ({ declared, secret: declared.secret })),
  ];
  for (const { declared, secret } of entries) {
    const got = f.files.get(declared.path);
    const existing = files.get(declared.path);
    const why = absent(got);
    if (why) {
      const secretNote = secret ? [`secret file (${secret}): content never shown`] : [];
      files.set(declared.path, { path: declared.path, status: "added", notes: [why, ...secretNote], handlers: declared.handlers, impact: declared.impact });
      continue;
    }
    const m = meta(declared, got!);
    // A file with secrets that more users can reach than the site allows is worth a word.
    const holdsSecrets = secret !== undefined || ("secrets" in declared && declared.secrets.length > 0);
    const exposed = holdsSecrets && m.mode !== undefined && (parseInt(m.mode[0], 8) & ~parseInt(m.mode[1], 8) & 0o077) !== 0;
    const metaNotes = exposed ? ["other users on the host have more access to it than the site allows"] : [];
    if (existing) {
      const notes = [...existing.notes, ...metaNotes];
      const hasHeader = !existing.notes.some((n) => n.includes("lacks the managed header"));
      if (existing.status === "changed" && inSync && hasHeader) notes.push("changed on the host since it was deployed: the host's last deploy was this synthesis");
      files.set(declared.path, { ...existing, ...m, notes });
    } else if (Object.keys(m).length > 0) {
      files.set(declared.path, {
        path: declared.path,
        status: "metadata",
        ...m,
        notes: [...(secret ? [`secret file (${secret}): content never shown`] : []), ...metaNotes],
        handlers: declared.handlers,
        impact: metadataImpact(declared.impact, declared.handlers),
      });
    }
  }
  // Secrets filled into files: compared with the secrets folder above, by value, never shown.
  const secrets: SecretDiff[] = [];
  for (const s of b.secrets) {
    const state = filled.get(s.name);
    const inFiles = t.manifest.secretFiles.some((x) => x.secret === s.name);
    if (!state || inFiles || s.status !== "unknown") {
      secrets.push(s);
      continue;
    }
    const notes = s.notes.filter((n) => !n.startsWith("no value on the host"));
    if (state === "unchanged" && notes.length === 0) continue;
    const impact = t.manifest.files.filter((x) => x.secrets.includes(s.name)).map((x) => x.impact).reduce(worse, { kind: "none", detail: "no file uses it" } as Impact);
    secrets.push({ ...s, status: state, notes, impact: state === "changed" ? impact : { kind: "none", detail: "value unchanged" } });
  }
  const order = [...t.manifest.files.map((x) => x.path), ...t.manifest.secretFiles.map((x) => x.path)];
  const sorted = [...files.values()].sort((a, c) => order.indexOf(a.path) - order.indexOf(c.path));
  return { ...b, files: sorted, secrets };
}
