/**
 * Reading what a host holds, read-only: one POSIX shell script sent to `sh -s` reads every path
 * of a bundle (`stat`, `base64`) and the bundle's deploy marker, and answers one record per path
 * by its index. The answer is read strictly: every path answered once, in order, owners, modes
 * and base64 exactly as the script prints them, the marker exactly as hpcdk writes it, and
 * nothing else; a host that answers otherwise is that host's error.
 */
import { mapLimited } from "../../../common/async.js";
import type { Inventory } from "../../../common/contracts/inventory.js";
import { MARKER } from "../../../common/contracts/marker.js";
import { shQuote } from "../../../common/shell.js";
import { AnswerError, answerLines, hostText, quoted, unexpectedLine } from "../../remote/answer.js";
import { connect } from "../../remote/connect.js";
import { lastLines, SshError, type ExecOptions, type ExecResult, type SshSession } from "../../remote/ssh.js";
import type { Target } from "./targets.js";

/** One path on a host, as the fetch found it. */
export type FetchedFile =
  | { readonly kind: "file"; readonly owner: string; readonly group: string; readonly mode: string; readonly bytes: Buffer }
  | { readonly kind: "missing" }
  | { readonly kind: "not-a-file" }
  | { readonly kind: "unreadable"; readonly error: string };

export interface HostFetch {
  /** By path. */
  readonly files: Map<string, FetchedFile>;
  /** The marker of the last complete deploy (`<sha256>:<fingerprint>`), or null. */
  readonly deployed: string | null;
}

/** Something that runs a command on a host: an SSH session, or a local shell in tests. */
export interface RemoteShell {
  exec(command: string, opts?: Pick<ExecOptions, "timeoutMs" | "maxOutputBytes"> & { stdin?: string }): Promise<ExecResult>;
}

/** What a fetch may answer in all: the files of a bundle, in base64. */
export const MAX_FETCH_BYTES = 256 * 1024 * 1024;

/**
 * The POSIX shell script that reads `paths` and the deploy marker in `stateFile` on a host. It
 * only reads (`stat`, `base64`, `head`); every path answers with one line by its index, files
 * with their owner, group and mode and the content in base64 on the next line.
 */
export function fetchScript(paths: readonly string[], stateFile: string): string {
  const loop = [
    "i=0",
    `for p in ${paths.map(shQuote).join(" ")}; do`,
    `    if [ ! -e "$p" ]; then`,
    `        echo "HPCDK-MISSING $i"`,
    `    elif [ ! -f "$p" ]; then`,
    `        echo "HPCDK-NOT-A-FILE $i"`,
    `    elif ! meta=$(stat -L -c '%U:%G:%a' -- "$p" 2>&1); then`,
    `        echo "HPCDK-UNREADABLE $i $(printf '%s' "$meta" | head -n 1)"`,
    `    elif ! data=$(base64 -w0 -- "$p" 2>&1); then`,
    `        echo "HPCDK-UNREADABLE $i $(printf '%s' "$data" | head -n 1)"`,
    "    else",
    `        echo "HPCDK-FILE $i $meta"`,
    `        printf '%s\\n' "$data"`,
    "    fi",
    "    i=$((i + 1))",
    "done",
  ];
  return [
    "set -u",
    ...(paths.length > 0 ? loop : []),
    `if [ -f ${shQuote(stateFile)} ]; then echo "HPCDK-DEPLOYED $(head -c 200 ${shQuote(stateFile)} | head -n 1)"; else echo "HPCDK-DEPLOYED"; fi`,
    "echo HPCDK-END",
    "",
  ].join("\n");
}

/** A user or group name as `stat -c %U` prints it (`UNKNOWN` for an id without a name). */
const NAME = /^[A-Za-z0-9._][A-Za-z0-9._$-]{0,63}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Reads what `fetchScript` printed; throws AnswerError when the answer is cut short, out of
 * order, garbled or holds anything the script never prints.
 */
export function parseFetch(paths: readonly string[], stdout: string): HostFetch {
  const files = new Map<string, FetchedFile>();
  const lines = answerLines(stdout, "the answer", 2 * paths.length + 2);
  let deployed: string | null | undefined;
  let ended = false;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (ended) throw unexpectedLine("the answer", line);
    const m = /^HPCDK-(FILE|MISSING|NOT-A-FILE|UNREADABLE|DEPLOYED|END)(?: (.*))?$/s.exec(line);
    if (!m) throw unexpectedLine("the answer", line);
    const [, what, rest = ""] = m;
    if (what === "END") {
      if (rest !== "") throw unexpectedLine("the answer", line);
      ended = true;
      continue;
    }
    if (what === "DEPLOYED") {
      if (deployed !== undefined || files.size !== paths.length) throw unexpectedLine("the answer", line);
      if (rest !== "" && !MARKER.test(rest)) throw new AnswerError(`its deploy marker is not one hpcdk writes: ${quoted(rest, 80)}`);
      deployed = rest === "" ? null : rest;
      continue;
    }
    const [index, ...more] = rest.split(" ");
    const path = paths[files.size];
    if (path === undefined || index !== String(files.size)) throw unexpectedLine("the answer", line);
    if (what === "MISSING" || what === "NOT-A-FILE") {
      if (more.length > 0) throw unexpectedLine("the answer", line);
      files.set(path, { kind: what === "MISSING" ? "missing" : "not-a-file" });
    } else if (what === "UNREADABLE") {
      files.set(path, { kind: "unreadable", error: hostText(more.join(" "), 200) });
    } else {
      const meta = /^([^:]+):([^:]+):([0-7]{1,4})$/.exec(more.join(" "));
      if (!meta || !NAME.test(meta[1]!) || !NAME.test(meta[2]!)) {
        throw new AnswerError(`cannot read the owner and mode of ${path} from ${quoted(line, 200)}`);
      }
      const data = lines[++i];
      if (data === undefined || !BASE64.test(data)) throw new AnswerError(`the content of ${path} is not base64`);
      files.set(path, { kind: "file", owner: meta[1]!, group: meta[2]!, mode: meta[3]!.padStart(4, "0"), bytes: Buffer.from(data, "base64") });
    }
  }
  if (!ended || deployed === undefined || files.size < paths.length) {
    throw new AnswerError(`the answer was cut short${files.size < paths.length ? ` before ${paths[files.size]}` : ""}`);
  }
  return { files, deployed };
}

/** Reads `paths` and the deploy marker in `stateFile` on a host, read-only; `asRoot` makes a command run as root. */
export async function fetchHostFiles(
  shell: RemoteShell,
  host: string,
  paths: readonly string[],
  stateFile: string,
  asRoot: (command: string) => string = (c) => c,
): Promise<HostFetch> {
  const r = await shell.exec(asRoot("sh -s"), { stdin: fetchScript(paths, stateFile), timeoutMs: 120_000, maxOutputBytes: MAX_FETCH_BYTES });
  if (r.code !== 0) throw new SshError(host, "exec", `cannot read the deployed files: sh exited ${r.code}: ${lastLines(r, 3)}`);
  try {
    return parseFetch(paths, r.stdout);
  } catch (err) {
    if (!(err instanceof AnswerError)) throw err;
    throw new SshError(host, "answer", `cannot read the deployed files: ${err.message}`);
  }
}

export interface Fetched {
  readonly files: Map<Target, HostFetch>;
  /** Host → SSH error. */
  readonly unreachable: Map<string, string>;
}

/**
 * Fetches every target, one connection per host, `concurrency` hosts at once. The management
 * nodes that answered stay connected in `sessions`, for the CIB; the caller closes them.
 */
export async function fetchAll(inventory: Inventory, targets: readonly Target[], concurrency: number, sessions: Map<string, SshSession>): Promise<Fetched> {
  const hostNames = [...new Set([...targets.map((t) => t.host), ...inventory.managementNodes])];
  const files = new Map<Target, HostFetch>();
  const unreachable = new Map<string, string>();
  await mapLimited(hostNames, concurrency, async (host) => {
    let session: SshSession | undefined;
    try {
      session = await connect(inventory, host);
      const asRoot = session.asRoot.bind(session);
      for (const t of targets.filter((t) => t.host === host)) {
        const paths = [...t.manifest.files.map((f) => f.path), ...t.manifest.secretFiles.map((s) => s.path)];
        files.set(t, await fetchHostFiles(session, host, paths, t.stateFile, asRoot));
      }
      if (inventory.managementNodes.includes(host)) {
        sessions.set(host, session);
        session = undefined;
      }
    } catch (err) {
      unreachable.set(host, hostError(host, err));
    } finally {
      session?.close();
    }
  });
  return { files, unreachable };
}

/** What failed on a host, without the host's name an SshError starts with (the report names it). */
export function hostError(host: string, err: unknown): string {
  return err instanceof SshError ? err.message.replace(`${host}: `, "") : String((err as Error)?.message ?? err);
}
