import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { Construct } from "constructs";
import type { GeneratedFile, RenderedFile } from "./generated-file.js";
import type { SecretEntry, SecretFile } from "./secret-file.js";

/** When a step runs relative to installing the bundle's files. */
export type StepPhase = "before-files" | "after-files";

/** A command the deploy runs on the host, e.g. disabling a unit that Pacemaker owns. */
export interface Step {
  /** Unique in the bundle; steps run sorted by phase, then id. */
  readonly id: string;
  readonly phase: StepPhase;
  /** One line for progress output. */
  readonly description: string;
  /** POSIX shell, idempotent: running it twice must be harmless. */
  readonly run: string;
}

export interface BundleProps {
  /** `host`: the files of one host; `cluster`: cluster-wide artifacts (the CIB) applied from one node. */
  readonly kind: "host" | "cluster";
  /** Host name for host bundles. */
  readonly name: string;
  /** Site file named in every managed header, e.g. `sites/lab.yaml`. */
  readonly source: string;
}

/** Manifest of a bundle: what the deploy installs, with a sha256 per file. */
export interface BundleManifest {
  readonly kind: "host" | "cluster";
  readonly name: string;
  readonly source: string;
  /** Where the files are, relative to the stack directory. */
  readonly dir: string;
  readonly files: readonly {
    path: string;
    owner: string;
    group: string;
    mode: string;
    sha256: string;
    handlers: readonly string[];
  }[];
  readonly secrets: readonly (Omit<SecretEntry, "mode"> & { mode: string })[];
  readonly steps: readonly Step[];
}

const octal = (mode: number) => mode.toString(8).padStart(4, "0");
const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

/**
 * All files, secrets and steps of one host (or of the cluster). Two constructs claiming one path
 * is an error. Synthesis writes its files under `<stack>/<dir>/` and its manifest under
 * `<stack>/manifests/`.
 */
export class Bundle extends Construct {
  readonly kind: "host" | "cluster";
  readonly name: string;
  readonly source: string;
  /** Directory of the files, relative to the stack directory: `hosts/<name>` or `cluster`. */
  readonly dir: string;
  /** Manifest path, relative to the stack directory. */
  readonly manifestPath: string;
  private readonly files = new Map<string, GeneratedFile>();
  private readonly secrets = new Map<string, SecretFile>();
  private readonly steps = new Map<string, Step>();
  private rendered?: { files: RenderedFile[]; manifest: BundleManifest; sha256: string };

  constructor(scope: Construct, id: string, props: BundleProps) {
    super(scope, id);
    this.kind = props.kind;
    this.name = props.name;
    this.source = props.source;
    this.dir = props.kind === "host" ? `hosts/${props.name}` : "cluster";
    this.manifestPath = props.kind === "host" ? `manifests/hosts/${props.name}.json` : "manifests/cluster.json";
  }

  /** Called by GeneratedFile: claims its path. */
  claim(file: GeneratedFile): void {
    this.claimPath(file.path, file.node.path);
    this.files.set(file.path, file);
  }

  /** Called by SecretFile: claims its path. */
  claimSecret(secret: SecretFile): void {
    this.claimPath(secret.entry.path, secret.node.path);
    this.secrets.set(secret.entry.path, secret);
  }

  private claimPath(path: string, claimant: string): void {
    if (this.rendered) throw new Error(`Bundle [${this.node.path}]: ${path} added after the bundle was rendered`);
    const owner = this.files.get(path)?.node.path ?? this.secrets.get(path)?.node.path;
    if (owner) {
      throw new Error(`Bundle [${this.node.path}]: ${path} is claimed by both ${owner} and ${claimant}`);
    }
  }

  /** Adds a step; a second step with the same id throws. */
  addStep(step: Step): Step {
    if (this.steps.has(step.id)) throw new Error(`Bundle [${this.node.path}]: step "${step.id}" is added twice`);
    this.steps.set(step.id, step);
    return step;
  }

  /** Renders every file once and computes the manifest and its hash. */
  render(): { files: RenderedFile[]; manifest: BundleManifest; sha256: string } {
    if (this.rendered) return this.rendered;
    const files = [...this.files.values()].map((f) => f.render()).sort(byPath);
    const manifest: BundleManifest = {
      kind: this.kind,
      name: this.name,
      source: this.source,
      dir: this.dir,
      files: files.map((f) => ({
        path: f.path,
        owner: f.owner,
        group: f.group,
        mode: octal(f.mode),
        sha256: f.sha256,
        handlers: f.handlers,
      })),
      secrets: [...this.secrets.values()].map((s) => ({ ...s.entry, mode: octal(s.entry.mode) })).sort(byPath),
      steps: [...this.steps.values()].sort((a, b) =>
        a.phase !== b.phase ? (a.phase === "before-files" ? -1 : 1) : a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
      ),
    };
    const sha256 = createHash("sha256").update(JSON.stringify(manifest)).digest("hex");
    this.rendered = { files, manifest, sha256 };
    return this.rendered;
  }

  /** sha256 of the manifest: changes exactly when a file, a mode, an owner, a handler or a step changes. */
  get sha256(): string {
    return this.render().sha256;
  }

  /** The rendered bytes of one file, for other bundles' and operations' use in tests. */
  fileBytes(path: string): Buffer | undefined {
    return this.render().files.find((f) => f.path === path)?.bytes;
  }

  /** Writes the files under `<stackDir>/<dir>/` and the manifest under `<stackDir>/manifests/`. */
  writeTo(stackDir: string): void {
    const { files, manifest } = this.render();
    for (const f of files) {
      const target = join(stackDir, this.dir, f.path);
      mkdirSync(dirname(target), { recursive: true });
      // The owner always keeps read/write here so the tree can be reviewed and cleaned.
      writeFileSync(target, f.bytes, { mode: f.mode | 0o600 });
    }
    const manifestFile = join(stackDir, this.manifestPath);
    mkdirSync(dirname(manifestFile), { recursive: true });
    writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + "\n");
  }
}
