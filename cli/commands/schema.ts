import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { SiteObjectSchema } from "../../schema/site.js";

/** The site file's JSON Schema, for editors (yaml-language-server) to complete and check. */
export function siteJsonSchema(): object {
  return {
    ...z.toJSONSchema(SiteObjectSchema, { io: "input", unrepresentable: "any" }),
    $id: "https://hpcdk.dev/schema/site.schema.json",
    title: "hpcdk site",
  };
}

export function schemaCommand(options: { out?: string }): void {
  const text = JSON.stringify(siteJsonSchema(), null, 2) + "\n";
  if (options.out) {
    mkdirSync(dirname(options.out), { recursive: true });
    writeFileSync(options.out, text);
    process.stderr.write(`hpcdk: wrote ${options.out}\n`);
  } else {
    process.stdout.write(text);
  }
}
