import type { Construct } from "constructs";
import { SecretFile, shell, type Bundle } from "../core/index.js";

export interface JwtKeyProps {
  readonly bundle: Bundle;
  /** Where slurm.conf's and slurmdbd.conf's `jwt_key=` points. */
  readonly path: string;
  /** SlurmUser: the only reader. */
  readonly slurmUser: string;
  /** The daemons on this host that read the key: restarted when it changes. */
  readonly daemons: readonly ("slurmctld" | "slurmdbd")[];
}

/**
 * The HS256 key slurmctld and slurmdbd sign and check JWTs with (`scontrol token`, slurmrestd):
 * 32 random bytes, owner SlurmUser, 0400; the same secret on every controller and the dbd host.
 * @see https://slurm.schedmd.com/jwt.html
 */
export class JwtKey extends SecretFile {
  static readonly SECRET = "slurm-jwt-key";

  constructor(scope: Construct, id: string, props: JwtKeyProps) {
    super(scope, id, {
      bundle: props.bundle,
      path: props.path,
      secret: JwtKey.SECRET,
      generate: { randomBytes: 32 },
      owner: props.slurmUser,
      group: props.slurmUser,
      mode: 0o400,
      handlers: props.daemons.map((d) => shell`systemctl restart ${d}`),
      impact: { kind: "restart", detail: `restart ${props.daemons.join(" and ")}; every token signed with the old key stops working` },
    });
  }
}
