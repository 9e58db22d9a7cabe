/**
 * Puts synthesized bundles on their hosts over SSH. `applyBundle` is what each Terraform
 * resource runs (`hpcdk apply-bundle`): it checks everything it needs before sending anything,
 * uploads the bundle with only the secrets it needs into a private staging directory, runs the
 * bundle's apply script, and always removes the staging directory (and the secrets) again. The
 * cluster bundle is applied from one management node as a CIB patch.
 */
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { create as tarCreate } from "tar";
import { parse as parseYaml } from "yaml";
import type { BundleManifest, Step } from "../constructs/core/index.js";
import { expandHostlist } from "../schema/hostlist.js";
import { applyOverride, targetOf, type Inventory, type InventoryOverride } from "../stacks/inventory.js";
import { expandHome, SshError, SshSession, type SshOptions } from "./ssh.js";
import { HpcdkError } from "../common/errors.js";
import { mapLimited, sleep } from "../common/async.js";

export interface HostResult {
  readonly host: string;
  readonly ok: boolean;
  readonly changed: string[];
  readonly unchanged: number;
  readonly handlers: string[];
  readonly steps: string[];
  readonly packages: string[];
  readonly restored: string[];
  readonly error?: string;
  readonly ms: number;
}

/** A host's result from `t0` until now: nothing changed unless the fields say so. */
function hostResult(host: string, t0: number, fields: Partial<Omit<HostResult, "host" | "ms">> & { ok: boolean }): HostResult {
  const { error, ...rest } = fields;
  return {
    host,
    changed: [],
    unchanged: 0,
    handlers: [],
    steps: [],
    packages: [],
    restored: [],
    ...rest,
    ...(error ? { error } : {}),
    ms: Math.round(performance.now() - t0),
  };
}

/** What failed on a host, without the host's name an SshError starts with (the caller names it). */
function hostError(err: unknown, host: string): string {
  return err instanceof SshError ? err.message.replace(`${host}: `, "") : String((err as Error).message ?? err);
}

export interface BundleResult {
  /** `hosts/stc1`, `groups/compute`, `cluster`. */
  readonly bundle: string;
  readonly ok: boolean;
  readonly hosts: HostResult[];
}

/** Problems found before anything was sent: nothing happened on any host. */
export class PreflightError extends HpcdkError {
  override get heading(): string {
    return "cannot deploy; nothing was sent to any host";
  }
}

export interface ApplyOptions {
  /** The stack directory (`cdktf.out/stacks/<site>`). */
  readonly stackDir: string;
  /** `hosts/<host>`, `groups/<group>` or `cluster`. */
  readonly bundle: string;
  /** Overrides of the site's SSH settings (a lab's inventory). @default $HPCDK_INVENTORY, if set */
  readonly override?: InventoryOverride;
  /** Apply the CIB even if someone changed the live one by hand since hpcdk last applied it. @default false */
  readonly force?: boolean;
  /** What the hosts record once they hold the bundle (`<sha256>:<secrets fingerprint>`). @default none */
  readonly expect?: string;
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
}

const STAGING = "/var/lib/hpcdk/staging";

/**
 * Reads an inventory override file (YAML or JSON): `{ ssh: {...}, hosts: { name: {...} } }`.
 * Relative key and known_hosts paths in it are taken from the file's directory, as kubeconfig
 * does: Terraform runs `hpcdk apply-bundle` in the stack directory, not where the file was written.
 */
export function readOverride(file: string): InventoryOverride {
  const override = parseYaml(readFileSync(file, "utf8")) as InventoryOverride;
  const ssh = override?.ssh;
  if (!ssh) return override;
  const fromFile = (p: string) => (isAbsolute(p) || p === "~" || p.startsWith("~/") ? p : resolve(dirname(file), p));
  const bastion = ssh.bastion;
  return {
    ...override,
    ssh: {
      ...ssh,
      ...(ssh.privateKey !== undefined ? { privateKey: fromFile(ssh.privateKey) } : {}),
      ...(ssh.knownHosts !== undefined ? { knownHosts: fromFile(ssh.knownHosts) } : {}),
      ...(bastion?.privateKey !== undefined ? { bastion: { ...bastion, privateKey: fromFile(bastion.privateKey) } } : {}),
    },
  };
}

export function readInventory(stackDir: string, override?: InventoryOverride): Inventory {
  const file = join(stackDir, "deploy.json");
  if (!existsSync(file)) throw new PreflightError([`${file} does not exist: run hpcdk synth first`]);
  const base = JSON.parse(readFileSync(file, "utf8")) as Inventory;
  return applyOverride(base, override ?? inventoryFromEnv(stackDir));
}

/**
 * The override HPCDK_INVENTORY names, if set. Under `cdktf deploy`, Terraform runs
 * `hpcdk apply-bundle` in the stack directory (`<project>/cdktf.out/stacks/<site>`): a relative
 * name is taken from the project directory, where cdktf runs and the state and secrets are.
 */
function inventoryFromEnv(stackDir: string): InventoryOverride | undefined {
  const name = process.env.HPCDK_INVENTORY;
  if (!name) return undefined;
  const file = resolve(stackDir, "../../..", name);
  if (!existsSync(file)) throw new PreflightError([`HPCDK_INVENTORY=${name}: ${file} does not exist`]);
  return readOverride(file);
}

export function manifestPathOf(bundle: string): string {
  if (bundle === "cluster") return "manifests/cluster.json";
  const m = /^(hosts|groups)\/([a-z0-9][a-z0-9-]*)$/.exec(bundle);
  if (!m) throw new PreflightError([`bundle must be hosts/<host>, groups/<group> or cluster, got "${bundle}"`]);
  return `manifests/${m[1]}/${m[2]}.json`;
}

/** How to reach one host of the inventory (its address, user, key, known_hosts, bastion). */
export function sshOptions(inventory: Inventory, host: string): SshOptions {
  const t = targetOf(inventory, host);
  const ssh = inventory.ssh;
  return {
    host,
    address: t.address,
    port: t.port,
    user: t.user,
    privateKey: ssh.privateKey,
    knownHosts: ssh.knownHosts,
    connectTimeoutMs: ssh.connectTimeoutSec * 1000,
    bastion: ssh.bastion ? { ...ssh.bastion, privateKey: ssh.bastion.privateKey ?? ssh.privateKey } : undefined,
  };
}

/** Everything a bundle needs, checked before anything is sent. */
export function preflightBundle(stackDir: string, bundle: string, inventory: Inventory): { manifest: BundleManifest; secretsDir: string } {
  const secretsDir = resolve(stackDir, inventory.secretsDir);
  const { manifest, problems } = checkBundle(stackDir, bundle, secretsDir);
  const ssh = inventory.ssh;
  if (ssh.privateKey && !existsSync(expandHome(ssh.privateKey))) problems.push(`private key ${ssh.privateKey} does not exist`);
  if (ssh.bastion?.privateKey && !existsSync(expandHome(ssh.bastion.privateKey))) problems.push(`bastion private key ${ssh.bastion.privateKey} does not exist`);
  if (!ssh.privateKey && !process.env.SSH_AUTH_SOCK) problems.push("no private key (deploy.ssh.privateKey) and no SSH agent ($SSH_AUTH_SOCK)");
  if (!existsSync(expandHome(ssh.knownHosts))) problems.push(`known_hosts file ${ssh.knownHosts} does not exist: host keys are always checked`);
  if (problems.length > 0) throw new PreflightError(problems);
  return { manifest, secretsDir };
}

/**
 * The bundle itself: its manifest, every file as the manifest has it, its apply script and its
 * secrets. Returns the problems found (throws only when there is no manifest at all).
 */
export function checkBundle(stackDir: string, bundle: string, secretsDir: string): { manifest: BundleManifest; problems: string[] } {
  const problems: string[] = [];
  const manifestFile = join(stackDir, manifestPathOf(bundle));
  if (!existsSync(manifestFile)) throw new PreflightError([`${bundle}: no manifest ${manifestFile}: run hpcdk synth first`]);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as BundleManifest;
  for (const f of manifest.files) {
    const local = join(stackDir, manifest.dir, f.path);
    if (!existsSync(local)) problems.push(`${bundle}: ${f.path} is missing from the bundle (${local})`);
    else if (createHash("sha256").update(readFileSync(local)).digest("hex") !== f.sha256) {
      problems.push(`${bundle}: ${f.path} does not match its manifest: the bundle was edited after synth; run hpcdk synth again`);
    }
  }
  if (manifest.kind !== "cluster" && !existsSync(join(stackDir, "apply", `${manifest.kind}s`, `${manifest.name}.sh`))) {
    problems.push(`${bundle}: the apply script apply/${manifest.kind}s/${manifest.name}.sh is missing: run hpcdk synth again`);
  }
  for (const s of manifest.secrets) {
    if (!existsSync(join(secretsDir, s.name))) problems.push(`${bundle}: secret ${s.name} is missing from ${secretsDir}`);
  }
  return { manifest, problems };
}

/** Applies one bundle to its hosts; never throws for a host's failure, only for preflight problems. */
export async function applyBundle(options: ApplyOptions): Promise<BundleResult> {
  const inventory = readInventory(options.stackDir, options.override);
  const { manifest, secretsDir } = preflightBundle(options.stackDir, options.bundle, inventory);
  const log = options.log ?? (() => {});
  let result: BundleResult;
  if (manifest.kind === "cluster") {
    result = { bundle: options.bundle, ...(await applyCib(options.stackDir, manifest, inventory, options.force ?? false, options.expect, log)) };
  } else {
    const hosts = manifest.kind === "host" ? [manifest.name] : expandHostlist(manifest.hosts ?? "");
    const limit = manifest.kind === "group" ? inventory.groupConcurrency : 1;
    const archive = await packBundle(options.stackDir, manifest, secretsDir);
    try {
      const results = await mapLimited(hosts, limit, (host) => applyOnHost(inventory, host, manifest, archive, options.expect, log));
      result = { bundle: options.bundle, ok: results.every((r) => r.ok), hosts: results };
    } finally {
      rmSync(archive, { force: true });
    }
  }
  const resultsDir = join(options.stackDir, ".hpcdk", "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${options.bundle.replace(/\//g, "-")}.json`), JSON.stringify(result, null, 2) + "\n");
  return result;
}

/** The upload: bundle files under files/, the bundle's secrets under secrets/, and apply.sh; a private tar file. */
async function packBundle(stackDir: string, manifest: BundleManifest, secretsDir: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), "hpcdk-bundle-"));
  chmodSync(work, 0o700);
  try {
    const root = join(work, "bundle");
    mkdirSync(join(root, "secrets"), { recursive: true });
    for (const f of manifest.files) {
      mkdirSync(dirname(join(root, "files", f.path)), { recursive: true });
      cpSync(join(stackDir, manifest.dir, f.path), join(root, "files", f.path));
    }
    for (const s of manifest.secrets) writeFileSync(join(root, "secrets", s.name), readFileSync(join(secretsDir, s.name)), { mode: 0o600 });
    cpSync(join(stackDir, "apply", `${manifest.kind}s`, `${manifest.name}.sh`), join(root, "apply.sh"));
    const archive = join(tmpdir(), `hpcdk-${manifest.kind}-${manifest.name}-${process.pid}-${Date.now()}.tar`);
    await tarCreate({ cwd: root, file: archive, portable: true }, ["."]);
    chmodSync(archive, 0o600);
    return archive;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

async function applyOnHost(
  inventory: Inventory,
  host: string,
  manifest: BundleManifest,
  archive: string,
  expect: string | undefined,
  log: (line: string) => void,
): Promise<HostResult> {
  const t0 = performance.now();
  const parsed = { changed: [] as string[], unchanged: 0, handlers: [] as string[], steps: [] as string[], packages: [] as string[], restored: [] as string[] };
  const finish = (ok: boolean, error?: string): HostResult => {
    const r = { host, ok, ...parsed, ...(error ? { error } : {}), ms: Math.round(performance.now() - t0) };
    log(`[${host}] ${ok ? "converged" : "FAILED"}: ${parsed.changed.length} changed, ${parsed.unchanged} unchanged` +
      (parsed.handlers.length ? `; handlers: ${parsed.handlers.join(", ")}` : "") + (error ? `; ${error}` : ""));
    return r;
  };
  let session: SshSession | undefined;
  try {
    session = await SshSession.connect(sshOptions(inventory, host));
    const stage = `${STAGING}/${manifest.kind}-${manifest.name}`;
    await session.run(session.asRoot(`umask 077 && rm -rf ${stage} && mkdir -p ${stage} && tar -x --no-same-owner -f - -C ${stage}`), {
      stdin: readFileSync(archive),
    });
    log(`[${host}] sent ${manifest.files.length} files, ${manifest.secrets.length} secrets`);
    let r;
    try {
      r = await session.exec(session.asRoot(`sh ${stage}/apply.sh${expect ? ` ${quote(expect)}` : ""}`));
    } finally {
      // The staging directory holds secrets: it never outlives the run.
      await session.exec(session.asRoot(`rm -rf ${stage}`)).catch(() => undefined);
    }
    let error: string | undefined;
    for (const line of r.stdout.split("\n")) {
      const m = /^HPCDK (\S+) ?(.*)$/.exec(line);
      if (!m) continue;
      const [, what, rest] = m;
      if (what === "changed") parsed.changed.push(rest!);
      else if (what === "unchanged") parsed.unchanged++;
      else if (what === "handler" && rest!.startsWith("ok ")) parsed.handlers.push(rest!.slice(3));
      else if (what === "step") parsed.steps.push(rest!);
      else if (what === "installing") parsed.packages.push(...rest!.trim().split(/\s+/));
      else if (what === "restored") parsed.restored.push(rest!);
      else if (what === "error") error = rest;
    }
    if (r.code !== 0) return finish(false, error ?? `apply.sh exited ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`);
    return finish(true);
  } catch (err) {
    return finish(false, hostError(err, host));
  } finally {
    session?.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The CIB

/** Properties the cluster writes into crm_config itself; hpcdk keeps them as the cluster has them. */
const CLUSTER_MANAGED = ["dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog", "last-lrm-refresh"];
const MANAGED_NVPAIR = new RegExp(`<nvpair [^>]*name="(?:${CLUSTER_MANAGED.join("|")})"[^>]*/>`, "g");
/**
 * hpcdk's own record in the CIB, replicated to every node by the cluster: what it applied last
 * (`hpcdk-applied`) and the digest of the configuration it left (`hpcdk-config-digest`).
 */
const STATE_SET = "hpcdk-deploy";
const STATE_SET_XML = new RegExp(`<cluster_property_set id="${STATE_SET}"(?:/>|>[\\s\\S]*?</cluster_property_set>)`);

function configurationOf(cibXml: string): string {
  const m = /<configuration>[\s\S]*<\/configuration>/.exec(cibXml);
  if (!m) throw new Error("the CIB has no configuration section");
  return m[0];
}

/** sha256 of a CIB's configuration without the properties the cluster manages and hpcdk's record. */
export function configurationDigest(cibXml: string): string {
  const config = configurationOf(cibXml).replace(STATE_SET_XML, "").replace(MANAGED_NVPAIR, "").replace(/>\s+</g, "><").trim();
  return createHash("sha256").update(config).digest("hex");
}

/** hpcdk's record in a live CIB. */
export function cibRecord(cibXml: string): { applied?: string; digest?: string } {
  const set = STATE_SET_XML.exec(cibXml)?.[0] ?? "";
  const value = (name: string) => new RegExp(`<nvpair [^>]*name="${name}" [^>]*value="([^"]*)"`).exec(set)?.[1] ?? new RegExp(`<nvpair [^>]*value="([^"]*)"[^>]*name="${name}"`).exec(set)?.[1];
  return { applied: value("hpcdk-applied"), digest: value("hpcdk-config-digest") };
}

function attribute(cibXml: string, name: string): string | undefined {
  return new RegExp(`<cib [^>]*\\b${name}="([^"]*)"`).exec(cibXml)?.[1];
}

/**
 * The CIB to move to: the live CIB (its version and status) with the synthesized configuration,
 * keeping the properties the cluster manages itself.
 */
export function mergeCib(liveXml: string, synthesizedXml: string): string {
  const live = configurationOf(liveXml);
  const managed = live.match(MANAGED_NVPAIR) ?? [];
  const record = STATE_SET_XML.exec(live)?.[0] ?? "";
  let config = configurationOf(synthesizedXml);
  config = config.replace(/(<cluster_property_set id="cib-bootstrap-options">)/, `$1${managed.join("")}`);
  if (record) config = config.replace(/<\/crm_config>/, `${record}</crm_config>`);
  return liveXml.replace(/<configuration>[\s\S]*<\/configuration>/, () => config);
}

async function applyCib(
  stackDir: string,
  manifest: BundleManifest,
  inventory: Inventory,
  force: boolean,
  expect: string | undefined,
  log: (line: string) => void,
): Promise<{ ok: boolean; hosts: HostResult[] }> {
  const t0 = performance.now();
  const synthesized = readFileSync(join(stackDir, manifest.dir, "cib.xml"), "utf8");
  const fail = (host: string, error: string) => ({ ok: false, hosts: [hostResult(host, t0, { ok: false, error })] });
  const found = await quorateNode(inventory);
  if ("error" in found) return fail(inventory.managementNodes[0] ?? "cluster", found.error);
  const session = found.session;
  const host = session.host;
  try {
    const live = await session.run(session.asRoot("cibadmin --query"), { timeoutMs: 60_000 });
    const recorded = cibRecord(live);
    if (recorded.digest && recorded.digest !== configurationDigest(live) && !force) {
      return fail(
        host,
        `the live CIB changed since hpcdk applied it (epoch ${attribute(live, "admin_epoch")}.${attribute(live, "epoch")}): ` +
          "someone changed the cluster by hand; review the change and rerun with --force to replace it",
      );
    }
    const target = mergeCib(live, synthesized);
    const stage = `${STAGING}/cluster`;
    await session.run(session.asRoot(`umask 077 && rm -rf ${stage} && mkdir -p ${stage} && cat > ${stage}/live.xml`), { stdin: live });
    await session.run(session.asRoot(`cat > ${stage}/new.xml`), { stdin: target });
    const diff = await session.exec(session.asRoot(`crm_diff --no-version --original ${stage}/live.xml --new ${stage}/new.xml > ${stage}/patch.xml`));
    let changed: string[] = [];
    if (diff.code === 1) {
      await session.run(session.asRoot(`cibadmin --patch --xml-file ${stage}/patch.xml`), { timeoutMs: 120_000 });
      changed = ["/cib.xml"];
      log(`[${host}] CIB patched`);
    } else if (diff.code !== 0) {
      return fail(host, `crm_diff failed: ${diff.stderr.trim()}`);
    } else {
      log(`[${host}] CIB unchanged`);
    }
    await session.exec(session.asRoot(`rm -rf ${stage}`));
    // Record what was applied in the CIB itself: every node sees it, and the next deploy can tell
    // a hand edit from its own work.
    const after = await session.run(session.asRoot("cibadmin --query"), { timeoutMs: 60_000 });
    const set = (name: string, value: string) =>
      session.run(session.asRoot(`crm_attribute --type crm_config --set-name ${STATE_SET} --name ${name} --update ${quote(value)}`));
    await set("hpcdk-config-digest", configurationDigest(after));
    const hosts: HostResult[] = [];
    const afterCib = manifest.steps.filter((s) => s.phase === "after-cib");
    if (afterCib.length > 0) {
      // The steps run once what they need (the NFS group's floating IP, for a mount) is running.
      const waitFor = [...new Set(afterCib.flatMap((s) => s.waitFor ?? []))].sort();
      const missing = await waitForResources(session, waitFor, inventory.clusterWaitSec);
      if (missing.length > 0) {
        return fail(host, `${missing.join(", ")} not running ${inventory.clusterWaitSec} s after the CIB step: the steps that need ${missing.length > 1 ? "them" : "it"} did not run (crm_mon shows why)`);
      }
      if (waitFor.length > 0) log(`[${host}] running: ${waitFor.join(", ")}`);
      hosts.push(...(await runAfterCibSteps(inventory, afterCib, log)));
    }
    // Recorded last: a deploy whose steps failed runs them again.
    const ok = hosts.every((h) => h.ok);
    if (ok && expect) await set("hpcdk-applied", expect);
    return { ok, hosts: [hostResult(host, t0, { ok: true, changed, unchanged: changed.length ? 0 : 1 }), ...hosts] };
  } catch (err) {
    return fail(host, (err as Error).message);
  } finally {
    session.close();
  }
}

/**
 * The cluster bundle's after-cib steps, host by host in the order the steps name them; a host
 * stops at its first failing step and the others go on.
 */
async function runAfterCibSteps(inventory: Inventory, steps: readonly Step[], log: (line: string) => void): Promise<HostResult[]> {
  const hosts = [...new Set(steps.flatMap((s) => s.hosts ?? []))];
  return mapLimited(hosts, hosts.length, async (host) => {
    const t0 = performance.now();
    const done: string[] = [];
    let error: string | undefined;
    let session: SshSession | undefined;
    try {
      session = await SshSession.connect(sshOptions(inventory, host));
      for (const step of steps.filter((s) => s.hosts?.includes(host))) {
        const r = await session.exec(session.asRoot(`sh -c ${quote(step.run)}`), { timeoutMs: AFTER_CIB_STEP_TIMEOUT_MS });
        if (r.code !== 0) {
          error = `step ${step.id} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ")}`;
          break;
        }
        done.push(step.id);
      }
    } catch (err) {
      error = hostError(err, host);
    } finally {
      session?.close();
    }
    log(`[${host}] ${error ? "FAILED" : "after-cib steps done"}: ${done.join(", ") || "no step"}${error ? `; ${error}` : ""}`);
    return hostResult(host, t0, { ok: !error, steps: done, error });
  });
}

/** Polls `crm_resource --locate` every 2 s until every resource runs; returns those that never did. */
async function waitForResources(session: SshSession, ids: readonly string[], waitSec: number): Promise<string[]> {
  const deadline = Date.now() + waitSec * 1000;
  let missing = [...ids];
  while (missing.length > 0) {
    const still: string[] = [];
    for (const id of missing) {
      const r = await session.exec(session.asRoot(`crm_resource --locate --resource ${quote(id)}`), { timeoutMs: 30_000 });
      if (!(r.code === 0 && r.stdout.includes("is running on"))) still.push(id);
    }
    missing = still;
    if (missing.length === 0 || Date.now() > deadline) break;
    await sleep(2000);
  }
  return missing;
}

/** An after-cib step (a mount, a daemon start) that takes longer has hung. */
const AFTER_CIB_STEP_TIMEOUT_MS = 300_000;

/** A management node whose cluster partition has quorum and a DC, tried in node id order (bounded). */
async function quorateNode(inventory: Inventory, waitSec = inventory.clusterWaitSec): Promise<{ session: SshSession } | { error: string }> {
  const deadline = Date.now() + waitSec * 1000;
  let lastError = "no management node answered";
  do {
    for (const host of inventory.managementNodes) {
      let s: SshSession | undefined;
      try {
        s = await SshSession.connect({ ...sshOptions(inventory, host), connectTimeoutMs: 5000 });
        const mon = await s.exec(s.asRoot("crm_mon -1 --output-as=xml"), { timeoutMs: 30_000 });
        if (mon.code === 0 && /<current_dc [^>]*present="true"[^>]*with_quorum="true"/.test(mon.stdout)) return { session: s };
        lastError = mon.code === 0 ? `${host}: the cluster has no DC with quorum yet` : `${host}: pacemaker is not running (${mon.stderr.trim().split("\n")[0]})`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      s?.close();
    }
    if (Date.now() < deadline) await sleep(2000);
  } while (Date.now() < deadline);
  return { error: `no quorate cluster within ${waitSec} s (${lastError})` };
}

/**
 * What each bundle's hosts hold now, by bundle directory: the marker of the last complete apply,
 * or undefined when a host does not answer or never completed one. Hosts are asked in parallel.
 */
export async function readMarkers(stackDir: string, bundles: readonly string[], override?: InventoryOverride): Promise<Map<string, (string | null | undefined)[]>> {
  const inventory = readInventory(stackDir, override);
  // null: the host answered and holds no complete apply; undefined: it did not answer.
  const markers = new Map<string, (string | null | undefined)[]>();
  const jobs: { bundle: string; host: string; index: number }[] = [];
  for (const bundle of bundles) {
    if (bundle === "cluster") continue;
    const manifest = JSON.parse(readFileSync(join(stackDir, manifestPathOf(bundle)), "utf8")) as BundleManifest;
    const hosts = manifest.kind === "host" ? [manifest.name] : expandHostlist(manifest.hosts ?? "");
    markers.set(bundle, new Array(hosts.length).fill(undefined));
    hosts.forEach((host, index) => jobs.push({ bundle, host, index }));
  }
  await mapLimited(jobs, 32, async ({ bundle, host, index }) => {
    let s: SshSession | undefined;
    try {
      s = await SshSession.connect({ ...sshOptions(inventory, host), connectTimeoutMs: 5000 });
      const m = bundle.match(/^(hosts|groups)\/(.*)$/)!;
      const file = `/var/lib/hpcdk/state/${m[1] === "hosts" ? "host" : "group"}-${m[2]}/applied`;
      markers.get(bundle)![index] = (await s.readFile(file))?.toString().trim() ?? null;
    } catch {
      // Unreachable: Terraform decides, and the deploy reports the host if it must change.
    } finally {
      s?.close();
    }
  });
  // Without a host that completed an apply there is no cluster to ask yet.
  const anyApplied = [...markers.values()].some((list) => list.some((m) => typeof m === "string"));
  if (bundles.includes("cluster")) {
    const found = anyApplied ? await quorateNode(inventory, 5) : { error: "no host holds a bundle yet" };
    if ("session" in found) {
      try {
        markers.set("cluster", [cibRecord(await found.session.run(found.session.asRoot("cibadmin --query"))).applied ?? null]);
      } finally {
        found.session.close();
      }
    } else {
      markers.set("cluster", [undefined]);
    }
  }
  return markers;
}
