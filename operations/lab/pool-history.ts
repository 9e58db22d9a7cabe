/**
 * The lab's pool record (`/var/lib/hpcdk-lab/shared/pools/<pool>.history`, written by the zpool
 * stand-in): every import and export with the time, the node's host name and its hostid. A
 * pool imported on a second node while the first still holds it is the worst thing this product
 * can cause; `doubleImports` finds every such moment. A holder that lost the pool without an
 * export (a power cut, a fence) is closed by the `lost` times the caller knows (the fence times).
 */
import { HpcdkError } from "../../common/errors.js";

export interface PoolEvent {
  /** Seconds since the epoch. */
  readonly at: number;
  readonly node: string;
  readonly hostid: string;
  readonly event: "import" | "export";
}

/** Reads a pool's record strictly: every line as the stand-in writes it. */
export function parsePoolHistory(text: string): PoolEvent[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((line, i) => {
      const m = /^(\d+\.\d+) (\S+) ([0-9a-f]{8}) (import|export)$/.exec(line);
      if (!m) throw new HpcdkError(`pool history line ${i + 1}: cannot read ${JSON.stringify(line.slice(0, 100))}`);
      return { at: Number(m[1]), node: m[2]!, hostid: m[3]!, event: m[4] as "import" | "export" };
    });
}

export interface DoubleImport {
  readonly at: number;
  /** The node that imported. */
  readonly node: string;
  /** The nodes that held the pool then. */
  readonly holders: readonly string[];
}

/**
 * Every import made while another node held the pool (imported, not exported since, not lost).
 * @param lost when a node lost what it held without an export (fenced, powered off): node → times
 */
export function doubleImports(events: readonly PoolEvent[], lost: Readonly<Record<string, readonly number[]>> = {}): DoubleImport[] {
  const since = new Map<string, number>();
  const found: DoubleImport[] = [];
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    for (const [node, t] of [...since]) {
      if ((lost[node] ?? []).some((l) => l >= t && l <= e.at)) since.delete(node);
    }
    if (e.event === "export") {
      since.delete(e.node);
      continue;
    }
    const holders = [...since.keys()].filter((n) => n !== e.node);
    if (holders.length > 0) found.push({ at: e.at, node: e.node, holders });
    since.set(e.node, e.at);
  }
  return found;
}
