import { SiteError } from "../schema/load.js";
import { SecretsError } from "./secrets.js";
import { SynthError } from "./synth.js";

import { EXIT } from "./exit.js";

export { EXIT } from "./exit.js";

/** Prints an error the way an admin needs it and returns the exit code. */
export function reportError(err: unknown): number {
  if (err instanceof SecretsError) {
    process.stderr.write(`hpcdk: the secrets folder holds files hpcdk will not use as secrets; nothing was written:\n`);
    for (const p of err.problems) process.stderr.write(`  ${p}\n`);
    return EXIT.invalidSite;
  }
  if (err instanceof SiteError || err instanceof SynthError) {
    const n = err.problems.length;
    process.stderr.write(`hpcdk: the site is invalid (${n} problem${n === 1 ? "" : "s"}); nothing was written:\n`);
    for (const p of err.problems) process.stderr.write(`  ${p}\n`);
    return EXIT.invalidSite;
  }
  const e = err as Error;
  process.stderr.write(`hpcdk: internal error: ${e?.stack ?? String(err)}\n`);
  return EXIT.internal;
}
