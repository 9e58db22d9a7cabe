import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { packageQuery, parsePackages } from "../../operations/rollout/gather.js";

describe("installed versions, as dpkg-query says", () => {
  it("reads an installed package's version and a missing package as not installed", () => {
    const names = ["dpkg", "hpcdk-no-such-package"];
    const stdout = execFileSync("sh", ["-s"], { input: packageQuery(names), encoding: "utf8" });
    const versions = parsePackages(names, stdout);
    expect(versions.get("dpkg")).toBe(execFileSync("dpkg-query", ["-W", "-f", "${Version}", "dpkg"], { encoding: "utf8" }));
    expect(versions.get("hpcdk-no-such-package")).toBeNull();
  });

  it("fails if the answer is cut short or names another package", () => {
    expect(() => parsePackages(["dpkg"], "HPCDK-PKG dpkg 1.21\n")).toThrow("cut short");
    expect(() => parsePackages(["dpkg"], "HPCDK-PKG bash 5.2\nHPCDK-END\n")).toThrow();
  });
});
