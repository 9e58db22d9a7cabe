import { describe, expect, it } from "vitest";
import { doubleImports, parsePoolHistory } from "../../operations/lab/pool-history.js";

const line = (at: number, node: string, event: string) => `${at}.000000000 ${node} 0000000${node.slice(-1)} ${event}`;

describe("the lab pool's import and export record", () => {
  it("finds no double import in a clean failover: export on one node, then import on the other", () => {
    const events = parsePoolHistory([line(1, "m1", "import"), line(5, "m1", "export"), line(6, "m2", "import")].join("\n") + "\n");
    expect(doubleImports(events)).toEqual([]);
  });

  it("fails if a node imports a pool another still holds", () => {
    const events = parsePoolHistory([line(1, "m1", "import"), line(6, "m2", "import")].join("\n"));
    expect(doubleImports(events)).toEqual([{ at: 6, node: "m2", holders: ["m1"] }]);
  });

  it("accepts an import after the holder was fenced (lost without an export)", () => {
    const events = parsePoolHistory([line(1, "m1", "import"), line(6, "m2", "import")].join("\n"));
    expect(doubleImports(events, { m1: [4] })).toEqual([]);
  });

  it("fails if a line is not one the stand-in writes", () => {
    expect(() => parsePoolHistory("1 m1 import\n")).toThrow('pool history line 1: cannot read "1 m1 import"');
  });
});
