/**
 * The one place that reads templates. A private Handlebars instance compiles each template once,
 * strict (a missing field throws) and without HTML escaping (these are config files, not pages).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import Handlebars from "handlebars";

const TEMPLATE_ROOT = fileURLToPath(new URL("../../templates/", import.meta.url));

const handlebars = Handlebars.create();
const compiled = new Map<string, HandlebarsTemplateDelegate>();

/** Renders `templates/<name>.hbs` with `context`; throws naming the template when a field is missing. */
export function renderTemplate(name: string, context: object): string {
  let template = compiled.get(name);
  if (!template) {
    const source = readFileSync(`${TEMPLATE_ROOT}${name}.hbs`, "utf8");
    template = handlebars.compile(source, { strict: true, noEscape: true });
    compiled.set(name, template);
  }
  try {
    return template(context);
  } catch (err) {
    throw new Error(`template ${name}.hbs: ${(err as Error).message}`);
  }
}
