/**
 * What a host answers is data from a machine that may be confused or compromised: it must not
 * steer the deploy, and it must not steer the terminal of whoever reads the report. Every answer
 * is read strictly (bounded in size, in exactly the format hpcdk's own scripts print, anything
 * else refused as that host's error); text a host sends that ends up in a message goes through
 * {@link hostText}.
 */
import { HpcdkError } from "../../common/errors.js";

/** Characters a terminal may act on: C0 and C1 controls, DEL, and Unicode's bidirectional overrides. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a host, fit for a message: control characters shown as escapes (`\x1b`, `\n`), and
 * at most `max` characters (then `…`).
 */
export function hostText(text: string, max = 500): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(CONTROL, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\t") return "\\t";
    if (c === "\r") return "\\r";
    const code = c.codePointAt(0)!;
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

/** Text from a host in double quotes, fit for a message (see {@link hostText}). */
export function quoted(text: string, max = 200): string {
  return `"${hostText(text, max)}"`;
}

/** A host answered something hpcdk's scripts never print: the message says what and shows it safely. */
export class AnswerError extends HpcdkError {}

/**
 * The lines of an answer: split on `\n`, the final newline required (a script that printed its
 * last line completely), at most `maxLines`.
 */
export function answerLines(text: string, what: string, maxLines: number): string[] {
  if (text === "") return [];
  if (!text.endsWith("\n")) throw new AnswerError(`${what} ends in the middle of a line: ${quoted(text.slice(-80), 80)}`);
  const lines = text.slice(0, -1).split("\n");
  if (lines.length > maxLines) throw new AnswerError(`${what} has ${lines.length} lines, more than the ${maxLines} it can have`);
  return lines;
}

/** A line an answer may not have, shown safely. */
export function unexpectedLine(what: string, line: string): AnswerError {
  return new AnswerError(`${what} has a line hpcdk never prints: ${quoted(line, 200)}`);
}
