/**
 * Slurm hostlist expressions: `c[001-128]`, `rack[1-2]-n[01-04]`, `login1,login2`.
 *
 * Expansion follows Slurm: a comma outside brackets separates expressions; each bracket holds
 * numbers and ranges (`1,3,5-7`), zero-padded to the width of the range's first number, and
 * several brackets multiply out (the last one varies fastest). Compression groups names by
 * prefix and the width of their trailing number, as `scontrol show hostlist` does.
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
  const rest = expandOne(part.slice(close + 1), whole);
  const values: string[] = [];
  for (const r of ranges.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(r.trim());
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

/** Compresses host names into a hostlist expression, sorted: `c001,c002,c003,d1` → `c[001-003],d1`. */
export function compressHostlist(hosts: readonly string[]): string {
  // Names by prefix, each with its trailing digits; names without digits stay as they are.
  const byPrefix = new Map<string, string[]>();
  const plain: string[] = [];
  for (const h of new Set(hosts)) {
    const m = /^(.*?)(\d+)$/.exec(h);
    if (!m) plain.push(h);
    else byPrefix.set(m[1]!, [...(byPrefix.get(m[1]!) ?? []), m[2]!]);
  }
  const out: { sortKey: string; text: string }[] = plain.map((p) => ({ sortKey: p, text: p }));
  for (const [prefix, digitsList] of byPrefix) {
    // "c01" and "c1" are different hosts: zero-padded numbers of one width form a group, and
    // unpadded numbers at least that wide join it ("c09,c10" is c[09-10]); the rest group apart.
    const groups = new Map<number, number[]>();
    const paddedWidths = [...new Set(digitsList.filter((d) => d.length > 1 && d.startsWith("0")).map((d) => d.length))].sort((a, b) => b - a);
    for (const d of digitsList) {
      const width = d.length > 1 && d.startsWith("0") ? d.length : (paddedWidths.find((w) => d.length >= w) ?? 0);
      groups.set(width, [...(groups.get(width) ?? []), Number(d)]);
    }
    for (const [width, numbers] of groups) {
      const nums = [...new Set(numbers)].sort((a, b) => a - b);
      const fmt = (n: number) => String(n).padStart(width, "0");
      const ranges: string[] = [];
      for (let i = 0; i < nums.length; ) {
        let j = i;
        while (j + 1 < nums.length && nums[j + 1] === nums[j]! + 1) j++;
        ranges.push(i === j ? fmt(nums[i]!) : `${fmt(nums[i]!)}-${fmt(nums[j]!)}`);
        i = j + 1;
      }
      const text = nums.length === 1 ? `${prefix}${fmt(nums[0]!)}` : `${prefix}[${ranges.join(",")}]`;
      out.push({ sortKey: `${prefix}${fmt(nums[0]!)}`, text });
    }
  }
  return out
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0))
    .map((o) => o.text)
    .join(",");
}
