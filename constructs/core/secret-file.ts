import { Construct } from "constructs";
import type { Bundle } from "./bundle.js";

/** How a secret comes to be when the site has none yet. */
export interface SecretGenerator {
  /** Random bytes to generate (e.g. 256 for a corosync authkey, 1024 for a munge key). */
  readonly randomBytes: number;
}

export interface SecretFileProps {
  readonly bundle: Bundle;
  /** Absolute path on the host. */
  readonly path: string;
  /** Secret name: the file `secrets/<site>/<secret>` the deploy uploads. Same name = same bytes on every host. */
  readonly secret: string;
  readonly generate: SecretGenerator;
  /** @default "root" */
  readonly owner?: string;
  /** @default "root" */
  readonly group?: string;
  /** @default 0o400 */
  readonly mode?: number;
  /** Commands the deploy runs when the secret changed. @default none */
  readonly handlers?: readonly string[];
}

/** The manifest entry of a secret file: where it goes and which secret, never its bytes. */
export interface SecretEntry {
  readonly path: string;
  readonly owner: string;
  readonly group: string;
  readonly mode: number;
  readonly secret: string;
  readonly generate: SecretGenerator;
  readonly handlers: readonly string[];
}

/**
 * A file whose content is a secret (corosync authkey, munge key, …). Its bytes never enter the
 * rendered tree, the Terraform JSON or state: the bundle records only where it goes and which
 * secret it is, and the deploy sends it from the git-ignored secrets folder.
 */
export class SecretFile extends Construct {
  readonly entry: SecretEntry;

  constructor(scope: Construct, id: string, props: SecretFileProps) {
    super(scope, id);
    if (!/^[a-z][a-z0-9-]*$/.test(props.secret)) {
      throw new Error(`SecretFile [${this.node.path}]: secret name must match [a-z][a-z0-9-]*, got "${props.secret}"`);
    }
    const mode = props.mode ?? 0o400;
    if ((mode & 0o077) !== 0) {
      throw new Error(`SecretFile [${this.node.path}]: ${props.path} must not be readable by group or others, got mode ${mode.toString(8)}`);
    }
    this.entry = {
      path: props.path,
      owner: props.owner ?? "root",
      group: props.group ?? "root",
      mode,
      secret: props.secret,
      generate: props.generate,
      handlers: [...(props.handlers ?? [])],
    };
    props.bundle.claimSecret(this);
  }
}
