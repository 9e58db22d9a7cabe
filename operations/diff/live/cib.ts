/**
 * The live CIB against the synthesized one: read from the first management node whose partition
 * has quorum and a DC, compared by `crm_diff` with the cluster's own properties and hpcdk's
 * record left out (the rules of operations/pacemaker/cib-record.ts), shown as a unified diff,
 * and planned by crm_simulate on the live status: what the deploy would do to the cluster.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { convert } from "xmlbuilder2";
import { CIB_PATH } from "../../../common/contracts/bundle.js";
import { HpcdkError } from "../../../common/errors.js";
import { cibRecord, configurationDigest, configurationText, mergeCib, siteConfiguration, withConfiguration } from "../../pacemaker/cib-record.js";
import { clusterStatus, queryCib } from "../../pacemaker/live-cluster.js";
import type { SshSession } from "../../remote/ssh.js";
import { liveCibTransition } from "../../simulate/index.js";
import { transitionImpact, unifiedHunks, type BundleDiff, type FileDiff, type PacemakerDiff } from "../compare.js";
import type { LiveCib } from "../report.js";
import { DiffInputError } from "../tree.js";
import { hostError } from "./fetch.js";

const runFile = promisify(execFile);

export interface CibComparison {
  readonly record: NonNullable<LiveCib["record"]>;
  /** crm_diff's patch (XML), "" when the configurations are the same. */
  readonly crmDiff: string;
  /** The file diff of `/cib.xml`, null when the same. */
  readonly file: FileDiff | null;
  readonly pacemaker: PacemakerDiff | null;
}

/** The same XML printed the same way, whoever wrote it, for a readable unified diff (xmlbuilder2 writes it). */
function prettyXml(xml: string): string {
  return `${convert(xml.replace(/>\s+</g, "><"), { format: "xml", prettyPrint: true, headless: true } as never) as unknown as string}\n`;
}

async function crmDiff(dir: string, original: string, next: string): Promise<string> {
  writeFileSync(join(dir, "original.xml"), original);
  writeFileSync(join(dir, "new.xml"), next);
  try {
    await runFile("crm_diff", ["--no-version", "--original", join(dir, "original.xml"), "--new", join(dir, "new.xml")], { maxBuffer: 64 * 1024 * 1024 });
    return "";
  } catch (err) {
    const e = err as Omit<NodeJS.ErrnoException, "code"> & { code?: number | string; stdout?: string; stderr?: string };
    if (e.code === 1 && e.stdout) return e.stdout;
    if (e.code === "ENOENT") throw new DiffInputError("crm_diff is not installed: apt-get install pacemaker-cli-utils (Debian) or dnf install pacemaker-cli (RHEL)");
    throw new DiffInputError(`crm_diff failed: ${e.stderr?.trim() || e.message}`);
  }
}

/**
 * Compares a live CIB with the synthesized one: crm_diff decides whether the configurations
 * differ (the properties the cluster keeps itself and hpcdk's record left out), a unified diff
 * shows how, and crm_simulate plans what Pacemaker does on the live status when the deploy
 * pushes the site's configuration.
 */
export async function compareCib(liveXml: string, synthesizedXml: string, context: number): Promise<CibComparison> {
  const recorded = cibRecord(liveXml);
  const record: CibComparison["record"] = !recorded.digest ? "never applied" : recorded.digest === configurationDigest(liveXml) ? "as applied" : "changed since applied";
  const liveConfig = siteConfiguration(liveXml);
  const siteConfig = configurationText(synthesizedXml);
  const dir = mkdtempSync(join(tmpdir(), "hpcdk-live-cib-"));
  let patch: string;
  try {
    patch = await crmDiff(dir, withConfiguration(liveXml, liveConfig), withConfiguration(liveXml, siteConfig));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (patch === "") return { record, crmDiff: "", file: null, pacemaker: null };
  const transition = await liveCibTransition(liveXml, mergeCib(liveXml, synthesizedXml));
  const pacemaker = { transition, impact: transitionImpact(transition) };
  const notes = [
    record === "changed since applied"
      ? "changed on the cluster since hpcdk applied it, by hand or by another tool: hpcdk deploy replaces it only with --force"
      : record === "as applied"
        ? "the cluster holds what hpcdk applied last: the site changed since"
        : "hpcdk has not applied a CIB to this cluster",
  ];
  const hunks = unifiedHunks(prettyXml(liveConfig), prettyXml(siteConfig), context);
  if (hunks === undefined) notes.push("too many changes to show a diff");
  return {
    record,
    crmDiff: patch,
    file: { path: CIB_PATH, status: "changed", ...(hunks ? { patch: hunks } : {}), notes, handlers: [], impact: pacemaker.impact },
    pacemaker,
  };
}

/**
 * The live CIB from the first management node (in node id order) whose partition has quorum and
 * a DC, over the sessions already open; `errorText` says what an error of a host was.
 */
export async function readLiveCib(
  managementNodes: readonly string[],
  sessions: ReadonlyMap<string, SshSession>,
  errorText: (host: string, err: unknown) => string,
): Promise<{ host: string; xml: string } | { error: string }> {
  const problems: string[] = [];
  for (const host of managementNodes) {
    const s = sessions.get(host);
    if (!s) {
      problems.push(`${host}: unreachable`);
      continue;
    }
    try {
      const status = await clusterStatus(s);
      if ("problem" in status) problems.push(`${host}: ${status.problem}`);
      else if (!status.quorate) problems.push(`${host}: its partition has no DC with quorum`);
      else return { host, xml: await queryCib(s) };
    } catch (err) {
      problems.push(`${host}: ${errorText(host, err)}`);
    }
  }
  return { error: `no management node gives a CIB with quorum (${problems.join("; ")})` };
}

/**
 * The live CIB's drift: read from the first quorate management node among the open sessions and
 * compared with the synthesized CIB. A CIB a node answers that cannot be read is that node's
 * error: the CIB is then reported as not checked.
 */
export async function cibDrift(
  managementNodes: readonly string[],
  sessions: ReadonlyMap<string, SshSession>,
  synthesizedCib: string,
  context: number,
): Promise<{ cib: LiveCib; pacemaker: PacemakerDiff | null; bundle?: BundleDiff }> {
  const live = await readLiveCib(managementNodes, sessions, hostError);
  if ("error" in live) return { cib: { status: "unreachable", error: live.error }, pacemaker: null };
  let c: CibComparison;
  try {
    c = await compareCib(live.xml, synthesizedCib, context);
  } catch (err) {
    if (err instanceof HpcdkError && !(err instanceof DiffInputError)) {
      return { cib: { status: "unreachable", error: `${live.host}: its CIB cannot be read: ${err.message}` }, pacemaker: null };
    }
    throw err;
  }
  const cib: LiveCib = { status: "checked", host: live.host, record: c.record, crmDiff: c.crmDiff };
  if (!c.file) return { cib, pacemaker: null };
  return { cib, pacemaker: c.pacemaker, bundle: { kind: "cluster", name: "cluster", dir: "cluster", status: "changed", files: [c.file], secrets: [], packages: [], steps: [] } };
}
