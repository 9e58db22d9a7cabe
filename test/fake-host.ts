/**
 * A host that answers what the test tells it to: an SSH server in this process (ssh2's Server, on
 * 127.0.0.1) with its own host key, which lets in one public key as one user, runs no command
 * but answers each with a scripted stdout, stderr and exit code, and can act as a bastion (it
 * opens the TCP connections a client asks it to, and records them). No daemon, no namespace:
 * every server is closed by the test.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, type AddressInfo } from "node:net";
import { join } from "node:path";
import { Server, utils, type Connection } from "ssh2";
import { tempDir } from "./helpers.js";

/** What the host answers to one command. */
export interface Answer {
  readonly stdout?: string | Buffer;
  readonly stderr?: string;
  readonly code?: number;
}

export interface FakeHost {
  readonly port: number;
  /** The known_hosts line for this host on 127.0.0.1. */
  readonly knownHostsLine: string;
  /** Every command it was asked to run, in order. */
  readonly commands: string[];
  /** Every login: user and the SHA-256 of the public key that signed it. */
  readonly logins: { user: string; key: string }[];
  /** Every TCP connection it opened as a bastion. */
  readonly forwarded: { host: string; port: number }[];
  /** How many SSH connections are open to it now. */
  open(): number;
  /** Sets what the next commands are answered; the default answers every command with exit 0 and nothing. */
  answer(fn: (command: string, stdin: Buffer) => Answer): void;
  close(): Promise<void>;
}

/** A key pair made by ssh-keygen: the private key file and the public key line. */
export function keyPair(dir: string, name: string): { file: string; publicKey: string } {
  const file = join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
  return { file, publicKey: readFileSync(`${file}.pub`, "utf8").trim() };
}

/** SHA-256 of a public key's blob (what `logins` records). */
export function keyId(publicKeyLine: string): string {
  const parsed = utils.parseKey(publicKeyLine);
  if (parsed instanceof Error) throw parsed;
  return (Array.isArray(parsed) ? parsed[0]! : parsed).getPublicSSH().toString("base64");
}

/** Starts a fake host that lets in `user` with the key whose public line is `allowedKey`. */
export async function fakeHost(user: string, allowedKey: string): Promise<FakeHost> {
  const dir = tempDir("hpcdk-fake-host-");
  const hostKey = keyPair(dir, "host_key");
  const allowed = utils.parseKey(allowedKey);
  if (allowed instanceof Error) throw allowed;
  const allowedPub = Array.isArray(allowed) ? allowed[0]! : allowed;
  const commands: string[] = [];
  const logins: { user: string; key: string }[] = [];
  const forwarded: { host: string; port: number }[] = [];
  let answerFn: (command: string, stdin: Buffer) => Answer = () => ({});
  const clients = new Set<Connection>();
  const server = new Server({ hostKeys: [readFileSync(hostKey.file)] }, (client) => {
    clients.add(client);
    client.on("close", () => clients.delete(client));
    client.on("error", () => undefined);
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey" || ctx.username !== user) return ctx.reject(["publickey"]);
      if (ctx.key.algo !== allowedPub.type || !ctx.key.data.equals(allowedPub.getPublicSSH())) return ctx.reject(["publickey"]);
      if (ctx.signature) {
        if (allowedPub.verify(ctx.blob!, ctx.signature, ctx.hashAlgo) !== true) return ctx.reject(["publickey"]);
        logins.push({ user: ctx.username, key: ctx.key.data.toString("base64") });
      }
      ctx.accept();
    });
    client.on("ready", () => {
      client.on("session", (accept) => {
        const session = accept();
        session.on("exec", (acceptExec, _reject, info) => {
          const stream = acceptExec();
          commands.push(info.command);
          const input: Buffer[] = [];
          stream.on("data", (d: Buffer) => input.push(d));
          stream.on("end", () => {
            const a = answerFn(info.command, Buffer.concat(input));
            if (a.stderr) stream.stderr.write(a.stderr);
            const finish = () => {
              stream.exit(a.code ?? 0);
              stream.end();
            };
            if (a.stdout === undefined || a.stdout.length === 0) return finish();
            // Large answers go in pieces, as a host's pipe delivers them.
            const bytes = Buffer.isBuffer(a.stdout) ? a.stdout : Buffer.from(a.stdout);
            let at = 0;
            const more = () => {
              while (at < bytes.length) {
                const piece = bytes.subarray(at, at + 64 * 1024);
                at += piece.length;
                if (!stream.write(piece)) return void stream.once("drain", more);
              }
              finish();
            };
            more();
          });
        });
      });
      client.on("tcpip", (accept, _reject, info) => {
        forwarded.push({ host: info.destIP, port: info.destPort });
        const channel = accept();
        const socket = tcpConnect(info.destPort, info.destIP);
        socket.on("error", () => channel.close());
        channel.on("error", () => socket.destroy());
        socket.pipe(channel).pipe(socket);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const pub = readFileSync(`${hostKey.file}.pub`, "utf8").trim().split(" ");
  return {
    port,
    knownHostsLine: `[127.0.0.1]:${port} ${pub[0]} ${pub[1]}\n`,
    commands,
    logins,
    forwarded,
    open: () => clients.size,
    answer: (fn) => {
      answerFn = fn;
    },
    close: async () => {
      for (const c of clients) c.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A known_hosts file with these lines. */
export function knownHostsFile(dir: string, lines: readonly string[]): string {
  const file = join(dir, "known_hosts");
  writeFileSync(file, lines.join(""));
  return file;
}
