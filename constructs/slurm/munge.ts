import { Construct } from "constructs";
import { SecretFile, type Bundle } from "../core/index.js";

export interface MungeProps {
  /** Every bundle whose hosts run a Slurm daemon or command (management hosts and node groups). */
  readonly bundles: readonly Bundle[];
  /** Secret name; one name means one key on every host (Shifter's gateway reuses it). @default "munge-key" */
  readonly secret?: string;
  /** Key length in bytes. @default 1024 */
  readonly keyBytes?: number;
}

/**
 * MUNGE, the credential service every Slurm daemon and command authenticates with: the daemon
 * package and one shared key (`/etc/munge/munge.key`, owner munge, 0400) on every host.
 * @see https://github.com/dun/munge/wiki/Installation-Guide
 */
export class Munge extends Construct {
  static readonly KEY_PATH = "/etc/munge/munge.key";
  readonly secret: string;
  readonly keyFiles: readonly SecretFile[];

  constructor(scope: Construct, id: string, props: MungeProps) {
    super(scope, id);
    this.secret = props.secret ?? "munge-key";
    const keyBytes = props.keyBytes ?? 1024;
    if (keyBytes < 32 || keyBytes > 1024) throw new Error(`Munge [${this.node.path}]: the key must be 32 to 1024 bytes, got ${keyBytes}`);
    this.keyFiles = props.bundles.map((bundle) => {
      bundle.addPackage({ debian: "munge", rhel: "munge" });
      bundle.addStep({
        id: "munge-enable",
        phase: "after-files",
        description: "start munged with the site's key",
        run: "systemctl enable --now munge",
      });
      return new SecretFile(this, `key-${bundle.kind}-${bundle.name}`, {
        bundle,
        path: Munge.KEY_PATH,
        secret: this.secret,
        generate: { randomBytes: keyBytes },
        owner: "munge",
        group: "munge",
        mode: 0o400,
        handlers: ["systemctl restart munge"],
        // Hosts with different keys reject each other's credentials: rotate on every host at once.
        impact: { kind: "outage", detail: "restart munge on every Slurm host at once; until all have the new key, daemons reject each other" },
      });
    });
  }
}
