import type { ImpactKind } from "../../common/contracts/impact.js";
import { errorReport, HpcdkError } from "../../common/errors.js";
import { SiteError } from "../../schema/load.js";
import { SynthError, synthesizeSite } from "../../stacks/synth.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { DIFF_EXIT, diffExitCode, diffSite, FAIL_ON_KINDS, DiffInputError } from "../../operations/diff/index.js";
import { formatJson, formatMarkdown, formatText, type DiffFormat } from "../../operations/diff/format.js";
import { siteFileOf } from "./simulate.js";

export interface DiffCommandOptions {
  base?: string;
  baseCode?: string;
  against?: string;
  format?: string;
  failOn?: string;
  secrets?: string;
  oldSecrets?: string;
  context?: string;
  color?: boolean;
  live?: boolean;
  inventory?: string;
  liveHosts?: string;
}

/**
 * `hpcdk diff <site>`: exit 0 when nothing changes, 1 when something does (with --fail-on KIND:
 * only when a change's impact is KIND or worse), 2 on any error (an invalid site included: a
 * review must not read "no changes" from a broken site).
 */
export async function diffCommand(site: string, opts: DiffCommandOptions): Promise<number> {
  try {
    const format = (opts.format ?? "text") as DiffFormat;
    if (!["text", "markdown", "json"].includes(format)) throw new DiffInputError(`--format must be text, markdown or json, got "${opts.format}"`);
    if (opts.failOn !== undefined && !(FAIL_ON_KINDS as readonly string[]).includes(opts.failOn)) {
      throw new DiffInputError(`--fail-on must be one of ${FAIL_ON_KINDS.join(", ")}, got "${opts.failOn}"`);
    }
    if (opts.base !== undefined && opts.against !== undefined) throw new DiffInputError("give --base or --against, not both");
    if (opts.live && (opts.base !== undefined || opts.against !== undefined)) throw new DiffInputError("--live compares with the hosts: give it without --base or --against");
    if (!opts.live && opts.inventory !== undefined) throw new DiffInputError("--inventory needs --live");
    if (!opts.live && opts.liveHosts !== undefined) throw new DiffInputError("--live-hosts needs --live");
    if (opts.live && opts.oldSecrets !== undefined) throw new DiffInputError("--old-secrets does not go with --live: the hosts hold the deployed secrets");
    if (opts.baseCode !== undefined && !["base", "current"].includes(opts.baseCode)) {
      throw new DiffInputError(`--base-code must be base or current, got "${opts.baseCode}"`);
    }
    const context = opts.context === undefined ? 3 : Number(opts.context);
    if (!Number.isInteger(context) || context < 0) throw new DiffInputError(`--context must be a whole number, got "${opts.context}"`);
    // --live loads SSH (and the deploy's inventory) only when it is asked for.
    const report = opts.live
      ? await (await import("../../operations/diff/live.js")).diffLive({
          siteFile: siteFileOf(site),
          synthesize: synthesizeSite,
          ...(opts.inventory !== undefined ? { inventory: await readInventoryFile(opts.inventory) } : {}),
          ...(opts.liveHosts !== undefined ? { hosts: opts.liveHosts } : {}),
          ...(opts.secrets !== undefined ? { secrets: opts.secrets } : {}),
          context,
        })
      : await diffSite({
          siteFile: siteFileOf(site),
          synthesize: synthesizeSite,
          ...(opts.base !== undefined ? { base: opts.base } : {}),
          ...(opts.baseCode !== undefined ? { baseCode: opts.baseCode as "base" | "current" } : {}),
          ...(opts.against !== undefined ? { against: opts.against } : {}),
          ...(opts.secrets !== undefined ? { secrets: opts.secrets } : {}),
          ...(opts.oldSecrets !== undefined ? { oldSecrets: opts.oldSecrets } : {}),
          context,
        });
    const color = opts.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
    process.stdout.write(format === "json" ? formatJson(report) : format === "markdown" ? formatMarkdown(report) : formatText(report, { color }));
    return diffExitCode(report, opts.failOn as ImpactKind | undefined);
  } catch (err) {
    if (err instanceof SiteError || err instanceof SynthError) {
      const n = err.problems.length;
      process.stderr.write(`hpcdk: the site is invalid (${n} problem${n === 1 ? "" : "s"}):\n${err.problems.map((p) => `  ${p}\n`).join("")}`);
    } else if (err instanceof HpcdkError) {
      process.stderr.write(errorReport(err));
    } else {
      process.stderr.write(`hpcdk: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    }
    return DIFF_EXIT.error;
  }
}

async function readInventoryFile(file: string): Promise<InventoryOverride> {
  const { readOverride } = await import("../../operations/remote/inventory.js");
  try {
    return readOverride(file);
  } catch (err) {
    throw new DiffInputError(`--inventory ${file}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}
