/**
 * The rules by which hpcdk owns a live CIB's configuration, shared by the deploy's CIB step and
 * `hpcdk diff --live`:
 *
 * - the properties the cluster writes into `crm_config` itself (`dc-version`, …) are the
 *   cluster's: the deploy keeps them as the cluster has them, and a comparison leaves them out;
 * - hpcdk's own record (the property set `hpcdk-deploy`, replicated to every node by the
 *   cluster) says what the last deploy applied (`hpcdk-applied`, the bundle's marker) and the
 *   digest of the configuration it left (`hpcdk-config-digest`): a configuration whose digest
 *   differs was changed by hand since;
 * - the CIB the deploy moves to is the live CIB (its version and status) with the site's
 *   configuration, the cluster's properties and hpcdk's record.
 *
 * Every CIB is read with the one XML reader; elements are cut out of and put into the text as
 * they stand, so what Pacemaker wrote is kept byte for byte.
 */
import { createHash } from "node:crypto";
import { readXml, type XmlElement } from "../xml.js";
import { CibError, configurationOf } from "./cib.js";

/** Properties the cluster writes into crm_config itself; hpcdk keeps them as the cluster has them. */
export const CLUSTER_MANAGED_PROPERTIES: readonly string[] = ["dc-version", "cluster-infrastructure", "cluster-name", "have-watchdog", "last-lrm-refresh"];

/** hpcdk's own property set in crm_config, and its two properties. */
export const DEPLOY_RECORD = { set: "hpcdk-deploy", applied: "hpcdk-applied", digest: "hpcdk-config-digest" } as const;

/** The property set every CIB hpcdk writes has, where the cluster's own properties go. */
const BOOTSTRAP_SET = "cib-bootstrap-options";

/** What hpcdk recorded in a live CIB. */
export interface CibRecord {
  /** The marker of the cluster bundle the last complete deploy applied. */
  readonly applied?: string;
  /** The digest of the configuration that deploy left. */
  readonly digest?: string;
}

interface Span {
  readonly start: number;
  readonly end: number;
}

/** The elements of a configuration that are not the site's: the cluster's properties and hpcdk's record. */
function notTheSites(config: XmlElement): { managed: XmlElement[]; record?: XmlElement } {
  const crmConfig = config.child("crm_config");
  const sets = (crmConfig?.children ?? []).filter((c) => c.tagName === "cluster_property_set");
  const managed = sets.flatMap((set) => set.children.filter((p) => p.tagName === "nvpair" && CLUSTER_MANAGED_PROPERTIES.includes(p.getAttribute("name") ?? "")));
  const record = sets.find((set) => set.getAttribute("id") === DEPLOY_RECORD.set);
  return { managed, ...(record ? { record } : {}) };
}

/** The text of `config` (an element of `xml`) without the spans, each with the whitespace before it. */
function cut(xml: string, config: XmlElement, spans: readonly Span[]): string {
  let text = "";
  let at = config.start;
  for (const s of [...spans].sort((a, b) => a.start - b.start)) {
    let from = s.start;
    while (from > at && /\s/.test(xml[from - 1]!)) from--;
    text += xml.slice(at, from);
    at = s.end;
  }
  return text + xml.slice(at, config.end);
}

/** The configuration section of a CIB as written, `<configuration>` to `</configuration>`. */
export function configurationText(cibXml: string): string {
  return configurationOf(readXml(cibXml)).outerXml;
}

/** The same CIB with another configuration section (the text of a whole `<configuration>` element). */
export function withConfiguration(cibXml: string, configuration: string): string {
  const config = configurationOf(readXml(cibXml));
  return cibXml.slice(0, config.start) + configuration + cibXml.slice(config.end);
}

/** A CIB's configuration section as the site would write it: without what the cluster and hpcdk keep there. */
export function siteConfiguration(cibXml: string): string {
  const config = configurationOf(readXml(cibXml));
  const { managed, record } = notTheSites(config);
  return cut(cibXml, config, [...managed, ...(record ? [record] : [])]);
}

/** sha256 of a CIB's configuration without the properties the cluster manages and hpcdk's record. */
export function configurationDigest(cibXml: string): string {
  const config = siteConfiguration(cibXml).replace(/>\s+</g, "><").trim();
  return createHash("sha256").update(config).digest("hex");
}

/** hpcdk's record in a live CIB. */
export function cibRecord(cibXml: string): CibRecord {
  const { record } = notTheSites(configurationOf(readXml(cibXml)));
  const value = (name: string) => record?.children.find((p) => p.tagName === "nvpair" && p.getAttribute("name") === name)?.getAttribute("value") ?? undefined;
  const applied = value(DEPLOY_RECORD.applied);
  const digest = value(DEPLOY_RECORD.digest);
  return { ...(applied !== undefined ? { applied } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `text` inserted into `el` (of `xml`) as its first or last content; a self-closed element is opened. */
function insertInto(xml: string, el: XmlElement, text: string, where: "first" | "last"): { at: number; end: number; text: string } {
  if (el.selfClosing) {
    const open = xml.slice(el.start, el.end).replace(/\s*\/>$/, ">");
    return { at: el.start, end: el.end, text: `${open}${text}</${el.tagName}>` };
  }
  const at = where === "first" ? el.startTagEnd : xml.lastIndexOf("</", el.end - 1);
  return { at, end: at, text };
}

/**
 * The CIB to move to: the live CIB (its version and status) with the synthesized configuration,
 * keeping the properties the cluster manages itself (into the synthesized bootstrap property
 * set) and hpcdk's record (last in crm_config).
 */
export function mergeCib(liveXml: string, synthesizedXml: string): string {
  const live = configurationOf(readXml(liveXml));
  const { managed, record } = notTheSites(live);
  const synthesized = configurationOf(readXml(synthesizedXml));
  const crmConfig = synthesized.child("crm_config");
  const bootstrap = crmConfig?.child("cluster_property_set", BOOTSTRAP_SET);
  if (!crmConfig || !bootstrap) throw new CibError(`the synthesized CIB has no crm_config with the property set ${BOOTSTRAP_SET}`);
  const edits = [
    ...(managed.length > 0 ? [insertInto(synthesizedXml, bootstrap, managed.map((p) => p.outerXml).join(""), "first")] : []),
    ...(record ? [insertInto(synthesizedXml, crmConfig, record.outerXml, "last")] : []),
  ];
  // From the end, so the offsets of the edits still to make stay right.
  let text = synthesizedXml.slice(0, synthesized.end);
  for (const e of edits.sort((a, b) => b.at - a.at)) text = text.slice(0, e.at) + e.text + text.slice(e.end);
  return liveXml.slice(0, live.start) + text.slice(synthesized.start) + liveXml.slice(live.end);
}
