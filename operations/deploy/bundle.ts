/**
 * A synthesized bundle as the deploy finds it in the stack directory: its manifest, every file as
 * the manifest has it, its apply script and its secrets, all checked before anything is sent;
 * then the one archive a host receives.
 */
import { createHash } from "node:crypto";
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { create as tarCreate } from "tar";
import { applyScriptPath, manifestPath, parseBundleRef, type BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import { sshSettingProblems } from "../remote/connect.js";
import { PreflightError } from "../remote/inventory.js";

/** The manifest of `hosts/<host>`, `groups/<group>` or `cluster`, relative to the stack directory. */
export function manifestPathOf(bundle: string): string {
  const ref = parseBundleRef(bundle);
  if (!ref) throw new PreflightError([`bundle must be hosts/<host>, groups/<group> or cluster, got "${bundle}"`]);
  return manifestPath(ref);
}

/** Everything a bundle needs, checked before anything is sent. */
export function preflightBundle(stackDir: string, bundle: string, inventory: Inventory): { manifest: BundleManifest; secretsDir: string } {
  const secretsDir = resolve(stackDir, inventory.secretsDir);
  const { manifest, problems } = checkBundle(stackDir, bundle, secretsDir);
  problems.push(...sshSettingProblems(inventory));
  if (problems.length > 0) throw new PreflightError(problems);
  return { manifest, secretsDir };
}

/**
 * The bundle itself: its manifest, every file as the manifest has it, its apply script and its
 * secrets. Returns the problems found (throws only when there is no manifest at all).
 */
export function checkBundle(stackDir: string, bundle: string, secretsDir: string): { manifest: BundleManifest; problems: string[] } {
  const problems: string[] = [];
  const manifestFile = join(stackDir, manifestPathOf(bundle));
  if (!existsSync(manifestFile)) throw new PreflightError([`${bundle}: no manifest ${manifestFile}: run hpcdk synth first`]);
  const manifest = JSON.parse(readFileSync(manifestFile, "utf8")) as BundleManifest;
  for (const f of manifest.files) {
    const local = join(stackDir, manifest.dir, f.path);
    if (!existsSync(local)) problems.push(`${bundle}: ${f.path} is missing from the bundle (${local})`);
    else if (createHash("sha256").update(readFileSync(local)).digest("hex") !== f.sha256) {
      problems.push(`${bundle}: ${f.path} does not match its manifest: the bundle was edited after synth; run hpcdk synth again`);
    }
  }
  if (manifest.kind !== "cluster" && !existsSync(join(stackDir, applyScriptPath(manifest)))) {
    problems.push(`${bundle}: the apply script ${applyScriptPath(manifest)} is missing: run hpcdk synth again`);
  }
  for (const s of manifest.secrets) {
    if (!existsSync(join(secretsDir, s.name))) problems.push(`${bundle}: secret ${s.name} is missing from ${secretsDir}`);
  }
  return { manifest, problems };
}

/** The upload: bundle files under files/, the bundle's secrets under secrets/, and apply.sh; a private tar file. */
export async function packBundle(stackDir: string, manifest: BundleManifest, secretsDir: string): Promise<string> {
  const work = mkdtempSync(join(tmpdir(), "hpcdk-bundle-"));
  chmodSync(work, 0o700);
  try {
    const root = join(work, "bundle");
    mkdirSync(join(root, "secrets"), { recursive: true });
    for (const f of manifest.files) {
      mkdirSync(dirname(join(root, "files", f.path)), { recursive: true });
      cpSync(join(stackDir, manifest.dir, f.path), join(root, "files", f.path));
    }
    for (const s of manifest.secrets) writeFileSync(join(root, "secrets", s.name), readFileSync(join(secretsDir, s.name)), { mode: 0o600 });
    cpSync(join(stackDir, applyScriptPath(manifest)), join(root, "apply.sh"));
    const archive = join(tmpdir(), `hpcdk-${manifest.kind}-${manifest.name}-${process.pid}-${Date.now()}.tar`);
    await tarCreate({ cwd: root, file: archive, portable: true }, ["."]);
    chmodSync(archive, 0o600);
    return archive;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
