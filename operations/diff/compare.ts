/**
 * The comparison of two sides of a site: per bundle (host, node group, cluster) the files added,
 * removed and changed with a unified diff, owner/mode changes, secrets (changed or not, never
 * shown), packages and deploy steps; the Terraform resources that a plan would create, replace
 * or destroy; what Pacemaker does on the CIB change (crm_simulate); and the change impact of each.
 */
import { createHmac, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { structuredPatch } from "diff";
import { CIB_PATH, MANAGED_MARKER, SECRET_REF, type BundleManifest } from "../../common/contracts/bundle.js";
import { IMPACT_KINDS, worstImpact, type Impact, type ImpactKind } from "../../common/contracts/impact.js";
import { expandHostlist, compressHostlist } from "../../common/hostlist.js";
import { cibTransition, type CibTransition, type SteadyState } from "../simulate/index.js";
import type { StackTree, TerraformResource } from "./tree.js";

type ManifestFile = BundleManifest["files"][number];
type ManifestSecretFile = BundleManifest["secretFiles"][number];

export interface FileDiff {
  readonly path: string;
  /** `changed`: content (and maybe metadata); `metadata`: only owner, group or mode. */
  readonly status: "added" | "removed" | "changed" | "metadata";
  readonly owner?: readonly [string, string];
  readonly group?: readonly [string, string];
  readonly mode?: readonly [string, string];
  /** Unified diff of the content (hunks only); absent when there is nothing to show. */
  readonly patch?: string;
  /** Why the content is not shown, or what else to know (binary, hand edit, secrets). */
  readonly notes: string[];
  /** Commands the deploy runs on the host for this change. */
  readonly handlers: readonly string[];
  readonly impact: Impact;
  /** The other host of the same bundle kind whose identical change is shown instead. */
  readonly sameAs?: string;
}

export interface SecretDiff {
  readonly name: string;
  /** Where the secret goes in this bundle: secret files and files it is filled into. */
  readonly paths: string[];
  /** `unknown`: one side has no value to compare (not generated yet, or not fetched). */
  readonly status: "added" | "removed" | "changed" | "unchanged" | "unknown";
  readonly notes: string[];
  readonly impact: Impact;
}

export interface PackageDiff {
  readonly name: string;
  readonly change: "added" | "removed" | "changed";
  readonly old?: string;
  readonly new?: string;
  readonly impact: Impact;
}

export interface StepDiff {
  readonly id: string;
  readonly change: "added" | "removed" | "changed";
  readonly description: string;
  readonly patch?: string;
  readonly impact: Impact;
}

export interface BundleDiff {
  readonly kind: "host" | "group" | "cluster";
  readonly name: string;
  /** `hosts/stc1`, `groups/login`, `cluster`. */
  readonly dir: string;
  readonly status: "added" | "removed" | "changed";
  /** Hosts of a group bundle: old and new hostlist, when they differ. */
  readonly hosts?: { readonly old: string; readonly new: string; readonly added: string[]; readonly removed: string[] };
  readonly files: FileDiff[];
  readonly secrets: SecretDiff[];
  readonly packages: PackageDiff[];
  readonly steps: StepDiff[];
}

export interface TerraformChange {
  readonly address: string;
  readonly constructPath: string;
  readonly action: "create" | "replace" | "update" | "destroy";
  /** Why: `bundle_sha256 changed`. */
  readonly reason: string;
}

export interface PacemakerDiff {
  /** What crm_simulate plans when the new CIB replaces the old one on a running cluster. */
  readonly transition: CibTransition;
  readonly impact: Impact;
}

/** Where a secret's value comes from on one side: its file under `secrets/<site>/`. */
export interface SecretSource {
  /** Directory of `secrets/<site>/<name>` files; undefined: no values on this side. */
  readonly dir?: string;
}

export interface CompareOptions {
  readonly oldSecrets?: SecretSource;
  readonly newSecrets?: SecretSource;
  /** Lines of context in unified diffs. @default 3 */
  readonly context?: number;
  /** What the old side is called in notes (`missing on the host`). @default "the other side" */
  readonly otherSide?: string;
  /** The old CIB's steady state, if the caller started it early (used when it is of the old side's CIB). @default made here when the CIB changed */
  readonly oldCibSteadyState?: Promise<SteadyState>;
}

export interface StackDiff {
  readonly bundles: BundleDiff[];
  readonly terraform: TerraformChange[];
  /** Terraform settings (providers, backend) that differ, by key. */
  readonly terraformSettings: string[];
  readonly pacemaker: PacemakerDiff | null;
  /** Notes about the comparison as a whole (e.g. a side without manifests). */
  readonly notes: string[];
}

/** The worse of two impacts (the first on a tie). */
export const worse = worstImpact;

export function impactRank(kind: ImpactKind): number {
  return IMPACT_KINDS.indexOf(kind);
}

/** Compares two sides; `next` must have manifests (it is what the site file says). */
export async function compareStacks(old: StackTree, next: StackTree, options: CompareOptions = {}): Promise<StackDiff> {
  const context = options.context ?? 3;
  const side = options.otherSide ?? "the other side";
  const notes: string[] = [];
  // The salt lives for this comparison only: equal values give equal digests here and nowhere else.
  const salt = randomBytes(32);
  const digest = (bytes: Buffer) => createHmac("sha256", salt).update(bytes).digest("hex");
  const secretValue = (source: SecretSource | undefined, name: string): Buffer | undefined => {
    if (!source?.dir) return undefined;
    try {
      return readFileSync(join(source.dir, name));
    } catch {
      return undefined;
    }
  };

  const bare = !old.hasManifests;
  if (bare) notes.push(`${old.dir} has no manifests: files are compared by content only (owners and modes unknown)`);
  // A tree without manifests holds the files the new side's manifests name.
  const oldBundles = bare ? next.bundles : old.bundles;
  const dirs = [...new Set([...oldBundles.keys(), ...next.bundles.keys()])].sort(bundleOrder);

  let pacemaker: PacemakerDiff | null = null;
  const bundles: BundleDiff[] = [];
  for (const dir of dirs) {
    const o = oldBundles.get(dir);
    const n = next.bundles.get(dir);
    const manifest = (n ?? o)!;
    const files: FileDiff[] = [];
    const oldFiles = new Map((o?.files ?? []).map((f) => [f.path, f]));
    const newFiles = new Map((n?.files ?? []).map((f) => [f.path, f]));
    const paths = [...new Set([...oldFiles.keys(), ...newFiles.keys()])].sort();
    for (const path of paths) {
      const of = oldFiles.get(path);
      const nf = newFiles.get(path);
      const oldBytes = of ? old.read(dir, path) : undefined;
      const newBytes = nf ? next.read(dir, path) : undefined;
      if (of && nf && bare && oldBytes === undefined) {
        files.push({ path, status: "added", notes: [`missing on ${side}`], handlers: nf.handlers, impact: nf.impact });
        continue;
      }
      const diff = fileDiff(path, of, nf, oldBytes, newBytes, bare, context, side);
      if (!diff) continue;
      if (dir === "cluster" && path === CIB_PATH && diff.status === "changed" && oldBytes && newBytes) {
        const transition = await cibTransition(oldBytes.toString("utf8"), newBytes.toString("utf8"), options.oldCibSteadyState);
        const impact = transitionImpact(transition);
        pacemaker = { transition, impact };
        files.push({ ...diff, impact });
      } else {
        files.push(diff);
      }
    }

    const secrets = secretDiffs(o, n, dir, old, bare, (name) => secretValue(options.oldSecrets, name), (name) => secretValue(options.newSecrets, name), digest, side);
    const packages = packageDiffs(bare ? n : o, n);
    const steps = stepDiffs(bare ? n : o, n, context);
    const hosts = groupHosts(o, n);
    const shownSecrets = secrets.filter((s) => s.status !== "unchanged" || s.notes.length > 0);
    if (files.length + shownSecrets.length + packages.length + steps.length === 0 && !hosts && o && n) continue;
    bundles.push({
      kind: manifest.kind,
      name: manifest.name,
      dir,
      status: !o ? "added" : !n ? "removed" : "changed",
      ...(hosts ? { hosts } : {}),
      files,
      secrets: shownSecrets,
      packages,
      steps,
    });
  }
  markSameChanges(bundles);

  const terraform: TerraformChange[] = [];
  const terraformSettings: string[] = [];
  if (old.terraform && next.terraform) {
    const addresses = [...new Set([...old.terraform.resources.keys(), ...next.terraform.resources.keys()])].sort();
    for (const a of addresses) {
      const change = terraformChange(old.terraform.resources.get(a), next.terraform.resources.get(a));
      if (change) terraform.push(change);
    }
    for (const key of [...new Set([...Object.keys(old.terraform.settings), ...Object.keys(next.terraform.settings)])].sort()) {
      if (!isDeepStrictEqual(old.terraform.settings[key], next.terraform.settings[key])) terraformSettings.push(key);
    }
  } else if (!bare) {
    notes.push("the Terraform plan is not compared: one side has no cdk.tf.json");
  }
  return { bundles, terraform, terraformSettings, pacemaker, notes };
}

/** Hosts first, then node groups, then the cluster bundle; by name within each. */
function bundleOrder(a: string, b: string): number {
  const rank = (d: string) => (d.startsWith("hosts/") ? 0 : d.startsWith("groups/") ? 1 : 2);
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function isBinary(bytes: Buffer): boolean {
  return bytes.includes(0) || !bytes.equals(Buffer.from(bytes.toString("utf8"), "utf8"));
}

/** Binary content as text a reviewer can compare: hex, 16 bytes a line. */
function hexLines(bytes: Buffer): string {
  const lines: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) lines.push(bytes.subarray(i, i + 16).toString("hex").replace(/(..)(?!$)/g, "$1 "));
  return lines.join("\n") + (lines.length > 0 ? "\n" : "");
}

/** The hunks of a unified diff of two texts, `@@ … @@` lines included; "" when they are equal. */
export function unifiedHunks(oldText: string, newText: string, context: number): string | undefined {
  const patch = structuredPatch("old", "new", oldText, newText, "", "", { context, timeout: 5000 });
  if (!patch) return undefined;
  const out: string[] = [];
  for (const h of patch.hunks) {
    out.push(`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`);
    out.push(...h.lines);
  }
  return out.length > 0 ? out.join("\n") + "\n" : "";
}

function fileDiff(
  path: string,
  of: ManifestFile | undefined,
  nf: ManifestFile | undefined,
  oldBytes: Buffer | undefined,
  newBytes: Buffer | undefined,
  bare: boolean,
  context: number,
  side: string,
): FileDiff | null {
  const declared = (nf ?? of)!;
  const base = { path, handlers: nf?.handlers ?? [], impact: declared.impact };
  if (!of || !nf) {
    const bytes = (nf ? newBytes : oldBytes) ?? Buffer.alloc(0);
    const text = isBinary(bytes) ? hexLines(bytes) : bytes.toString("utf8");
    const patch = nf ? unifiedHunks("", text, context) : undefined;
    return {
      ...base,
      status: nf ? "added" : "removed",
      ...(patch ? { patch } : {}),
      notes: nf ? (isBinary(bytes) ? ["binary, shown as hex"] : []) : ["the deploy does not delete it from the host"],
      ...(nf ? {} : { handlers: [], impact: { kind: "none", detail: "no longer managed: stays on the host until removed by hand" } }),
    };
  }
  const meta = bare
    ? {}
    : {
        ...(of.owner !== nf.owner ? { owner: [of.owner, nf.owner] as const } : {}),
        ...(of.group !== nf.group ? { group: [of.group, nf.group] as const } : {}),
        ...(of.mode !== nf.mode ? { mode: [of.mode, nf.mode] as const } : {}),
      };
  const sameContent = oldBytes && newBytes ? oldBytes.equals(newBytes) : of.sha256 === nf.sha256;
  if (sameContent && Object.keys(meta).length > 0) return { ...base, ...meta, status: "metadata", notes: [] };
  if (sameContent) {
    // Only what the manifest says about the file: the deploy reinstalls it, nothing rereads it.
    const said: string[] = [];
    if (!bare && !isDeepStrictEqual(of.handlers, nf.handlers)) said.push(`handlers: ${of.handlers.join("; ") || "none"} → ${nf.handlers.join("; ") || "none"}`);
    if (!bare && !isDeepStrictEqual(of.impact, nf.impact)) said.push(`declared impact: ${of.impact.kind} → ${nf.impact.kind}`);
    if (said.length === 0) return null;
    return { ...base, status: "metadata", notes: said, handlers: [], impact: { kind: "none", detail: "manifest only: the content does not change" } };
  }
  const notes: string[] = [];
  let patch: string | undefined;
  const o = oldBytes ?? Buffer.alloc(0);
  const n = newBytes ?? Buffer.alloc(0);
  const holdsSecrets = nf.secrets.length > 0 || of.secrets.length > 0;
  const oldText = o.toString("utf8");
  const newText = n.toString("utf8");
  if (bare && holdsSecrets && !new RegExp(SECRET_REF.source).test(oldText)) {
    // The other side has the values filled in (a file fetched from a host): never show it.
    notes.push(`holds secrets (${nf.secrets.join(", ")}) and ${side} has their values filled in: content not shown`);
  } else if (isBinary(o) || isBinary(n)) {
    notes.push("binary, shown as hex");
    patch = unifiedHunks(hexLines(o), hexLines(n), context);
  } else {
    patch = unifiedHunks(oldText, newText, context);
    if (patch === undefined) notes.push("too many changes to show a diff");
    if (bare && newText.includes(MANAGED_MARKER) && !oldText.includes(MANAGED_MARKER)) {
      notes.push(`${side} lacks the managed header: written or edited by hand`);
    }
  }
  return { ...base, ...meta, status: "changed", ...(patch ? { patch } : {}), notes };
}

/** The impact of a CIB change as crm_simulate plans it. */
export function transitionImpact(t: CibTransition): Impact {
  if (t.changes.length === 0 && t.fenced.length === 0) {
    return { kind: "reload", detail: "Pacemaker takes the new CIB live; crm_simulate plans no stop, start or move" };
  }
  const counts = new Map<string, number>();
  for (const c of t.changes) counts.set(c.action, (counts.get(c.action) ?? 0) + 1);
  const parts = [...counts].map(([action, n]) => `${n} ${action}${n === 1 ? "" : "s"}`);
  if (t.fenced.length > 0) parts.push(`fences ${t.fenced.join(", ")}`);
  const onlyReloads = t.fenced.length === 0 && t.changes.every((c) => c.action === "reload");
  return { kind: onlyReloads ? "reload" : "resource-move", detail: `crm_simulate: ${parts.join(", ")}` };
}

function secretDiffs(
  o: BundleManifest | undefined,
  n: BundleManifest | undefined,
  dir: string,
  oldTree: StackTree,
  bare: boolean,
  oldValue: (name: string) => Buffer | undefined,
  newValue: (name: string) => Buffer | undefined,
  digest: (b: Buffer) => string,
  side: string,
): SecretDiff[] {
  const names = [...new Set([...(o?.secrets ?? []).map((s) => s.name), ...(n?.secrets ?? []).map((s) => s.name)])].sort();
  const where = (m: BundleManifest | undefined, name: string) => [
    ...(m?.secretFiles ?? []).filter((s) => s.secret === name).map((s) => s.path),
    ...(m?.files ?? []).filter((f) => f.secrets.includes(name)).map((f) => f.path),
  ];
  const impactOf = (m: BundleManifest, name: string): Impact => {
    const impacts = [
      ...m.secretFiles.filter((s: ManifestSecretFile) => s.secret === name).map((s) => s.impact),
      ...m.files.filter((f) => f.secrets.includes(name)).map((f) => f.impact),
    ];
    return impacts.reduce(worse, { kind: "none", detail: "no file uses it" } as Impact);
  };
  return names.map((name): SecretDiff => {
    const inOld = o?.secrets.find((s) => s.name === name);
    const inNew = n?.secrets.find((s) => s.name === name);
    if (!inOld) {
      return { name, paths: where(n, name), status: "added", notes: [newValue(name) ? "sent from the secrets folder" : "generated by the deploy"], impact: { kind: "none", detail: "new: the files that use it are listed" } };
    }
    if (!inNew) return { name, paths: where(o, name), status: "removed", notes: ["no longer used here: the deploy does not delete it"], impact: { kind: "none", detail: "no longer used" } };
    const notes: string[] = [];
    if (!isDeepStrictEqual(inOld.generate, inNew.generate)) notes.push(`generated differently: ${JSON.stringify(inOld.generate)} -> ${JSON.stringify(inNew.generate)} (an existing value is kept)`);
    const oldPaths = where(o, name).sort();
    const newPaths = where(n, name).sort();
    if (!isDeepStrictEqual(oldPaths, newPaths)) notes.push(`goes to ${newPaths.join(", ")} (was ${oldPaths.join(", ")})`);
    if (!bare) {
      for (const nf of n!.secretFiles.filter((s) => s.secret === name)) {
        const of = o!.secretFiles.find((s) => s.path === nf.path && s.secret === name);
        if (!of) continue;
        for (const key of ["owner", "group", "mode"] as const) if (of[key] !== nf[key]) notes.push(`${nf.path}: ${key} ${of[key]} → ${nf[key]}`);
      }
    }
    // The other side's value: a secret file's bytes in the tree itself (fetched from a host), else its secrets folder.
    const fromTree = bare ? (o?.secretFiles ?? []).filter((s) => s.secret === name).map((s) => oldTree.read(dir, s.path)).find((b) => b !== undefined) : undefined;
    const before = fromTree ?? oldValue(name);
    const after = newValue(name);
    if (before && after) {
      const changed = digest(before) !== digest(after);
      return { name, paths: newPaths, status: changed ? "changed" : "unchanged", notes, impact: changed ? impactOf(n!, name) : { kind: "none", detail: "value unchanged" } };
    }
    // Nothing to compare on either side (no secrets folder, as in CI): nothing to say about the value.
    if (!before && !after) return { name, paths: newPaths, status: "unchanged", notes, impact: { kind: "none", detail: "no value on either side" } };
    notes.push(!after ? "no value in the secrets folder: the deploy generates a new one" : `no value on ${side} to compare with`);
    return { name, paths: newPaths, status: "unknown", notes, impact: { kind: "none", detail: "value not compared" } };
  });
}

function packageDiffs(o: BundleManifest | undefined, n: BundleManifest | undefined): PackageDiff[] {
  const oldBy = new Map((o?.packages ?? []).map((p) => [p.debian, p]));
  const newBy = new Map((n?.packages ?? []).map((p) => [p.debian, p]));
  const out: PackageDiff[] = [];
  const show = (p: { version?: string; rhel?: string }) => `${p.version ?? "repository version"}${p.rhel ? ` (rhel: ${p.rhel})` : ""}`;
  for (const name of [...new Set([...oldBy.keys(), ...newBy.keys()])].sort()) {
    const a = oldBy.get(name);
    const b = newBy.get(name);
    if (a && b && isDeepStrictEqual(a, b)) continue;
    if (!a) out.push({ name, change: "added", new: show(b!), impact: { kind: "restart", detail: `installs ${name}: Debian starts the services it ships` } });
    else if (!b) out.push({ name, change: "removed", old: show(a), impact: { kind: "none", detail: "no longer needed: the deploy does not remove it" } });
    else out.push({ name, change: "changed", old: show(a), new: show(b), impact: { kind: "restart", detail: `installs ${name} ${b.version ?? ""}: its services restart`.replace(/ :/, ":") } });
  }
  return out;
}

function stepDiffs(o: BundleManifest | undefined, n: BundleManifest | undefined, context: number): StepDiff[] {
  const oldBy = new Map((o?.steps ?? []).map((s) => [s.id, s]));
  const newBy = new Map((n?.steps ?? []).map((s) => [s.id, s]));
  const out: StepDiff[] = [];
  // A step without a declared impact: what a new or changed command does on a host is unknown.
  const undeclared: Impact = { kind: "outage", detail: "the step declares no impact: a new or changed command on the host, assume the worst" };
  for (const id of [...new Set([...oldBy.keys(), ...newBy.keys()])]) {
    const a = oldBy.get(id);
    const b = newBy.get(id);
    if (a && b && isDeepStrictEqual(a, b)) continue;
    if (!a) out.push({ id, change: "added", description: b!.description, patch: unifiedHunks("", `${b!.run}\n`, context) ?? "", impact: b!.impact ?? undeclared });
    else if (!b) out.push({ id, change: "removed", description: a.description, impact: { kind: "none", detail: "no longer run" } });
    else {
      const patch = unifiedHunks(`${a.run}\n`, `${b.run}\n`, context);
      out.push({ id, change: "changed", description: b.description, ...(patch ? { patch } : {}), impact: a.run === b.run && a.phase === b.phase ? { kind: "none", detail: "description only" } : (b.impact ?? undeclared) });
    }
  }
  return out;
}

function groupHosts(o: BundleManifest | undefined, n: BundleManifest | undefined): BundleDiff["hosts"] | undefined {
  if (!o || !n || o.kind !== "group" || (o.hosts ?? "") === (n.hosts ?? "")) return undefined;
  const a = new Set(expandHostlist(o.hosts ?? ""));
  const b = new Set(expandHostlist(n.hosts ?? ""));
  const added = [...b].filter((h) => !a.has(h));
  const removed = [...a].filter((h) => !b.has(h));
  if (added.length === 0 && removed.length === 0) return undefined;
  return { old: o.hosts ?? "", new: n.hosts ?? "", added, removed };
}

function terraformChange(a: TerraformResource | undefined, b: TerraformResource | undefined): TerraformChange | null {
  if (!a) return { address: b!.address, constructPath: b!.constructPath, action: "create", reason: "new" };
  if (!b) return { address: a.address, constructPath: a.constructPath, action: "destroy", reason: "no longer in the stack" };
  if (isDeepStrictEqual(a.body, b.body)) return null;
  const triggerKeys = ["triggers", "triggers_replace"];
  const replaced = triggerKeys.filter((k) => !isDeepStrictEqual(a.body[k], b.body[k]));
  if (replaced.length > 0) {
    const keys = replaced.flatMap((k) => {
      const x = (a.body[k] ?? {}) as Record<string, unknown>;
      const y = (b.body[k] ?? {}) as Record<string, unknown>;
      return [...new Set([...Object.keys(x), ...Object.keys(y)])].filter((t) => !isDeepStrictEqual(x[t], y[t]));
    });
    return { address: b.address, constructPath: b.constructPath, action: "replace", reason: `${keys.join(", ")} changed: the deploy runs` };
  }
  const keys = [...new Set([...Object.keys(a.body), ...Object.keys(b.body)])].filter((k) => !isDeepStrictEqual(a.body[k], b.body[k]));
  return { address: b.address, constructPath: b.constructPath, action: "update", reason: `${keys.join(", ")} changed` };
}

/**
 * A host change identical to one already listed for another host of the same kind (corosync.conf
 * on every node) points at it instead of repeating the diff.
 */
function markSameChanges(bundles: BundleDiff[]): void {
  const seen = new Map<string, string>();
  for (const b of bundles) {
    b.files.forEach((f, i) => {
      if (!f.patch) return;
      const key = `${b.kind}\0${f.path}\0${f.status}\0${f.patch}`;
      const first = seen.get(key);
      if (first) b.files[i] = { ...f, sameAs: first };
      else seen.set(key, b.name);
    });
  }
}

/** Hosts of a bundle as a reviewer reads them: `stc[1-4]`. */
export function hostsText(names: readonly string[]): string {
  return names.length === 0 ? "" : compressHostlist([...names]);
}
