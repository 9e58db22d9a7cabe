/**
 * The small XML reader the simulation reads CIBs, transition graphs and crm_mon's output with
 * (operations/xml.ts): it must read what xmlbuilder2's DOM read, element for element and
 * attribute for attribute, and refuse what is not well-formed.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { create } from "xmlbuilder2";
import { readXml, type XmlElement } from "../../operations/xml.js";
import { withOnlineStatus, cibNodes } from "../../operations/simulate/index.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

interface Shape {
  tag: string;
  attributes: [string, string][];
  children: Shape[];
}

/** The element tree as xmlbuilder2's DOM has it (elements only). */
function libraryShape(xml: string): Shape {
  type DomElement = { nodeType: number; tagName: string; attributes: ArrayLike<{ name: string; value: string }>; childNodes: ArrayLike<DomElement> };
  const walk = (el: DomElement): Shape => ({
    tag: el.tagName,
    attributes: Array.from(el.attributes).map((a) => [a.name, a.value]),
    children: Array.from(el.childNodes)
      .filter((n) => n.nodeType === 1)
      .map(walk),
  });
  return walk(create(xml).root().node as unknown as DomElement);
}

function shape(el: XmlElement): Shape {
  return { tag: el.tagName, attributes: el.attributes.map((a) => [a.name, a.value]), children: el.children.map(shape) };
}

describe("readXml", () => {
  const { out } = synthTo(loadExamples(["lab", "radon"]));
  const cib = readFileSync(join(out, "stacks", "lab", "cluster", "cib.xml"), "utf8");

  it("reads a synthesized CIB as xmlbuilder2 does", () => {
    expect(shape(readXml(cib))).toEqual(libraryShape(cib));
  });

  it("reads crm_simulate's transition graph and crm_mon's output as xmlbuilder2 does", () => {
    const dir = tempDir();
    const start = join(dir, "start.xml");
    writeFileSync(start, withOnlineStatus(cib, cibNodes(cib)));
    execFileSync("crm_simulate", ["-Q", "-x", start, "-G", join(dir, "graph.xml")]);
    const graph = readFileSync(join(dir, "graph.xml"), "utf8");
    expect(graph).toContain("<synapse");
    expect(shape(readXml(graph))).toEqual(libraryShape(graph));
    const mon = execFileSync("crm_mon", ["-1", "--output-as=xml"], { env: { ...process.env, CIB_file: start }, encoding: "utf8" });
    expect(shape(readXml(mon))).toEqual(libraryShape(mon));
  });

  it("decodes references, keeps whitespace in values, and skips comments, CDATA and processing instructions", () => {
    const xml = `<?xml version="1.0"?>\n<!-- generated -->\n<a x="1&#10;2\t3 &amp;&lt;&gt;&quot;&apos;&#x41;" y='say "hi"'><b/><!-- <c/> --><c><![CDATA[<d/>]]></c><?pi x?><e:f xmlns:e="urn:x" e:g="h"/>text</a>`;
    expect(shape(readXml(xml))).toEqual(libraryShape(xml));
    expect(readXml(xml).getAttribute("x")).toBe("1\n2\t3 &<>\"'A");
  });

  it("finds descendants, not the element itself, in document order, and knows each element's parent", () => {
    const root = readXml(`<n id="0"><n id="1"><n id="2"/></n><m><n id="3"/></m></n>`);
    expect(root.getElementsByTagName("n").map((n) => n.getAttribute("id"))).toEqual(["1", "2", "3"]);
    expect(root.getElementsByTagName("n").map((n) => n.parentNode?.getAttribute("id") ?? n.parentNode?.tagName)).toEqual(["0", "1", "m"]);
    expect(root.firstElementChild?.getAttribute("id")).toBe("1");
    expect(root.getAttribute("missing")).toBeNull();
  });

  it("gives an element as written in the document", () => {
    const xml = `<cib><resources>\n  <primitive id="f" class="stonith"><op  name='monitor'/></primitive><primitive id="g"/>\n</resources></cib>`;
    expect(readXml(xml).getElementsByTagName("primitive").map((p) => p.outerXml)).toEqual([
      `<primitive id="f" class="stonith"><op  name='monitor'/></primitive>`,
      `<primitive id="g"/>`,
    ]);
  });

  it.each([
    ["<a><b></a>", "xml: line 1: </a> where </b> belongs"],
    ["<a>\n</b>", "xml: line 2: </b> where </a> belongs"],
    ["<a>", "xml: line 1: <a> is not closed"],
    ["<a/><b/>", "xml: line 1: a second root element"],
    ['<a x="1" x="2"/>', "xml: line 1: the attribute x twice"],
    ['<a x="&nbsp;"/>', "xml: line 1: the unknown entity &nbsp;"],
    ['<a x="a & b"/>', "xml: line 1: a bare & in an attribute value"],
    ["<a x=1/>", "xml: line 1: a start tag"],
    ['<!DOCTYPE a [<!ENTITY e "x">]><a/>', "xml: line 1: a DOCTYPE (not read here)"],
    ["<a><!-- open</a>", "xml: line 1: an unclosed comment"],
    ["text<a/>", "xml: line 1: text before the root element"],
    ["", "xml: line 1: no root element"],
  ])("fails if the document is not well-formed: %j", (xml, message) => {
    expect(() => readXml(xml)).toThrow(message);
  });
});
