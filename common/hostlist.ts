/**
 * Slurm hostlist expressions: `c[001-128]`, `rack[1-2]-n[01-04]`, `login1,login2`.
 *
 * Expansion follows Slurm (checked against `scontrol show hostnames` on random expressions in
 * test/slurm/hostlist-scontrol.test.ts): a comma outside brackets separates expressions; each
 * bracket holds numbers and ranges (`1,3,5-7`), zero-padded to the width of the range's first
 * number, and several brackets multiply out (the last one varies fastest). Text may stand
 * between brackets but not after the last one (`c[1-2]x` is not a hostlist for Slurm either).
 * Stricter than Slurm on purpose: an empty name (`a,,b`) and spaces inside brackets are errors,
 * because Slurm reads `c[1, 2]` as c1 and c02.
 *
 * Compression gives one bracket per prefix, numbers in ascending order, as
 * `scontrol show hostlist` writes the same names: `c001,c002,c003,d1` → `c[001-003],d1`.
 * @see https://slurm.schedmd.com/slurm.conf.html#SECTION_NODE-CONFIGURATION
 */

/**
 * The most hosts a site may name, in its node groups together (and one expression by itself).
 * The largest machine built so far, Fugaku, has 158,976 nodes; above that a hostlist is a typo
 * (`c[1-1000000]`) or an attack, and expanding it would take seconds and hundreds of MB for every
 * rule and construct that walks the hosts. Expressions are counted arithmetically, without
 * expanding them, so a site over the cap is refused at once: a 1,000,000-host site costs nothing.
 */
export const MAX_HOSTS = 200_000;

/** Longest number in a range: 15 digits are exact as a JavaScript number. */
const MAX_DIGITS = 15;

/** One comma-separated part of an expression: text and brackets, parsed but not multiplied out. */
interface Part {
  /** Literal texts around the brackets: one more than `brackets`. */
  readonly texts: readonly string[];
  /** Each bracket's values as ranges with the width of their first number. */
  readonly brackets: readonly { lo: number; hi: number; width: number }[][];
}

/** Parses an expression; throws with a reason on bad syntax. Linear in its length. */
function parseHostlist(expression: string): Part[] {
  const text = expression.trim();
  if (text === "") return [];
  const parts: Part[] = [];
  for (const part of splitTopLevel(text)) {
    if (part === "") throw new Error(`empty host name in "${shortExpression(expression)}"`);
    parts.push(parsePart(part, expression));
  }
  return parts;
}

/** The expression as messages show it: at most 200 characters. */
function shortExpression(expression: string): string {
  return expression.length <= 200 ? expression : `${expression.slice(0, 200)}… (${expression.length} characters)`;
}

function parsePart(part: string, whole: string): Part {
  const texts: string[] = [];
  const brackets: { lo: number; hi: number; width: number }[][] = [];
  let rest = part;
  for (;;) {
    const open = rest.indexOf("[");
    if (open < 0) {
      if (rest.includes("]")) throw new Error(`unbalanced brackets in "${shortExpression(whole)}"`);
      if (brackets.length > 0 && rest !== "") throw new Error(`text after the last "]" in "${shortExpression(whole)}" (Slurm does not allow it)`);
      texts.push(rest);
      return { texts, brackets };
    }
    const close = rest.indexOf("]", open);
    texts.push(rest.slice(0, open));
    const ranges: { lo: number; hi: number; width: number }[] = [];
    for (const r of rest.slice(open + 1, close).split(",")) {
      const dash = r.indexOf("-");
      const loText = dash < 0 ? r : r.slice(0, dash);
      const hiText = dash < 0 ? r : r.slice(dash + 1);
      if (!/^\d{1,15}$/.test(loText) || !/^\d{1,15}$/.test(hiText)) {
        throw new Error(`bad range "${shortExpression(r)}" in "${shortExpression(whole)}" (expected N or N-M, numbers of at most ${MAX_DIGITS} digits)`);
      }
      const lo = Number(loText);
      const hi = Number(hiText);
      if (hi < lo) throw new Error(`range "${r}" in "${shortExpression(whole)}" runs backwards`);
      ranges.push({ lo, hi, width: loText.length });
    }
    brackets.push(ranges);
    rest = rest.slice(close + 1);
    if (rest === "") {
      texts.push("");
      return { texts, brackets };
    }
    if (!rest.includes("[")) throw new Error(`text after the last "]" in "${shortExpression(whole)}" (Slurm does not allow it)`);
  }
}

/** Hosts of one part: the product of its brackets' sizes (capped just above MAX_HOSTS, so it never overflows). */
function partCount(part: Part): number {
  let count = 1;
  for (const ranges of part.brackets) {
    count *= ranges.reduce((n, r) => n + (r.hi - r.lo + 1), 0);
    if (count > MAX_HOSTS) return MAX_HOSTS + 1;
  }
  return count;
}

/**
 * How many names an expression expands to, without expanding it (duplicates counted); more than
 * {@link MAX_HOSTS} counts as `MAX_HOSTS + 1`. Throws with a reason on bad syntax.
 */
export function countHostlist(expression: string): number {
  let count = 0;
  for (const part of parseHostlist(expression)) {
    count += partCount(part);
    if (count > MAX_HOSTS) return MAX_HOSTS + 1;
  }
  return count;
}

/** The message for an expression over a host limit. */
export function tooManyHosts(count: number, limit: number): string {
  return count > MAX_HOSTS
    ? `names more than ${MAX_HOSTS.toLocaleString("en")} hosts, the most one site may have (the largest machine built, Fugaku, has 158,976 nodes)`
    : `names ${count.toLocaleString("en")} hosts, more than the ${limit.toLocaleString("en")} allowed here`;
}

/**
 * Expands a hostlist expression into host names, in order. Throws with a reason on bad syntax,
 * and, before expanding anything, when the expression names more than `limit` hosts.
 */
export function expandHostlist(expression: string, limit = MAX_HOSTS): readonly string[] {
  const known = expanded.get(expression);
  if (known) {
    if (known.length > limit) throw new Error(`"${shortExpression(expression.trim())}" ${tooManyHosts(known.length, limit)}`);
    return known;
  }
  const parts = parseHostlist(expression);
  let count = 0;
  for (const part of parts) count += partCount(part);
  if (count > limit) throw new Error(`"${shortExpression(expression.trim())}" ${tooManyHosts(count, limit)}`);
  const hosts: string[] = [];
  for (const part of parts) expandPart(part, 0, part.texts[0]!, hosts);
  // A site's groups are expanded by the schema, its rules and each construct that places hosts:
  // a 100,000-host group six times over. The names are kept (frozen: shared by every caller).
  if (expanded.size >= EXPANDED_KEPT) expanded.clear();
  expanded.set(expression, Object.freeze(hosts));
  return hosts;
}

/** Expressions expanded lately and their names; cleared when it holds {@link EXPANDED_KEPT}. */
const expanded = new Map<string, readonly string[]>();
const EXPANDED_KEPT = 256;

/** Appends the names of `part` from bracket `b` on, each starting with `prefix`; the last bracket varies fastest. */
function expandPart(part: Part, b: number, prefix: string, out: string[]): void {
  if (b === part.brackets.length) {
    out.push(prefix);
    return;
  }
  const after = part.texts[b + 1]!;
  for (const r of part.brackets[b]!) {
    for (let n = r.lo; n <= r.hi; n++) expandPart(part, b + 1, `${prefix}${String(n).padStart(r.width, "0")}${after}`, out);
  }
}

/** Splits on commas that are not inside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === "[") depth++;
    else if (c === "]") depth--;
    else if (c === "," && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
    if (depth < 0 || depth > 1) throw new Error(`unbalanced or nested brackets in "${shortExpression(text)}"`);
  }
  if (depth !== 0) throw new Error(`unbalanced brackets in "${shortExpression(text)}"`);
  parts.push(text.slice(start).trim());
  return parts;
}

/** Where the trailing digits of a name start, or undefined when it ends in none. */
function trailingDigits(name: string): number | undefined {
  let i = name.length;
  while (i > 0 && name.charCodeAt(i - 1) >= 48 && name.charCodeAt(i - 1) <= 57) i--;
  return i === name.length ? undefined : i;
}

/** The numbers in ascending order without duplicates; sorted only when they are not in order already. */
function ascendingUnique(numbers: number[]): number[] {
  let sorted = true;
  for (let i = 1; i < numbers.length && sorted; i++) sorted = numbers[i - 1]! < numbers[i]!;
  if (sorted) return numbers;
  const out: number[] = [];
  for (const n of [...numbers].sort((a, b) => a - b)) if (out.length === 0 || out[out.length - 1] !== n) out.push(n);
  return out;
}

/** A zero-padded number (`007`) has exactly its width; a plain one (`7`, `10`) is written with any width up to its length. */
const isPadded = (digits: string) => digits.length > 1 && digits.startsWith("0");

/**
 * Compresses host names into a hostlist expression: duplicates dropped, one bracket per prefix
 * (`n[1-2,4]`), prefixes sorted. Numbers of one width run together, and plain numbers at least
 * as long as a padded width join it (`c09,c10` is `c[09-10]`); `c1` and `c01` are different
 * hosts and stay apart (`c[1,01]`).
 */
export function compressHostlist(hosts: readonly string[]): string {
  // The same (frozen) list is compressed by every construct that writes a group's hostlist.
  const known = Object.isFrozen(hosts) ? compressed.get(hosts) : undefined;
  if (known !== undefined) return known;
  const text = compress(hosts);
  if (Object.isFrozen(hosts)) compressed.set(hosts, text);
  return text;
}

const compressed = new WeakMap<readonly string[], string>();

function compress(hosts: readonly string[]): string {
  // Linear in the number of names, apart from sorting the numbers of a prefix when they are not
  // in order already (an expanded hostlist is): 100,000 names take milliseconds.
  const byPrefix = new Map<string, string[]>();
  const out: { sortKey: string; text: string }[] = [];
  for (const h of new Set(hosts)) {
    const split = trailingDigits(h);
    // Names without a trailing number, and numbers too long to count exactly, stay as they are.
    if (split === undefined || h.length - split > 15) out.push({ sortKey: h, text: h });
    else {
      const prefix = h.slice(0, split);
      const list = byPrefix.get(prefix);
      if (list) list.push(h.slice(split));
      else byPrefix.set(prefix, [h.slice(split)]);
    }
  }
  for (const [prefix, digitsList] of byPrefix) {
    // Each number goes into a width class: a padded number into its own width; a plain number
    // into the widest padded width it can be written with, or the plain class (0).
    const paddedWidths = [...new Set(digitsList.filter(isPadded).map((d) => d.length))].sort((a, b) => b - a);
    const classes = new Map<number, number[]>();
    for (const d of digitsList) {
      const width = isPadded(d) ? d.length : (paddedWidths.find((w) => d.length >= w) ?? 0);
      const list = classes.get(width);
      if (list) list.push(Number(d));
      else classes.set(width, [Number(d)]);
    }
    const runs: { lo: number; hi: number; width: number }[] = [];
    for (const [width, numbers] of classes) {
      const nums = ascendingUnique(numbers);
      for (let i = 0; i < nums.length; ) {
        let j = i;
        while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
        runs.push({ lo: nums[i]!, hi: nums[j]!, width });
        i = j + 1;
      }
    }
    runs.sort((a, b) => a.lo - b.lo || a.width - b.width);
    const fmt = (n: number, width: number) => String(n).padStart(width, "0");
    const ranges = runs.map((r) => (r.lo === r.hi ? fmt(r.lo, r.width) : `${fmt(r.lo, r.width)}-${fmt(r.hi, r.width)}`));
    const text = runs.length === 1 && runs[0]!.lo === runs[0]!.hi ? `${prefix}${ranges[0]}` : `${prefix}[${ranges.join(",")}]`;
    out.push({ sortKey: `${prefix}${ranges[0]}`, text });
  }
  return out
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
    .map((o) => o.text)
    .join(",");
}
