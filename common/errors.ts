/**
 * The one base class of hpcdk's errors, and the command's exit codes. The ground floor: it
 * imports nothing of hpcdk.
 *
 * An error hpcdk expects (a wrong site file, a host that cannot be reached, a lab that cannot be
 * built) is an {@link HpcdkError}: it carries every problem found, one line each, and the exit
 * code of the command that fails with it. Anything else that reaches the command is a bug: exit 2
 * with its stack.
 */

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
  process.stderr.write(`hpcdk: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
  return EXIT.internal;
}
