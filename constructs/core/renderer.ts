/**
 * The one place that reads templates. A private Handlebars instance compiles each template once,
 * strict (a missing field throws) and without HTML escaping (these are config files, not pages).
 *
 * Templates cannot interpolate an unchecked value: before a template is compiled, its syntax
 * tree is checked, and every `{{…}}` must call the writer of the file's language
 * (`{{sh x}}`, `{{ganesha x}}`, `{{num x}}`, …: constructs/core/languages.ts), apart from
 * `{{header}}`, the managed header the renderer itself checks. Triple braces, partials and
 * helpers of other names are refused. `test/core/templates.test.ts` compiles every template file,
 * so a template that breaks the rule fails a test even in a branch no example site takes.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";
import { shWithVariables, WRITERS, Written } from "./languages.js";

const TEMPLATE_ROOT = fileURLToPath(new URL("../../templates/", import.meta.url));

const handlebars = Handlebars.create();
const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Block helpers a template may use: Handlebars' own conditionals and loops. */
const BLOCKS = new Set(["if", "unless", "each", "with"]);


for (const [name, writer] of Object.entries(WRITERS)) {
  handlebars.registerHelper(name, function (this: unknown, ...args: unknown[]) {
    // Handlebars passes the options object last: exactly one value comes before it.
    if (args.length !== 2) throw new Error(`{{${name}}} takes exactly one value`);
    undefinedValue(name, args[0], args[1]);
    return (writer as (v: unknown) => Written).call(undefined, args[0]);
  });
}
/**
 * Strict templates throw on a missing field, except in a helper's value: the writers throw here
 * instead, naming the interpolation and its line.
 */
function undefinedValue(name: string, value: unknown, options: unknown): void {
  if (value !== undefined) return;
  const start = (options as { loc?: { start?: { line: number; column: number } } })?.loc?.start;
  const field = start && rendering?.get(`${start.line}:${start.column}`);
  throw new Error(`${field === undefined ? `{{${name} …}}` : `"${field}"`} not defined${start ? ` (line ${start.line})` : ""}`);
}

/** The value each interpolation of the template being rendered names, by "line:column". */
let rendering: Map<string, string> | undefined;
const fieldsOf = new Map<string, Map<string, string>>();

/** `{{shVariables x "HOME" "USER"}}`: a shell word that expands those variables only. */
handlebars.registerHelper("shVariables", function (this: unknown, ...args: unknown[]) {
  const [value, ...vars] = args.slice(0, -1);
  if (vars.length === 0 || !vars.every((v) => typeof v === "string")) throw new Error("{{shVariables}} takes a value and the names of the variables it may expand");
  return shWithVariables(value, vars as string[]);
});
const HELPERS = new Set([...Object.keys(WRITERS), "shVariables"]);

/** A problem of a template's syntax tree, with its line. */
function where(node: hbs.AST.Node): string {
  return `line ${node.loc?.start.line ?? "?"}`;
}

/**
 * Why a template may not be compiled: the interpolations that bypass the language writers.
 * Exported for the test that checks every template file.
 */
export function templateProblems(source: string, fields = new Map<string, string>()): string[] {
  const problems: string[] = [];
  const walk = (node: hbs.AST.Node | undefined | null): void => {
    if (!node) return;
    switch (node.type) {
      case "Program":
        for (const s of (node as hbs.AST.Program).body) walk(s);
        return;
      case "ContentStatement":
      case "CommentStatement":
        return;
      case "MustacheStatement": {
        const m = node as hbs.AST.MustacheStatement;
        const path = m.path.type === "PathExpression" ? (m.path as hbs.AST.PathExpression).original : m.path.type;
        if (!m.escaped) problems.push(`${where(m)}: {{{${path}}}} (triple braces) is not allowed: write {{<language> ${path}}}`);
        else if (m.params.length === 0 && path === "header" && m.hash === undefined) return;
        else if (!HELPERS.has(path)) problems.push(`${where(m)}: {{${path}}} interpolates a value without its language's writer (e.g. {{sh ${path}}}, {{num ${path}}})`);
        else if (m.params.length === 0 || m.hash !== undefined || m.params.some((p) => p.type === "SubExpression")) {
          problems.push(`${where(m)}: {{${path} …}} takes one value (and, for shVariables, the names of the variables)`);
        } else if (path !== "shVariables" && m.params.length !== 1) problems.push(`${where(m)}: {{${path} …}} takes exactly one value`);
        else if (m.loc && m.params[0]!.type === "PathExpression") fields.set(`${m.loc.start.line}:${m.loc.start.column}`, (m.params[0] as hbs.AST.PathExpression).original);
        return;
      }
      case "BlockStatement": {
        const b = node as hbs.AST.BlockStatement;
        const path = (b.path as hbs.AST.PathExpression).original;
        if (!BLOCKS.has(path)) problems.push(`${where(b)}: {{#${path}}} is not one of the blocks a template may use (${[...BLOCKS].join(", ")})`);
        walk(b.program);
        walk(b.inverse);
        return;
      }
      default:
        problems.push(`${where(node)}: ${node.type} is not allowed in templates`);
    }
  };
  walk(handlebars.parse(source));
  return problems;
}

/** A managed header is comment lines only (`# …`, `// …` or one XML comment) holding the marker. */
function checkHeader(name: string, context: object): void {
  if (!("header" in context)) return;
  const header = (context as { header: unknown }).header;
  if (typeof header !== "string" || !/^((# [^\n]*\n)+|(\/\/ [^\n]*\n)+|<!-- [^\n]* -->\n)$/.test(header)) {
    throw new Error(`template ${name}.hbs: the header must be the managed header (comment lines), got ${JSON.stringify(String(header).slice(0, 200))}`);
  }
}

/** Reads and compiles `templates/<name>.hbs`, refusing it when {@link templateProblems} finds any. */
function compile(name: string): HandlebarsTemplateDelegate {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(`${TEMPLATE_ROOT}${name}.hbs`, "utf8");
    const fields = new Map<string, string>();
    const problems = templateProblems(source, fields);
    if (problems.length > 0) throw new Error(`template ${name}.hbs: ${problems.join("; ")}`);
    fieldsOf.set(name, fields);
    template = handlebars.compile(source, { strict: true, noEscape: true, knownHelpers: Object.fromEntries([...HELPERS].map((h) => [h, true])) });
    compiled.set(name, template);
  }
  return template;
}

/** Renders `templates/<name>.hbs` with `context`; throws naming the template when a field is missing. */
export function renderTemplate(name: string, context: object): string {
  const template = compile(name);
  checkHeader(name, context);
  rendering = fieldsOf.get(name);
  try {
    return template(context);
  } catch (err) {
    throw new Error(`template ${name}.hbs: ${(err as Error).message}`);
  } finally {
    rendering = undefined;
  }
}

/** Compiles a template without rendering it (the test of every template file). */
export function compileTemplate(name: string): void {
  compile(name);
}
