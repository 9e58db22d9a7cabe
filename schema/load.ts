/**
 * Loads site files: YAML in, a validated `SiteSpec` out, or every problem of the file at once,
 * each naming the file, the line, the field path and what was expected.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
import { SECRET_PLACEHOLDER_PREFIX, shown } from "./common.js";
import { HpcdkError } from "../common/errors.js";
import { siteWarnings } from "./rules.js";
import { SiteSchema } from "./rules.js";
import type { SiteSpec } from "./site.js";

/** A site that passed validation. */
export interface LoadedSite {
  /** Stack name: the file name without `.yaml`. */
  readonly name: string;
  /** The site file as written in generated headers: relative to the working directory, never absolute. */
  readonly file: string;
  readonly spec: SiteSpec;
  /** Allowed but dangerous choices, printed at every synth: each starts with the file (and line, field path when it is about one field). */
  readonly warnings: string[];
  /**
   * ":LINE:COL" of a field of the site file (the deepest part of `path` the file has), for
   * problems found after validation (by the constructs); "" when the file has none of it.
   */
  readonly locate: (path: readonly PropertyKey[]) => string;
}

/** A site file that failed validation; `problems` holds one line per problem. */
export class SiteError extends HpcdkError {
  override get heading(): string {
    return invalidSiteHeading(this.problems.length);
  }
}

/** How the command introduces the problems of an invalid site. */
export function invalidSiteHeading(problems: number): string {
  return `the site is invalid (${problems} problem${problems === 1 ? "" : "s"}); nothing was written`;
}

const SITE_NAME = /^[a-z][a-z0-9-]{0,62}$/;

/**
 * The largest site file hpcdk reads: 2 MiB. The largest example site is a few KB and a site of
 * the most hosts hpcdk allows still fits in a few lines (hosts are hostlists); a larger file is
 * refused before it is parsed, so no input makes parsing slow or exhausts memory.
 */
export const MAX_SITE_FILE_BYTES = 2 * 1024 * 1024;
/** The most aliases (`*name`) a site file may use: a few are handy, a "billion laughs" file uses millions. */
const MAX_ALIASES = 100;

/** How a file is named in messages and headers: relative when inside the working directory. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = relative(cwd, file);
  return rel.startsWith("..") || isAbsolute(rel) ? basename(file) : rel.split("\\").join("/");
}

export function siteNameOf(file: string): string {
  return basename(file).replace(/\.ya?ml$/, "");
}

/** Reads and validates one site file. Throws `SiteError` listing every problem. */
export function loadSiteFile(file: string): LoadedSite {
  const name = displayPath(file);
  let text: string;
  try {
    text = readBounded(file, name);
  } catch (err) {
    if (err instanceof SiteError) throw err;
    throw new SiteError([`${name}: cannot read the site file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseSite(text, name);
}

/** The file's text, refused before it is read when it is larger than {@link MAX_SITE_FILE_BYTES}. */
function readBounded(file: string, name: string): string {
  const fd = openSync(file, "r");
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_SITE_FILE_BYTES) {
      throw new SiteError([`${name}: the site file has ${size} bytes, more than the ${MAX_SITE_FILE_BYTES} (2 MiB) a site file may have`]);
    }
    // One byte more than the limit shows a file that grew (or a device that never ends) while read.
    const buffer = Buffer.alloc(Math.min(size, MAX_SITE_FILE_BYTES) + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0; ) length += n;
    if (length > MAX_SITE_FILE_BYTES) throw new SiteError([`${name}: the site file has more than the ${MAX_SITE_FILE_BYTES} bytes (2 MiB) a site file may have`]);
    return buffer.subarray(0, length).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

/** Validates site text; `file` is the name used in messages. */
export function parseSite(text: string, file: string): LoadedSite {
  const name = siteNameOf(file);
  const problems: string[] = [];
  if (!SITE_NAME.test(name)) {
    problems.push(`${file}: the file name gives the site name ${shown(name)}, which must match [a-z][a-z0-9-]* (it names the Terraform stack)`);
  }
  if (text.length > MAX_SITE_FILE_BYTES) {
    throw new SiteError([...problems, `${file}: the site file has ${text.length} characters, more than the ${MAX_SITE_FILE_BYTES} (2 MiB) a site file may have`]);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      problems.push(`${file}:${pos.line}:${pos.col}: ${yamlErrorMessage(e.code, e.message)}`);
    }
    throw new SiteError(problems);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    // yaml refuses a document whose aliases expand too far (a "billion laughs" file).
    throw new SiteError([...problems, `${file}: the site file uses aliases (*name) that expand to too many values: ${(err as Error).message}`]);
  }
  const result = validateSite(data);
  if ("issues" in result) {
    for (const { path, message } of result.issues) {
      const where = locate(doc, lines, path);
      const field = path.length > 0 ? path.map(shortKey).join(".") : "(top level)";
      problems.push(`${file}${where}: ${field}: ${message}`);
    }
  }
  if (problems.length > 0 || !("spec" in result)) throw new SiteError(problems);
  const spec = result.spec;
  return { name, file, spec, warnings: siteWarnings(spec).map((w) => (w.path ? `${w.path.join(".")}: ${w.message}` : w.message)), locate: (path) => locate(doc, lines, [...path]) };
}

/**
 * Validates a site as parsed from YAML: the spec with every default filled, or every problem
 * with its field path and message (what parseSite prints after the file and line).
 */
export function validateSite(data: unknown): { spec: SiteSpec } | { issues: { path: PropertyKey[]; message: string }[] } {
  const placeholders = secretPlaceholders(data);
  if (placeholders.length > 0) return { issues: placeholders };
  const result = SiteSchema.safeParse(data ?? {}, { error: describeIssue });
  if (result.success) return { spec: result.data };
  return { issues: result.error.issues.flatMap(expandIssue) };
}


/**
 * Site values that hold a secret's placeholder: the deploy would fill the secret in where the
 * value lands (into a path, a name, a world-readable file), so no value may hold one. And keys
 * named `__proto__`, which the validator would otherwise drop without a word.
 */
function secretPlaceholders(data: unknown): { path: PropertyKey[]; message: string }[] {
  const found: { path: PropertyKey[]; message: string }[] = [];
  const message = `must not contain "${SECRET_PLACEHOLDER_PREFIX}", which marks where the deploy fills in a secret`;
  const walk = (value: unknown, path: PropertyKey[]) => {
    if (typeof value === "string") {
      if (value.includes(SECRET_PLACEHOLDER_PREFIX)) found.push({ path, message });
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        // The validator would drop it silently (a JavaScript object's prototype), so say so.
        if (k === "__proto__") found.push({ path: [...path, k], message: `"__proto__" cannot be a key of a site file (JavaScript reserves it for an object's prototype)` });
        if (k.includes(SECRET_PLACEHOLDER_PREFIX)) found.push({ path: [...path, k], message });
        walk(v, [...path, k]);
      }
    }
  };
  walk(data, []);
  return found;
}

/**
 * A YAML error in an admin's words: the parser's first line, with the one message that names a
 * JavaScript function (a file of several documents) said plainly.
 */
function yamlErrorMessage(code: string, message: string): string {
  if (code === "MULTIPLE_DOCS") return `a site file is one YAML document, but this one has more ("---" starts another): remove the second document`;
  const first = message.split("\n")[0]!;
  return first.length <= 300 ? first : `${first.slice(0, 300)}…`;
}

/** A key of a field path as messages show it: at most 64 characters. */
function shortKey(key: PropertyKey): string {
  const text = String(key);
  return text.length <= 64 ? text : `${text.slice(0, 64)}…`;
}

/** Every `*.yaml` site file in `dir`, sorted: what `hpcdk synth` builds when given no file. */
export function defaultSiteFiles(dir = "sites"): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Loads several site files and reports the problems of all of them together. */
export function loadSiteFiles(files: string[]): LoadedSite[] {
  const sites: LoadedSite[] = [];
  const problems: string[] = [];
  for (const f of files) {
    try {
      sites.push(loadSiteFile(f));
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
      problems.push(...err.problems);
    }
  }
  const seen = new Map<string, string>();
  for (const s of sites) {
    const other = seen.get(s.name);
    if (other) problems.push(`${s.file}: site name ${shown(s.name)} is also the name of ${other}`);
    seen.set(s.name, s.file);
  }
  if (problems.length > 0) throw new SiteError(problems);
  return sites;
}

// ---------------------------------------------------------------------------------------------
// Messages

const UNKNOWN_KEYS = "\u0000unknown-keys:";

const describeValue = shown;

const TYPE_NAMES: Record<string, string> = {
  object: "a mapping",
  record: "a mapping",
  array: "a list",
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
};

/** Error map: the message for each zod issue, in the words an admin reads. */
function describeIssue(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined) return `is required (${TYPE_NAMES[iss.expected] ?? iss.expected})`;
      return `expected ${TYPE_NAMES[iss.expected] ?? iss.expected}, got ${describeValue(iss.input)}`;
    case "unrecognized_keys": {
      const known = Object.keys((iss.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape ?? {});
      return UNKNOWN_KEYS + JSON.stringify(iss.keys.map((k) => [k, unknownKeyMessage(k, known)]));
    }
    case "invalid_value":
      return `expected one of ${iss.values.map((v) => shown(v)).join(", ")}, got ${describeValue(iss.input)}`;
    case "too_small":
      if (iss.origin === "array") return `must have at least ${iss.minimum} item(s), got ${(iss.input as unknown[]).length}`;
      if (iss.origin === "string") return `must not be empty`;
      return `must be at least ${iss.minimum}, got ${describeValue(iss.input)}`;
    case "too_big":
      if (iss.origin === "array") return `must have at most ${iss.maximum} item(s), got ${(iss.input as unknown[]).length}`;
      if (iss.origin === "string") return `must be at most ${iss.maximum} characters`;
      return `must be at most ${iss.maximum}, got ${describeValue(iss.input)}`;
    case "invalid_format":
      return `must be ${iss.format === "regex" ? `of the form ${iss.pattern}` : `a valid ${iss.format}`}, got ${describeValue(iss.input)}`;
    case "invalid_union":
      return `does not match any allowed form, got ${describeValue(iss.input)}`;
    case "invalid_key":
      // A record's key (a package name in deploy.packageVersions): what its own schema says.
      return iss.issues[0]?.message ?? `is not an allowed key`;
    default:
      return undefined;
  }
}

function unknownKeyMessage(key: string, known: string[]): string {
  // A typo is within two edits of a known key, so only keys of about the same length are compared.
  const close = key.length > 64 ? [] : known.filter((k) => Math.abs(k.length - key.length) <= 2 && editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  if (close.length > 0) return `unknown key (did you mean ${shown(close[0])}?)`;
  return `unknown key (expected ${known.map((k) => shown(k)).join(", ")})`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const next = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = row[j]!;
      row[j] = next;
    }
  }
  return row[b.length]!;
}

function expandIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  if (issue.message.startsWith(UNKNOWN_KEYS)) {
    const entries = JSON.parse(issue.message.slice(UNKNOWN_KEYS.length)) as [string, string][];
    return entries.map(([key, message]) => ({ path: [...issue.path, key], message }));
  }
  return [{ path: issue.path, message: issue.message }];
}

// ---------------------------------------------------------------------------------------------
// Positions

/** ":LINE:COL" of the deepest node along `path` that exists in the document (a key for unknown keys). */
function locate(doc: Document, lines: LineCounter, path: PropertyKey[]): string {
  let node: Node | null = doc.contents;
  let best: Node | null = node;
  for (const [i, step] of path.entries()) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === step);
      if (!pair) break;
      // The last step points at its key: the line of the field, also for keys that are unknown.
      if (i === path.length - 1) {
        best = pair.key as Node;
        break;
      }
      node = pair.value as Node | null;
      best = node ?? (pair.key as Node);
    } else if (isSeq(node) && typeof step === "number" && node.items[step]) {
      best = node = node.items[step] as Node;
    } else {
      break;
    }
  }
  if (!best?.range) return "";
  const pos = lines.linePos(best.range[0]);
  return `:${pos.line}:${pos.col}`;
}
