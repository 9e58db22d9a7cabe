/**
 * What synthesis hands to the operations for every bundle, and where it puts it: the manifest
 * (`manifests/…json`: files with their owner, mode, sha256, handlers and impact, secrets,
 * packages, steps), the bundle's directory, its apply script, and the file on each host that
 * records the bundle the host holds. The constructs write this contract (`constructs/core`'s
 * `Bundle`); deploy, diff and the Ansible inventory read it. The ground floor: it imports
 * nothing of hpcdk but the other contracts.
 */
import type { NfsGroupResources } from "./cib-ids.js";
import type { Impact } from "./impact.js";

/**
 * What a bundle holds files for:
 * - `host`: one management node;
 * - `group`: every host of a node group (login, compute): one rendering, many hosts;
 * - `cluster`: cluster-wide artifacts (the CIB), applied from one management node.
 */
export type BundleKind = "host" | "group" | "cluster";

/**
 * When a step runs: on its host before or after the files, or `after-cib`: a step of the cluster
 * bundle that runs on the hosts it names once the CIB step has applied the CIB and the cluster
 * has settled (what needs the cluster's services, such as a mount from the HA NFS).
 */
export type StepPhase = "before-files" | "after-files" | "after-cib";

/** The order steps run in: by phase, then by id. */
export const STEP_PHASES: readonly StepPhase[] = ["before-files", "after-files", "after-cib"];

/** A command the deploy runs on the host, e.g. disabling a unit that Pacemaker owns. */
export interface Step {
  /** Unique in the bundle; steps run sorted by phase, then id. */
  readonly id: string;
  readonly phase: StepPhase;
  /** Hosts an `after-cib` step runs on, in this order (the cluster bundle's steps only). */
  readonly hosts?: readonly string[];
  /** Resources (CIB ids) an `after-cib` step waits for: running somewhere in the cluster. @default none */
  readonly waitFor?: readonly string[];
  /** One line for progress output. */
  readonly description: string;
  /** POSIX shell, idempotent: running it twice must be harmless. */
  readonly run: string;
  /** What adding or changing the step does to a running site. @default the most cautious: "outage" */
  readonly impact?: Impact;
}

/** A distribution package a construct needs, by its name in each family. */
export interface PackageSpec {
  /** Name on Debian and Ubuntu (apt). */
  readonly debian: string;
  /** Name on RHEL, Rocky, Alma (dnf); omit when the family has no such package. */
  readonly rhel?: string;
  /** Exact version to pin (`apt-get install name=version`, `dnf install name-version`). @default the repository's */
  readonly version?: string;
}

/**
 * How a secret comes to be when the site has none yet (the deploy generates it once, into the
 * git-ignored `secrets/<site>/<name>`, and reuses it from then on):
 * - `randomBytes`: that many random bytes (corosync authkey 256, munge key 1024, JWT key 32);
 * - `password`: that many random letters and digits (database, Redis, MongoDB passwords);
 * - `selfSignedTls`: a self-signed certificate for `commonName` and its key, for labs; `part`
 *   says which of the two files this secret is (both come from one generation).
 */
export type SecretGenerator =
  | { readonly randomBytes: number }
  | { readonly password: number }
  | { readonly selfSignedTls: { readonly commonName: string; readonly days: number; readonly part: "key" | "cert" } };

/** A secret of the site: its name (the file under `secrets/<site>/`) and how to make it. */
export interface SecretSpec {
  readonly name: string;
  readonly generate: SecretGenerator;
}

/** A file of the bundle, as the manifest lists it. */
export interface ManifestFile {
  /** Absolute path on the host. */
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  /** Octal, four digits: "0644". */
  readonly mode: string;
  readonly sha256: string;
  /** Shell commands the deploy runs on the host when the file changed. */
  readonly handlers: readonly string[];
  readonly impact: Impact;
  /** Secrets filled into the file on the host. */
  readonly secrets: readonly string[];
}

/** A file whose whole content is a secret, as the manifest lists it (its bytes are never in the tree). */
export interface ManifestSecretFile {
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  /** Octal, four digits: "0400". */
  readonly mode: string;
  readonly secret: string;
  readonly generate: SecretGenerator;
  readonly handlers: readonly string[];
  readonly impact: Impact;
}

/** Manifest of a bundle: what the deploy installs, with a sha256 per file. */
export interface BundleManifest {
  readonly kind: BundleKind;
  readonly name: string;
  readonly source: string;
  /** Where the files are, relative to the stack directory. */
  readonly dir: string;
  /** Hosts of a group bundle, as a hostlist expression. */
  readonly hosts?: string;
  readonly packages: readonly PackageSpec[];
  /** Packages the constructs need that the site provides otherwise (not installed by the deploy). */
  readonly packagesSkipped: readonly PackageSpec[];
  readonly files: readonly ManifestFile[];
  readonly secretFiles: readonly ManifestSecretFile[];
  /** Every secret the bundle needs (files and placeholders), with how to make it. */
  readonly secrets: readonly SecretSpec[];
  readonly steps: readonly Step[];
  /**
   * The cluster bundle only: the resources of its CIB that operations look up (the drill's
   * groups, the labs' wait for the NFS), with their ids as the constructs made them.
   */
  readonly cib?: ClusterResources;
}

/** What the cluster manifest records of its CIB. */
export interface ClusterResources {
  /** Every NFS group, in the site's order. */
  readonly nfsGroups: readonly NfsGroupResources[];
}

/** The one file of the cluster bundle: the Pacemaker configuration the CIB step applies. */
export const CIB_PATH = "/cib.xml";

/** What every managed file's header says; a file without it was edited by hand. */
export const MANAGED_MARKER = "Generated by hpcdk";

/**
 * How generated files mark where the deploy fills in a secret (`@@hpcdk-secret:<name>@@`). No
 * site value may hold it: the deploy would fill the secret in wherever the value lands.
 */
export const SECRET_PLACEHOLDER_PREFIX = "@@hpcdk-secret:";

/**
 * Every placeholder for a secret inside a generated file: `@@hpcdk-secret:<name>@@`. The rendered
 * tree keeps the placeholder; the deploy replaces it on the host from the secrets folder.
 */
export const SECRET_REF = /@@hpcdk-secret:([a-z][a-z0-9-]*)@@/g;

/** The file a stack directory's inventory is in, written at synth. */
export const INVENTORY_FILE = "deploy.json";

/** A bundle as the deploy names it: `hosts/<host>`, `groups/<group>` or `cluster`. */
export interface BundleRef {
  readonly kind: BundleKind;
  readonly name: string;
}

/** The bundle's directory of files, relative to the stack directory: `hosts/<host>`, `groups/<group>`, `cluster`. */
export function bundleDir(b: BundleRef): string {
  return b.kind === "cluster" ? "cluster" : `${b.kind}s/${b.name}`;
}

/** The bundle's manifest, relative to the stack directory. */
export function manifestPath(b: BundleRef): string {
  return b.kind === "cluster" ? "manifests/cluster.json" : `manifests/${b.kind}s/${b.name}.json`;
}

/** The apply script of a host or group bundle, relative to the stack directory. */
export function applyScriptPath(b: BundleRef): string {
  return `apply/${b.kind}s/${b.name}.sh`;
}

/** The name of the bundle's state directory on a host: `/var/lib/hpcdk/state/<name>`. */
export function stateName(b: BundleRef): string {
  return `${b.kind}-${b.name}`;
}

/** Where a host records the bundle it holds once an apply completed: its marker, one line. */
export function appliedMarkerPath(b: BundleRef): string {
  return `/var/lib/hpcdk/state/${stateName(b)}/applied`;
}

/** Host and group names as bundles carry them. */
const BUNDLE_NAME = /^[a-z0-9][a-z0-9-]*$/;

/** Reads `hosts/<host>`, `groups/<group>` or `cluster`; undefined for anything else. */
export function parseBundleRef(text: string): BundleRef | undefined {
  if (text === "cluster") return { kind: "cluster", name: "cluster" };
  const m = /^(hosts|groups)\/(.*)$/.exec(text);
  if (!m || !BUNDLE_NAME.test(m[2]!)) return undefined;
  return { kind: m[1] === "hosts" ? "host" : "group", name: m[2]! };
}
