/**
 * One SSH connection per host for a whole deploy. `hpcdk deploy` reads each host's applied marker
 * before Terraform plans, and Terraform then runs `hpcdk apply-bundle` (another process) that
 * sends each host its bundle: two SSH handshakes per host, on both ends (on a fleet of hundreds
 * of hosts, the larger part of a deploy's CPU). Instead, the deploy keeps the connections it
 * opened for the markers ({@link SessionPool}) and lends them to its apply-bundle children over
 * a Unix socket ({@link serveSessions}): a child's command runs on the deploy's connection to
 * that host ({@link SharedSession}), and a host the deploy holds no connection to is connected
 * then, with the same inventory.
 *
 * The socket is in a directory only the deploying user can enter (0700), and it is removed when
 * the deploy ends: whoever can use it could read the SSH key anyway. One request per socket
 * connection, a JSON line each way: `{host, command, stdin (base64), timeoutMs, maxOutputBytes}`
 * and `{code, stdout, stderr}` or `{stage, message}` (an SshError of the deploy's side).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { targetOf, type Inventory } from "../../common/contracts/inventory.js";
import { connect } from "./connect.js";
import { rootCommand, SshError, SshSession, type ExecOptions, type ExecResult, type SshStage } from "./ssh.js";

/** The environment variable that tells `hpcdk apply-bundle` where the deploy lends its connections. */
export const SHARED_SSH_ENV = "HPCDK_SSH_SOCKET";

/** The most connections a deploy keeps open at once: a larger group's other hosts are connected again for the apply. */
export const MAX_KEPT_SESSIONS = 2048;

/**
 * The open connections of one deploy, by host: each opened once, used by every step that needs
 * it. At most `maxKept` are kept (an open connection is a socket and an sshd on the host); past
 * that, a connection is closed when the step that opened it {@link release}s it.
 */
export class SessionPool {
  private readonly sessions = new Map<string, Promise<SshSession>>();

  constructor(
    private readonly inventory: Inventory,
    private readonly maxKept = MAX_KEPT_SESSIONS,
  ) {}

  /** The host's connection: the open one, else a new one (kept for the next step while there is room). */
  session(host: string, options: { connectTimeoutMs?: number } = {}): Promise<SshSession> {
    const open = this.sessions.get(host);
    if (open) {
      return open.then(
        (s) => (s.closed ? this.reopen(host, options) : s),
        () => this.reopen(host, options),
      );
    }
    return this.reopen(host, options);
  }

  /** A step is done with the host's connection: closed unless the pool keeps it. */
  release(host: string, session: SshSession): void {
    const kept = this.sessions.get(host);
    if (!kept) return session.close();
    void kept.then(
      (k) => {
        if (k !== session) session.close();
      },
      () => session.close(),
    );
  }

  private reopen(host: string, options: { connectTimeoutMs?: number }): Promise<SshSession> {
    const opening = connect(this.inventory, host, options);
    if (!this.sessions.has(host) && this.sessions.size >= this.maxKept) return opening;
    this.sessions.set(host, opening);
    // A failed connection is not kept: the next step tries again (and reports its own failure).
    opening.catch(() => {
      if (this.sessions.get(host) === opening) this.sessions.delete(host);
    });
    return opening;
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((p) => p.then((s) => s.close(), () => undefined)));
  }
}

interface Request {
  readonly host: string;
  readonly command: string;
  readonly stdin?: string;
  readonly timeoutMs?: number;
  readonly maxOutputBytes?: number;
}

type Answer = ExecResult | { readonly stage: SshStage; readonly message: string };

/** Lends the pool's connections on a Unix socket until `close()`; `path` goes to the children in {@link SHARED_SSH_ENV}. */
export async function serveSessions(pool: SessionPool): Promise<{ readonly path: string; close(): Promise<void> }> {
  // A Unix socket's path holds at most 107 bytes: a long $TMPDIR falls back to /tmp.
  const dir = mkdtempSync(join(tmpdir().length > 60 ? "/tmp" : tmpdir(), "hpcdk-ssh-"));
  const path = join(dir, "socket");
  const clients = new Set<Socket>();
  const server: Server = createServer((socket) => {
    clients.add(socket);
    socket.on("close", () => clients.delete(socket));
    socket.on("error", () => socket.destroy());
    let buffered = "";
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf("\n");
      if (end < 0) return;
      socket.removeAllListeners("data");
      void answer(pool, buffered.slice(0, end)).then((a) => socket.end(JSON.stringify(a) + "\n"));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => resolve());
  });
  return {
    path,
    close: async () => {
      for (const c of clients) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function answer(pool: SessionPool, line: string): Promise<Answer> {
  let request: Request;
  try {
    request = JSON.parse(line) as Request;
  } catch {
    return { stage: "exec", message: "the deploy's SSH connections were asked something that is not a request" };
  }
  try {
    const session = await pool.session(request.host);
    try {
      return await session.exec(request.command, {
        ...(request.stdin !== undefined ? { stdin: Buffer.from(request.stdin, "base64") } : {}),
        ...(request.timeoutMs !== undefined ? { timeoutMs: request.timeoutMs } : {}),
        ...(request.maxOutputBytes !== undefined ? { maxOutputBytes: request.maxOutputBytes } : {}),
      });
    } finally {
      pool.release(request.host, session);
    }
  } catch (err) {
    return err instanceof SshError ? { stage: err.stage, message: err.message.replace(`${request.host}: `, "") } : { stage: "exec", message: String((err as Error).message ?? err) };
  }
}

/**
 * A host's connection held by the deploy that started this process: `exec` runs the command on
 * it. What `applyBundle` needs of an {@link SshSession}.
 */
export class SharedSession {
  constructor(
    readonly host: string,
    /** The login user: commands run as root, through `sudo -n` for anyone else. */
    readonly user: string,
    private readonly socketPath: string,
  ) {}

  asRoot(command: string): string {
    return rootCommand(this.user, command);
  }

  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    if (opts.stdin !== undefined && typeof opts.stdin !== "string" && !Buffer.isBuffer(opts.stdin)) {
      return Promise.reject(new Error("a shared SSH connection takes stdin as bytes, not a stream"));
    }
    const request: Request = {
      host: this.host,
      command,
      ...(opts.stdin !== undefined ? { stdin: Buffer.from(opts.stdin as Buffer | string).toString("base64") } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.maxOutputBytes !== undefined ? { maxOutputBytes: opts.maxOutputBytes } : {}),
    };
    return new Promise((resolve, reject) => {
      const socket = createConnection(this.socketPath);
      let text = "";
      socket.setEncoding("utf8");
      socket.on("connect", () => socket.write(JSON.stringify(request) + "\n"));
      socket.on("data", (chunk: string) => (text += chunk));
      socket.on("error", (err) => reject(new SshError(this.host, "connect", `the deploy's shared SSH connections (${this.socketPath}) cannot be reached: ${err.message}`)));
      socket.on("close", () => {
        let a: Answer;
        try {
          a = JSON.parse(text) as Answer;
        } catch {
          return reject(new SshError(this.host, "exec", "the deploy's shared SSH connections closed without an answer"));
        }
        if ("stage" in a) reject(new SshError(this.host, a.stage, a.message));
        else resolve(a);
      });
    });
  }

  /** Nothing to close: the connection is the deploy's. */
  close(): void {}
}

/** The way `hpcdk apply-bundle` reaches a host: the deploy's connection when it lends them, else its own. */
export async function sessionFor(inventory: Inventory, host: string): Promise<SshSession | SharedSession> {
  const socketPath = process.env[SHARED_SSH_ENV];
  return socketPath ? new SharedSession(host, targetOf(inventory, host).user, socketPath) : connect(inventory, host);
}
