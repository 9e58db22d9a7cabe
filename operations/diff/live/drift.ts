/**
 * What only the hosts can tell, added to a bundle's comparison: owners and modes, files that are
 * not regular files or cannot be read, secret files that are missing, edits made since the
 * deploy of this very synthesis, and secrets filled into files compared with the secrets folder.
 */
import type { BundleManifest } from "../../../common/contracts/bundle.js";
import type { Impact } from "../../../common/contracts/impact.js";
import { compareStacks, worse, type BundleDiff, type SecretDiff } from "../compare.js";
import { readStackTree, type StackTree } from "../tree.js";
import type { FetchedFile, HostFetch } from "./fetch.js";
import { writeLiveTree } from "./secrets.js";
import type { Target } from "./targets.js";

/**
 * The drift of every host that answered: what it holds is written into `liveDir` as a tree of
 * host files, compared with the synthesis as that host sees it (one bundle per host) by the same
 * code as any tree, then completed with what only the host can tell. Management nodes first,
 * then the hosts of node groups; hosts without drift are left out.
 */
export async function fileDrift(
  site: string,
  next: StackTree,
  targets: readonly Target[],
  fetched: ReadonlyMap<Target, HostFetch>,
  options: { liveDir: string; secrets: string; context: number },
): Promise<BundleDiff[]> {
  const filled = writeLiveTree(options.liveDir, next, fetched, options.secrets);
  const checked = targets.filter((t) => fetched.has(t)).sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  const view: StackTree = {
    dir: next.dir,
    hasManifests: true,
    bundles: new Map(checked.map((t) => [t.dir, t.dir === t.bundle ? t.manifest : { ...t.manifest, kind: "host" as const, name: t.host, dir: t.dir }])),
    terraform: null,
    read: (dir, path) => next.read(checked.find((t) => t.dir === dir)?.bundle ?? dir, path),
  };
  const compared = await compareStacks(readStackTree(options.liveDir, site), view, { newSecrets: { dir: options.secrets }, oldSecrets: {}, context: options.context, otherSide: "the host" });
  const byDir = new Map(compared.bundles.map((b) => [b.dir, b]));
  const bundles: BundleDiff[] = [];
  for (const t of checked) {
    const m = view.bundles.get(t.dir)!;
    const base = byDir.get(t.dir) ?? { kind: m.kind, name: m.name, dir: t.dir, status: "changed" as const, files: [], secrets: [], packages: [], steps: [] };
    const b = driftOf(base, t, fetched.get(t)!, filled.get(t)!);
    if (b.files.length + b.secrets.length > 0) bundles.push(b);
  }
  // Management nodes first, then the hosts of node groups, as everywhere in the report.
  return bundles.sort((a, b) => Number(!a.dir.startsWith("hosts/")) - Number(!b.dir.startsWith("hosts/")));
}

type ManifestFile = BundleManifest["files"][number];
type ManifestSecretFile = BundleManifest["secretFiles"][number];

/**
 * Adds to a bundle's comparison what only the hosts can tell: owners and modes, files that are
 * not regular files or cannot be read, secret files that are missing, edits made since the
 * deploy of this very synthesis, and secrets filled into files compared with the secrets folder.
 */
export function driftOf(b: BundleDiff, t: Target, f: HostFetch, filled: Map<string, "changed" | "unchanged">): BundleDiff {
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
