/**
 * How an error message shows a value taken from a site file. The ground floor: it imports nothing.
 */

/** The most characters of a bad value an error message shows. */
export const MAX_SHOWN = 200;

/**
 * A value as an error message shows it: JSON-quoted (so control characters and quotes are
 * visible), and at most {@link MAX_SHOWN} characters of it, with the full length when it is cut.
 */
export function shown(value: unknown): string {
  if (typeof value === "string") {
    if (value.length <= MAX_SHOWN) return JSON.stringify(value);
    return `${JSON.stringify(value.slice(0, MAX_SHOWN))}… (${value.length} characters)`;
  }
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  return String(value).slice(0, MAX_SHOWN);
}
