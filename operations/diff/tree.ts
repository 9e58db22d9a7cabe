/**
 * One side of a diff: a directory tree of rendered files.
 *
 * Usually a synthesized stack (`cdktf.out/stacks/<site>`: manifests, bundle directories and
 * `cdk.tf.json`). A tree without manifests is read as the files a deploy put on the hosts, in
 * the same layout (`hosts/<host>/etc/...`, `cluster/cib.xml`), e.g. fetched from the hosts: its
 * files are compared by content, owners and modes are unknown, and secret files may hold their
 * values (compared by salted hash, never shown).
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { LoadedSite } from "../../schema/load.js";
import { UNDECLARED_IMPACT } from "../../common/contracts/impact.js";
import { EXIT, HpcdkError } from "../../common/errors.js";

/**
 * Synthesizes one validated site into `outDir` (its stack directory is `outDir/stacks/<site>`),
 * with the site's secrets in `outDir/../secrets/<site>`, generated there when missing: what
 * `hpcdk synth` does (stacks/synth.ts). The command hands it to the operation, which never
 * imports the synthesis itself.
 */
export type SynthesizeSite = (site: LoadedSite, outDir: string) => void;

/** A Terraform resource of `cdk.tf.json`, without cdktf's metadata. */
export interface TerraformResource {
  /** `null_resource.deploy-host-stc1_resource_E2889C7A` */
  readonly address: string;
  /** The construct path cdktf records: `lab/deploy-host-stc1/resource`. */
  readonly constructPath: string;
  /** Everything Terraform compares (triggers and the rest), as JSON. */
  readonly body: Record<string, unknown>;
}

export interface StackTree {
  /** The stack directory. */
  readonly dir: string;
  /** False for a tree of host files without manifests. */
  readonly hasManifests: boolean;
  /** Bundles by directory (`hosts/stc1`, `groups/login`, `cluster`); empty without manifests. */
  readonly bundles: ReadonlyMap<string, BundleManifest>;
  /** null when the tree has no `cdk.tf.json`. */
  readonly terraform: { readonly resources: ReadonlyMap<string, TerraformResource>; readonly settings: Record<string, unknown> } | null;
  /** The bytes of a bundle's file, or undefined when the tree does not have it. */
  read(bundleDir: string, path: string): Buffer | undefined;
}

/** An empty side: the site did not exist there. */
export function emptyTree(dir = "(none)"): StackTree {
  return { dir, hasManifests: true, bundles: new Map(), terraform: { resources: new Map(), settings: {} }, read: () => undefined };
}

/**
 * Reads a side. `dir` is a stack directory (has `manifests/` or `hosts/`), or an output directory
 * holding `stacks/<site>/`.
 */
export function readStackTree(dir: string, site: string): StackTree {
  const candidates = [dir, join(dir, "stacks", site)];
  const stack = candidates.find((d) => existsSync(join(d, "manifests"))) ?? candidates.find((d) => existsSync(join(d, "hosts")) || existsSync(join(d, "cluster")));
  if (!stack) {
    throw new DiffInputError(`${dir} is not a synthesized stack of site ${site}: it has neither manifests/ nor stacks/${site}/manifests/ nor hosts/`);
  }
  const bundles = new Map<string, BundleManifest>();
  const manifests = join(stack, "manifests");
  const hasManifests = existsSync(manifests);
  if (hasManifests) {
    const files = [
      ...(existsSync(join(manifests, "cluster.json")) ? ["cluster.json"] : []),
      ...["hosts", "groups"].flatMap((kind) =>
        existsSync(join(manifests, kind)) ? readdirSync(join(manifests, kind)).filter((f) => f.endsWith(".json")).map((f) => join(kind, f)) : [],
      ),
    ].sort();
    for (const f of files) {
      let manifest: BundleManifest;
      try {
        manifest = JSON.parse(readFileSync(join(manifests, f), "utf8")) as BundleManifest;
      } catch (err) {
        throw new DiffInputError(`${join(manifests, f)}: not a bundle manifest: ${(err as Error).message}`);
      }
      if (typeof manifest.dir !== "string" || !Array.isArray(manifest.files)) throw new DiffInputError(`${join(manifests, f)}: not a bundle manifest`);
      bundles.set(manifest.dir, normalize(manifest));
    }
  }
  return {
    dir: stack,
    hasManifests,
    bundles,
    terraform: readTerraform(join(stack, "cdk.tf.json")),
    read: (bundleDir, path) => {
      const file = join(stack, bundleDir, path);
      try {
        return statSync(file).isFile() ? readFileSync(file) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

/**
 * A manifest written by an older hpcdk may lack fields added since (impacts, secrets, packages):
 * they read as empty, and a missing impact as undeclared, the most cautious.
 */
function normalize(m: BundleManifest): BundleManifest {
  return {
    ...m,
    packages: m.packages ?? [],
    files: m.files.map((f) => ({ ...f, handlers: f.handlers ?? [], impact: f.impact ?? UNDECLARED_IMPACT, secrets: f.secrets ?? [] })),
    secretFiles: (m.secretFiles ?? []).map((s) => ({ ...s, handlers: s.handlers ?? [], impact: s.impact ?? UNDECLARED_IMPACT })),
    secrets: m.secrets ?? [],
    steps: m.steps ?? [],
  };
}

function readTerraform(file: string): StackTree["terraform"] {
  if (!existsSync(file)) return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  } catch (err) {
    throw new DiffInputError(`${file}: not JSON: ${(err as Error).message}`);
  }
  const resources = new Map<string, TerraformResource>();
  const byType = (json.resource ?? {}) as Record<string, Record<string, Record<string, unknown>>>;
  for (const [type, byName] of Object.entries(byType)) {
    for (const [name, body] of Object.entries(byName)) {
      const { "//": meta, ...rest } = body;
      const constructPath = ((meta as { metadata?: { path?: string } } | undefined)?.metadata?.path ?? `${type}.${name}`) as string;
      resources.set(`${type}.${name}`, { address: `${type}.${name}`, constructPath, body: rest });
    }
  }
  // Providers, backend and required providers: anything else Terraform reads.
  const { resource: _r, "//": _m, ...settings } = json;
  return { resources, settings };
}

/** The input of a diff is wrong (a missing directory, an unknown git ref): exit 2 with this message. */
export class DiffInputError extends HpcdkError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.internal });
  }

  override get topic(): string {
    return "diff";
  }
}
