/**
 * Targets the verdict checks: `--expect nfs4-write-back=15s` on the command line, or the site's
 * `drill.expect`. A value is a time (`15s`, `500ms`), a time after the MMP wait the site's ZFS
 * settings give (`mmp+7s`), or a count (`acked-writes-lost=0`). A drill that misses one fails.
 */
import { DrillError, type DrillReport, type Expectation, type ExpectationResult } from "./types.js";

/** The metrics a target can name, and how each is read from a report (seconds, or a count). */
export const METRICS: Record<string, { what: string; read: (r: Omit<DrillReport, "expectations" | "checks" | "ok">) => number | undefined }> = {
  "node-lost": { what: "membership lost (s)", read: (r) => r.metrics.nodeLostSec },
  fenced: { what: "fence confirmed (s)", read: (r) => r.metrics.fencedSec },
  "mmp-wait": { what: "MMP activity check (s)", read: (r) => r.metrics.mmpWaitSec },
  "pool-imported": { what: "pool imported (s)", read: (r) => r.metrics.phases["pool-imported"] },
  "nfs-server-up": { what: "NFS server up (s)", read: (r) => r.metrics.phases["nfs-server-up"] },
  "ip-up": { what: "floating IP up (s)", read: (r) => r.metrics.phases["ip-up"] },
  "grace-ended": { what: "grace period ended (s)", read: (r) => r.metrics.phases["grace-ended"] },
  "nfs3-read-back": { what: "NFSv3 reads back (s)", read: (r) => r.metrics.protocols.nfs3?.readBackSec },
  "nfs3-write-back": { what: "NFSv3 writes back (s)", read: (r) => r.metrics.protocols.nfs3?.writeBackSec },
  "nfs4-read-back": { what: "NFSv4 reads back (s)", read: (r) => r.metrics.protocols.nfs4?.readBackSec },
  "nfs4-write-back": { what: "NFSv4 writes back (s)", read: (r) => r.metrics.protocols.nfs4?.writeBackSec },
  "read-back": { what: "every protocol reads back (s)", read: (r) => r.metrics.readsBackSec },
  "write-back": { what: "every protocol writes back (s)", read: (r) => r.metrics.writesBackSec },
  "lock-reclaimed": { what: "NFSv4 lock reclaimed (s)", read: (r) => r.lock.reclaimedSec ?? (r.lock.state === "held" ? 0 : undefined) },
  "acked-writes-lost": { what: "acknowledged writes lost (count)", read: (r) => r.dataLoss.lost },
  rejoined: { what: "node rejoined (s)", read: (r) => r.metrics.rejoinedSec },
};

/** Parses `metric=value` targets; every problem at once, with the text it came from. */
export function parseExpectations(texts: readonly string[], from: Expectation["from"]): Expectation[] {
  const problems: string[] = [];
  const out: Expectation[] = [];
  for (const text of texts) {
    const m = /^([a-z0-9-]+)=(mmp\+)?(\d+(?:\.\d+)?)(ms|s)?$/.exec(text.trim());
    if (!m) {
      problems.push(`"${text}": expected METRIC=VALUE, e.g. nfs4-write-back=15s, nfs3-read-back=mmp+7s or acked-writes-lost=0`);
      continue;
    }
    const [, metric, mmp, num, unit] = m;
    if (!METRICS[metric!]) {
      problems.push(`"${text}": unknown metric "${metric}" (one of ${Object.keys(METRICS).join(", ")})`);
      continue;
    }
    const isCount = metric === "acked-writes-lost";
    if (isCount && (unit || mmp)) {
      problems.push(`"${text}": ${metric} is a count, not a time`);
      continue;
    }
    if (!isCount && !unit) {
      problems.push(`"${text}": give a unit (s or ms)`);
      continue;
    }
    out.push({ metric: metric!, limit: unit === "ms" ? Number(num) / 1000 : Number(num), plusMmp: mmp !== undefined, from, text: text.trim() });
  }
  if (problems.length > 0) throw new DrillError(`bad --expect target${problems.length > 1 ? "s" : ""}: ${problems.join("; ")}`);
  return out;
}

/** The site's targets, then the command line's (a metric named twice keeps the command line's). */
export function mergeExpectations(site: readonly Expectation[], cli: readonly Expectation[]): Expectation[] {
  const named = new Set(cli.map((e) => e.metric));
  return [...site.filter((e) => !named.has(e.metric)), ...cli];
}

/** Checks each target against a report. A metric that never happened misses its target. */
export function judgeExpectations(expectations: readonly Expectation[], report: Omit<DrillReport, "expectations" | "checks" | "ok">): ExpectationResult[] {
  return expectations.map((e) => {
    const value = METRICS[e.metric]!.read(report);
    const limit = e.limit + (e.plusMmp ? report.metrics.mmpModelSec : 0);
    return { ...e, ...(value !== undefined ? { value } : {}), ok: value !== undefined && value <= limit + 1e-9 };
  });
}

/** "nfs4-write-back 15.7 s > 15 s (command line)" */
export function describeExpectation(r: ExpectationResult, mmpModelSec: number): string {
  const isCount = r.metric === "acked-writes-lost";
  const limit = r.limit + (r.plusMmp ? mmpModelSec : 0);
  const unit = isCount ? "" : " s";
  const limitText = r.plusMmp ? `${limit}${unit} (MMP wait ${mmpModelSec} s + ${r.limit} s)` : `${limit}${unit}`;
  return `${r.metric}: ${r.value === undefined ? "never" : `${r.value}${unit}`} ${r.ok ? "≤" : r.value === undefined ? "vs" : ">"} ${limitText} (${r.from})`;
}
