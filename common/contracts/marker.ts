/**
 * The marker of a bundle: what a host records once it holds the bundle (`<manifest sha256>:
 * <secrets fingerprint>`), what the bundle's Terraform resource is triggered by, and what
 * `hpcdk deploy`, `hpcdk diff --live` and the Ansible inventory compare with what the hosts say.
 *
 * The fingerprint is a keyed hash (HMAC-SHA256 under the site's own random key, kept in the
 * secrets folder) of the secrets the bundle uses: rotating a secret changes the marker, so the
 * hosts that hold it are deployed again, while neither Terraform's state nor a host's marker
 * reveals anything about the values. The ground floor: it imports nothing of hpcdk but the
 * other contracts.
 */
import { createHash, createHmac } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { BundleManifest } from "./bundle.js";

/** The key of the fingerprints, in the site's secrets folder: random, never leaves it. */
export const FINGERPRINT_KEY = ".fingerprint-key";

/** A marker exactly as hpcdk writes it: 64 hex digits, a colon, 64 hex digits or `none`. */
export const MARKER = /^[0-9a-f]{64}:(?:[0-9a-f]{64}|none)$/;

/** sha256 of a manifest: over its compact JSON (the file on disk is the same JSON, indented). */
export function manifestSha256(manifest: BundleManifest): string {
  return createHash("sha256").update(JSON.stringify(manifest)).digest("hex");
}

/**
 * A keyed fingerprint of some secrets of the folder `dir`: HMAC-SHA256 under its fingerprint key.
 * Changes when any of them changes; reveals nothing about the values without the key.
 */
export function secretsFingerprint(dir: string, names: readonly string[]): string {
  if (names.length === 0) return "none";
  const mac = createHmac("sha256", readFileSync(join(dir, FINGERPRINT_KEY)));
  for (const name of [...names].sort()) mac.update(`${name}\u0000`).update(readFileSync(join(dir, name))).update("\u0000");
  return mac.digest("hex");
}

/** The marker of a bundle whose manifest has this sha256 and whose secrets this fingerprint. */
export function bundleMarker(manifestSha: string, fingerprint: string): string {
  return `${manifestSha}:${fingerprint}`;
}

/** The marker of a synthesized bundle, from its manifest and the site's secrets folder. */
export function markerOfManifest(manifest: BundleManifest, secretsDir: string): string {
  return bundleMarker(manifestSha256(manifest), secretsFingerprint(secretsDir, manifest.secrets.map((s) => s.name)));
}
