/**
 * Pacemaker's own tools run on this machine: `crm_simulate` (the scheduler, on a CIB file) and
 * `crm_mon` (on a CIB file, through CIB_file), each bounded in what it may print and
 * cancellable.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { HpcdkError } from "../../common/errors.js";
import { placementOfCrmMon, type Placement } from "./crm-mon.js";

const run = promisify(execFile);

/** What the tools may print (a large site's graph is a few MB). */
const MAX_BUFFER = 64 * 1024 * 1024;

const INSTALL = "apt-get install pacemaker-cli-utils (Debian) or dnf install pacemaker-cli (RHEL)";

/** A Pacemaker tool is missing or failed. */
export class PacemakerToolError extends HpcdkError {}

/** Runs `crm_simulate -Q` with these arguments. */
export async function crmSimulate(args: readonly string[], signal?: AbortSignal): Promise<void> {
  try {
    await run("crm_simulate", ["-Q", ...args], { maxBuffer: MAX_BUFFER, ...(signal ? { signal } : {}) });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new PacemakerToolError(`crm_simulate is not installed: ${INSTALL}`);
    throw new PacemakerToolError(`crm_simulate ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
  }
}

let graphCount = 0;

/** The transition graph Pacemaker plans for a CIB file after the given modifications (`--node-fail N`), as XML. */
export async function planGraph(dir: string, cibFile: string, modifications: readonly string[], signal?: AbortSignal): Promise<string> {
  const graph = join(dir, `graph-${graphCount++}.xml`);
  await crmSimulate(["-x", cibFile, ...modifications, "-G", graph], signal);
  return readFileSync(graph, "utf8");
}

/** Where every resource runs in a CIB file, as crm_mon sees it. */
export async function placementOf(cibFile: string, signal?: AbortSignal): Promise<Placement> {
  let stdout: string;
  try {
    ({ stdout } = await run("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: cibFile }, maxBuffer: MAX_BUFFER, ...(signal ? { signal } : {}) }));
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new PacemakerToolError(`crm_mon is not installed: ${INSTALL}`);
    throw new PacemakerToolError(`crm_mon on ${cibFile} failed: ${e.stderr?.trim() || e.message}`);
  }
  return placementOfCrmMon(stdout);
}
