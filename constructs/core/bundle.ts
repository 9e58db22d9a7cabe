import { Construct } from "constructs";
import { compressHostlist } from "../../common/hostlist.js";
import { managedHeader, type FileBundle, type GeneratedFile, type RenderedFile } from "./generated-file.js";
import { renderTemplate } from "./renderer.js";
import { shQuote } from "../../common/shell.js";
import {
  applyScriptPath,
  bundleDir,
  CIB_PATH,
  manifestPath,
  stateName,
  STEP_PHASES,
  type BundleKind,
  type BundleManifest,
  type PackageSpec,
  type SecretGenerator,
  type SecretSpec,
  type Step,
} from "../../common/contracts/bundle.js";
import { manifestSha256 } from "../../common/contracts/marker.js";
import type { SecretFile, SecretFileBundle } from "./secret-file.js";
import { StackFile } from "./stack-file.js";
import type { NfsGroupResources } from "../../common/contracts/cib-ids.js";

export type { BundleKind, BundleManifest, PackageSpec, Step, StepPhase } from "../../common/contracts/bundle.js";
export { CIB_PATH } from "../../common/contracts/bundle.js";

export interface BundleProps {
  readonly kind: BundleKind;
  /** Host name (host bundles), group name (group bundles), "cluster". */
  readonly name: string;
  /** Site file named in every managed header, e.g. `sites/lab.yaml`. */
  readonly source: string;
  /** The hosts of a group bundle. */
  readonly hosts?: readonly string[];
  /** Debian or RHEL package names the deploy leaves alone (a golden image or a lab provides them). @default none */
  readonly skipPackages?: readonly string[];
  /**
   * Exact versions by Debian or RHEL package name (the site's `deploy.packageVersions`): they
   * replace the version of every package of that name the bundle installs.
   * @default none (the repository's version, or the one a construct pins)
   */
  readonly packageVersions?: Readonly<Record<string, string>>;
}

const octal = (mode: number) => mode.toString(8).padStart(4, "0");

/** A rendered bundle: its files, manifest, the manifest's sha256 and the host-side apply script. */
export interface RenderedBundle {
  readonly files: RenderedFile[];
  readonly manifest: BundleManifest;
  readonly sha256: string;
  /** `apply/<kind>s/<name>.sh` for host and group bundles. */
  readonly applyScript?: string;
}

export { shQuote };

function renderApplyScript(manifest: BundleManifest): string {
  const mode = (m: string) => parseInt(m, 8).toString(8);
  // Every value goes into the script through {{sh …}}: one shell word, whatever it holds.
  const step = (s: Step) => ({ id: s.id, run: s.run });
  return renderTemplate("core/apply.sh", {
    header: managedHeader("hash", manifest.source),
    bundle: `${manifest.kind} ${manifest.name}`,
    stateName: stateName(manifest),
    packages: manifest.packages.map((p) => ({ debian: p.debian, rhel: p.rhel ?? "", version: p.version ?? "" })),
    // apt-get needs leave to install a pinned version older than the installed one (dnf does not).
    pinned: manifest.packages.some((p) => p.version !== undefined),
    stepsBefore: manifest.steps.filter((s) => s.phase === "before-files").map(step),
    stepsAfter: manifest.steps.filter((s) => s.phase === "after-files").map(step),
    files: manifest.files.map((f) => ({
      path: f.path,
      owner: f.owner,
      group: f.group,
      mode: mode(f.mode),
      sha256: f.sha256,
      secrets: f.secrets.join(" "),
      handlers: f.handlers,
    })),
    secretFiles: manifest.secretFiles.map((f) => ({
      secret: f.secret,
      path: f.path,
      owner: f.owner,
      group: f.group,
      mode: mode(f.mode),
      handlers: f.handlers,
    })),
  });
}

/** The distinct secrets of a list, sorted; one name with two different generators is an error. */
export function collectSecrets(where: string, specs: readonly SecretSpec[]): SecretSpec[] {
  const byName = new Map<string, SecretGenerator>();
  for (const s of specs) {
    const known = byName.get(s.name);
    if (known && JSON.stringify(known) !== JSON.stringify(s.generate)) {
      throw new Error(`${where}: secret "${s.name}" is generated two different ways`);
    }
    byName.set(s.name, s.generate);
  }
  return [...byName].sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, generate]) => ({ name, generate }));
}
/**
 * The bundle of a management node or a node group by name, for a domain construct that the stack
 * hands its bundles. The schema checked every name a site uses, so a name without a bundle is a
 * bug of the stack: it is reported with the construct that asked (`where`).
 */
export function bundleOf(bundles: Readonly<Record<string, Bundle>>, name: string, what: "management node" | "node group", where: string): Bundle {
  const bundle = Object.hasOwn(bundles, name) ? bundles[name] : undefined;
  if (!bundle) throw new Error(`${where}: no bundle for ${what} ${name}`);
  return bundle;
}

const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * All files, secrets and steps of one host (or of the cluster). Two constructs claiming one path
 * is an error. Synthesis writes its files under `<stack>/<dir>/` and its manifest under
 * `<stack>/manifests/`.
 */
export class Bundle extends Construct implements FileBundle, SecretFileBundle {
  readonly kind: BundleKind;
  readonly name: string;
  readonly source: string;
  /** Hosts of a group bundle; the host itself for a host bundle; none for the cluster bundle. */
  readonly hosts: readonly string[];
  /** Directory of the files, relative to the stack directory: `hosts/<name>` or `cluster`. */
  readonly dir: string;
  /** Manifest path, relative to the stack directory. */
  readonly manifestPath: string;
  private readonly files = new Map<string, GeneratedFile>();
  private readonly secrets = new Map<string, SecretFile>();
  private readonly steps = new Map<string, Step>();
  private readonly packages = new Map<string, PackageSpec>();
  private readonly nfsGroups: NfsGroupResources[] = [];
  private readonly skipPackages: ReadonlySet<string>;
  private readonly packageVersions: Readonly<Record<string, string>>;
  private rendered?: RenderedBundle;

  constructor(scope: Construct, id: string, props: BundleProps) {
    super(scope, id);
    this.kind = props.kind;
    this.name = props.name;
    this.source = props.source;
    // A frozen list (an expanded hostlist) cannot change under the bundle: kept as it is, so the
    // hostlist compressed from it once is reused by every construct that writes it.
    this.hosts = props.kind === "host" ? [props.name] : props.hosts && Object.isFrozen(props.hosts) ? props.hosts : [...(props.hosts ?? [])];
    this.skipPackages = new Set(props.skipPackages ?? []);
    this.packageVersions = { ...props.packageVersions };
    if (props.kind === "group" && this.hosts.length === 0) throw new Error(`Bundle [${this.node.path}]: group ${props.name} has no hosts`);
    this.dir = bundleDir(props);
    this.manifestPath = manifestPath(props);
    new StackFile(this, "manifest", { path: this.manifestPath, content: () => JSON.stringify(this.render().manifest, null, 2) + "\n" });
    if (props.kind !== "cluster") new StackFile(this, "apply-script", { path: applyScriptPath(props), mode: 0o755, content: () => this.render().applyScript! });
  }

  /** Called by GeneratedFile: claims its path. */
  claim(file: GeneratedFile): void {
    this.claimPath(file.path, file.node.path);
    this.files.set(file.path, file);
    // Under `<dir>/` in the stack directory; the owner always keeps read/write there, so the
    // tree can be reviewed and cleaned (the manifest carries the mode the host gets).
    new StackFile(file, "stack-file", { path: `${this.dir}${file.path}`, mode: file.mode | 0o600, content: () => file.render().bytes });
  }

  /** Called by SecretFile: claims its path. */
  claimSecret(secret: SecretFile): void {
    this.claimPath(secret.entry.path, secret.node.path);
    this.secrets.set(secret.entry.path, secret);
  }

  private claimPath(path: string, claimant: string): void {
    if (this.rendered) throw new Error(`Bundle [${this.node.path}]: ${path} added after the bundle was rendered`);
    this.onlyCib(path, claimant);
    const owner = this.files.get(path)?.node.path ?? this.secrets.get(path)?.node.path;
    if (owner) {
      throw new Error(`Bundle [${this.node.path}]: ${path} is claimed by both ${owner} and ${claimant}`);
    }
  }

  /** The cluster bundle goes to the CIB step, which installs the CIB and runs after-cib steps. */
  private onlyCib(what: string, claimant: string): void {
    if (this.kind === "cluster" && what !== CIB_PATH) {
      throw new Error(`Bundle [${this.node.path}]: ${claimant} puts ${what} in the cluster bundle, which carries only ${CIB_PATH}: use a host or group bundle`);
    }
  }

  /** Adds a step; a second step with the same id throws. */
  addStep(step: Step): Step {
    if ((step.phase === "after-cib") !== (this.kind === "cluster")) {
      throw new Error(`Bundle [${this.node.path}]: step "${step.id}": after-cib steps belong to the cluster bundle, and the cluster bundle has no other steps`);
    }
    if (step.phase === "after-cib" && (step.hosts ?? []).length === 0) throw new Error(`Bundle [${this.node.path}]: step "${step.id}" names no hosts`);
    if (this.steps.has(step.id)) throw new Error(`Bundle [${this.node.path}]: step "${step.id}" is added twice`);
    this.steps.set(step.id, step);
    return step;
  }

  /** Adds a package to install; the same package from two constructs must agree on the version. */
  addPackage(pkg: PackageSpec): PackageSpec {
    this.onlyCib(`package ${pkg.debian}`, "a construct");
    const known = this.packages.get(pkg.debian);
    if (known && (known.version !== pkg.version || known.rhel !== pkg.rhel)) {
      throw new Error(`Bundle [${this.node.path}]: package ${pkg.debian} is added twice with different names or versions`);
    }
    this.packages.set(pkg.debian, known ?? { ...pkg });
    return pkg;
  }

  /** Every package the bundle's constructs need, skipped ones included, with the site's pinned versions. */
  get allPackages(): PackageSpec[] {
    return [...this.packages.values()].map((p) => {
      const version = this.pinnedVersion(p);
      return version === undefined ? p : { ...p, version };
    });
  }

  private pinnedVersion(p: PackageSpec): string | undefined {
    const pins = this.packageVersions;
    if (Object.hasOwn(pins, p.debian)) return pins[p.debian];
    if (p.rhel !== undefined && Object.hasOwn(pins, p.rhel)) return pins[p.rhel];
    return p.version;
  }

  /**
   * Records an NFS group of the cluster bundle's CIB in its manifest (`cib.nfsGroups`), where
   * the operations read its resource ids instead of rebuilding them.
   */
  recordNfsGroup(group: NfsGroupResources): void {
    if (this.kind !== "cluster") throw new Error(`Bundle [${this.node.path}]: only the cluster bundle records the CIB's NFS groups`);
    if (this.rendered) throw new Error(`Bundle [${this.node.path}]: NFS group ${group.name} recorded after rendering`);
    if (this.nfsGroups.some((g) => g.name === group.name)) throw new Error(`Bundle [${this.node.path}]: NFS group ${group.name} recorded twice`);
    this.nfsGroups.push({ ...group, pools: [...group.pools], exports: [...group.exports] });
  }

  /** Renders every file once and computes the manifest, its hash and the apply script. */
  render(): RenderedBundle {
    if (this.rendered) return this.rendered;
    const packages = this.allPackages;
    const files = [...this.files.values()].map((f) => f.render()).sort(byPath);
    const secretFiles = [...this.secrets.values()].map((s) => s.entry);
    const manifest: BundleManifest = {
      kind: this.kind,
      name: this.name,
      source: this.source,
      dir: this.dir,
      ...(this.kind === "group" ? { hosts: compressHostlist(this.hosts) } : {}),
      packages: packages.filter((p) => !this.skipped(p)).sort((a, b) => (a.debian < b.debian ? -1 : 1)),
      packagesSkipped: packages.filter((p) => this.skipped(p)).sort((a, b) => (a.debian < b.debian ? -1 : 1)),
      files: files.map((f) => ({
        path: f.path,
        owner: f.owner,
        group: f.group,
        mode: octal(f.mode),
        sha256: f.sha256,
        handlers: f.handlers,
        impact: f.impact,
        secrets: f.secrets,
      })),
      secretFiles: secretFiles.map((e) => ({ ...e, mode: octal(e.mode) })).sort(byPath),
      secrets: collectSecrets(this.node.path, [
        ...secretFiles.map((e) => ({ name: e.secret, generate: e.generate })),
        ...[...this.files.values()].flatMap((f) => f.secrets),
      ]),
      steps: [...this.steps.values()].sort((a, b) =>
        a.phase !== b.phase ? STEP_PHASES.indexOf(a.phase) - STEP_PHASES.indexOf(b.phase) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      ),
      ...(this.nfsGroups.length > 0 ? { cib: { nfsGroups: [...this.nfsGroups] } } : {}),
    };
    const sha256 = manifestSha256(manifest);
    const applyScript = this.kind === "cluster" ? undefined : renderApplyScript(manifest);
    this.rendered = { files, manifest, sha256, applyScript };
    return this.rendered;
  }

  private skipped(p: PackageSpec): boolean {
    return this.skipPackages.has(p.debian) || (p.rhel !== undefined && this.skipPackages.has(p.rhel));
  }

  /** The apply script's path, relative to the stack directory (host and group bundles). */
  get applyScriptPath(): string {
    return applyScriptPath(this);
  }

  /** sha256 of the manifest: changes exactly when a file, a mode, an owner, a handler or a step changes. */
  get sha256(): string {
    return this.render().sha256;
  }

  /** The rendered bytes of one file, for other bundles' and operations' use in tests. */
  fileBytes(path: string): Buffer | undefined {
    return this.render().files.find((f) => f.path === path)?.bytes;
  }
}
