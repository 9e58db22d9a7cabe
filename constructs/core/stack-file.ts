import { Construct, type IConstruct } from "constructs";

export interface StackFileProps {
  /** Path relative to the stack directory, e.g. `manifests/hosts/nfs1.json`, `deploy.json`. */
  readonly path: string;
  /** Builds the bytes; called once, when synthesis renders the stack directory. */
  readonly content: () => string | Buffer;
  /** Permission bits of the file in the stack directory, less the umask. @default 0o666 (as any file a program writes) */
  readonly mode?: number;
}

/** One rendered file of a stack directory. */
export interface RenderedStackFile {
  readonly path: string;
  readonly bytes: Buffer;
  readonly mode: number;
}

/**
 * A file of the stack directory that synthesis writes: a bundle's files, its manifest and apply
 * script, the inventory (`deploy.json`), the Terraform JSON. Synthesis renders every one of them
 * into memory and writes the directory once; nothing else writes into it.
 */
export class StackFile extends Construct {
  readonly path: string;
  readonly mode: number;
  private readonly content: () => string | Buffer;
  private rendered?: RenderedStackFile;

  constructor(scope: Construct, id: string, props: StackFileProps) {
    super(scope, id);
    const parts = props.path.split("/");
    if (props.path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
      throw new Error(`StackFile [${this.node.path}]: path must be relative to the stack directory, without "." or "..", got "${props.path}"`);
    }
    this.path = props.path;
    this.mode = props.mode ?? 0o666;
    this.content = props.content;
  }

  /** The file's bytes; rendered once. */
  render(): RenderedStackFile {
    if (this.rendered) return this.rendered;
    const body = this.content();
    this.rendered = { path: this.path, bytes: Buffer.isBuffer(body) ? body : Buffer.from(body, "utf8"), mode: this.mode };
    return this.rendered;
  }
}

/**
 * Every stack file under `scope`, rendered, by path. Two files claiming one path is an error
 * naming both constructs.
 */
export function renderStackFiles(scope: IConstruct): Map<string, RenderedStackFile> {
  const files = new Map<string, RenderedStackFile>();
  const owners = new Map<string, string>();
  for (const c of scope.node.findAll()) {
    if (!(c instanceof StackFile)) continue;
    const owner = owners.get(c.path);
    if (owner) throw new Error(`StackFile [${c.node.path}]: ${c.path} is claimed by both ${owner} and ${c.node.path}`);
    owners.set(c.path, c.node.path);
    files.set(c.path, c.render());
  }
  return new Map([...files].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
