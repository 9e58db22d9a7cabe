/**
 * Puts synthesized bundles on their hosts over SSH. `applyBundle` is what each Terraform
 * resource runs (`hpcdk apply-bundle`): it checks everything it needs before sending anything,
 * uploads the bundle with only the secrets it needs into a private staging directory, runs the
 * bundle's apply script, reads strictly what the script says it did, and always removes the
 * staging directory (and the secrets) again. The cluster bundle is applied from one management
 * node as a CIB patch (./cib-step.ts).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { shQuote } from "../../common/shell.js";
import { expandHostlist } from "../../common/hostlist.js";
import { AnswerError } from "../remote/answer.js";
import { fanOut } from "../remote/fanout.js";
import { readInventory } from "../remote/inventory.js";
import { sessionFor, type SharedSession } from "../remote/shared.js";
import { lastLines, type SshSession } from "../remote/ssh.js";
import { parseApplyOutput, type ApplyOutput } from "./apply-output.js";
import { packBundle, preflightBundle } from "./bundle.js";
import { applyCib } from "./cib-step.js";
import { hostError, STAGING, type BundleResult, type HostResult } from "./result.js";

export interface ApplyOptions {
  /** The stack directory (`cdktf.out/stacks/<site>`). */
  readonly stackDir: string;
  /** `hosts/<host>`, `groups/<group>` or `cluster`. */
  readonly bundle: string;
  /** Overrides of the site's SSH settings (a lab's inventory). @default $HPCDK_INVENTORY, if set */
  readonly override?: InventoryOverride;
  /** Apply the CIB even if someone changed the live one by hand since hpcdk last applied it. @default false */
  readonly force?: boolean;
  /** What the hosts record once they hold the bundle (`<sha256>:<secrets fingerprint>`). @default none */
  readonly expect?: string;
  /** Progress lines. @default none */
  readonly log?: (line: string) => void;
  /**
   * Handlers the apply script holds back (`--hold`): the rollout does their work once every node
   * has its files (templates/core/apply.sh.hbs). @default none
   */
  readonly holdHandlers?: readonly string[];
  /** The rollout did the held handlers' work: the script drops them and writes the marker (`--held-ran`). @default false */
  readonly heldRan?: boolean;
}

/** Applies one bundle to its hosts; never throws for a host's failure, only for preflight problems. */
export async function applyBundle(options: ApplyOptions): Promise<BundleResult> {
  const inventory = readInventory(options.stackDir, options.override);
  const { manifest, secretsDir } = preflightBundle(options.stackDir, options.bundle, inventory);
  const log = options.log ?? (() => {});
  let result: BundleResult;
  if (manifest.kind === "cluster") {
    result = { bundle: options.bundle, ...(await applyCib(options.stackDir, manifest, inventory, options.force ?? false, options.expect, log)) };
  } else {
    const hosts = manifest.kind === "host" ? [manifest.name] : expandHostlist(manifest.hosts ?? "");
    const limit = manifest.kind === "group" ? inventory.groupConcurrency : 1;
    const archiveFile = await packBundle(options.stackDir, manifest, secretsDir);
    let archive: Buffer;
    try {
      archive = readFileSync(archiveFile);
    } finally {
      rmSync(archiveFile, { force: true });
    }
    // A line per host for a few hosts; for a large group, a progress line every 2 s and the
    // failures by error at the end (cli/commands/deploy.ts).
    const perHost = hosts.length <= PER_HOST_LINES ? log : () => {};
    const run = await fanOut(
      hosts,
      { concurrency: limit, maxFailPercent: manifest.kind === "group" ? inventory.maxFailPercent : 100, what: `applying ${options.bundle}`, ...(hosts.length > PER_HOST_LINES ? { progress: log } : {}) },
      (host) => applyOnHost(inventory, host, manifest, archive, options.expect, perHost, applyArguments(options)),
    );
    result = {
      bundle: options.bundle,
      ok: run.results.every((r) => r.ok) && run.skipped.length === 0,
      hosts: run.results,
      ...(run.skipped.length > 0 ? { skipped: run.skipped, stopped: run.stopped } : {}),
    };
  }
  const resultsDir = join(options.stackDir, ".hpcdk", "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${options.bundle.replace(/\//g, "-")}.json`), JSON.stringify(result, null, 2) + "\n");
  return result;
}

/** The apply script's arguments after the marker: ` --hold 'H'`… and ` --held-ran`. */
function applyArguments(options: ApplyOptions): string {
  return (options.holdHandlers ?? []).map((h) => ` --hold ${shQuote(h)}`).join("") + (options.heldRan ? " --held-ran" : "");
}

/** Up to this many hosts, a bundle's apply prints a line per host; above, progress lines and a summary by error. */
export const PER_HOST_LINES = 16;

/** The exit code of the per-host command when the upload could not be unpacked (apply.sh never uses it). */
const UPLOAD_FAILED = 97;

const NOTHING: ApplyOutput = { changed: [], unchanged: 0, handlers: [], held: [], released: [], steps: [], packages: [], restored: [], warnings: [], done: false };

async function applyOnHost(
  inventory: Inventory,
  host: string,
  manifest: BundleManifest,
  archive: Buffer,
  expect: string | undefined,
  log: (line: string) => void,
  extraArgs: string,
): Promise<HostResult> {
  const t0 = performance.now();
  let said = NOTHING;
  const finish = (ok: boolean, error?: string): HostResult => {
    const { changed, unchanged, handlers, held, steps, packages, restored } = said;
    log(
      `[${host}] ${ok ? "converged" : "FAILED"}: ${changed.length} changed, ${unchanged} unchanged` +
        (handlers.length ? `; handlers: ${handlers.join(", ")}` : "") +
        (held.length ? `; held for the rollout: ${held.join(", ")}` : "") +
        (error ? `; ${error}` : ""),
    );
    return { host, ok, changed, unchanged, handlers, ...(held.length ? { held } : {}), steps, packages, restored, ...(error ? { error } : {}), ms: Math.round(performance.now() - t0) };
  };
  let session: SshSession | SharedSession | undefined;
  try {
    // The deploy's connection to the host when it lends them (it read the host's marker on it), else a new one.
    session = await sessionFor(inventory, host);
    const stage = shQuote(`${STAGING}/${manifest.kind}-${manifest.name}`);
    // One command per host (one round trip): unpack the upload into the private staging
    // directory, run apply.sh, and remove the directory (it holds secrets) however the command
    // ends, a lost connection (SIGHUP) included. An unpack that fails exits UPLOAD_FAILED.
    const r = await session.exec(
      session.asRoot(
        `umask 077; S=${stage}; trap 'rm -rf "$S"' EXIT; trap 'exit 129' HUP; trap 'exit 143' TERM; ` +
          `{ rm -rf "$S" && mkdir -p "$S" && tar -x --no-same-owner -f - -C "$S"; } || exit ${UPLOAD_FAILED}; ` +
          `sh "$S/apply.sh" ${shQuote(expect ?? "")}${extraArgs}`,
      ),
      { stdin: archive, maxOutputBytes: 4 * 1024 * 1024 },
    );
    if (r.code === UPLOAD_FAILED && r.stdout === "") return finish(false, `cannot unpack the bundle into ${STAGING}: ${lastLines(r, 3)}`);
    log(`[${host}] sent ${manifest.files.length} files, ${manifest.secrets.length} secrets`);
    try {
      said = parseApplyOutput(r.stdout, manifest);
    } catch (err) {
      if (!(err instanceof AnswerError)) throw err;
      return finish(false, `${err.message} (apply.sh exited ${r.code})`);
    }
    if (r.code !== 0) return finish(false, said.error ?? `apply.sh exited ${r.code}: ${lastLines(r, 3)}`);
    if (!said.done) return finish(false, `apply.sh exited 0 without saying it was done: ${lastLines(r, 3) || "no output"}`);
    if (said.error !== undefined) return finish(false, `apply.sh exited 0 after an error: ${said.error}`);
    return finish(true);
  } catch (err) {
    return finish(false, hostError(err, host));
  } finally {
    session?.close();
  }
}
