import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT } from "../../common/errors.js";
import { stackDir, synthSiteFiles } from "../../stacks/synth.js";
import { formatSimulation, simulateCib } from "../../operations/simulate/index.js";

/** A site argument: a file path as given, or a site name looked up as `sites/<name>.yaml`. */
export function siteFileOf(site: string): string {
  return /\.ya?ml$/.test(site) || site.includes("/") ? site : join("sites", `${site}.yaml`);
}

/** `hpcdk simulate <site>`: synthesizes the site, then fails each node in crm_simulate. */
export async function simulateCommand(site: string, opts: { fail?: string; out: string; json?: boolean }): Promise<number> {
  const { stacks } = synthSiteFiles([siteFileOf(site)], opts.out, false);
  const stack = stacks[0]!;
  const cib = readFileSync(join(stackDir(opts.out, stack.site.name), stack.cluster.dir, "cib.xml"), "utf8");
  const report = await simulateCib(cib, { fail: opts.fail ? [opts.fail] : undefined });
  process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + "\n" : formatSimulation(stack.site.name, report));
  // A failover that breaks a rule is a finding, not a crash: exit 1 like an invalid site.
  return report.ok ? EXIT.ok : EXIT.badInput;
}
