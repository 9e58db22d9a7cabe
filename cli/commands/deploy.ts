import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { shQuote } from "../../common/shell.js";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import { HpcdkError } from "../../common/errors.js";
import { applyBundle, manifestPathOf, preflightBundle, readMarkers, resourcesToReplace, type BundleResult } from "../../operations/deploy/index.js";
import { executedWaves, executeRollout, unstagedWaves, gatherRollout, outageRefusal, planJson, planMarkdown, planRollout, planText, RolloutError, runSlurmSteps, slurmTopologyOf, sshSlurmRunner, type RolloutReport } from "../../operations/rollout/index.js";
import { failureSummary } from "../../operations/remote/fanout.js";
import { serveSessions, SessionPool, SHARED_SSH_ENV } from "../../operations/remote/shared.js";
import { PreflightError, readInventory, readOverride } from "../../operations/remote/inventory.js";
import { compressHostlist } from "../../common/hostlist.js";
import { terraformApply, terraformInit, terraformStateList } from "../../operations/terraform.js";
import { stackDir, synthSiteFiles } from "../../stacks/synth.js";
import { siteFileOf } from "./simulate.js";

/** Exit codes of deploy and apply-bundle. */
export const DEPLOY_EXIT = { ok: 0, badInput: 1, notConverged: 3, outageRefused: 4 } as const;

const CLI = fileURLToPath(new URL("../bin/hpcdk.js", import.meta.url));

export interface DeployOptions {
  readonly out: string;
  readonly inventory?: string;
  readonly json?: boolean;
  readonly force?: boolean;
  /** Print the rollout plan and send nothing. */
  readonly plan?: boolean;
  /** With `plan`: text, markdown or json. @default text (json with `json`) */
  readonly format?: string;
  /** Apply changes whose impact is an outage. */
  readonly allowOutage?: boolean;
  /** Deploy only these bundles (`groups/compute`, `hosts/m1`, `cluster`), with Terraform's -target. @default every bundle */
  readonly bundle?: readonly string[];
}

/** `hpcdk deploy <site>`: synth, check, terraform init + apply, then a summary of every bundle. */
export async function deployCommand(site: string, opts: DeployOptions): Promise<number> {
  const print = (line: string) => {
    if (!opts.json) process.stdout.write(`${line}\n`);
  };
  const timings: Record<string, number> = {};
  let mark = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round(now - mark);
    mark = now;
  };
  const { stacks } = synthSiteFiles([siteFileOf(site)], opts.out, !opts.json && !opts.plan);
  lap("synthMs");
  const stack = stacks[0]!;
  const dir = stackDir(opts.out, stack.site.name);
  const override = opts.inventory ? readOverride(opts.inventory) : undefined;
  // Everything every bundle needs is checked before Terraform sends anything anywhere.
  const all = stack.bundles.map((b) => b.dir);
  const unknown = (opts.bundle ?? []).filter((b) => !all.includes(b));
  if (unknown.length > 0) throw new PreflightError(unknown.map((b) => `--bundle ${b}: the site has no such bundle (bundles: ${all.join(", ")})`));
  const bundles = opts.bundle && opts.bundle.length > 0 ? all.filter((b) => opts.bundle!.includes(b)) : all;
  const problems: string[] = [];
  const inventory = readInventory(dir, override);
  for (const b of bundles) {
    try {
      preflightBundle(dir, b, inventory);
    } catch (err) {
      if (err instanceof PreflightError) problems.push(...err.problems);
      else throw err;
    }
  }
  if (problems.length > 0) throw new PreflightError([...new Set(problems)]);
  lap("preflightMs");

  // The rollout plan, from what the hosts hold (read-only): outage-class changes are refused
  // here, before Terraform sends anything anywhere.
  const manifests = new Map(bundles.map((b) => [b, JSON.parse(readFileSync(join(dir, manifestPathOf(b)), "utf8")) as BundleManifest]));
  // One SSH connection per host for the whole deploy: each host is logged into once, for the
  // rollout plan, its marker and the apply Terraform runs (operations/remote/shared.ts).
  const pool = new SessionPool(inventory);
  try {
    const bundleMarkers = new Map(stack.bundles.map((b) => [b.dir, stack.markerOf(b)]));
    const slurmTopology = slurmTopologyOf(stack.site.spec);
    const gathered = await gatherRollout({
      pool,
      stackDir: dir,
      inventory,
      manifests,
      markers: bundleMarkers,
      secretsDir: resolve(dir, inventory.secretsDir),
      maxUnavailable: stack.site.spec.deploy.maxUnavailable,
      ...(slurmTopology ? { slurmControllers: slurmTopology.controllers } : {}),
    });
    const { slurmRunning, markersRead: _markersRead, ...hostsHold } = gathered;
    // Slurm's wave: slurm.conf as its daemons run it against the synthesized one (operations/rollout/slurm.ts).
    const synthesizedSlurm = slurmTopology ? join(dir, "hosts", slurmTopology.controllers[0]!, "etc/slurm/slurm.conf") : undefined;
    const slurm = slurmTopology && synthesizedSlurm && existsSync(synthesizedSlurm) ? { topology: slurmTopology, running: slurmRunning, synthesized: readFileSync(synthesizedSlurm, "utf8") } : undefined;
    const plan = planRollout({ site: stack.site.name, ...hostsHold, ...(slurm ? { slurm } : {}) });
    lap("planMs");
    if (opts.plan) {
      const format = opts.format ?? (opts.json ? "json" : "text");
      if (!["text", "markdown", "json"].includes(format)) throw new HpcdkError(`--format: must be text, markdown or json, got ${JSON.stringify(format)}`);
      process.stdout.write(format === "json" ? planJson(plan) : format === "markdown" ? planMarkdown(plan) : planText(plan));
      return DEPLOY_EXIT.ok;
    }
    if (plan.outages.length > 0 && !opts.allowOutage) {
      process.stderr.write(`hpcdk: ${outageRefusal(plan)}\n`);
      if (opts.json) process.stdout.write(JSON.stringify({ site: stack.site.name, ok: false, refused: "outage", plan, timings }, null, 2) + "\n");
      return DEPLOY_EXIT.outageRefused;
    }
    if (!opts.json) process.stdout.write(planText(plan) + "\n");
    // What this hpcdk does not stage (a membership change; a together wave with it, or with only
    // some of its nodes' bundles): those waves' hosts are applied by Terraform as before.
    const staged = unstagedWaves(plan, bundles);
    if (staged.length > 0) {
      process.stderr.write(
        `hpcdk: warning: this hpcdk does not stage ${staged.map((w) => `wave ${w.index} (${w.kind})`).join(", ")} yet: Terraform applies those hosts as before (handlers at once)\n`,
      );
    }

    // Slurm's steps that must come before anything lands (the accounting database's dump before an upgrade).
    const slurmSteps = plan.waves.find((w) => w.kind === "slurm")?.slurmSteps ?? [];
    const slurmRunner = sshSlurmRunner(inventory);
    const slurmLog = (line: string) => print(line);
    if (slurmSteps.some((s) => s.phase === "before-files")) {
      const before = await runSlurmSteps(slurmSteps, "before-files", slurmRunner, { concurrency: inventory.groupConcurrency, log: slurmLog });
      lap("slurmBeforeMs");
      if (!before.ok) {
        process.stderr.write(`hpcdk: slurm: ${before.failed}; nothing else was sent\n`);
        if (opts.json) process.stdout.write(JSON.stringify({ site: stack.site.name, ok: false, plan, slurm: before, timings }, null, 2) + "\n");
        return DEPLOY_EXIT.notConverged;
      }
    }

    // The management nodes' rolling waves, one at a time, before Terraform: Terraform then finds
    // those hosts holding their bundle (its apply there changes nothing) and does the rest.
    let rollout: RolloutReport | undefined;
    // A site that keeps its cluster in maintenance-mode (cluster.maintenanceMode: Pacemaker manages
    // nothing, so nothing can move or be imported twice by it) has nothing for the waves to
    // protect: its hosts are applied by Terraform at once, as before the executor.
    const siteMaintenance = stack.site.spec.cluster.maintenanceMode === true;
    if (siteMaintenance && executedWaves(plan, bundles).length > 0) {
      print("the site keeps the cluster in maintenance-mode (cluster.maintenanceMode): Pacemaker manages nothing, so no rolling waves; Terraform applies every changed host");
    }
    if (!siteMaintenance && executedWaves(plan, bundles).length > 0) {
      try {
        rollout = await executeRollout({
          stackDir: dir,
          inventory,
          ...(override ? { override } : {}),
          plan,
          markers: bundleMarkers,
          bundles,
          // The bound of every wait of a wave: the site's deploy.clusterWaitSec, as for the CIB step.
          settleTimeoutSec: inventory.clusterWaitSec,
          log: print,
        });
      } catch (err) {
        if (!(err instanceof RolloutError)) throw err;
        lap("rolloutMs");
        process.stderr.write(`hpcdk: rollout stopped:\n${err.problems.map((p) => `  ${p}\n`).join("")}`);
        if (opts.json) process.stdout.write(JSON.stringify({ site: stack.site.name, ok: false, timings, plan, rollout: err.report }, null, 2) + "\n");
        return DEPLOY_EXIT.notConverged;
      }
      lap("rolloutMs");
    }

    rmSync(join(dir, ".hpcdk", "results"), { recursive: true, force: true });
    const mirror = stack.site.spec.deploy.providerMirror;
    const resourceKind = stack.site.spec.deploy.resource;
    terraformInit(dir, resourceKind === "null_resource" && mirror ? { mirror } : {});
    lap("terraformInitMs");
    // Terraform's state says what it did, not what the hosts hold: a deploy killed half-way leaves
    // resources recorded whose hosts never finished. Hosts that answer with anything but the bundle
    // they should hold get their resource replaced, so this deploy finishes the job.
    const inState = new Set(terraformStateList(dir));
    const deployments = stack.deployments.filter((d) => bundles.includes(d.bundle.dir));
    // What the plan read is still true where no wave applied anything: those markers are not read again.
    const markers = await readMarkers(dir, bundles, override, pool, rollout === undefined ? gathered.markersRead : new Map());
    const replace = resourcesToReplace(
      deployments.map((d) => ({ address: d.address, bundle: d.bundle.dir, marker: stack.markerOf(d.bundle) })),
      inState,
      markers,
    );
    for (const address of replace) print(`${address}: its hosts do not hold the current bundle (an interrupted or failed deploy): replacing it`);
    lap("hostCheckMs");
    // The connections are lent to the apply-bundle children Terraform runs.
    const shared = await serveSessions(pool);
    let run: Awaited<ReturnType<typeof terraformApply>>;
    try {
      run = await terraformApply(dir, {
        replace,
        ...(bundles.length < all.length ? { targets: deployments.map((d) => d.address) } : {}),
        mirror: resourceKind === "null_resource" ? mirror : undefined,
        env: {
          TF_VAR_hpcdk_cli: `${shQuote(process.execPath)} ${shQuote(CLI)}`,
          ...(opts.inventory ? { HPCDK_INVENTORY: resolve(opts.inventory) } : {}),
          ...(opts.force ? { HPCDK_FORCE: "1" } : {}),
          [SHARED_SSH_ENV]: shared.path,
        },
        onLine: (line) => {
          const ours = /\(local-exec\): (.*)$/.exec(line);
          if (ours && !ours[1]!.startsWith("Executing:")) print(ours[1]!);
          else if (/^(Apply complete!|Error: )/.test(line)) print(line);
        },
      });
    } finally {
      await shared.close();
    }
    lap("terraformApplyMs");
    const results = readResults(dir);
    const summary = bundles.map((b) => {
      const r = results.get(b);
      return r
        ? { bundle: b, status: r.ok ? "converged" : "FAILED", hosts: r.hosts, ...(r.skipped ? { skipped: r.skipped, stopped: r.stopped } : {}) }
        : { bundle: b, status: run.ok ? "unchanged" : "not run", hosts: [] as BundleResult["hosts"], skipped: undefined, stopped: undefined };
    });
    const converged = run.ok && summary.every((s) => s.status !== "FAILED");
    // Slurm's wave, once every host has its files: never on a half-applied site (the next deploy runs it).
    let slurmRun: Awaited<ReturnType<typeof runSlurmSteps>> | undefined;
    const slurmAfter = slurmSteps.filter((s) => s.phase === "after-files");
    // A deploy of some bundles only (--bundle) leaves the Slurm wave to a deploy of the whole site:
    // it restarts and records on the controllers, which this one did not touch.
    const partial = bundles.length < all.length;
    if (slurmAfter.length > 0 && partial) {
      print("slurm: this deploy covers only some bundles (--bundle): the Slurm wave runs at the next deploy of the whole site");
    } else if (slurmAfter.length > 0 && converged) {
      slurmRun = await runSlurmSteps(slurmSteps, "after-files", slurmRunner, { concurrency: inventory.groupConcurrency, log: slurmLog });
      lap("slurmMs");
      if (!slurmRun.ok) process.stderr.write(`hpcdk: slurm: ${slurmRun.failed}\n`);
    } else if (slurmAfter.length > 0) {
      process.stderr.write("hpcdk: slurm: not every host converged: no Slurm daemon was reconfigured or restarted; the next deploy does it once they have\n");
    }
    const ok = converged && (slurmRun?.ok ?? true);
    if (opts.json) {
      process.stdout.write(JSON.stringify({ site: stack.site.name, ok, terraform: run.summary, replaced: replace, timings, plan, ...(rollout ? { rollout } : {}), bundles: summary, ...(slurmRun ? { slurm: slurmRun } : {}) }, null, 2) + "\n");
    } else {
      print("");
      print(`| bundle | status | hosts | changed files | handlers | error |`);
      print(`| --- | --- | --- | --- | --- | --- |`);
      for (const s of summary) {
        const changed = s.hosts.reduce((n, h) => n + h.changed.length, 0);
        const handlers = [...new Set(s.hosts.flatMap((h) => h.handlers))].join(", ");
        // Hosts as a hostlist and failures by error: one line per bundle even with hundreds of hosts.
        const failures = failureSummary({ results: s.hosts, skipped: s.skipped ?? [], stopped: s.stopped });
        const hosts = s.hosts.length > 0 ? `${compressHostlist(s.hosts.map((h) => h.host))}${s.hosts.length > 1 ? ` (${s.hosts.length})` : ""}` : "-";
        print(`| ${s.bundle} | ${s.status} | ${hosts} | ${changed} | ${handlers || "-"} | ${failures.join("; ") || "-"} |`);
      }
      if (slurmRun) print(slurmRun.ok ? `slurm: ${slurmRun.results.map((r) => r.step.id).join(", ")}: done` : `slurm: FAILED: ${slurmRun.failed}`);
      print(ok ? `${stack.site.name}: every host converged` : converged ? `${stack.site.name}: every host converged, but the Slurm wave failed` : `${stack.site.name}: NOT every host converged (${run.summary})`);
    }
    return ok ? DEPLOY_EXIT.ok : DEPLOY_EXIT.notConverged;
  } finally {
    await pool.close();
  }
}

function readResults(dir: string): Map<string, BundleResult> {
  const results = new Map<string, BundleResult>();
  const resultsDir = join(dir, ".hpcdk", "results");
  if (!existsSync(resultsDir)) return results;
  for (const f of readdirSync(resultsDir)) {
    const r = JSON.parse(readFileSync(join(resultsDir, f), "utf8")) as BundleResult;
    results.set(r.bundle, r);
  }
  return results;
}

/** `hpcdk apply-bundle --bundle X`: what each Terraform resource runs, in the stack directory. */
export async function applyBundleCommand(opts: { bundle: string; stackDir: string; force?: boolean; expect?: string }): Promise<number> {
  const result = await applyBundle({
    stackDir: opts.stackDir,
    bundle: opts.bundle,
    expect: opts.expect,
    force: opts.force || process.env.HPCDK_FORCE === "1",
    log: (line) => process.stdout.write(`${line}\n`),
  });
  if (!result.ok) {
    // The failed hosts by error, each error once with a hostlist of its hosts.
    for (const line of failureSummary({ results: result.hosts, skipped: result.skipped ?? [], stopped: result.stopped })) {
      process.stderr.write(`hpcdk: ${opts.bundle}: ${line}\n`);
    }
  }
  return result.ok ? DEPLOY_EXIT.ok : DEPLOY_EXIT.notConverged;
}
