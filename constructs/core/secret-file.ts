import { Construct } from "constructs";
import { SECRET_PLACEHOLDER_PREFIX, SECRET_REF, type SecretGenerator } from "../../common/contracts/bundle.js";
import { UNDECLARED_IMPACT, type Impact } from "./impact.js";

export type { SecretGenerator, SecretSpec } from "../../common/contracts/bundle.js";
export { SECRET_REF } from "../../common/contracts/bundle.js";

const SECRET_NAME = /^[a-z][a-z0-9-]*$/;

export function checkSecretName(name: string, where: string): void {
  if (!SECRET_NAME.test(name)) throw new Error(`${where}: secret name must match [a-z][a-z0-9-]*, got "${name}"`);
}

/**
 * The placeholder for a secret inside a generated file (a password in slurmdbd.conf, say). The
 * rendered tree keeps the placeholder; the deploy replaces it on the host from the secrets
 * folder, so the secret never enters the tree, the Terraform JSON or state.
 */
export function secretRef(name: string): string {
  checkSecretName(name, "secretRef");
  return `${SECRET_PLACEHOLDER_PREFIX}${name}@@`;
}

/** Replaces every placeholder with its secret's value (what the deploy does on the host). */
export function fillSecrets(text: string, values: Readonly<Record<string, string>>): string {
  return text.replace(SECRET_REF, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`secret "${name}" has no value`);
    return value;
  });
}

/**
 * What a secret file belongs to: a `Bundle`, named here rather than imported so that the bundle
 * (which lists its secret files) and the secret file import one way only.
 */
export interface SecretFileBundle {
  /** Claims the secret file's path (two claims of one path are an error). */
  claimSecret(secret: SecretFile): void;
}

export interface SecretFileProps {
  readonly bundle: SecretFileBundle;
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
  /** What changing (rotating) the secret does to the running site. @default the most cautious: "outage" */
  readonly impact?: Impact;
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
  readonly impact: Impact;
}

/**
 * A file whose whole content is a secret (corosync authkey, munge key, …). Its bytes never enter
 * the rendered tree, the Terraform JSON or state: the bundle records only where it goes and which
 * secret it is, and the deploy sends it from the git-ignored secrets folder.
 */
export class SecretFile extends Construct {
  readonly entry: SecretEntry;

  constructor(scope: Construct, id: string, props: SecretFileProps) {
    super(scope, id);
    checkSecretName(props.secret, `SecretFile [${this.node.path}]`);
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
      impact: props.impact ?? UNDECLARED_IMPACT,
    };
    props.bundle.claimSecret(this);
  }
}
