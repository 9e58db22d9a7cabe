/**
 * A Slurm control plane on this machine, built from the rendered files of an example site:
 * munged, MariaDB, slurmdbd, slurmctld, two slurmd (`slurmd -N`), slurmrestd on a unix socket
 * (as an unprivileged user) and nginx in front of it; with a compute group, that group's oci.conf
 * for `srun --container` and the runtime's state directory. Paths are rebased into a temporary
 * directory, addresses onto 127.0.0.1, ports into 16800-16899; every rewrite must match the
 * rendered file, so a change of the templates cannot silently bypass the lab. Every daemon is
 * stopped by PID.
 */
import { spawn, spawnSync, type SpawnSyncReturns } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { fillSecrets } from "../../constructs/core/index.js";

export const PORTS = { slurmctld: 16817, slurmdbd: 16819, slurmd: [16821, 16822], gpuNode: 16823, nginx: 16843 } as const;

/** One rewrite of a rendered file: it must match, or the lab no longer tests what it claims. */
export type Rewrite = readonly [RegExp, string];

export function rebase(text: string, rewrites: readonly Rewrite[], file: string): string {
  let out = text;
  for (const [pattern, replacement] of rewrites) {
    if (!pattern.test(out)) throw new Error(`lab rebase of ${file}: ${pattern} matches nothing`);
    pattern.lastIndex = 0;
    out = out.replace(pattern, replacement);
  }
  return out;
}

/** Polls `check` every 200 ms until it returns a value, for at most `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | false): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`lab: timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** State letter of a process from /proc/PID/stat; undefined when it is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** True while the process runs (a zombie has exited; PID 1 here reaps slowly). */
export const alive = (pid: number) => {
  const s = processState(pid);
  return s !== undefined && s !== "Z" && s !== "X";
};

export interface HttpAnswer {
  readonly status: number;
  readonly body: string;
  /** The body as JSON when it is JSON. */
  readonly json?: { errors?: unknown[]; [k: string]: unknown };
}

interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
}

/** Where the lab takes each rendered file from. */
export interface LabHosts {
  /** Host of slurmctld; its slurm.conf, cgroup.conf, gres.conf and plugstack.conf serve every daemon. */
  readonly controller: string;
  /** Host of slurmdbd and MariaDB. */
  readonly dbd: string;
  /** Host of slurmrestd and nginx. */
  readonly restd: string;
  /**
   * Host group of the compute nodes: its oci.conf (`srun --container`) goes beside slurm.conf and
   * its tmpfiles.d file makes the runtime's state directory. @default no oci.conf
   */
  readonly computeGroup?: string;
}

/** How the lab runs slurmd. */
export interface LabOptions {
  /**
   * Slurm's configless mode: the controller's slurm.conf must enable it, and each slurmd starts
   * as the compute group's rendered drop-in says (--conf-server, rebased onto the lab's
   * slurmctld), with no SLURM_CONF, in a private mount namespace whose /run and /etc/slurm are
   * empty: the files it runs with can only come from slurmctld. @default false
   */
  readonly configless?: boolean;
  /** Each slurmd reads its own copy of the files (node/<name>/), as on separate hosts. @default false: one shared copy */
  readonly nodeCopies?: boolean;
  /** The compute nodes of the batch group defined in slurm.conf. @default c001, c002 */
  readonly computeNodes?: readonly string[];
  /** Start slurmrestd and nginx. @default true */
  readonly restApi?: boolean;
}

/** The port of the i-th compute node's slurmd (the GPU node's port is skipped). */
export function slurmdPort(i: number): number {
  return i < PORTS.slurmd.length ? PORTS.slurmd[i]! : 16824 + (i - PORTS.slurmd.length);
}

/** The lab: start() brings everything up, stop() ends every daemon by PID. */
export class SlurmLab {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly secrets: Record<string, string>;
  private readonly daemons: Daemon[] = [];
  /** The OCI runtime's state directory (its --root) from the rebased oci.conf; set by prepare(). */
  ociRoot?: string;
  /** The nginx certificate, trusted by requests. */
  private cert = "";

  /**
   * @param dir an empty temporary directory
   * @param rendered the rendered files of the site, by bundle path (`hosts/stc1/etc/slurm/slurm.conf`)
   */
  constructor(
    dir: string,
    private rendered: ReadonlyMap<string, Buffer>,
    private readonly hosts: LabHosts,
    public options: LabOptions = {},
  ) {
    this.dir = dir;
    this.env = { ...process.env, SLURM_CONF: this.path("etc/slurm/slurm.conf") };
    this.secrets = {
      "slurmdbd-storage-password": randomBytes(24).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 24),
    };
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  private file(bundlePath: string): string {
    const bytes = this.rendered.get(bundlePath);
    if (!bytes) throw new Error(`lab: the site renders no ${bundlePath}`);
    return bytes.toString("utf8");
  }

  private write(rel: string, text: string | Buffer, mode = 0o644, owner?: string): void {
    const target = this.path(rel);
    mkdirSync(join(target, ".."), { recursive: true });
    writeFileSync(target, text, { mode });
    chmodSync(target, mode);
    if (owner) chownSync(target, uid(owner), gid(owner));
  }

  private mkdir(rel: string, mode: number, owner?: string): void {
    mkdirSync(this.path(rel), { recursive: true });
    chmodSync(this.path(rel), mode);
    if (owner) chownSync(this.path(rel), uid(owner), gid(owner));
  }

  /** Runs a command to completion with the lab's environment. */
  run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
    return spawnSync(cmd, args, {
      encoding: "utf8",
      env: opts.env ?? this.env,
      input: opts.input,
      timeout: opts.timeoutMs ?? 30_000,
      cwd: this.dir,
    });
  }

  /** Starts a daemon in the foreground, its output in log/<name>.out; remembers its PID. */
  private startDaemon(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = this.env): Daemon {
    const log = this.path(`log/${name}.out`);
    const fd = openSync(log, "a");
    const child = spawn(cmd, args, { env, stdio: ["ignore", fd, fd], cwd: this.dir });
    closeSync(fd);
    child.on("error", () => undefined);
    child.unref();
    if (child.pid === undefined) throw new Error(`lab: could not start ${name}`);
    const daemon = { name, pid: child.pid, log };
    this.daemons.push(daemon);
    return daemon;
  }

  /** Waits for a line in a daemon's output (after `from` bytes of it), failing early when the daemon died. */
  private async waitForLog(d: Daemon, text: RegExp, timeoutMs: number, from = 0): Promise<void> {
    await waitFor(`${d.name}: ${text}`, timeoutMs, () => {
      const out = existsSync(d.log) ? readFileSync(d.log).subarray(from).toString("utf8") : "";
      if (text.test(out)) return true;
      if (!alive(d.pid)) throw new Error(`lab: ${d.name} exited:\n${out.split("\n").slice(-15).join("\n")}`);
      return undefined;
    });
  }

  /** The compute nodes defined in slurm.conf. */
  get computeNodes(): readonly string[] {
    return this.options.computeNodes ?? ["c001", "c002"];
  }

  /**
   * Writes slurm.conf and its companions, rebased, from the rendered files (again after
   * `useRendered`, as a deploy's files phase would): the controller's copy, and each compute
   * node's with `nodeCopies`. Returns the rebased slurm.conf.
   */
  writeSlurmFiles(): string {
    const t = this.dir;
    const { controller } = this.hosts;
    const munge = `${t}/munge/munge.socket`;
    const hw = hardware(this.run("slurmd", ["-C"]).stdout);
    const host = (h: string) => `hosts/${h}`;
    const conf = rebase(
      this.file(`${host(controller)}/etc/slurm/slurm.conf`),
      [
        // Addresses of the management nodes on slurm.network become loopback.
        [/\((\d+\.){3}\d+\)/g, "(127.0.0.1)"],
        [/^AccountingStorageHost=.*$/m, "AccountingStorageHost=127.0.0.1"],
        // Ports into this test's range.
        [/^SlurmctldPort=6817$/m, `SlurmctldPort=${PORTS.slurmctld}`],
        [/^AccountingStoragePort=6819$/m, `AccountingStoragePort=${PORTS.slurmdbd}\nAccountingStoragePass=${munge}`],
        // munged's socket is not at its default path here.
        [/^AuthType=auth\/munge$/m, `AuthType=auth/munge\nAuthInfo=socket=${munge}`],
        // Paths into the temporary directory; two slurmd on one host need their own (%n).
        [/\/etc\/slurm\//g, `${t}/etc/slurm/`],
        [/^StateSaveLocation=.*$/m, `StateSaveLocation=${t}/spool/slurmctld`],
        [/^SlurmdSpoolDir=.*$/m, `SlurmdSpoolDir=${t}/spool/slurmd-%n`],
        [/^SlurmdPidFile=.*$/m, `SlurmdPidFile=${t}/run/slurmd-%n.pid`],
        [/^SlurmdLogFile=.*$/m, `SlurmdLogFile=${t}/log/slurmd-%n.log`],
        [/=\/run\/slurmctld\.pid$/m, `=${t}/run/slurmctld.pid`],
        [/=\/var\/log\/slurm\/slurmctld\.log$/m, `=${t}/log/slurmctld.log`],
        // The container runtimes' job hooks (Shifter's prologue loads kernel modules, which this
        // machine forbids): the containers lab runs them; this lab runs Slurm without them.
        [/^# Job hooks of the container runtimes.*\n(?:(?:PrologFlags|Prolog|Epilog|TaskProlog)=.*\n)+/m, ""],
        // This machine has no cgroup controllers to delegate (LAB-NOTES): the portable plugins.
        [/^ProctrackType=proctrack\/cgroup$/m, "ProctrackType=proctrack/linuxproc"],
        [/^TaskPlugin=.*$/m, "TaskPlugin=task/none"],
        [/^JobAcctGatherType=jobacct_gather\/cgroup$/m, "JobAcctGatherType=jobacct_gather/linux"],
        // The compute nodes of the batch group on this host (c001 and c002 unless the test says),
        // with its real hardware; one GPU node that never starts (its Gres and NodeSet must still
        // be accepted).
        [
          /^NodeName=c\[001-\d+\] .*$/m,
          this.computeNodes.map((n, i) => `NodeName=${n} NodeAddr=127.0.0.1 Port=${slurmdPort(i)} ${hw} RealMemory=1000 Features=compute State=UNKNOWN`).join("\n"),
        ],
        // Configless: slurmctld serves the files (checked, so a site without it fails here).
        ...(this.options.configless ? [[/^SlurmctldParameters=enable_configless$/m, "SlurmctldParameters=enable_configless"] as Rewrite] : []),
        [/^NodeName=g\[01-08\] /m, `NodeName=g01 NodeAddr=127.0.0.1 Port=${PORTS.gpuNode} `],
      ],
      "slurm.conf",
    );
    const files: [string, string][] = [
      ["slurm.conf", conf],
      ["cgroup.conf", this.file(`${host(controller)}/etc/slurm/cgroup.conf`)],
      ["gres.conf", this.file(`${host(controller)}/etc/slurm/gres.conf`)],
      ["plugstack.conf", rebase(this.file(`${host(controller)}/etc/slurm/plugstack.conf`), [[/\/etc\/slurm\//g, `${t}/etc/slurm/`]], "plugstack.conf")],
    ];
    for (const [name, text] of files) this.write(`etc/slurm/${name}`, text);
    // As on separate hosts: each slurmd reads its own copy (only the compute nodes' copies, the
    // controller's being etc/slurm). What the deploy's files phase does to the nodes.
    if (this.options.nodeCopies && !this.options.configless) {
      for (const node of this.computeNodes) for (const [name, text] of files) this.write(`node/${node}/${name}`, text);
    }
    return conf;
  }

  /** The rendered files of a changed site: what the next writeSlurmFiles() writes. */
  useRendered(rendered: ReadonlyMap<string, Buffer>, computeNodes?: readonly string[]): void {
    this.rendered = rendered;
    if (computeNodes) this.options = { ...this.options, computeNodes };
  }

  /** Writes every rebased file and the secrets. */
  prepare(): void {
    const t = this.dir;
    const { dbd, restd } = this.hosts;
    chmodSync(t, 0o711); // munged and slurmrestd (not root) walk through it
    for (const d of ["etc", "run", "log", "spool"]) this.mkdir(d, d === "etc" || d === "run" ? 0o711 : 0o755);
    this.mkdir("log", 0o777);
    this.mkdir("run", 0o777);
    this.mkdir("munge", 0o711, "munge");
    this.mkdir("munge/run", 0o711, "munge");
    this.mkdir("mysql", 0o755, "mysql");
    this.mkdir("mysql/data", 0o700, "mysql");
    this.mkdir("spool/slurmctld", 0o700, "slurm");
    this.mkdir("etc/slurm/plugstack.conf.d", 0o755);
    this.mkdir("run/slurmrestd", 0o750, "nobody");
    this.mkdir("nginx/tmp", 0o755);

    // Secrets, made here as the deploy would: the munge and JWT keys as whole files, the
    // database password filled into the files that hold its placeholder.
    this.write("munge/munge.key", randomBytes(1024), 0o400, "munge");
    this.write("etc/slurm/jwt_hs256.key", randomBytes(32), 0o400, "slurm");
    this.mkdir("etc/nginx/tls", 0o700);
    const tls = spawnSync(
      "openssl",
      ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=slurm-api.stc.example.org",
        "-addext", "subjectAltName=DNS:slurm-api.stc.example.org",
        "-keyout", this.path("etc/nginx/tls/slurmrestd.key"), "-out", this.path("etc/nginx/tls/slurmrestd.crt")],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (tls.status !== 0) throw new Error(`lab: openssl failed: ${tls.stderr}`);
    this.cert = readFileSync(this.path("etc/nginx/tls/slurmrestd.crt"), "utf8");

    const munge = `${t}/munge/munge.socket`;
    const host = (h: string) => `hosts/${h}`;
    this.writeSlurmFiles();
    if (this.hosts.computeGroup) {
      // slurmstepd reads oci.conf beside slurm.conf; the runtime's state directory (its --root)
      // moves into the lab's run directory and is made by the rendered tmpfiles.d file, as at boot.
      const group = `groups/${this.hosts.computeGroup}`;
      const oci = rebase(this.file(`${group}/etc/slurm/oci.conf`), [[/ --root=\/run\//g, ` --root=${t}/run/`]], "oci.conf");
      this.write("etc/slurm/oci.conf", oci);
      this.ociRoot = / --root=(\S+) /.exec(oci)?.[1];
      const tmpfiles = rebase(this.file(`${group}/etc/tmpfiles.d/hpcdk-slurm-oci.conf`), [[/^d \/run\//m, `d ${t}/run/`]], "hpcdk-slurm-oci.conf (tmpfiles.d)");
      this.write("etc/tmpfiles.d/hpcdk-slurm-oci.conf", tmpfiles);
      const made = this.run("systemd-tmpfiles", ["--create", this.path("etc/tmpfiles.d/hpcdk-slurm-oci.conf")]);
      if (made.status !== 0) throw new Error(`lab: systemd-tmpfiles failed: ${made.stderr}`);
    }
    const dbdConf = rebase(
      fillSecrets(this.file(`${host(dbd)}/etc/slurm/slurmdbd.conf`), this.secrets),
      [
        [/^AuthType=auth\/munge$/m, `AuthType=auth/munge\nAuthInfo=socket=${munge}`],
        [/\/etc\/slurm\//g, `${t}/etc/slurm/`],
        [/^DbdPort=6819$/m, `DbdPort=${PORTS.slurmdbd}`],
        [/=\/var\/log\/slurm\/slurmdbd\.log$/m, `=${t}/log/slurmdbd.log`],
        [/=\/run\/slurmdbd\.pid$/m, `=${t}/run/slurmdbd.pid`],
      ],
      "slurmdbd.conf",
    );
    this.write("etc/slurm/slurmdbd.conf", dbdConf, 0o600, "slurm");
    this.write("mysql/60-slurmdbd.cnf", this.file(`${host(dbd)}/etc/mysql/mariadb.conf.d/60-slurmdbd.cnf`));
    this.write(
      "mysql/my.cnf",
      [
        "[mysqld]",
        `datadir=${t}/mysql/data`,
        `socket=${t}/mysql/mysqld.sock`,
        `pid-file=${t}/mysql/mysqld.pid`,
        `log-error=${t}/log/mariadb.log`,
        "skip-networking",
        "user=mysql",
        `!include ${t}/mysql/60-slurmdbd.cnf`,
        "",
      ].join("\n"),
    );
    this.write("mysql/database.sql", fillSecrets(this.file(`${host(dbd)}/etc/slurm/hpcdk-slurmdbd-database.sql`), this.secrets), 0o600);
    this.write(
      "etc/nginx/conf.d/slurmrestd.conf",
      rebase(
        this.file(`${host(restd)}/etc/nginx/conf.d/slurmrestd.conf`),
        [
          [/^ {4}listen 443 ssl;$/m, `    listen 127.0.0.1:${PORTS.nginx} ssl;`],
          [/^ {4}listen \[::\]:443 ssl;\n/m, ""],
          // The site admits its cluster network; here the client is loopback.
          [/^ {4}allow "172\.16\.0\.0\/16";$/m, "    allow 127.0.0.1;"],
          [/\/run\/slurmrestd\//g, `${t}/run/slurmrestd/`],
          [/\/etc\/nginx\/tls\//g, `${t}/etc/nginx/tls/`],
        ],
        "slurmrestd.conf (nginx)",
      ),
    );
    // The main nginx.conf of Debian, cut to what this server needs (LAB-NOTES: nobody nogroup).
    this.write(
      "nginx/nginx.conf",
      [
        "user nobody nogroup;",
        "worker_processes 1;",
        `pid ${t}/run/nginx.pid;`,
        `error_log ${t}/log/nginx-error.log;`,
        "daemon off;",
        "events { worker_connections 64; }",
        "http {",
        `    access_log ${t}/log/nginx-access.log;`,
        ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((k) => `    ${k}_temp_path ${t}/nginx/tmp/${k};`),
        `    include ${t}/etc/nginx/conf.d/slurmrestd.conf;`,
        "}",
        "",
      ].join("\n"),
    );
  }

  /** slurmrestd's command line and environment, from the rendered unit. */
  restdCommand(): { env: Record<string, string>; argv: string[]; user: string } {
    const unit = this.file(`hosts/${this.hosts.restd}/etc/systemd/system/slurmrestd.service`);
    const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
    const user = /^User=(.*)$/m.exec(unit)?.[1];
    if (!exec || !user) throw new Error("lab: the slurmrestd unit has no ExecStart or User");
    const env = Object.fromEntries([...unit.matchAll(/^Environment=(\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
    const argv = rebase(exec, [[/unix:\/run\/slurmrestd\//, `unix:${this.dir}/run/slurmrestd/`]], "slurmrestd.service").split(" ");
    return { env, argv, user };
  }

  /** Starts every daemon in order, each waited for (bounded). */
  async start(): Promise<void> {
    const t = this.dir;
    const munged = this.startDaemon("munged", "setpriv", [
      "--reuid=munge", "--regid=munge", "--clear-groups", "munged", "-F",
      `--key-file=${t}/munge/munge.key`, `--socket=${t}/munge/munge.socket`, `--pid-file=${t}/munge/run/munged.pid`,
      `--seed-file=${t}/munge/run/munged.seed`, `--log-file=${t}/log/munged.log`,
    ]);
    await waitFor("munged's socket", 10_000, () => existsSync(`${t}/munge/munge.socket`) || (!alive(munged.pid) && fail("munged exited", munged)));

    const install = this.run("mariadb-install-db", [`--defaults-file=${t}/mysql/my.cnf`, "--auth-root-authentication-method=socket", "--skip-test-db"], { timeoutMs: 60_000 });
    if (install.status !== 0) throw new Error(`lab: mariadb-install-db failed: ${install.stderr}${install.stdout}`);
    const mariadb = this.startDaemon("mariadbd", "mariadbd", [`--defaults-file=${t}/mysql/my.cnf`]);
    await waitFor("MariaDB's socket", 30_000, () => existsSync(`${t}/mysql/mysqld.sock`) || (!alive(mariadb.pid) && fail("mariadbd exited", mariadb, `${t}/log/mariadb.log`)));
    const sql = this.run("mariadb", ["-S", `${t}/mysql/mysqld.sock`, "-u", "root"], { input: readFileSync(`${t}/mysql/database.sql`, "utf8") });
    if (sql.status !== 0) throw new Error(`lab: the rendered database SQL failed: ${sql.stderr}`);

    // slurmdbd and slurmctld check that they run on DbdHost and SlurmctldHost: each gets its own
    // UTS namespace with that host name (unshare and sh exec, so the PID stays the daemon's).
    const dbd = this.startDaemon("slurmdbd", "unshare", ["--uts", "sh", "-c", `hostname ${this.hosts.dbd} && exec slurmdbd -D`], {
      ...this.env,
      // libmariadb's default socket for StorageHost=localhost.
      MYSQL_UNIX_PORT: `${t}/mysql/mysqld.sock`,
    });
    await this.waitForLog(dbd, /slurmdbd version \S+ started/, 30_000);
    await this.startSlurmctld();
    for (const node of this.computeNodes) await this.startSlurmd(node);
    if (this.options.restApi === false) return;

    const restd = this.restdCommand();
    // The unit's user does not exist here: nobody stands in (never root, never SlurmUser).
    this.startDaemon("slurmrestd", "setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", ...restd.argv], { ...this.env, ...restd.env });
    await waitFor("slurmrestd's socket", 15_000, () => existsSync(`${t}/run/slurmrestd/slurmrestd.socket`));
    const nginx = this.startDaemon("nginx", "nginx", ["-c", `${t}/nginx/nginx.conf`, "-p", `${t}/nginx`]);
    await waitFor("nginx's pid file", 15_000, () => existsSync(`${t}/run/nginx.pid`) || (!alive(nginx.pid) && fail("nginx exited", nginx)));
  }

  /** The size of a daemon's output file now: what a wait after a restart must look past. */
  private logSize(name: string): number {
    const log = this.path(`log/${name}.out`);
    return existsSync(log) ? statSync(log).size : 0;
  }

  /** The running daemon of that name. */
  daemon(name: string): Daemon | undefined {
    return [...this.daemons].reverse().find((d) => d.name === name && alive(d.pid));
  }

  /** Starts slurmctld, with the controller's host name (it checks that it runs on SlurmctldHost), and waits until it serves. */
  async startSlurmctld(): Promise<void> {
    const from = this.logSize("slurmctld");
    const ctld = this.startDaemon("slurmctld", "unshare", ["--uts", "sh", "-c", `hostname ${this.hosts.controller} && exec slurmctld -D -f "$SLURM_CONF"`]);
    await this.waitForLog(ctld, /Running as primary controller/, 30_000, from);
  }

  /**
   * The command line of a compute node's slurmd: with its own or the shared copy of the files;
   * configless, the ExecStart of the compute group's rendered drop-in with --conf-server on the
   * lab's slurmctld and `-N node` as $SLURMD_OPTIONS, run with no SLURM_CONF in a mount
   * namespace of its own whose /run (but for a link to munged's socket) and /etc/slurm are empty.
   */
  slurmdCommand(node: string): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
    if (!this.options.configless) {
      const conf = this.options.nodeCopies ? this.path(`node/${node}/slurm.conf`) : this.path("etc/slurm/slurm.conf");
      return { cmd: "slurmd", args: ["-D", "-N", node, "-f", conf], env: this.env };
    }
    const group = this.hosts.computeGroup ?? "compute";
    const dropin = this.file(`groups/${group}/etc/systemd/system/slurmd.service.d/40-hpcdk-configless.conf`);
    const exec = [...dropin.matchAll(/^ExecStart=(.+)$/gm)].pop()?.[1];
    if (!exec) throw new Error("lab: the configless drop-in has no ExecStart");
    const line = rebase(
      exec,
      [
        [/ --conf-server \S+ /, ` --conf-server 127.0.0.1:${PORTS.slurmctld} `],
        [/ \$SLURMD_OPTIONS$/, ` -N ${node}`],
      ],
      "slurmd's configless drop-in",
    );
    const env = { ...this.env };
    delete env.SLURM_CONF;
    return {
      cmd: "unshare",
      // 22.05's slurmd has no --authinfo: before it has the files it reaches munged on the
      // default socket, which a link in its private /run points at the lab's.
      args: [
        "--mount", "--propagation", "private", "sh", "-c",
        'm=$1; shift; mount -t tmpfs hpcdk-lab-run /run && mkdir /run/munge && ln -s "$m" /run/munge/munge.socket.2 && mount -t tmpfs hpcdk-lab-etc /etc/slurm && exec "$@"',
        "sh", `${this.dir}/munge/munge.socket`, ...line.split(" "),
      ],
      env,
    };
  }

  /** Starts a compute node's slurmd and waits until it runs. */
  async startSlurmd(node: string): Promise<void> {
    const { cmd, args, env } = this.slurmdCommand(node);
    const from = this.logSize(`slurmd-${node}`);
    const d = this.startDaemon(`slurmd-${node}`, cmd, args, env);
    await this.waitForLog(d, /slurmd started on/, 30_000, from);
  }

  /** Stops a daemon by PID (SIGTERM) and waits until it is gone. */
  async stopDaemon(name: string): Promise<void> {
    const d = this.daemon(name);
    if (!d) return;
    process.kill(d.pid, "SIGTERM");
    await waitFor(`${name} to stop`, 30_000, () => !alive(d.pid));
  }

  /** systemctl restart, as the lab does it: stop by PID if running, then start and wait. */
  async restartSlurmctld(): Promise<void> {
    await this.stopDaemon("slurmctld");
    await this.startSlurmctld();
  }

  async restartSlurmd(node: string): Promise<void> {
    await this.stopDaemon(`slurmd-${node}`);
    await this.startSlurmd(node);
  }

  /** An HTTPS request to nginx, checking its certificate against the one the lab made. */
  http(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<HttpAnswer> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port: PORTS.nginx,
          servername: "slurm-api.stc.example.org",
          ca: this.cert,
          method,
          path,
          headers: { ...headers, ...(body ? { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(body) } : {}) },
          timeout: 20_000,
        },
        (res) => {
          let data = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => (data += c));
          res.on("end", () => {
            let json: HttpAnswer["json"];
            try {
              json = JSON.parse(data) as HttpAnswer["json"];
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: data, json });
          });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${path} timed out`)));
      req.on("error", reject);
      if (body) req.write(body);
      req.end();
    });
  }

  /** A JWT for `user` from `scontrol token` (run as root). */
  token(user: string, lifespanSec = 600): string {
    const r = this.run("scontrol", ["token", `username=${user}`, `lifespan=${lifespanSec}`]);
    const m = /SLURM_JWT=(\S+)/.exec(r.stdout);
    if (!m) throw new Error(`lab: scontrol token failed: ${r.stderr}`);
    return m[1]!;
  }

  /** Prepares and starts the lab; if it does not start, stops what did and throws with every daemon's last lines. */
  async up(): Promise<void> {
    this.prepare();
    try {
      await this.start();
    } catch (err) {
      const logs = this.logs();
      await this.stop();
      throw new Error(`${(err as Error).message}\n${logs}`);
    }
  }

  /** Stops the lab: the daemons that would not die, and those still running after it (both [] when all is well). */
  async down(): Promise<{ left: string[]; running: string[] }> {
    const left = await this.stop();
    return { left, running: this.running() };
  }

  /** The last lines of every daemon's output, for a failing test's message. */
  logs(): string {
    return this.daemons
      .map((d) => `== ${d.name} (pid ${d.pid}, ${alive(d.pid) ? "running" : "gone"})\n${existsSync(d.log) ? readFileSync(d.log, "utf8").split("\n").slice(-8).join("\n") : ""}`)
      .join("\n");
  }

  /** Every daemon still running. */
  running(): string[] {
    return this.daemons.filter((d) => alive(d.pid)).map((d) => d.name);
  }

  /** Stops every daemon by PID, newest first: SIGTERM, then SIGKILL after 10 s. */
  async stop(): Promise<string[]> {
    const left: string[] = [];
    for (const d of [...this.daemons].reverse()) {
      if (!alive(d.pid)) continue;
      try {
        process.kill(d.pid, "SIGTERM");
      } catch {
        continue;
      }
      try {
        await waitFor(`${d.name} to stop`, 10_000, () => !alive(d.pid));
      } catch {
        try {
          process.kill(d.pid, "SIGKILL");
        } catch {
          /* gone meanwhile */
        }
        await waitFor(`${d.name} to die`, 5_000, () => !alive(d.pid)).catch(() => left.push(d.name));
      }
    }
    return left;
  }
}

function fail(what: string, d: { log: string }, extra?: string): never {
  const out = existsSync(d.log) ? readFileSync(d.log, "utf8") : "";
  const more = extra && existsSync(extra) ? readFileSync(extra, "utf8") : "";
  throw new Error(`lab: ${what}:\n${(out + more).split("\n").slice(-15).join("\n")}`);
}

/** Sockets, cores and threads of this machine as `slurmd -C` reports them. */
function hardware(slurmdC: string): string {
  const get = (k: string) => new RegExp(`${k}=(\\d+)`).exec(slurmdC)?.[1];
  const cpus = get("CPUs");
  const sockets = get("SocketsPerBoard");
  const cores = get("CoresPerSocket");
  const threads = get("ThreadsPerCore");
  if (!cpus || !sockets || !cores || !threads) throw new Error(`lab: cannot read slurmd -C: ${slurmdC}`);
  return `CPUs=${cpus} Sockets=${sockets} CoresPerSocket=${cores} ThreadsPerCore=${threads}`;
}

function uid(user: string): number {
  const r = spawnSync("id", ["-u", user], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lab: no user ${user}`);
  return Number(r.stdout.trim());
}

function gid(user: string): number {
  const r = spawnSync("id", ["-g", user], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`lab: no user ${user}`);
  return Number(r.stdout.trim());
}
