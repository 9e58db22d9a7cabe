import { describe, expect, it } from "vitest";
import { loadExamples, readTree, synthTo, tempDir } from "./helpers.js";

describe("synthesis", () => {
  it("gives identical bytes twice", () => {
    // One project: the same secrets, as on a site admin's machine.
    const project = tempDir();
    const a = readTree(synthTo(loadExamples(), project).out);
    const b = readTree(synthTo(loadExamples(), project).out);
    expect([...a.keys()]).toEqual([...b.keys()]);
    for (const [path, bytes] of a) expect(bytes.equals(b.get(path)!), path).toBe(true);
  });

  it("writes no path of the build machine and no timestamp", () => {
    const { out } = synthTo(loadExamples());
    const tree = readTree(out);
    const text = [...tree.values()].map((b) => b.toString("latin1")).join("\n");
    expect(text).not.toContain(process.cwd());
    // The output directory and hpcdk's own temporary directories, not /tmp as such: hosts' files
    // name /tmp legitimately (Podman's runtime directory, Sarus's tempDir, a plasma socket).
    expect(text).not.toContain(out);
    expect(text).not.toMatch(/\/tmp\/hpcdk-/);
    expect(text).not.toMatch(/20\d\d-\d\d-\d\dT\d\d:\d\d/);
  });
});
