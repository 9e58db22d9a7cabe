/**
 * The site's secrets folder, `secrets/<site>/` beside the output directory (git-ignored): one
 * file per secret, generated on the first synth that needs it (mode 0600 in a 0700 folder) and
 * reused from then on. Nothing here is ever written into the output tree; what the Terraform
 * resources get is a keyed fingerprint, so rotating a secret redeploys the hosts that hold it
 * while neither state nor plan reveals anything about the value.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FINGERPRINT_KEY } from "../common/contracts/marker.js";
import type { SecretSpec } from "../constructs/core/index.js";

export { secretsFingerprint } from "../common/contracts/marker.js";
const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Where a site's secrets live for an output directory: `<out>/../secrets/<site>`. */
export function secretsDirFor(outdir: string, site: string): string {
  return join(outdir, "..", "secrets", site);
}

/** Creates every missing secret; returns the names it created. Existing secrets are never touched. */
export function ensureSecrets(dir: string, specs: readonly SecretSpec[]): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const created: string[] = [];
  const write = (name: string, value: Buffer | string) => {
    writeFileSync(join(dir, name), value, { mode: 0o600 });
    created.push(name);
  };
  if (!existsSync(join(dir, FINGERPRINT_KEY))) writeFileSync(join(dir, FINGERPRINT_KEY), randomBytes(32), { mode: 0o600 });
  const tlsPairs = new Map<string, { commonName: string; days: number; key?: string; cert?: string }>();
  for (const spec of specs) {
    const g = spec.generate;
    if ("selfSignedTls" in g) {
      const id = `${g.selfSignedTls.commonName}\u0000${g.selfSignedTls.days}`;
      const pair = tlsPairs.get(id) ?? { commonName: g.selfSignedTls.commonName, days: g.selfSignedTls.days };
      pair[g.selfSignedTls.part] = spec.name;
      tlsPairs.set(id, pair);
      continue;
    }
    if (existsSync(join(dir, spec.name))) continue;
    if ("randomBytes" in g) write(spec.name, randomBytes(g.randomBytes));
    else write(spec.name, Array.from({ length: g.password }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join(""));
  }
  for (const pair of tlsPairs.values()) {
    const has = (name?: string) => name === undefined || existsSync(join(dir, name));
    if (has(pair.key) && has(pair.cert)) continue;
    // A key and its certificate come from one generation; a lone missing certificate is made
    // from the existing key, so the pair still matches.
    const existingKey = pair.key && has(pair.key) ? readFileSync(join(dir, pair.key)) : undefined;
    const { key, cert } = selfSigned(pair.commonName, pair.days, existingKey);
    if (pair.key && !existingKey) write(pair.key, key);
    if (pair.cert) write(pair.cert, cert);
  }
  return created;
}

/** A self-signed certificate (openssl), from an existing key or a new EC P-256 key. */
function selfSigned(commonName: string, days: number, existingKey?: Buffer): { key: Buffer; cert: Buffer } {
  const work = mkdtempSync(join(tmpdir(), "hpcdk-tls-"));
  try {
    const keyFile = join(work, "key.pem");
    if (existingKey) writeFileSync(keyFile, existingKey, { mode: 0o600 });
    else execFileSync("openssl", ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile], { stdio: "pipe" });
    execFileSync(
      "openssl",
      ["req", "-x509", "-new", "-key", keyFile, "-out", join(work, "cert.pem"), "-days", String(days), "-subj", `/CN=${commonName}`, "-addext", `subjectAltName=DNS:${commonName}`],
      { stdio: "pipe" },
    );
    return { key: readFileSync(keyFile), cert: readFileSync(join(work, "cert.pem")) };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Names of the specs whose file is missing. */
export function missingSecrets(dir: string, names: readonly string[]): string[] {
  return names.filter((n) => !existsSync(join(dir, n)));
}
