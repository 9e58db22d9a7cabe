/**
 * How a drill measures NFS outages from its probes. A probe sent while the floating IP is gone
 * hangs until its timeout: the outage starts when that probe started, not when it gave up; and
 * the node comes back only once NFS answered from where the group moved.
 */
import { describe, expect, it } from "vitest";
import { backAfter, servedSince, type ProbeSample } from "../../operations/drill.js";

const sample = (startMs: number, atMs: number, ok: boolean): ProbeSample => ({ startMs, atMs, ok });

describe("NFS outages in a drill report", () => {
  it("counts an outage from the start of the first failed probe to the end of the first good one", () => {
    // GIVEN a probe that hung from 300 ms until its 2 s timeout, then one that worked
    const samples = [sample(-Infinity, -200, true), sample(-200, 300, true), sample(300, 2300, false), sample(2300, 2400, true)];
    // THEN NFS was back at 2.4 s after 2.1 s down
    expect(backAfter(samples)).toEqual({ backMs: 2400, outageMs: 2100 });
  });

  it("starts the outage at the fault when the failed probe was sent before it", () => {
    expect(backAfter([sample(-100, 1900, false), sample(1900, 2100, false), sample(2100, 2150, true)])).toEqual({ backMs: 2150, outageMs: 2150 });
  });

  it("reports no outage when every probe after the fault worked", () => {
    expect(backAfter([sample(-300, -50, false), sample(-50, 200, true), sample(250, 400, true)])).toEqual({ backMs: 0, outageMs: 0 });
  });

  it("reports no return and the outage so far when no probe worked again", () => {
    expect(backAfter([sample(0, 100, true), sample(350, 2350, false), sample(2600, 4600, false)])).toEqual({ outageMs: 4250 });
  });
});

describe("bringing the node back", () => {
  it("waits for a read or write sent after the group moved, not one from before", () => {
    // GIVEN the group ran elsewhere from 2000 ms, and the last probe worked but was sent at 300 ms
    const stale = [sample(-Infinity, 300, true), sample(300, 400, true)];
    expect(servedSince(stale, 2000)).toBe(false);
    // THEN only a good probe sent after 2000 ms counts
    expect(servedSince([...stale, sample(2050, 2100, true)], 2000)).toBe(true);
    expect(servedSince([...stale, sample(2050, 4050, false)], 2000)).toBe(false);
    expect(servedSince([...stale, sample(2050, 2100, true)], undefined)).toBe(false);
  });
});
