/**
 * The site settings that differ between two validated sites (defaults filled in, so writing a
 * default out changes nothing), each with its declared impact from `schema/impact.ts`.
 *
 * Elements of a list of objects are matched by their identity (`name`, `path`, `spec`), not by
 * position, so removing the first export does not show every later export as changed; an
 * element whose identity changed and nothing else is reported as renamed.
 */
import { isDeepStrictEqual } from "node:util";
import { isSiteCidr } from "../../common/net.js";
import { settingImpact, type SettingImpact } from "../../schema/impact.js";

export interface SettingChange {
  /** Where, with list elements named by identity: `nfs.groups[nfs].exports[/stc2_pool/home].fsid`. */
  readonly path: string;
  /** The setting's pattern in the impact table: `nfs.groups[].exports[].fsid`. */
  readonly pattern: string;
  readonly change: "added" | "removed" | "changed" | "renamed";
  /** The old value (absent for added). */
  readonly old?: unknown;
  /** The new value (absent for removed). */
  readonly new?: unknown;
  readonly impact: SettingImpact & { readonly declared: boolean };
}

/** Fields that name a list element, tried in this order. */
const IDENTITY_KEYS = ["name", "path", "spec", "id", "address"] as const;

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isObjectList = (v: unknown): v is Record<string, unknown>[] => Array.isArray(v) && v.length > 0 && v.every(isPlainObject);

/**
 * The spec as the site file wrote it, for comparing and showing: the schema parses CIDRs once
 * (`nodes[].addresses`, `slurm.network`: address, prefix, family), but a setting is the text the
 * admin wrote ("10.10.0.11/24" → "10.10.0.12/24"), one value, not four fields of an object.
 */
function asWritten(value: unknown): unknown {
  if (isSiteCidr(value)) return value.text;
  if (Array.isArray(value)) return value.map(asWritten);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asWritten(v)]));
  return value;
}

/** The settings that differ between two sites, in the order of the new site file. */
export function diffSettings(oldSpec: unknown, newSpec: unknown): SettingChange[] {
  return diffWritten(asWritten(oldSpec), asWritten(newSpec));
}

function diffWritten(oldSpec: unknown, newSpec: unknown): SettingChange[] {
  const changes: SettingChange[] = [];
  const emit = (path: string, pattern: string, change: SettingChange["change"], old: unknown, next: unknown) => {
    changes.push({
      path,
      pattern,
      change,
      ...(old === undefined ? {} : { old }),
      ...(next === undefined ? {} : { new: next }),
      impact: settingImpact(pattern),
    });
  };
  const walk = (a: unknown, b: unknown, path: string, pattern: string): void => {
    if (isDeepStrictEqual(a, b)) return;
    if ((isPlainObject(a) || a === undefined) && (isPlainObject(b) || b === undefined) && (a !== undefined || b !== undefined)) {
      const keys = [...new Set([...Object.keys(b ?? {}), ...Object.keys(a ?? {})])];
      for (const k of keys) walk(a?.[k], b?.[k], path ? `${path}.${k}` : k, pattern ? `${pattern}.${k}` : k);
      return;
    }
    if ((isObjectList(a) || isObjectList(b)) && (Array.isArray(a) || a === undefined) && (Array.isArray(b) || b === undefined)) {
      diffList((a ?? []) as Record<string, unknown>[], (b ?? []) as Record<string, unknown>[], path, pattern);
      return;
    }
    emit(path, pattern, a === undefined ? "added" : b === undefined ? "removed" : "changed", a, b);
  };

  const diffList = (a: Record<string, unknown>[], b: Record<string, unknown>[], path: string, pattern: string) => {
    const key = identityKey([...a, ...b], a, b);
    const label = (e: Record<string, unknown>, i: number) => (key ? String(e[key]) : String(i));
    const oldBy = new Map(a.map((e, i) => [label(e, i), e]));
    const newBy = new Map(b.map((e, i) => [label(e, i), e]));
    const removed = [...oldBy].filter(([l]) => !newBy.has(l));
    const added = [...newBy].filter(([l]) => !oldBy.has(l));
    const renamed = new Map<string, string>(); // old label -> new label
    if (key) {
      for (const [ol, oe] of removed) {
        const match = added.find(([nl, ne]) => ![...renamed.values()].includes(nl) && isDeepStrictEqual(omit(oe, key), omit(ne, key)));
        if (match) renamed.set(ol, match[0]);
      }
    }
    const renamedTo = new Set(renamed.values());
    for (const [l, e] of newBy) {
      const was = [...renamed].find(([, nl]) => nl === l)?.[0];
      if (was !== undefined) emit(`${path}[${was}].${key}`, `${pattern}[].${key}`, "renamed", was, l);
      else if (oldBy.has(l)) walk(oldBy.get(l), e, `${path}[${l}]`, `${pattern}[]`);
      else if (!renamedTo.has(l)) emit(`${path}[${l}]`, `${pattern}[]`, "added", undefined, e);
    }
    for (const [l, e] of removed) if (!renamed.has(l)) emit(`${path}[${l}]`, `${pattern}[]`, "removed", e, undefined);
  };
  walk(oldSpec, newSpec, "", "");
  return changes;
}

/** The first identity field every element has, unique on each side; none means match by position. */
function identityKey(all: Record<string, unknown>[], a: Record<string, unknown>[], b: Record<string, unknown>[]): string | undefined {
  const unique = (list: Record<string, unknown>[], k: string) => new Set(list.map((e) => e[k])).size === list.length;
  return IDENTITY_KEYS.find(
    (k) => all.every((e) => typeof e[k] === "string" || typeof e[k] === "number") && unique(a, k) && unique(b, k),
  );
}

function omit(e: Record<string, unknown>, key: string): Record<string, unknown> {
  const { [key]: _, ...rest } = e;
  return rest;
}

/** A value as one short line: scalars as YAML would show them, lists and mappings as JSON. */
export function showValue(v: unknown, max = 80): string {
  const text = typeof v === "string" ? (/^[\w./:@,+=[\]-]+$/.test(v) ? v : JSON.stringify(v)) : JSON.stringify(v);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
