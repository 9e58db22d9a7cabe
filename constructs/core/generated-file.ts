import { createHash } from "node:crypto";
import { Construct } from "constructs";
import { MANAGED_MARKER } from "../../common/contracts/bundle.js";
import { UNDECLARED_IMPACT, type Impact } from "./impact.js";
import { comment } from "./languages.js";
import { renderTemplate } from "./renderer.js";
import { checkSecretName, SECRET_REF, type SecretSpec } from "./secret-file.js";

/** How a file marks itself as generated, in the comment syntax of its format. */
export type HeaderStyle = "hash" | "js" | "xml" | "none";

/** The marker every managed file carries (`hpcdk diff --live` recognises hand edits by it): a contract with the operations. */
export { MANAGED_MARKER };

/**
 * The header a generated file starts with, in the comment syntax of its format. The site file's
 * path is written through the comment writer: a directory name with a newline, `--` or any
 * character that is not printable ASCII cannot end the comment or start a line of its own.
 */
export function managedHeader(style: HeaderStyle, source: string): string {
  const lines = [`${MANAGED_MARKER} from ${comment(source).text}. Do not edit by hand:`, "the next deploy replaces this file."];
  switch (style) {
    case "hash":
      return lines.map((l) => `# ${l}`).join("\n") + "\n";
    case "js":
      return lines.map((l) => `// ${l}`).join("\n") + "\n";
    case "xml":
      return `<!-- ${lines.join(" ")} -->\n`;
    case "none":
      return "";
  }
}

/**
 * What a generated file belongs to: a `Bundle`, named here rather than imported so that the
 * bundle (which renders its files) and the file import one way only.
 */
export interface FileBundle {
  /** The site file, for the managed header. */
  readonly source: string;
  /** Claims the file's path (two claims of one path are an error). */
  claim(file: GeneratedFile): void;
}

export interface GeneratedFileProps {
  /** The host (or cluster) bundle the file belongs to. */
  readonly bundle: FileBundle;
  /** Absolute path of the file on the host (or inside the cluster bundle). */
  readonly path: string;
  /** Template under `templates/`, without `.hbs`, e.g. `pacemaker/corosync.conf`. Give this or `content`. */
  readonly template?: string;
  /** Template context; `header` is added to it. */
  readonly context?: object;
  /** Builds the bytes itself (XML, binary); receives the managed header. Give this or `template`. */
  readonly content?: (header: string) => string | Buffer;
  /** @default "root" */
  readonly owner?: string;
  /** @default "root" */
  readonly group?: string;
  /** Permission bits. @default 0o644 */
  readonly mode?: number;
  /** Comment syntax of the managed header; `none` for formats without comments (binary, JSON). @default "hash" */
  readonly header?: HeaderStyle;
  /**
   * Commands the deploy runs on the host when this file changed, e.g. `corosync-cfgtool -R`.
   * @default none
   */
  readonly handlers?: readonly string[];
  /** What changing this file does to the running site. @default the most cautious: "outage" */
  readonly impact?: Impact;
  /**
   * Secrets the file holds as `secretRef(name)` placeholders, filled in on the host by the deploy.
   * Such a file must not be readable by others. @default none
   */
  readonly secrets?: readonly SecretSpec[];
}

/** One rendered file. */
export interface RenderedFile {
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  readonly mode: number;
  readonly bytes: Buffer;
  readonly sha256: string;
  readonly handlers: readonly string[];
  readonly impact: Impact;
  /** Names of the secrets filled into the file on the host. */
  readonly secrets: readonly string[];
}

/**
 * A file hpcdk generates: it owns one path in one bundle (a second claim throws) and starts
 * with a header naming the site file it came from.
 */
export class GeneratedFile extends Construct {
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  readonly mode: number;
  readonly handlers: readonly string[];
  readonly impact: Impact;
  readonly secrets: readonly SecretSpec[];
  readonly bundle: FileBundle;
  private readonly headerStyle: HeaderStyle;
  private rendered?: RenderedFile;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: GeneratedFileProps,
  ) {
    super(scope, id);
    this.bundle = props.bundle;
    if (!props.path.startsWith("/") || props.path.split("/").includes("..")) {
      throw new Error(`GeneratedFile [${this.node.path}]: path must be absolute without "..", got "${props.path}"`);
    }
    if ((props.template === undefined) === (props.content === undefined)) {
      throw new Error(`GeneratedFile [${this.node.path}]: give exactly one of template or content`);
    }
    this.path = props.path;
    this.owner = props.owner ?? "root";
    this.group = props.group ?? "root";
    this.mode = props.mode ?? 0o644;
    this.handlers = [...(props.handlers ?? [])];
    this.headerStyle = props.header ?? "hash";
    this.impact = props.impact ?? UNDECLARED_IMPACT;
    this.secrets = [...(props.secrets ?? [])].sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const secret of this.secrets) {
      checkSecretName(secret.name, `GeneratedFile [${this.node.path}]`);
      // The deploy fills placeholders with sed on the host: only letters and digits are safe there.
      if (!("password" in secret.generate)) {
        throw new Error(`GeneratedFile [${this.node.path}]: secret ${secret.name} is filled into ${props.path}, so it must be a password (letters and digits)`);
      }
    }
    if (this.secrets.length > 0 && (this.mode & 0o007) !== 0) {
      throw new Error(`GeneratedFile [${this.node.path}]: ${this.path} holds secrets and must not be readable by others, got mode ${this.mode.toString(8)}`);
    }
    this.bundle.claim(this);
  }

  /** The file's bytes; rendered once. */
  render(): RenderedFile {
    if (this.rendered) return this.rendered;
    const header = managedHeader(this.headerStyle, this.bundle.source);
    let body: string | Buffer;
    try {
      body = this.props.template
        ? renderTemplate(this.props.template, { ...this.props.context, header })
        : this.props.content!(header);
    } catch (err) {
      throw new Error(`GeneratedFile [${this.node.path}]: ${(err as Error).message}`);
    }
    if (this.headerStyle !== "none" && !String(body).includes(MANAGED_MARKER)) {
      throw new Error(`GeneratedFile [${this.node.path}]: ${this.path} does not carry the managed header (put {{header}} in the template)`);
    }
    if (!Buffer.isBuffer(body)) {
      const used = new Set([...body.matchAll(SECRET_REF)].map((m) => m[1]!));
      const declared = new Set(this.secrets.map((s) => s.name));
      const undeclared = [...used].filter((n) => !declared.has(n));
      const unused = [...declared].filter((n) => !used.has(n));
      if (undeclared.length > 0 || unused.length > 0) {
        throw new Error(
          `GeneratedFile [${this.node.path}]: ${this.path} ${undeclared.length > 0 ? `uses undeclared secrets ${undeclared.join(", ")}` : `declares unused secrets ${unused.join(", ")}`}`,
        );
      }
    }
    const bytes = Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8");
    this.rendered = {
      path: this.path,
      owner: this.owner,
      group: this.group,
      mode: this.mode,
      bytes,
      sha256: createHash("sha256").update(bytes).digest("hex"),
      handlers: this.handlers,
      impact: this.impact,
      secrets: this.secrets.map((s) => s.name),
    };
    return this.rendered;
  }
}
