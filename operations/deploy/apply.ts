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
import { mapLimited } from "../../common/async.js";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import type { Inventory, InventoryOverride } from "../../common/contracts/inventory.js";
import { shQuote } from "../../common/shell.js";
import { expandHostlist } from "../../common/hostlist.js";
import { AnswerError } from "../remote/answer.js";
import { connect } from "../remote/connect.js";
import { readInventory } from "../remote/inventory.js";
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
    const archive = await packBundle(options.stackDir, manifest, secretsDir);
    try {
      const results = await mapLimited(hosts, limit, (host) => applyOnHost(inventory, host, manifest, archive, options.expect, log));
      result = { bundle: options.bundle, ok: results.every((r) => r.ok), hosts: results };
    } finally {
      rmSync(archive, { force: true });
    }
  }
  const resultsDir = join(options.stackDir, ".hpcdk", "results");
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, `${options.bundle.replace(/\//g, "-")}.json`), JSON.stringify(result, null, 2) + "\n");
  return result;
}

const NOTHING: ApplyOutput = { changed: [], unchanged: 0, handlers: [], steps: [], packages: [], restored: [], warnings: [], done: false };

async function applyOnHost(
  inventory: Inventory,
  host: string,
  manifest: BundleManifest,
  archive: string,
  expect: string | undefined,
  log: (line: string) => void,
): Promise<HostResult> {
  const t0 = performance.now();
  let said = NOTHING;
  const finish = (ok: boolean, error?: string): HostResult => {
    const { changed, unchanged, handlers, steps, packages, restored } = said;
    log(
      `[${host}] ${ok ? "converged" : "FAILED"}: ${changed.length} changed, ${unchanged} unchanged` +
        (handlers.length ? `; handlers: ${handlers.join(", ")}` : "") +
        (error ? `; ${error}` : ""),
    );
    return { host, ok, changed, unchanged, handlers, steps, packages, restored, ...(error ? { error } : {}), ms: Math.round(performance.now() - t0) };
  };
  let session: SshSession | undefined;
  try {
    session = await connect(inventory, host);
    const stage = `${STAGING}/${manifest.kind}-${manifest.name}`;
    await session.run(session.asRoot(`umask 077 && rm -rf ${shQuote(stage)} && mkdir -p ${shQuote(stage)} && tar -x --no-same-owner -f - -C ${shQuote(stage)}`), {
      stdin: readFileSync(archive),
    });
    log(`[${host}] sent ${manifest.files.length} files, ${manifest.secrets.length} secrets`);
    let r;
    try {
      r = await session.exec(session.asRoot(`sh ${shQuote(`${stage}/apply.sh`)}${expect ? ` ${shQuote(expect)}` : ""}`), { maxOutputBytes: 4 * 1024 * 1024 });
    } finally {
      // The staging directory holds secrets: it never outlives the run.
      await session.exec(session.asRoot(`rm -rf ${shQuote(stage)}`)).catch(() => undefined);
    }
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
