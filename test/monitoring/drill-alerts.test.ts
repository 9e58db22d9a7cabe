/**
 * The drill's alert source (operations/drill.ts alertSource): for a site with monitoring, the
 * drill polls Alertmanager with curl on the node watching the cluster, at the monitoring's
 * floating IP and Alertmanager's port, and its timeline lists the alerts that fired and resolved,
 * in milliseconds after the fault. Here the node's answers are written by the test (the real
 * Alertmanager is in test/monitoring/alert-timeline.test.ts and the namespace lab test).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { alertSource } from "../../operations/drill.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES } from "../helpers.js";

const T0 = Date.parse("2026-12-03T10:00:00Z");
const alert = (name: string, subject: Record<string, string>, startsAtMs: number) => ({
  fingerprint: Buffer.from(`${name}${JSON.stringify(subject)}`).toString("hex").slice(0, 16),
  labels: { alertname: name, severity: "critical", ...subject },
  annotations: { summary: `${name}: do something` },
  startsAt: new Date(startsAtMs).toISOString(),
  endsAt: new Date(startsAtMs + 240_000).toISOString(),
  status: { state: "active", inhibitedBy: [], silencedBy: [] },
});

describe("the drill's alert source", () => {
  it("polls Alertmanager on the monitoring IP from the watching node and puts what fired and resolved on the timeline", async () => {
    const spec = loadSiteFile(join(FIXTURES, "monitoring-lab.yaml")).spec;
    const commands: string[] = [];
    // What Alertmanager lists at each poll: nothing, NodeDown of m1, then nothing again.
    const listed = [[], [alert("NodeDown", { instance: "m1" }, T0 + 12_000)], []];
    let polls = 0;
    const run = async (command: string) => {
      commands.push(command);
      if (command.includes("/api/v2/status")) return JSON.stringify({ uptime: new Date(T0 - 3_600_000).toISOString() });
      return JSON.stringify(listed[Math.min(polls++, listed.length - 1)]);
    };
    const source = alertSource(spec, { run });
    await new Promise((r) => setTimeout(r, 2500));
    const events = await source.collect({ site: "monlab", group: "data", node: "m1", faultEpochSec: T0 / 1000, run: async () => "" });
    source.close();
    expect(commands[0]).toMatch(/^curl -fsS --max-time \d+ --max-filesize \d+ 'http:\/\/10\.34\.0\.102:9093\/api\/v2\/(status|alerts)'$/);
    expect(events[0]).toEqual({ atMs: 12_000, what: "alert NodeDown (m1) fired: NodeDown: do something" });
    expect(events[1]!.what).toBe("alert NodeDown (m1) resolved: NodeDown: do something");
    expect(events).toHaveLength(2);
    const after = commands.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(commands.length).toBe(after);
  });
});
