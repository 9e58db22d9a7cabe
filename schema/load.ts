/**
 * Loads site files: YAML in, a validated `SiteSpec` out, or every problem of the file at once,
 * each naming the file, the line, the field path and what was expected.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, isAbsolute, join, relative } from "node:path";
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from "yaml";
import type { z } from "zod";
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
  /** Allowed but dangerous choices, printed at every synth. */
  readonly warnings: string[];
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
  const shown = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new SiteError([`${shown}: cannot read the site file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`]);
  }
  return parseSite(text, shown);
}

/** Validates site text; `file` is the name used in messages. */
export function parseSite(text: string, file: string): LoadedSite {
  const name = siteNameOf(file);
  const problems: string[] = [];
  if (!SITE_NAME.test(name)) {
    problems.push(`${file}: the file name gives the site name ${JSON.stringify(name)}, which must match [a-z][a-z0-9-]* (it names the Terraform stack)`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const e of doc.errors) {
      const pos = lines.linePos(e.pos[0]);
      problems.push(`${file}:${pos.line}:${pos.col}: ${e.message.split("\n")[0]}`);
    }
    throw new SiteError(problems);
  }
  const data: unknown = doc.toJS({ maxAliasCount: 1000 });
  const result = SiteSchema.safeParse(data ?? {}, { error: describeIssue });
  if (!result.success) {
    for (const issue of result.error.issues) {
      for (const { path, message } of expandIssue(issue)) {
        const where = locate(doc, lines, path);
        const field = path.length > 0 ? path.join(".") : "(top level)";
        problems.push(`${file}${where}: ${field}: ${message}`);
      }
    }
  }
  if (problems.length > 0) throw new SiteError(problems);
  const spec = result.data!;
  return { name, file, spec, warnings: siteWarnings(spec) };
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
    if (other) problems.push(`${s.file}: site name ${JSON.stringify(s.name)} is also the name of ${other}`);
    seen.set(s.name, s.file);
  }
  if (problems.length > 0) throw new SiteError(problems);
  return sites;
}

// ---------------------------------------------------------------------------------------------
// Messages

const UNKNOWN_KEYS = "\u0000unknown-keys:";

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  if (typeof v === "string") return JSON.stringify(v);
  return String(v);
}

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
      return `expected one of ${iss.values.map((v) => JSON.stringify(v)).join(", ")}, got ${describeValue(iss.input)}`;
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
  const close = known.filter((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  if (close.length > 0) return `unknown key (did you mean ${JSON.stringify(close[0])}?)`;
  return `unknown key (expected ${known.map((k) => JSON.stringify(k)).join(", ")})`;
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
