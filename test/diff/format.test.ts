/**
 * The report as reviewers read it: the Markdown of a pull-request comment pinned as a snapshot
 * (`__snapshots__/lab-review.md`: read it as the comment a reviewer gets), the terminal text with
 * and without colour, and JSON.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { diffSites } from "../../operations/diff/index.js";
import { formatJson, formatMarkdown, formatText } from "../../operations/diff/format.js";
import { parseSite } from "../../schema/load.js";
import { synthesizeSite } from "../../stacks/synth.js";
import { ROOT } from "../helpers.js";

const lab = readFileSync(join(ROOT, "test", "fixtures", "diff", "lab.yaml"), "utf8");
const edits: [string, string][] = [
  ["    tokenMs: 3000\n", "    tokenMs: 1000\n"],
  ["        - path: /stc2_pool/apps\n", "        - path: /stc2_pool/scratch\n          fsid: 3\n          clients:\n            - spec: 172.16.0.0/16\n        - path: /stc2_pool/apps\n"],
  ["    hosts: login[1-2]\n", "    hosts: login[1-4]\n"],
];
let next = lab;
for (const [from, to] of edits) {
  expect(next).toContain(from);
  next = next.replace(from, to);
}
const report = await diffSites(parseSite(lab, "sites/lab.yaml"), parseSite(next, "sites/lab.yaml"), { secrets: "/nonexistent", synthesize: synthesizeSite });

describe("the diff report", () => {
  it("renders Markdown for a pull request: impact summary first, one collapsible section per host", async () => {
    const md = formatMarkdown(report);
    await expect(md).toMatchFileSnapshot(join("__snapshots__", "lab-review.md"));
    const summaryAt = md.indexOf("| impact | change | where | what happens |");
    expect(summaryAt).toBeGreaterThan(0);
    expect(summaryAt).toBeLessThan(md.indexOf("<details>"));
    expect(md.match(/<details><summary><b>host stc\d<\/b>/g)).toHaveLength(4);
    expect(md.match(/<details>/g)!.length).toBe(md.match(/<\/details>/g)!.length);
  });

  it("renders the summary worst first", () => {
    const ranks = report.summary.map((r) => ["none", "reload", "restart", "resource-move", "outage"].indexOf(r.impact.kind));
    expect(ranks).toEqual([...ranks].sort((a, b) => b - a));
    expect(report.summary[0]!.impact.kind).toBe("resource-move");
  });

  it("renders plain text without escape codes unless colour is asked for", () => {
    const plain = formatText(report);
    expect(plain).not.toContain("\u001b[");
    expect(plain).toContain("impact: RESOURCE-MOVE\n");
    expect(plain).toContain("  start   export-stc2_pool-scratch-172.16.0.0-16 on stc2\n");
    expect(plain).toContain("    -    token: 3000\n    +    token: 1000\n");
    const coloured = formatText(report, { color: true });
    expect(coloured).toContain("\u001b[32m+    token: 1000\u001b[39m");
    expect(coloured.replace(/\u001b\[\d+m/g, "")).toBe(plain);
  });

  it("renders JSON that holds the whole report", () => {
    const json = JSON.parse(formatJson(report));
    expect(json.impact).toBe("resource-move");
    expect(json.settings.map((s: { path: string }) => s.path)).toEqual([
      "cluster.corosync.tokenMs",
      "nfs.groups[nfs].exports[/stc2_pool/scratch]",
      "nodeGroups[login].hosts",
    ]);
    expect(json.stack.bundles.find((b: { dir: string }) => b.dir === "groups/login").hosts).toEqual({ old: "login[1-2]", new: "login[1-4]", added: ["login3", "login4"], removed: [] });
  });
});
