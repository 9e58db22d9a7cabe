/**
 * The streaming section of a site file: defaults, and every rule with its exact message (file,
 * line, field path, what was expected); a bad section writes nothing.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { synthSiteFiles } from "../../stacks/synth.js";
import { loadExamples, tempDir } from "../helpers.js";
import { CASES, type StreamCase } from "./cases.js";
import { fixtureText, loadFixture } from "./helpers.js";

function apply(c: StreamCase): string {
  return c.edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`case "${c.name}": the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, fixtureText(c.fixture));
}

describe("the streaming section", () => {
  it("fills the defaults an admin expects", () => {
    // GIVEN a section that names only the cluster, the image and where to run
    const s = loadFixture("stream-systemd").spec.streaming!;
    // THEN the seed's values fill the rest
    expect(s.runtime).toBe("apptainer");
    expect(s.transport).toBe("infiniband");
    expect(s.infiniband).toEqual({ device: "mlx5_0", port: 1, interface: "ib0", hostSuffix: "-ib0" });
    expect(s.coordinator).toEqual({ port: 11100, reset: true, extraArgs: ["-n"] });
    expect(s.broker.port).toBe(11101);
    expect(s.plasma).toEqual({ socket: "/tmp/plasma", memoryBytes: 1_000_000_000 });
    expect(s.fabric.provider).toBe("verbs");
    expect(s.build.rdma).toEqual({ stack: "rdma-core" });
  });

  it("chooses the sockets provider without InfiniBand", () => {
    expect(loadFixture("stream-podman").spec.streaming!.fabric.provider).toBe("sockets");
  });

  it("accepts the lab example with the seed's values", () => {
    const s = loadExamples(["lab"])[0]!.spec.streaming!;
    expect(s.build.rdma).toEqual({ stack: "mofed", version: "5.1-2.5.8.0", kernel: "5.4.0-42-generic" });
    expect(s.launch).toMatchObject({ via: "slurm", nodeGroup: "compute", brokers: 2, cpusPerTask: 3 });
  });

  it.each(CASES.map((c) => [c.name, c] as const))("fails if %s", (_name, c) => {
    let problems: readonly string[] = [];
    try {
      parseSite(apply(c), "sites/bad.yaml");
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
      problems = err.problems;
    }
    expect(problems.length).toBeGreaterThan(0);
    expect(problems).toEqual(c.problems);
  });

  it.each(CASES.slice(0, 4).map((c) => [c.name, c] as const))("writes nothing if %s", (_name, c) => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, apply(c));
    const out = join(dir, "cdktf.out");
    expect(() => synthSiteFiles([file], out, false)).toThrow(SiteError);
    expect(existsSync(out)).toBe(false);
  });
});
