/**
 * POSIX shell quoting: the one function every generated script, step and remote command uses to
 * put a value into shell text. The ground floor: it imports nothing of hpcdk.
 */

/**
 * Quotes one word for POSIX sh: single quotes, with each `'` written as `'\''`. The result is one
 * word whatever the value holds (`$(…)`, backquotes, newlines, globs). Throws on a NUL byte, which
 * no shell word can hold (the shell would cut the value there).
 */
export function shQuote(word: string): string {
  if (word.includes("\0")) throw new Error(`a shell word cannot hold a NUL byte, got ${JSON.stringify(word.slice(0, 200))}`);
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
