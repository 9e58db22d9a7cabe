import { Construct } from "constructs";
import { GeneratedFile, secretRef, shell, type Bundle } from "../core/index.js";

export interface SlurmDbdProps {
  /** The management node running slurmdbd and MariaDB. */
  readonly host: Bundle;
  readonly clusterName: string;
  /** DbdHost: the host's short name (`hostname -s`). */
  readonly dbdHost: string;
  /** DbdPort (= AccountingStoragePort). @default 6819 */
  readonly dbdPort?: number;
  /** SlurmUser: owns slurmdbd.conf and the JWT key. @default "slurm" */
  readonly slurmUser?: string;
  /** StorageLoc. @default "slurm_acct_db" */
  readonly database?: string;
  /** StorageUser. @default "slurm" */
  readonly storageUser?: string;
  /** AuthAltTypes; empty for none. @default ["auth/jwt"] */
  readonly authAltTypes?: readonly string[];
  /** The JWT key path (same as slurm.conf's); the key itself is a JwtKey in the same bundle. */
  readonly jwtKeyPath: string;
  /** InnoDB settings. */
  readonly mariadb: { readonly bufferPoolSizeMB: number; readonly logFileSizeMB: number; readonly lockWaitTimeoutSec: number; readonly maxAllowedPacketMB: number };
}

/**
 * Slurm's accounting: slurmdbd (`slurmdbd.conf`, owner SlurmUser, 0600) and its MariaDB on the
 * same management node: InnoDB settings Slurm recommends, the database and an account limited to
 * it. The storage password is the secret `slurmdbd-storage-password`, filled in on the host.
 * @see https://slurm.schedmd.com/slurmdbd.conf.html
 * @see https://slurm.schedmd.com/accounting.html
 */
export class SlurmDbd extends Construct {
  static readonly PASSWORD_SECRET = "slurmdbd-storage-password";
  static readonly SQL_PATH = "/etc/slurm/hpcdk-slurmdbd-database.sql";
  readonly port: number;

  constructor(scope: Construct, id: string, props: SlurmDbdProps) {
    super(scope, id);
    const host = props.host;
    this.port = props.dbdPort ?? 6819;
    const slurmUser = props.slurmUser ?? "slurm";
    const database = props.database ?? "slurm_acct_db";
    const storageUser = props.storageUser ?? "slurm";
    const authAltTypes = props.authAltTypes ?? ["auth/jwt"];
    const password = { name: SlurmDbd.PASSWORD_SECRET, generate: { password: 32 } } as const;
    host.addPackage({ debian: "slurmdbd", rhel: "slurm-slurmdbd" });
    host.addPackage({ debian: "mariadb-server", rhel: "mariadb-server" });

    new GeneratedFile(this, "slurmdbd-conf", {
      bundle: host,
      path: "/etc/slurm/slurmdbd.conf",
      template: "slurm/slurmdbd.conf",
      context: {
        clusterName: props.clusterName,
        authAltTypes: authAltTypes.join(","),
        jwtKey: props.jwtKeyPath,
        dbdHost: props.dbdHost,
        dbdPort: this.port,
        slurmUser,
        database,
        storageUser,
        storagePass: secretRef(password.name),
      },
      owner: slurmUser,
      group: slurmUser,
      mode: 0o600,
      secrets: [password],
      handlers: ["systemctl restart slurmdbd"],
      impact: { kind: "restart", detail: "restart slurmdbd; slurmctld queues accounting records meanwhile" },
    });

    new GeneratedFile(this, "mariadb-cnf", {
      bundle: host,
      path: "/etc/mysql/mariadb.conf.d/60-slurmdbd.cnf",
      template: "slurm/mariadb-slurmdbd.cnf",
      context: props.mariadb,
      handlers: ["systemctl restart mariadb"],
      impact: { kind: "restart", detail: "restart MariaDB; slurmdbd reconnects" },
    });
    new GeneratedFile(this, "database-sql", {
      bundle: host,
      path: SlurmDbd.SQL_PATH,
      template: "slurm/slurmdbd-database.sql",
      context: { database, storageUser, storagePass: secretRef(password.name) },
      mode: 0o600,
      secrets: [password],
      handlers: [shell`mariadb < ${SlurmDbd.SQL_PATH}`],
      impact: { kind: "reload", detail: "rerun with mariadb: the database, account and grants change in place" },
    });
    host.addStep({
      id: "slurmdbd-log-dir",
      phase: "before-files",
      description: "create Slurm's log directory",
      run: shell`install -d -o ${slurmUser} -g ${slurmUser} -m 0755 /var/log/slurm`,
    });
    host.addStep({
      id: "slurmdbd-database",
      phase: "after-files",
      description: "start MariaDB, create the accounting database and its account, start slurmdbd",
      run: shell`systemctl enable --now mariadb && mariadb < ${SlurmDbd.SQL_PATH} && systemctl enable --now slurmdbd`,
    });
  }
}
