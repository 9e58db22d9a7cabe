/**
 * Commands hpcdk runs on a host as a user other than root go through `sudo -n sh -c`: quoting
 * that keeps every shell construct (&&, redirections, quotes) intact. Checked by running both
 * forms in a real sh, with a `sudo` that only drops its -n (the test is not about sudo itself).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { rootCommand } from "../../operations/remote/ssh.js";
import { tempDir } from "../helpers.js";

const bin = tempDir();
writeFileSync(join(bin, "sudo"), '#!/bin/sh\n[ "$1" = -n ] || { echo "sudo without -n" >&2; exit 9; }\nshift\nexec "$@"\n');
chmodSync(join(bin, "sudo"), 0o755);
const sh = (command: string, stdin = "") =>
  spawnSync("sh", ["-c", command], { input: stdin, encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });

describe("rootCommand", () => {
  it("leaves root's commands alone", () => {
    expect(rootCommand("root", "cibadmin --query")).toBe("cibadmin --query");
  });

  it.each([
    "echo one && echo two",
    "printf '%s\\n' 'it'\"'\"'s quoted' \"double $((1 + 1))\"",
    "umask 077 && d=$(mktemp -d) && cat > $d/in && wc -c < $d/in && rm -r $d",
    "if [ -f '/nonexistent' ]; then echo yes; else exit 3; fi",
  ])("runs %s through sudo -n sh -c with the same result", (command) => {
    const direct = sh(command, "stdin bytes\n");
    const viaSudo = sh(rootCommand("deployer", command), "stdin bytes\n");
    expect(rootCommand("deployer", command)).toMatch(/^sudo -n sh -c '/);
    expect({ out: viaSudo.stdout, code: viaSudo.status }).toEqual({ out: direct.stdout, code: direct.status });
  });
});
