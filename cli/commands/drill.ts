import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readOverride } from "../../operations/remote/inventory.js";
import { DRILL_MODES, DrillError, drillHtml, drillMarkdown, runDrill, spread, type DrillMode, type DrillReport, type NodeControl } from "../../operations/drill.js";
import { powerOff, readLabState } from "../../operations/lab/lab.js";
import { stackDir, synthSiteFiles } from "../../stacks/synth.js";
import { siteFileOf } from "./simulate.js";

export interface DrillCommandOptions {
  readonly fail?: string;
  readonly mode: string;
  readonly repeat: string;
  readonly out: string;
  readonly inventory?: string;
  readonly reportDir: string;
  readonly timeout: string;
  readonly json?: boolean;
}

/** What the namespace lab lets a drill do to its nodes directly. */
function labControl(site: string): NodeControl | undefined {
  const lab = readLabState(site);
  if (!lab) return undefined;
  const nodeOf = (name: string) => {
    const n = lab.nodes.find((x) => x.name === name);
    if (!n) throw new DrillError(`lab ${site} has no node ${name}`);
    return n;
  };
  return {
    kill: (name) => powerOff(nodeOf(name)),
    linkDown: async (name) => {
      const n = nodeOf(name);
      execFileSync("ip", ["-n", n.netns, "link", "set", n.interfaces[0]!.name, "down"]);
    },
  };
}

/** Every wait of a drill is bounded on its own; this bounds the whole, whatever hangs. */
async function withDeadline<T>(seconds: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DrillError(`the drill did not finish in ${seconds} s (the cluster or a host stopped answering)`)), seconds * 1000);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** `hpcdk drill <site>`: one drill or `--repeat N`, reports in JSON, Markdown and HTML. */
export async function drillCommand(site: string, opts: DrillCommandOptions): Promise<number> {
  const mode = opts.mode as DrillMode;
  if (!DRILL_MODES.includes(mode)) throw new DrillError(`--mode must be one of ${DRILL_MODES.join(", ")}, got "${opts.mode}"`);
  const repeat = Number(opts.repeat);
  const { stacks } = synthSiteFiles([siteFileOf(site)], opts.out, false);
  const stack = stacks[0]!;
  const dir = stackDir(opts.out, stack.site.name);
  const override = opts.inventory ? readOverride(opts.inventory) : undefined;
  // With --json, stdout is the report: progress goes to stderr.
  const print = (line: string) => (opts.json ? process.stderr : process.stdout).write(`${line}\n`);
  const reports: DrillReport[] = [];
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const base = join(opts.reportDir, `${stack.site.name}-${mode}-${stamp}`);
  for (let i = 1; i <= repeat; i++) {
    if (repeat > 1) print(`drill ${i} of ${repeat}`);
    const report = await withDeadline(Number(opts.timeout) + 180, runDrill({
      stackDir: dir,
      spec: stack.site.spec,
      site: stack.site.name,
      override,
      node: opts.fail,
      mode,
      control: labControl(stack.site.name),
      timeoutSec: Number(opts.timeout),
      log: print,
    }));
    reports.push(report);
    const out = repeat > 1 ? join(base, String(i)) : base;
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, "report.json"), JSON.stringify(report, null, 2) + "\n");
    writeFileSync(join(out, "report.md"), drillMarkdown(report));
    writeFileSync(join(out, "report.html"), drillHtml(report));
    print(`${report.ok ? "PASSED" : "FAILED"}: ${report.checks.filter((c) => !c.ok).map((c) => `${c.name} (${c.detail})`).join("; ") || "every check"} -> ${out}/report.{json,md,html}`);
  }
  const summary = {
    site: stack.site.name,
    mode,
    drills: reports.length,
    passed: reports.filter((r) => r.ok).length,
    fencedSec: spread(reports.map((r) => r.metrics.fencedSec)),
    readsBackSec: spread(reports.map((r) => r.metrics.readsBackSec)),
    writesBackSec: spread(reports.map((r) => r.metrics.writesBackSec)),
    rejoinedSec: spread(reports.map((r) => r.metrics.rejoinedSec)),
  };
  if (repeat > 1) {
    mkdirSync(base, { recursive: true });
    writeFileSync(join(base, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  }
  if (opts.json) process.stdout.write(JSON.stringify(repeat > 1 ? { summary, reports } : reports[0], null, 2) + "\n");
  else if (repeat > 1) {
    const row = (name: string, s: ReturnType<typeof spread>) => print(`  ${name}: min ${s.min ?? "-"} s, median ${s.median ?? "-"} s, max ${s.max ?? "-"} s (${s.n} drills)`);
    print(`${summary.passed} of ${summary.drills} drills passed`);
    row("fenced", summary.fencedSec);
    row("reads back", summary.readsBackSec);
    row("writes back", summary.writesBackSec);
  }
  return reports.every((r) => r.ok) ? 0 : 3;
}
