import { describe, expect, it } from "vitest";
import { loadExamples, readTree, synthTo } from "./helpers.js";

describe("synthesis", () => {
  it("gives identical bytes twice", () => {
    const a = readTree(synthTo(loadExamples()).out);
    const b = readTree(synthTo(loadExamples()).out);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [path, bytes] of a) expect(bytes.equals(b.get(path)!), path).toBe(true);
  });

  it("writes no path of the build machine and no timestamp", () => {
    const { out } = synthTo(loadExamples());
    const tree = readTree(out);
    const text = [...tree.values()].map((b) => b.toString("latin1")).join("\n");
    expect(text).not.toContain(process.cwd());
    // The build machine's temporary directories (the output's own, hpcdk's); /tmp on the hosts
    // (a plasma socket, a scratch directory) is fine.
    expect(text).not.toContain(out);
    expect(text).not.toMatch(/\/tmp\/hpcdk-/);
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT\d\d:\d\d/);
  });
});
