/**
 * The one base class of hpcdk's errors, and the command's exit codes. The ground floor: it
 * imports nothing of hpcdk.
 *
 * An error hpcdk expects (a wrong site file, a host that cannot be reached, a lab that cannot be
 * built) is an {@link HpcdkError}: it carries every problem found, one line each, and the exit
 * code of the command that fails with it. Anything else that reaches the command is a bug: exit 2
 * with its stack.
 */

import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** Exit codes every command shares; a command may add its own above 2 (deploy: 3, a host failed). */
export const EXIT = {
  ok: 0,
  /** The input is wrong (site file, inventory, options, a host or lab that is not ready): fix it and rerun. */
  badInput: 1,
  /** A bug of hpcdk, or a tool that answered what it never answers. */
  internal: 2,
} as const;

export interface HpcdkErrorOptions {
  /** @default EXIT.badInput */
  readonly exitCode?: number;
  /** The error this one explains. */
  readonly cause?: unknown;
}

/** An error hpcdk expects: every problem found, one line each, and the exit code it fails with. */
export class HpcdkError extends Error {
  /** One line per problem: what is wrong, where, and what to do. Never empty. */
  readonly problems: string[];
  readonly exitCode: number;

  constructor(problems: string | readonly string[], options: HpcdkErrorOptions = {}) {
    const list = typeof problems === "string" ? [problems] : [...problems];
    super(list.join("\n"), options.cause === undefined ? undefined : { cause: options.cause });
    this.problems = list;
    this.exitCode = options.exitCode ?? EXIT.badInput;
    this.name = new.target.name;
  }

  /**
   * A line that introduces the problems, each then printed on a line of its own ("the site is
   * invalid (2 problems); nothing was written"). Undefined: the problems follow `hpcdk: ` and
   * the {@link topic} directly.
   */
  get heading(): string | undefined {
    return undefined;
  }

  /** What failed, printed before the problems when there is no heading ("lab", "drill"). */
  get topic(): string | undefined {
    return undefined;
  }
}

/** What the command prints on stderr for an expected error. */
export function errorReport(err: HpcdkError): string {
  const heading = err.heading;
  if (heading !== undefined) return `hpcdk: ${heading}:\n${err.problems.map((p) => `  ${p}\n`).join("")}`;
  return `hpcdk: ${err.topic !== undefined ? `${err.topic}: ` : ""}${err.problems.join("\n  ")}\n`;
}

/** Prints any error the way an admin needs it (stderr) and returns the exit code to end with. */
export function reportError(err: unknown): number {
  if (err instanceof HpcdkError) {
    process.stderr.write(errorReport(err));
    return err.exitCode;
  }
  const stack = (err as Error)?.stack;
  process.stderr.write(`hpcdk: internal error: ${stack === undefined ? String(err) : sourceMappedStack(stack)}\n`);
  return EXIT.internal;
}

/**
 * A stack trace whose frames in compiled files (the command's bundle, `.cache/cli/`) name the
 * TypeScript source, line and column, from the source map beside each file (`chunk.js.map`).
 * Frames without a map stay as they are.
 *
 * The command does not turn on Node's source maps (`process.setSourceMapsEnabled`): with them on,
 * Node decodes the source map of every module it loads (cdktf ships one inline in each of its
 * files) and maps every stack trace cdktf captures (one per token): ~0.2 s of CPU at each start.
 * A bug's stack is mapped here instead, once, when it is printed.
 */
export function sourceMappedStack(stack: string): string {
  const maps = new Map<string, { map: SourceMap; dir: string } | null>();
  const mapOf = (file: string) => {
    let found = maps.get(file);
    if (found === undefined) {
      try {
        const path = file.startsWith("file:") ? fileURLToPath(file) : file;
        found = { map: new SourceMap(JSON.parse(readFileSync(`${path}.map`, "utf8"))), dir: dirname(path) };
      } catch {
        // No source map beside it (a package's file, Node's own): the frame stays as it is.
        found = null;
      }
      maps.set(file, found);
    }
    return found;
  };
  return stack.replace(/((?:file:\/\/)?\/[^\s()]*?\.js):(\d+):(\d+)/g, (frame, file: string, line: string, column: string) => {
    const found = mapOf(file);
    const entry = found?.map.findEntry(Number(line) - 1, Number(column) - 1);
    if (!found || !entry || !("originalSource" in entry) || !entry.originalSource) return frame;
    const source = entry.originalSource.startsWith("file:") ? fileURLToPath(entry.originalSource) : resolve(found.dir, entry.originalSource);
    return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  });
}
