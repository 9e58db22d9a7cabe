/**
 * The hostile corpus and the full sites it goes into: reading `test/fixtures/hostile/corpus.txt`,
 * finding every string field of a site (every string value, and every key of the maps keyed by
 * the site: deploy.hosts, deploy.packageVersions, storage.pools[].properties), and a site with one
 * field set to a payload.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
export const HOSTILE = join(import.meta.dirname, "..", "fixtures", "hostile");
/** What every payload holds; found in a rendered file, it shows where the payload went. */
export const MARKER = /hpcdkpwn/i;

/** The payloads of corpus.txt, in order. */
export function loadCorpus(file = join(HOSTILE, "corpus.txt")): string[] {
  const payloads: string[] = [];
  for (const [i, line] of readFileSync(file, "utf8").split("\n").entries()) {
    if (line.trim() === "" || line.startsWith("#")) continue;
    const value: unknown = JSON.parse(line);
    if (typeof value === "string") payloads.push(value);
    else if (value && typeof value === "object" && "repeat" in value && "times" in value) {
      payloads.push(String((value as { repeat: string }).repeat).repeat(Number((value as { times: number }).times)));
    } else throw new Error(`corpus.txt:${i + 1}: not a JSON string or a repeat`);
  }
  return payloads;
}

/** A payload as test names show it: JSON, at most 60 characters. */
export function label(payload: string): string {
  const j = JSON.stringify(payload);
  return j.length <= 60 ? j : `${j.slice(0, 57)}…" (${payload.length} characters)`;
}

type Path = (string | number)[];

/** A string field of a site: a value, or the key of an entry of a map the site names. */
export interface Field {
  readonly path: Path;
  readonly kind: "value" | "key";
  /** What the field holds in the full site. */
  readonly original: string;
}

/** Maps whose keys the site chooses: their keys are string fields too. */
const KEYED_MAPS = ["deploy.hosts", "deploy.packageVersions", "monitoring.prometheus.externalLabels", /^storage\.pools\.\d+\.properties$/] as const;
const keyed = (path: Path) => {
  const dotted = path.join(".");
  return KEYED_MAPS.some((m) => (typeof m === "string" ? m === dotted : m.test(dotted)));
};

/** Every string field of a site (as parsed from YAML), in document order. */
export function stringFields(data: unknown): Field[] {
  const fields: Field[] = [];
  const walk = (value: unknown, path: Path) => {
    if (typeof value === "string") fields.push({ path, kind: "value", original: value });
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...path, i]));
    else if (value && typeof value === "object") {
      for (const [k, v] of Object.entries(value)) {
        if (keyed(path)) fields.push({ path: [...path, k], kind: "key", original: k });
        walk(v, [...path, k]);
      }
    }
  };
  walk(data, []);
  return fields;
}

/** A field's path with list indexes as `[]`: what the schema calls it. */
export function schemaPath(field: Field): string {
  const parts = field.path.map((p, i) => (typeof p === "number" ? "[]" : field.kind === "key" && i === field.path.length - 1 ? "<key>" : `.${p}`));
  return parts.join("").replace(/^\./, "");
}

export const dotted = (path: Path) => path.join(".");

/**
 * The site with `field` set to `payload`. A value is changed wherever the site holds the same
 * value (a node name is also in slurm.controllers, a pool name in nfs.groups[].pools): the
 * payload renames the thing, so the site stays consistent and the payload reaches every place.
 * Returns the site and the paths that now hold the payload.
 */
export function withPayload(data: unknown, field: Field, payload: string): { site: unknown; paths: Path[] } {
  const paths: Path[] = [];
  const copy = (value: unknown, path: Path): unknown => {
    if (typeof value === "string") {
      if (field.kind === "value" && value === field.original) {
        paths.push(path);
        return payload;
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => copy(v, [...path, i]));
    if (value && typeof value === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        // A key is renamed when it is the field, or when it names the renamed thing (deploy.hosts.<node>).
        const renamed =
          k === field.original && (field.kind === "key" ? dotted(path) === dotted(field.path.slice(0, -1)) : keyed(path));
        const key = renamed ? payload : k;
        if (renamed) paths.push([...path, payload]);
        Object.defineProperty(out, key, { value: copy(v, [...path, key]), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return value;
  };
  const site = copy(data, []);
  return { site, paths };
}

/** The full sites of the corpus test, parsed. */
export function fullSites(): { name: string; file: string; data: unknown }[] {
  return ["full-kernel", "full-ganesha"].map((name) => {
    const file = join(HOSTILE, `${name}.yaml`);
    return { name, file, data: parse(readFileSync(file, "utf8")) as unknown };
  });
}

/** YAML text of a site (every string double-quoted, so any payload is one YAML scalar). */
export function siteText(site: unknown): string {
  return stringify(site, { defaultStringType: "QUOTE_DOUBLE", defaultKeyType: "PLAIN", lineWidth: 0 });
}
