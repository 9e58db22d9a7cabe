/**
 * A small reader for the XML that Pacemaker's tools and hpcdk write: CIBs, transition graphs
 * (`crm_simulate -G`) and `crm_mon --output-as=xml`. It keeps elements and their attributes,
 * which is all the simulation reads, and drops text, comments and processing instructions.
 *
 * xmlbuilder2 builds a full DOM with namespace processing: reading the large benchmark site's
 * bring-up graph (2 MB, ~2,100 actions) took it ~170 ms of a ~1.3 s `hpcdk diff`, and the CIBs
 * another ~120 ms. This reader takes a tenth of that. An element that must be written again is
 * copied as it stands in the text ({@link XmlElement.outerXml}); building XML stays with xmlbuilder2.
 *
 * @see https://www.w3.org/TR/xml/ (well-formed documents without a DOCTYPE)
 */
import { EXIT, HpcdkError } from "../common/errors.js";

/** An element: its name, attributes in document order, child elements, and where it is in the text. */
export class XmlElement {
  /** Child elements in document order. */
  readonly children: XmlElement[] = [];
  /** Offset past the element's end tag (set when it is read). */
  end = -1;
  /** Offset past the element's start tag: where its content begins (its end, when it closes itself). */
  startTagEnd = -1;

  constructor(
    /** The name as written, prefix included (`crm_event`, `d:e`). */
    readonly tagName: string,
    /** Attributes in document order, values with their references decoded. */
    readonly attributes: readonly XmlAttribute[],
    readonly parentNode: XmlElement | null,
    /** The document's text. */
    private readonly source: string,
    /** Offset of the element's `<`. */
    readonly start: number,
  ) {}

  /** The element as written in the document, from its start tag to its end tag. */
  get outerXml(): string {
    return this.source.slice(this.start, this.end);
  }

  get firstElementChild(): XmlElement | null {
    return this.children[0] ?? null;
  }

  /** Whether the element was written as `<name .../>`. */
  get selfClosing(): boolean {
    return this.startTagEnd === this.end;
  }

  /** The first child element with this name (and this id, when given). */
  child(tagName: string, id?: string): XmlElement | undefined {
    return this.children.find((c) => c.tagName === tagName && (id === undefined || c.getAttribute("id") === id));
  }

  getAttribute(name: string): string | null {
    for (const a of this.attributes) if (a.name === name) return a.value;
    return null;
  }

  /** Descendants (not the element itself) with this name, in document order, as the DOM method. */
  getElementsByTagName(tagName: string): XmlElement[] {
    const found: XmlElement[] = [];
    const visit = (el: XmlElement) => {
      for (const child of el.children) {
        if (child.tagName === tagName) found.push(child);
        visit(child);
      }
    };
    visit(this);
    return found;
  }
}

export interface XmlAttribute {
  readonly name: string;
  readonly value: string;
}

/** The XML cannot be read: not well-formed, or a construct this reader does not take (a DOCTYPE). */
export class XmlReadError extends HpcdkError {
  constructor(message: string) {
    super(message, { exitCode: EXIT.internal });
  }
}

const NAME = String.raw`[^\s/>="'<!?]+`;
/** A start tag from `<`: name, the attributes' text, and a `/` when it closes itself. */
const START_TAG = new RegExp(String.raw`<(${NAME})((?:\s+${NAME}\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(/?)>`, "y");
const ATTRIBUTE = new RegExp(String.raw`(${NAME})\s*=\s*(?:"([^"<]*)"|'([^'<]*)')`, "g");
const END_TAG = new RegExp(String.raw`</(${NAME})\s*>`, "y");
const REFERENCE = /&(?:#x([0-9a-fA-F]+)|#([0-9]+)|([A-Za-z]+));/g;
const NAMED: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Reads a document and returns its root element. */
export function readXml(xml: string): XmlElement {
  let root: XmlElement | null = null;
  let open: XmlElement | null = null;
  let i = 0;
  for (;;) {
    const lt = xml.indexOf("<", i);
    if (lt < 0) break;
    if (open === null && root === null && xml.slice(i, lt).trim() !== "") fail(xml, i, "text before the root element");
    const next = xml.charCodeAt(lt + 1);
    if (next === 0x21 /* ! */) {
      if (xml.startsWith("<!--", lt)) i = skipPast(xml, lt + 4, "-->", "an unclosed comment");
      else if (xml.startsWith("<![CDATA[", lt) && open !== null) i = skipPast(xml, lt + 9, "]]>", "an unclosed CDATA section");
      else fail(xml, lt, xml.startsWith("<!DOCTYPE", lt) ? "a DOCTYPE (not read here)" : "markup");
    } else if (next === 0x3f /* ? */) {
      i = skipPast(xml, lt + 2, "?>", "an unclosed processing instruction");
    } else if (next === 0x2f /* / */) {
      END_TAG.lastIndex = lt;
      const m = END_TAG.exec(xml);
      if (!m) fail(xml, lt, "an end tag");
      if (open === null || m[1] !== open.tagName) fail(xml, lt, `</${m[1]}> ${open ? `where </${open.tagName}> belongs` : "without its start tag"}`);
      i = END_TAG.lastIndex;
      open.end = i;
      open = open.parentNode;
    } else {
      START_TAG.lastIndex = lt;
      const m = START_TAG.exec(xml);
      if (!m) fail(xml, lt, "a start tag");
      if (open === null && root !== null) fail(xml, lt, "a second root element");
      const el: XmlElement = new XmlElement(m[1]!, attributesOf(m[2]!, xml, lt), open, xml, lt);
      if (open) open.children.push(el);
      else root = el;
      i = START_TAG.lastIndex;
      el.startTagEnd = i;
      if (m[3] === "/") el.end = i;
      else open = el;
    }
  }
  if (open !== null) fail(xml, xml.length, `<${open.tagName}> is not closed`);
  if (root === null) fail(xml, 0, "no root element");
  return root;
}

function attributesOf(text: string, xml: string, at: number): XmlAttribute[] {
  const attributes: XmlAttribute[] = [];
  if (text === "") return attributes;
  for (const m of text.matchAll(ATTRIBUTE)) {
    const name = m[1]!;
    if (attributes.some((a) => a.name === name)) fail(xml, at, `the attribute ${name} twice`);
    const raw = m[2] ?? m[3]!;
    attributes.push({ name, value: raw.includes("&") ? decode(raw, xml, at) : raw });
  }
  return attributes;
}

function decode(raw: string, xml: string, at: number): string {
  const value = raw.replace(REFERENCE, (ref, hex: string | undefined, dec: string | undefined, name: string | undefined) => {
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    if (dec !== undefined) return String.fromCodePoint(parseInt(dec, 10));
    const char = NAMED[name!];
    if (char === undefined) fail(xml, at, `the unknown entity ${ref}`);
    return char;
  });
  // A bare "&" is not well-formed; every reference was replaced above.
  if (raw.replace(REFERENCE, "").includes("&")) fail(xml, at, "a bare & in an attribute value");
  return value;
}

function skipPast(xml: string, from: number, end: string, what: string): number {
  const at = xml.indexOf(end, from);
  if (at < 0) fail(xml, from, what);
  return at + end.length;
}

function fail(xml: string, at: number, what: string): never {
  const line = xml.slice(0, at).split("\n").length;
  throw new XmlReadError(`xml: line ${line}: ${what}`);
}
