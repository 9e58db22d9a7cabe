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

/** Expands a hostlist expression into host names, in order. Throws with a reason on bad syntax. */
export function expandHostlist(expression: string): string[] {
  const text = expression.trim();
  if (text === "") return [];
  const hosts: string[] = [];
  for (const part of splitTopLevel(text)) {
    if (part === "") throw new Error(`empty host name in "${expression}"`);
    hosts.push(...expandOne(part, expression));
  }
  return hosts;
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
    if (depth < 0 || depth > 1) throw new Error(`unbalanced or nested brackets in "${text}"`);
  }
  if (depth !== 0) throw new Error(`unbalanced brackets in "${text}"`);
  parts.push(text.slice(start).trim());
  return parts;
}

function expandOne(part: string, whole: string): string[] {
  const open = part.indexOf("[");
  if (open < 0) {
    if (part.includes("]")) throw new Error(`unbalanced brackets in "${whole}"`);
    return [part];
  }
  const close = part.indexOf("]", open);
  const prefix = part.slice(0, open);
  const ranges = part.slice(open + 1, close);
  const after = part.slice(close + 1);
  if (after !== "" && !after.includes("[")) throw new Error(`text after the last "]" in "${whole}" (Slurm does not allow it)`);
  const rest = after === "" ? [""] : expandOne(after, whole);
  const values: string[] = [];
  for (const r of ranges.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(r);
    if (!m) throw new Error(`bad range "${r}" in "${whole}" (expected N or N-M)`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`range "${r}" in "${whole}" runs backwards`);
    if (hi - lo > 1_000_000) throw new Error(`range "${r}" in "${whole}" is too large`);
    const width = m[1]!.length;
    for (let n = lo; n <= hi; n++) values.push(String(n).padStart(width, "0"));
  }
  return values.flatMap((v) => rest.map((tail) => `${prefix}${v}${tail}`));
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
  const byPrefix = new Map<string, string[]>();
  const out: { sortKey: string; text: string }[] = [];
  for (const h of new Set(hosts)) {
    const m = /^(.*?)(\d+)$/.exec(h);
    // Names without a trailing number, and numbers too long to count exactly, stay as they are.
    if (!m || m[2]!.length > 15) out.push({ sortKey: h, text: h });
    else byPrefix.set(m[1]!, [...(byPrefix.get(m[1]!) ?? []), m[2]!]);
  }
  for (const [prefix, digitsList] of byPrefix) {
    // Each number goes into a width class: a padded number into its own width; a plain number
    // into the widest padded width it can be written with, or the plain class (0).
    const paddedWidths = [...new Set(digitsList.filter(isPadded).map((d) => d.length))].sort((a, b) => b - a);
    const classes = new Map<number, number[]>();
    for (const d of digitsList) {
      const width = isPadded(d) ? d.length : (paddedWidths.find((w) => d.length >= w) ?? 0);
      classes.set(width, [...(classes.get(width) ?? []), Number(d)]);
    }
    const runs: { lo: number; hi: number; width: number }[] = [];
    for (const [width, numbers] of classes) {
      const nums = [...new Set(numbers)].sort((a, b) => a - b);
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
