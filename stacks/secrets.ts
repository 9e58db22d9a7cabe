/**
 * The site's secrets folder, `secrets/<site>/` beside the output directory (git-ignored): one
 * file per secret, generated on the first synth that needs it (mode 0600 in a 0700 folder) and
 * reused from then on. Nothing here is ever written into the output tree; what the Terraform
 * resources get is a keyed fingerprint, so rotating a secret redeploys the hosts that hold it
 * while neither state nor plan reveals anything about the value.
 */
import { execFileSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FINGERPRINT_KEY, secretsFingerprint } from "../common/contracts/marker.js";
import { HpcdkError } from "../common/errors.js";
import type { SecretSpec } from "../constructs/core/index.js";

/**
 * Where a site's secrets are kept, as the stack sees them: given to `SiteStack` when it is built,
 * so the Terraform triggers and the markers carry a keyed fingerprint of the values and never a
 * value. Synthesis asks the store to make the secrets the rendered bundles need (`ensure`) before
 * it resolves a fingerprint.
 */
export interface SecretStore {
  /** Makes every missing secret of the list (existing ones are kept); returns where each new one is, for the log. */
  ensure(specs: readonly SecretSpec[]): string[];
  /** The keyed fingerprint (HMAC) of the named secrets as the store holds them; `none` for none. */
  fingerprint(names: readonly string[]): string;
}

/**
 * The store of a tree that is built and read but never synthesized (the lab's package list, a
 * benchmark of the construct tree): asking it for a secret or a fingerprint is a bug.
 */
export const NO_SECRETS: SecretStore = {
  ensure: () => {
    throw new Error("NO_SECRETS: this construct tree has no secret store: synthesize it with stacks/synth.ts");
  },
  fingerprint: () => {
    throw new Error("NO_SECRETS: this construct tree has no secret store: synthesize it with stacks/synth.ts");
  },
};

/** The secrets folder of a site (`secrets/<site>/`, git-ignored) as a store. */
export class SecretsFolder implements SecretStore {
  constructor(
    readonly dir: string,
    private readonly log: (line: string) => void = () => {},
  ) {}

  ensure(specs: readonly SecretSpec[]): string[] {
    return ensureSecrets(this.dir, specs, this.log).map((name) => join(this.dir, name));
  }

  fingerprint(names: readonly string[]): string {
    const missing = names.length > 0 ? missingSecrets(this.dir, [FINGERPRINT_KEY, ...names]) : [];
    if (missing.length > 0) throw new Error(`SecretsFolder [${this.dir}]: ${missing.join(", ")} missing: synthesis makes the secrets (ensure) before it fingerprints them`);
    return secretsFingerprint(this.dir, names);
  }
}
const ALPHANUMERIC = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** Where a site's secrets live for an output directory: `<out>/../secrets/<site>`. */
export function secretsDirFor(outdir: string, site: string): string {
  return join(outdir, "..", "secrets", site);
}

/** The secrets folder holds something hpcdk will not use as a secret; every problem is listed. */
export class SecretsError extends HpcdkError {
  override get heading(): string {
    return "the secrets folder holds files hpcdk will not use as secrets; nothing was written";
  }
}

/**
 * Checks the secrets hpcdk is about to use: each must be a regular file (not a link, which could
 * point anywhere) owned by the user running hpcdk. A secret readable or writable by group or
 * others is tightened to 0600 (and said so through `log`); the folder itself to 0700.
 */
export function checkSecretFiles(dir: string, names: readonly string[], log: (line: string) => void = () => {}): void {
  const problems: string[] = [];
  const uid = process.getuid?.();
  const folder = lstatSync(dir);
  if (!statSync(dir).isDirectory()) problems.push(`${dir}: not a directory: the secrets folder must be one`);
  else if ((statSync(dir).mode & 0o077) !== 0) {
    log(`tightened the secrets folder ${dir} from mode ${(statSync(dir).mode & 0o777).toString(8)} to 0700`);
    chmodSync(dir, 0o700);
  }
  if (folder.isSymbolicLink()) log(`the secrets folder ${dir} is a link to ${statSync(dir).isDirectory() ? "a directory" : "something else"}: its target was checked`);
  for (const name of [FINGERPRINT_KEY, ...names]) {
    const file = join(dir, name);
    let st;
    try {
      st = lstatSync(file);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) problems.push(`${file}: a symbolic link: a secret must be a regular file in the secrets folder (a link could point anywhere)`);
    else if (!st.isFile()) problems.push(`${file}: not a regular file: remove it, and hpcdk generates the secret again`);
    else if (uid !== undefined && st.uid !== uid) problems.push(`${file}: owned by uid ${st.uid}, not by the user running hpcdk (uid ${uid}): a secret must be yours alone`);
    else if ((st.mode & 0o077) !== 0) {
      log(`tightened ${file} from mode ${(st.mode & 0o777).toString(8).padStart(4, "0")} to 0600 (a secret must be readable by its owner only)`);
      chmodSync(file, 0o600);
    }
  }
  if (problems.length > 0) throw new SecretsError(problems);
}

/**
 * Creates every missing secret; returns the names it created. Existing secrets are never
 * replaced; they are checked first (checkSecretFiles): looser modes are tightened, links and
 * files of other users refused. A new secret never follows a link planted at its name.
 */
export function ensureSecrets(dir: string, specs: readonly SecretSpec[], log: (line: string) => void = () => {}): string[] {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  checkSecretFiles(dir, specs.map((s) => s.name), log);
  const created: string[] = [];
  // "wx": fail rather than write through a link (or over a file) that appeared at the name.
  const write = (name: string, value: Buffer | string) => {
    writeFileSync(join(dir, name), value, { mode: 0o600, flag: "wx" });
    created.push(name);
  };
  if (!existsSync(join(dir, FINGERPRINT_KEY))) writeFileSync(join(dir, FINGERPRINT_KEY), randomBytes(32), { mode: 0o600, flag: "wx" });
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
