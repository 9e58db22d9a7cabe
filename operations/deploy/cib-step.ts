/**
 * The cluster bundle's deploy: the CIB applied from one quorate management node as a
 * `crm_diff` patch of the live CIB (refused when someone changed the configuration by hand since
 * hpcdk applied it, unless forced), hpcdk's record written into the CIB, then the after-cib
 * steps on their hosts once the resources they wait for run.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { mapLimited } from "../../common/async.js";
import { CIB_PATH, type BundleManifest, type Step } from "../../common/contracts/bundle.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import { shQuote } from "../../common/shell.js";
import { cibVersion } from "../pacemaker/cib.js";
import { cibRecord, configurationDigest, DEPLOY_RECORD, mergeCib } from "../pacemaker/cib-record.js";
import { queryCib, quorateNode, setDeployRecord, waitForResources } from "../pacemaker/live-cluster.js";
import { connect } from "../remote/connect.js";
import { lastLines, type SshSession } from "../remote/ssh.js";
import { hostError, hostResult, STAGING, type HostResult } from "./result.js";

/** An after-cib step (a mount, a daemon start) that takes longer has hung. */
const AFTER_CIB_STEP_TIMEOUT_MS = 300_000;

/** Applies the cluster bundle: the CIB, hpcdk's record, then the after-cib steps. */
export async function applyCib(
  stackDir: string,
  manifest: BundleManifest,
  inventory: Inventory,
  force: boolean,
  expect: string | undefined,
  log: (line: string) => void,
): Promise<{ ok: boolean; hosts: HostResult[] }> {
  const t0 = performance.now();
  const synthesized = readFileSync(join(stackDir, manifest.dir, CIB_PATH), "utf8");
  const fail = (host: string, error: string) => ({ ok: false, hosts: [hostResult(host, t0, { ok: false, error })] });
  const found = await quorateNode(inventory, inventory.clusterWaitSec);
  if ("error" in found) return fail(inventory.managementNodes[0] ?? "cluster", found.error);
  const session = found.session;
  const host = session.host;
  try {
    const live = await queryCib(session);
    const recorded = cibRecord(live);
    if (recorded.digest && recorded.digest !== configurationDigest(live) && !force) {
      return fail(
        host,
        `the live CIB changed since hpcdk applied it (epoch ${cibVersion(live)}): ` +
          "someone changed the cluster by hand; review the change and rerun with --force to replace it",
      );
    }
    const changed = await patchCib(session, live, mergeCib(live, synthesized));
    log(`[${host}] CIB ${changed ? "patched" : "unchanged"}`);
    // Record what was applied in the CIB itself: every node sees it, and the next deploy can tell
    // a hand edit from its own work.
    await setDeployRecord(session, DEPLOY_RECORD.digest, configurationDigest(await queryCib(session)));
    const hosts: HostResult[] = [];
    const afterCib = manifest.steps.filter((s) => s.phase === "after-cib");
    if (afterCib.length > 0) {
      // The steps run once what they need (the NFS group's floating IP, for a mount) is running.
      const waitFor = [...new Set(afterCib.flatMap((s) => s.waitFor ?? []))].sort();
      const missing = await waitForResources(session, waitFor, inventory.clusterWaitSec);
      if (missing.length > 0) {
        return fail(host, `${missing.join(", ")} not running ${inventory.clusterWaitSec} s after the CIB step: the steps that need ${missing.length > 1 ? "them" : "it"} did not run (crm_mon shows why)`);
      }
      if (waitFor.length > 0) log(`[${host}] running: ${waitFor.join(", ")}`);
      hosts.push(...(await runAfterCibSteps(inventory, afterCib, log)));
    }
    // Recorded last: a deploy whose steps failed runs them again.
    const ok = hosts.every((h) => h.ok);
    if (ok && expect) await setDeployRecord(session, DEPLOY_RECORD.applied, expect);
    return { ok, hosts: [hostResult(host, t0, { ok: true, changed: changed ? [CIB_PATH] : [], unchanged: changed ? 0 : 1 }), ...hosts] };
  } catch (err) {
    return fail(host, (err as Error).message);
  } finally {
    session.close();
  }
}

/** Moves the live CIB to `target` with `crm_diff` + `cibadmin --patch` on the node; false when there was nothing to change. */
async function patchCib(session: SshSession, live: string, target: string): Promise<boolean> {
  const stage = `${STAGING}/cluster`;
  await session.run(session.asRoot(`umask 077 && rm -rf ${stage} && mkdir -p ${stage} && cat > ${stage}/live.xml`), { stdin: live });
  await session.run(session.asRoot(`cat > ${stage}/new.xml`), { stdin: target });
  try {
    const diff = await session.exec(session.asRoot(`crm_diff --no-version --original ${stage}/live.xml --new ${stage}/new.xml > ${stage}/patch.xml`));
    if (diff.code === 0) return false;
    if (diff.code !== 1) throw new Error(`crm_diff failed: ${lastLines(diff, 3)}`);
    await session.run(session.asRoot(`cibadmin --patch --xml-file ${stage}/patch.xml`), { timeoutMs: 120_000 });
    return true;
  } finally {
    await session.exec(session.asRoot(`rm -rf ${stage}`)).catch(() => undefined);
  }
}

/**
 * The cluster bundle's after-cib steps, host by host in the order the steps name them; a host
 * stops at its first failing step and the others go on.
 */
async function runAfterCibSteps(inventory: Inventory, steps: readonly Step[], log: (line: string) => void): Promise<HostResult[]> {
  const hosts = [...new Set(steps.flatMap((s) => s.hosts ?? []))];
  return mapLimited(hosts, hosts.length, async (host) => {
    const t0 = performance.now();
    const done: string[] = [];
    let error: string | undefined;
    let session: SshSession | undefined;
    try {
      session = await connect(inventory, host);
      for (const step of steps.filter((s) => s.hosts?.includes(host))) {
        const r = await session.exec(session.asRoot(`sh -c ${shQuote(step.run)}`), { timeoutMs: AFTER_CIB_STEP_TIMEOUT_MS });
        if (r.code !== 0) {
          error = `step ${step.id} failed (exit ${r.code}): ${lastLines(r, 3)}`;
          break;
        }
        done.push(step.id);
      }
    } catch (err) {
      error = hostError(err, host);
    } finally {
      session?.close();
    }
    log(`[${host}] ${error ? "FAILED" : "after-cib steps done"}: ${done.join(", ") || "no step"}${error ? `; ${error}` : ""}`);
    return hostResult(host, t0, { ok: !error, steps: done, error });
  });
}
