/**
 * The one way hpcdk talks to live hosts (deploy, drill, lab, diff --live): ssh2, with the key
 * from a file or the agent, an optional jump host, host keys always checked against a
 * known_hosts file, and every connection and command bounded in time and in the size of what it
 * answers. Errors name the host, what was being done, and what the remote side said (cut short
 * and with control characters shown as escapes: a host's words never steer the terminal).
 *
 * Operations connect through {@link connect} in ./connect.ts, which takes every SSH setting from
 * the inventory.
 */
import { createHmac } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import type { Readable } from "node:stream";
import { Client, type ClientChannel, type ConnectConfig } from "ssh2";
import { HpcdkError } from "../../common/errors.js";
import { shQuote } from "../../common/shell.js";
import { hostText } from "./answer.js";

export interface SshEndpoint {
  readonly address: string;
  readonly port: number;
  readonly user: string;
  /** Private key file; `~` is the deploying user's home. @default the agent ($SSH_AUTH_SOCK) */
  readonly privateKey?: string;
}

export interface SshOptions extends SshEndpoint {
  /** The host's name in the site, for messages. */
  readonly host: string;
  /** known_hosts file the host key must be in. */
  readonly knownHosts: string;
  /** @default 15000 */
  readonly connectTimeoutMs?: number;
  /** Jump host; its key is checked against the same known_hosts. @default none */
  readonly bastion?: SshEndpoint;
}

/** What failed: the connection, the host key, the login, running the command, its time, or what it answered. */
export type SshStage = "connect" | "host-key" | "auth" | "exec" | "timeout" | "answer";

export class SshError extends HpcdkError {
  constructor(
    readonly host: string,
    readonly stage: SshStage,
    message: string,
  ) {
    super(`${host}: ${message}`);
  }
}

export interface ExecResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  /** Written to the command's standard input, then closed. @default nothing (closed at once) */
  readonly stdin?: Buffer | string | Readable;
  /** @default 600000 */
  readonly timeoutMs?: number;
  /**
   * The most the command may print on stdout and on stderr, each: a host that answers more is
   * confused or compromised, and its answer is refused (the channel is closed) rather than read
   * into memory. @default 16 MiB
   */
  readonly maxOutputBytes?: number;
}

/** What a command may print by default, on each of stdout and stderr. */
export const MAX_OUTPUT_BYTES = 16 * 1024 * 1024;

/** The last lines of what a failed command printed (stderr, else stdout), fit for a message. */
export function lastLines(r: ExecResult, lines: number): string {
  return hostText((r.stderr || r.stdout).trim().split("\n").slice(-lines).join(" | "));
}

export function expandHome(path: string): string {
  return path === "~" ? homedir() : path.startsWith("~/") ? `${homedir()}${path.slice(1)}` : path;
}

/** How OpenSSH names a host in known_hosts: the address, or `[address]:port` off port 22. */
function knownHostsName(address: string, port: number): string {
  return port === 22 ? address : `[${address}]:${port}`;
}

/**
 * Whether known_hosts holds this key for this name: plain and hashed (`|1|salt|hash`) entries,
 * comma-separated names; `@revoked` keys are refused, `@cert-authority` lines are not host keys.
 */
export function knownHostsAccepts(knownHostsText: string, name: string, key: Buffer): "match" | "mismatch" | "unknown" | "revoked" {
  let seen = false;
  const keyText = key.toString("base64");
  for (const raw of knownHostsText.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const fields = line.split(/\s+/);
    const marker = fields[0]!.startsWith("@") ? fields.shift() : undefined;
    if (marker === "@cert-authority") continue;
    const [hosts, , blob] = fields;
    if (!hosts || !blob) continue;
    const names = hosts.split(",");
    const matches = names.some((h) => {
      if (h.startsWith("|1|")) {
        const [, , salt, hash] = h.split("|");
        return createHmac("sha1", Buffer.from(salt!, "base64")).update(name).digest("base64") === hash;
      }
      return h === name;
    });
    if (!matches) continue;
    if (blob === keyText) return marker === "@revoked" ? "revoked" : "match";
    seen = true;
  }
  return seen ? "mismatch" : "unknown";
}

function privateKeyOf(host: string, endpoint: SshEndpoint): Pick<ConnectConfig, "privateKey" | "agent"> {
  if (endpoint.privateKey) {
    const file = expandHome(endpoint.privateKey);
    if (!existsSync(file)) throw new SshError(host, "auth", `private key ${endpoint.privateKey} does not exist`);
    return { privateKey: readFileSync(file) };
  }
  if (!process.env.SSH_AUTH_SOCK) {
    throw new SshError(host, "auth", "no private key given (deploy.ssh.privateKey) and no SSH agent ($SSH_AUTH_SOCK is not set)");
  }
  return { agent: process.env.SSH_AUTH_SOCK };
}

/** `command` as root for a login as `user`: itself for root, else through passwordless sudo (in a shell, for its && and redirections). */
export function rootCommand(user: string, command: string): string {
  return user === "root" ? command : `sudo -n sh -c ${shQuote(command)}`;
}

/** An open SSH connection to one host. */
export class SshSession {
  private constructor(
    readonly host: string,
    private readonly client: Client,
    private readonly jump?: Client,
    /** The login user: hpcdk's commands run as root, through `sudo -n` for anyone else. */
    readonly user = "root",
  ) {
    client.on("close", () => (this.ended = true));
  }

  private ended = false;

  /** True once the connection is gone (closed by either side, or lost). */
  get closed(): boolean {
    return this.ended;
  }

  /** `command` as root: itself for root, else through passwordless sudo (a shell, for its && and redirections). */
  asRoot(command: string): string {
    return rootCommand(this.user, command);
  }

  /** Connects (through the bastion if any) and checks the host key. */
  static async connect(options: SshOptions): Promise<SshSession> {
    const knownHostsFile = expandHome(options.knownHosts);
    if (!existsSync(knownHostsFile)) {
      throw new SshError(options.host, "host-key", `known_hosts file ${options.knownHosts} does not exist: host keys are always checked`);
    }
    const knownHosts = readFileSync(knownHostsFile, "utf8");
    const timeout = options.connectTimeoutMs ?? 15_000;
    let jump: Client | undefined;
    let sock: ClientChannel | undefined;
    if (options.bastion) {
      jump = await open(options.host, options.bastion, knownHosts, timeout, `bastion ${options.bastion.address}`);
      sock = await new Promise<ClientChannel>((resolve, reject) =>
        jump!.forwardOut("127.0.0.1", 0, options.address, options.port, (err, stream) =>
          err ? reject(new SshError(options.host, "connect", `bastion ${options.bastion!.address} cannot reach ${options.address}:${options.port}: ${err.message}`)) : resolve(stream),
        ),
      ).catch((err) => {
        jump!.end();
        throw err;
      });
    }
    try {
      const client = await open(options.host, options, knownHosts, timeout, `${options.address}:${options.port}`, sock);
      return new SshSession(options.host, client, jump, options.user);
    } catch (err) {
      jump?.end();
      throw err;
    }
  }

  /**
   * Runs a command; `stdin` is written to it. Rejects only when the command cannot run, times
   * out, or prints more than it may.
   */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const timeoutMs = opts.timeoutMs ?? 600_000;
    const maxBytes = opts.maxOutputBytes ?? MAX_OUTPUT_BYTES;
    const shown = hostText(command, 200);
    return new Promise((resolve, reject) => {
      // The clock runs from the request: a channel the server never opens must time out too.
      let channel: ClientChannel | undefined;
      let settled = false;
      const fail = (err: SshError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        channel?.close();
        reject(err);
      };
      const timer = setTimeout(() => fail(new SshError(this.host, "timeout", `"${shown}" did not finish in ${Math.round(timeoutMs / 1000)} s`)), timeoutMs);
      this.client.exec(command, (err, opened) => {
        if (err) return fail(new SshError(this.host, "exec", `cannot run "${shown}": ${err.message}`));
        if (settled) {
          opened.close();
          return;
        }
        channel = opened;
        const collect = (what: "stdout" | "stderr") => {
          const chunks: Buffer[] = [];
          let bytes = 0;
          return {
            chunks,
            take: (d: Buffer) => {
              bytes += d.length;
              if (bytes > maxBytes) fail(new SshError(this.host, "answer", `"${shown}" printed more than ${maxBytes} bytes on ${what}: refused`));
              else chunks.push(d);
            },
          };
        };
        const out = collect("stdout");
        const errOut = collect("stderr");
        channel.on("data", out.take);
        channel.stderr.on("data", errOut.take);
        channel.on("close", (code: number | null, signal?: string) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            code: code ?? (signal ? 128 : 255),
            stdout: Buffer.concat(out.chunks).toString("utf8"),
            stderr: Buffer.concat(errOut.chunks).toString("utf8"),
          });
        });
        if (opts.stdin === undefined) channel.end();
        else if (typeof opts.stdin === "string" || Buffer.isBuffer(opts.stdin)) channel.end(opts.stdin);
        else opts.stdin.pipe(channel);
      });
    });
  }

  /** Runs a command and fails with its stderr when it exits non-zero. */
  async run(command: string, opts: ExecOptions = {}): Promise<string> {
    const r = await this.exec(command, opts);
    if (r.code !== 0) throw new SshError(this.host, "exec", `"${hostText(command, 200)}" exited ${r.code}: ${lastLines(r, 5)}`);
    return r.stdout;
  }

  /**
   * A remote file (as root), or undefined when it is not a regular file there. At most
   * `maxBytes` are read: a longer file is the host's error, never read into memory.
   */
  async readFile(path: string, maxBytes = 1024 * 1024): Promise<Buffer | undefined> {
    const quoted = shQuote(path);
    const tooLong = () => new SshError(this.host, "answer", `${path} is longer than ${maxBytes} bytes: refused`);
    const r = await this.exec(this.asRoot(`if [ -f ${quoted} ]; then head -c ${maxBytes + 1} -- ${quoted} | base64; else exit 3; fi`), {
      // base64 of maxBytes + 1 bytes in lines of 76 characters: one more byte than that is the host's error.
      maxOutputBytes: Math.ceil((maxBytes + 1) / 3) * 4 + Math.ceil(maxBytes / 57) + 64,
    }).catch((err: unknown) => {
      throw err instanceof SshError && err.stage === "answer" ? tooLong() : err;
    });
    if (r.code === 3) return undefined;
    if (r.code !== 0) throw new SshError(this.host, "exec", `cannot read ${path}: ${hostText(r.stderr.trim())}`);
    const text = r.stdout.replace(/\n/g, "");
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new SshError(this.host, "answer", `cannot read ${path}: the host answered something that is not base64`);
    const bytes = Buffer.from(text, "base64");
    if (bytes.length > maxBytes) throw tooLong();
    return bytes;
  }

  close(): void {
    this.client.end();
    this.jump?.end();
  }
}

function open(host: string, endpoint: SshEndpoint, knownHosts: string, timeoutMs: number, what: string, sock?: ClientChannel): Promise<Client> {
  const name = knownHostsName(endpoint.address, endpoint.port);
  return new Promise((resolve, reject) => {
    const client = new Client();
    let verdict: ReturnType<typeof knownHostsAccepts> | undefined;
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        client.end();
        reject(err);
      } else resolve(client);
    };
    client.on("ready", () => done());
    client.on("error", (err: Error & { level?: string }) => {
      if (verdict && verdict !== "match") {
        const why =
          verdict === "unknown"
            ? `host key of ${name} is not in known_hosts (add it with ssh-keyscan, after checking it)`
            : verdict === "revoked"
              ? `host key of ${name} is revoked in known_hosts`
              : `host key of ${name} does not match known_hosts: someone may be intercepting the connection, or the host was reinstalled`;
        done(new SshError(host, "host-key", why));
      } else if (err.level === "client-authentication") {
        done(new SshError(host, "auth", `${endpoint.user}@${what} refused the key (${err.message})`));
      } else if (/Timed out/i.test(err.message)) {
        done(new SshError(host, "timeout", `no SSH answer from ${what} within ${Math.round(timeoutMs / 1000)} s`));
      } else {
        done(new SshError(host, "connect", `cannot connect to ${what}: ${err.message}`));
      }
    });
    let auth: Pick<ConnectConfig, "privateKey" | "agent">;
    try {
      auth = privateKeyOf(host, endpoint);
    } catch (err) {
      return done(err as Error);
    }
    client.connect({
      host: endpoint.address,
      port: endpoint.port,
      username: endpoint.user,
      ...auth,
      ...(sock ? { sock } : {}),
      readyTimeout: timeoutMs,
      keepaliveInterval: 10_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        verdict = knownHostsAccepts(knownHosts, name, key);
        return verdict === "match";
      },
    });
  });
}
