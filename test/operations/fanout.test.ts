/**
 * The fan-out to many hosts: bounded concurrency, progress lines, stopping when too many fail
 * (deploy.maxFailPercent), and the failed hosts summed up by error.
 */
import { describe, expect, it } from "vitest";
import { sleep } from "../../common/async.js";
import { failureSummary, fanOut, Progress } from "../../operations/remote/fanout.js";

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `c${String(i + 1).padStart(3, "0")}`);

describe("fanOut", () => {
  it("never has more hosts in flight than the concurrency, and returns every result in host order", async () => {
    let inFlight = 0;
    let most = 0;
    const run = await fanOut(hosts(50), { concurrency: 7 }, async (host) => {
      most = Math.max(most, ++inFlight);
      await sleep(2);
      inFlight--;
      return { host, ok: true };
    });
    expect(most).toBe(7);
    expect(run.results.map((r) => r.host)).toEqual(hosts(50));
    expect(run.skipped).toEqual([]);
  });

  it("lets a failed host fail alone: the others go on", async () => {
    const run = await fanOut(hosts(20), { concurrency: 4 }, async (host) => (host === "c007" ? { host, ok: false, error: "no route to host" } : { host, ok: true }));
    expect(run.results.filter((r) => r.ok)).toHaveLength(19);
    expect(failureSummary(run)).toEqual(["1 host failed: no route to host: c007"]);
  });

  it("stops starting hosts once more than maxFailPercent of them failed, and reports the rest as skipped", async () => {
    // GIVEN 100 hosts of which every one from c011 on fails, one at a time, at most 5 % may fail
    const run = await fanOut(hosts(100), { concurrency: 1, maxFailPercent: 5 }, async (host) =>
      Number(host.slice(1)) > 10 ? { host, ok: false, error: `${host}: connection refused` } : { host, ok: true },
    );
    // THEN the sixth failure stops it: 16 hosts ran, 84 were never started
    expect(run.results).toHaveLength(16);
    expect(run.skipped).toHaveLength(84);
    expect(run.stopped).toBe("6 of 100 hosts failed, more than deploy.maxFailPercent (5 %): no further host was started");
    expect(failureSummary(run)).toEqual([
      "6 hosts failed: <host>: connection refused: c[011-016]",
      "84 hosts skipped (6 of 100 hosts failed, more than deploy.maxFailPercent (5 %): no further host was started): c[017-100]",
    ]);
  });

  it("never stops at 100 %", async () => {
    const run = await fanOut(hosts(10), { concurrency: 3, maxFailPercent: 100 }, async (host) => ({ host, ok: false, error: "down" }));
    expect(run.results).toHaveLength(10);
    expect(run.skipped).toEqual([]);
  });

  it("sums up hundreds of failures by error, the most frequent first, each with a hostlist", async () => {
    const run = await fanOut(hosts(300), { concurrency: 50 }, async (host) => {
      const n = Number(host.slice(1));
      if (n % 100 === 0) return { host, ok: false, error: "host key of <addr> is not in known_hosts" };
      if (n > 200) return { host, ok: false, error: `${host}: no SSH answer within 15 s` };
      return { host, ok: true };
    });
    expect(failureSummary(run)).toEqual([
      "99 hosts failed: <host>: no SSH answer within 15 s: c[201-299]",
      "3 hosts failed: host key of <addr> is not in known_hosts: c[100,200,300]",
    ]);
  });

  it("prints progress lines with done, failed, remaining, rate and ETA, and one at the end", async () => {
    const lines: string[] = [];
    await fanOut(hosts(4), { concurrency: 1, progress: (l) => lines.push(l), progressEveryMs: 0, what: "applying groups/compute" }, async (host) => ({
      host,
      ok: host !== "c002",
      error: "x",
    }));
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^applying groups\/compute: 2\/4 hosts done \(1 failed\), 2 remaining, [0-9.]+ hosts\/s, ETA (\d+ s|unknown)$/);
    expect(lines[4]).toMatch(/^applying groups\/compute: 4\/4 hosts done \(1 failed\), 0 remaining, [0-9.]+ hosts\/s$/);
  });
});

describe("Progress", () => {
  it("computes the rate and the ETA from the hosts done so far", () => {
    const p = new Progress(500, "reading markers");
    for (let i = 0; i < 100; i++) p.record(i !== 0);
    const t0 = (p as unknown as { t0: number }).t0;
    expect(p.line(t0 + 2000)).toBe("reading markers: 100/500 hosts done (1 failed), 400 remaining, 50.0 hosts/s, ETA 8 s");
    expect(p.line(t0 + 200_000)).toBe("reading markers: 100/500 hosts done (1 failed), 400 remaining, 0.5 hosts/s, ETA 13 min 20 s");
  });
});
