/**
 * What a host's apply script (templates/core/apply.sh.hbs) says it did, read strictly. The script
 * prints only `HPCDK <kind> …` lines: files changed, unchanged or restored, steps run, handlers
 * run, held back or released (`--hold`, `--held-ran`), packages installed, warnings, one error, and `done` last. A host that answers anything
 * else (a line of another kind, a path the bundle does not hold, a step or handler it does not
 * declare, a line twice, more lines than the bundle can make) is confused or compromised: its
 * answer is refused as that host's error and steers nothing.
 */
import type { BundleManifest } from "../../common/contracts/bundle.js";
import { AnswerError, answerLines, hostText, quoted, unexpectedLine } from "../remote/answer.js";

export interface ApplyOutput {
  readonly changed: string[];
  readonly unchanged: number;
  /** Handlers that ran and succeeded. */
  readonly handlers: string[];
  /** Handlers held back (`--hold`): the rollout does their work; the host's marker is not written while one is held. */
  readonly held: string[];
  /** Held handlers dropped because the rollout did their work (`--held-ran`). */
  readonly released: string[];
  readonly steps: string[];
  /** Packages installed, as apt or dnf was asked for them (`name`, `name=version`, `name-version`). */
  readonly packages: string[];
  /** Files put back after a handler failed. */
  readonly restored: string[];
  readonly warnings: string[];
  /** The script's own error line (shown safely), if it printed one. */
  readonly error?: string;
  /** Whether the script said `done`: it ran to its end. */
  readonly done: boolean;
}

/** How much of a host's error line a report shows. */
const MAX_ERROR_CHARS = 1000;

/** The words an `installing` line may name: each package's name, with its pinned version if any. */
function packageWords(manifest: BundleManifest): Set<string> {
  const words = new Set<string>();
  for (const p of manifest.packages) {
    words.add(p.debian);
    if (p.version !== undefined) words.add(`${p.debian}=${p.version}`);
    if (p.rhel !== undefined) {
      words.add(p.rhel);
      if (p.version !== undefined) words.add(`${p.rhel}-${p.version}`);
    }
  }
  return words;
}

/** Reads what the apply script of `manifest` printed on stdout; throws AnswerError for anything it never prints. */
export function parseApplyOutput(stdout: string, manifest: BundleManifest): ApplyOutput {
  const what = "the apply script's output";
  const paths = new Set([...manifest.files.map((f) => f.path), ...manifest.secretFiles.map((f) => f.path)]);
  const steps = new Set(manifest.steps.filter((s) => s.phase !== "after-cib").map((s) => s.id));
  const handlers = new Set([...manifest.files, ...manifest.secretFiles].flatMap((f) => f.handlers));
  const packages = packageWords(manifest);
  const maxLines = 16 + 3 * paths.size + steps.size + 3 * handlers.size + manifest.packages.length;
  const out = { changed: [] as string[], unchanged: 0, handlers: [] as string[], held: [] as string[], released: [] as string[], steps: [] as string[], packages: [] as string[], restored: [] as string[], warnings: [] as string[] };
  const reported = new Set<string>();
  let error: string | undefined;
  let done = false;
  const once = (key: string, line: string) => {
    if (reported.has(key)) throw new AnswerError(`${what} says this twice: ${quoted(line, 200)}`);
    reported.add(key);
  };
  const known = (set: ReadonlySet<string>, value: string, thing: string, line: string) => {
    if (!set.has(value)) throw new AnswerError(`${what} names ${thing} the bundle does not have: ${quoted(line, 200)}`);
  };
  for (const line of answerLines(stdout, what, maxLines)) {
    if (done) throw new AnswerError(`${what} goes on after "HPCDK done": ${quoted(line, 200)}`);
    const m = /^HPCDK ([a-z]+)(?: (.*))?$/s.exec(line);
    if (!m) throw unexpectedLine(what, line);
    const kind = m[1]!;
    const rest = m[2] ?? "";
    switch (kind) {
      case "changed":
      case "unchanged":
        known(paths, rest, "a file", line);
        once(`file ${rest}`, line);
        if (kind === "changed") out.changed.push(rest);
        else out.unchanged++;
        break;
      case "restored":
        if (!out.changed.includes(rest)) throw new AnswerError(`${what} restores a file it did not change: ${quoted(line, 200)}`);
        once(`restored ${rest}`, line);
        out.restored.push(rest);
        break;
      case "step":
        known(steps, rest, "a step", line);
        once(`step ${rest}`, line);
        out.steps.push(rest);
        break;
      case "handler": {
        const h = /^(ok|held|released) (.*)$/s.exec(rest);
        if (!h) throw unexpectedLine(what, line);
        const handler = h[2]!;
        known(handlers, handler, "a handler", line);
        once(`handler ${h[1]} ${handler}`, line);
        (h[1] === "ok" ? out.handlers : h[1] === "held" ? out.held : out.released).push(handler);
        break;
      }
      case "installing": {
        once("installing", line);
        const words = rest.trim().split(/ +/);
        for (const w of words) known(packages, w, "a package", line);
        out.packages.push(...words);
        break;
      }
      case "warning":
        out.warnings.push(hostText(rest, MAX_ERROR_CHARS));
        break;
      case "error":
        // A failed handler is reported, then its files restored: the error need not be last.
        if (error !== undefined) throw new AnswerError(`${what} has a second error line: ${quoted(line, 200)}`);
        error = hostText(rest, MAX_ERROR_CHARS);
        break;
      case "done":
        if (rest !== "") throw unexpectedLine(what, line);
        done = true;
        break;
      default:
        throw unexpectedLine(what, line);
    }
  }
  return { ...out, ...(error !== undefined ? { error } : {}), done };
}
