/**
 * The apply script's hold on the cluster daemons' restarts while packages install: its
 * policy-rc.d (what Debian's invoke-rc.d and deb-systemd-invoke ask) refuses corosync, pacemaker
 * and the NFS and ZFS services, asks a policy-rc.d that was there before about anything else, and
 * is gone however the script ends, the one that was there put back. Run from a rendered apply.sh
 * with its paths moved into a temporary directory (this machine's /usr/sbin is not touched).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const { out } = synthTo(loadExamples(["minilab"]));
const script = readFileSync(join(out, "stacks", "minilab", "apply", "hosts", "m1.sh"), "utf8");

/** The hold's functions of the rendered script, with its paths under `dir`. */
function holdFunctions(dir: string): string {
  const start = script.indexOf("POLICY=/usr/sbin/policy-rc.d");
  const end = script.indexOf('if [ -n "$MISSING" ]');
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return [
    "set -eu",
    `STATE=${dir}/state`,
    'say() { printf "HPCDK %s\\n" "$*"; }',
    'fail() { say "error $*"; exit 1; }',
    script.slice(start, end).replace("POLICY=/usr/sbin/policy-rc.d", `POLICY=${dir}/policy-rc.d`),
  ].join("\n");
}

const run = (dir: string, body: string) => spawnSync("sh", ["-c", `${holdFunctions(dir)}\n${body}`], { encoding: "utf8" });

describe("the apply script's hold on daemon restarts", () => {
  it("refuses the cluster's daemons and lets everything else run while packages install", () => {
    const dir = tempDir("hpcdk-hold-");
    mkdirSync(join(dir, "state"));
    const r = run(
      dir,
      `hold_restarts
       for a in "pacemaker restart" "corosync.service restart" "--quiet nfs-ganesha start" "zfs-zed start" "nginx start" "munge restart"; do
         set +e; "$POLICY" $a; echo "$a: $?"; set -e
       done
       release_restarts
       [ -e "$POLICY" ] && echo left || echo removed`,
    );
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual(["pacemaker restart: 101", "corosync.service restart: 101", "--quiet nfs-ganesha start: 101", "zfs-zed start: 101", "nginx start: 0", "munge restart: 0", "removed"]);
  });

  it("asks a policy-rc.d that was there before about everything else, and puts it back", () => {
    const dir = tempDir("hpcdk-hold-");
    mkdirSync(join(dir, "state"));
    writeFileSync(join(dir, "policy-rc.d"), "#!/bin/sh\n# the image's own: nothing starts\nexit 101\n", { mode: 0o755 });
    const r = run(dir, `hold_restarts; set +e; "$POLICY" nginx start; echo "nginx: $?"; set -e; release_restarts`);
    expect(r.stdout.trim()).toBe("nginx: 101");
    expect(readFileSync(join(dir, "policy-rc.d"), "utf8")).toContain("the image's own");
  });

  it("fails if the hold outlives a failed install: it is removed when the script exits on an error", () => {
    const dir = tempDir("hpcdk-hold-");
    mkdirSync(join(dir, "state"));
    writeFileSync(join(dir, "policy-rc.d"), "#!/bin/sh\n# the image's own\nexit 0\n", { mode: 0o755 });
    const r = run(dir, `hold_restarts; [ -x "$POLICY" ] && grep -q 'hpcdk: hold restarts' "$POLICY" && echo held; fail "apt-get install pacemaker failed"`);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("held\nHPCDK error apt-get install pacemaker failed\n");
    expect(readFileSync(join(dir, "policy-rc.d"), "utf8")).toContain("the image's own");
    expect(existsSync(join(dir, "state", "policy-rc.d.saved"))).toBe(false);
  });
});
