/**
 * Files with secrets filled in on a host (a password in slurmdbd.conf): the synthesis keeps the
 * placeholder, the host holds the value. A host's file that is the synthesized one but for the
 * values counts as unchanged, and each value is compared with the secrets folder: the result,
 * never the value, goes into the report.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { SECRET_REF } from "../../../common/contracts/bundle.js";
import type { StackTree } from "../tree.js";
import type { HostFetch } from "./fetch.js";
import type { Target } from "./targets.js";

/**
 * The values a host filled into a file with secret placeholders, when the file is the
 * synthesized one with only the placeholders replaced (the deploy fills in letters and digits
 * only); null when anything else differs.
 */
export function filledValues(template: string, filled: string): Record<string, string> | null {
  const names: string[] = [];
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  let pattern = "";
  let last = 0;
  for (const m of template.matchAll(new RegExp(SECRET_REF.source, "g"))) {
    pattern += `${escape(template.slice(last, m.index))}([A-Za-z0-9]*)`;
    names.push(m[1]!);
    last = m.index! + m[0].length;
  }
  pattern += escape(template.slice(last));
  const match = new RegExp(`^${pattern}$`).exec(filled);
  if (!match) return null;
  const values: Record<string, string> = {};
  for (const [i, name] of names.entries()) {
    const v = match[i + 1]!;
    if (name in values && values[name] !== v) return null;
    values[name] = v;
  }
  return values;
}

/**
 * Writes what the hosts hold into `liveDir`, where the synthesis has it. A file with secrets
 * filled in that is the synthesized file but for the values is written as synthesized (no
 * difference), and each value is compared with the secrets folder: the result, never the value,
 * is returned per target.
 */
export function writeLiveTree(liveDir: string, next: StackTree, fetched: ReadonlyMap<Target, HostFetch>, secretsDir: string): Map<Target, Map<string, "changed" | "unchanged">> {
  mkdirSync(join(liveDir, "hosts"), { recursive: true, mode: 0o700 });
  const put = (dir: string, path: string, bytes: Buffer) => {
    const file = join(liveDir, dir, path);
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, bytes, { mode: 0o600 });
  };
  const secretValue = (name: string): string | undefined => {
    try {
      // The deploy fills in the file's content without trailing newlines (`$(cat file)`).
      return readFileSync(join(secretsDir, name), "utf8").replace(/\n+$/, "");
    } catch {
      return undefined;
    }
  };
  const filled = new Map<Target, Map<string, "changed" | "unchanged">>();
  for (const [t, f] of fetched) {
    const compared = new Map<string, "changed" | "unchanged">();
    filled.set(t, compared);
    for (const mf of t.manifest.files) {
      const got = f.files.get(mf.path);
      if (got?.kind !== "file") continue;
      const template = mf.secrets.length > 0 ? (next.read(t.bundle, mf.path)?.toString("utf8") ?? "") : undefined;
      const values = template === undefined ? null : filledValues(template, got.bytes.toString("utf8"));
      if (values) {
        for (const [name, value] of Object.entries(values)) {
          const local = secretValue(name);
          if (local !== undefined) compared.set(name, local === value ? "unchanged" : "changed");
        }
        put(t.dir, mf.path, Buffer.from(template!, "utf8"));
      } else {
        put(t.dir, mf.path, got.bytes);
      }
    }
    for (const sf of t.manifest.secretFiles) {
      const got = f.files.get(sf.path);
      if (got?.kind === "file") put(t.dir, sf.path, got.bytes);
    }
  }
  return filled;
}

