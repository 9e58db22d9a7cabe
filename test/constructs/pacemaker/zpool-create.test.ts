/**
 * The pool's one-time creation script (`hpcdk-zpool-create-<pool>`) as rendered for the lab site,
 * run against three real block devices (loop devices over files) with Debian's wipefs. There is
 * no ZFS on these machines: `zpool`, `zfs` and `hostid` are stand-ins that log their arguments,
 * so the test proves what the script asks ZFS to do, what it refuses, and that every exported
 * directory becomes a dataset (ocf:heartbeat:exportfs does not start on a missing directory).
 * Needs root (loop devices).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { have, loadExamples, synthTo, tempDir } from "../../helpers.js";

const canRun = process.getuid?.() === 0 && have("losetup") && have("wipefs");
const SITE = "lab";
const POOL = "stc2_pool";

describe.skipIf(!canRun)(`hpcdk-zpool-create-${POOL} on block devices`, () => {
  const work = tempDir("hpcdk-zpool-create-");
  const loops: string[] = [];
  let script = "";

  beforeAll(() => {
    const { out } = synthTo(loadExamples([SITE]), join(work, "project"));
    const rendered = readFileSync(join(out, "stacks", SITE, "hosts", "stc1", "usr", "local", "sbin", `hpcdk-zpool-create-${POOL}`), "utf8");
    // The site's three LUNs become loop devices; the rewrite must find each one.
    const devices = [...new Set(rendered.match(/\/dev\/(?:disk\/by-id|mapper)\/[^\s;'"]+/g) ?? [])];
    expect(devices).toHaveLength(3);
    script = rendered;
    devices.forEach((dev, i) => {
      execFileSync("truncate", ["-s", "16M", join(work, `lun${i}.img`)]);
      loops.push(execFileSync("losetup", ["--find", "--show", join(work, `lun${i}.img`)], { encoding: "utf8" }).trim());
      script = script.split(dev).join(loops[i]!);
    });
    // The node's /etc/hostid (the bundle installs it) is a file of the test.
    expect(script).toContain("[ -s /etc/hostid ]");
    script = script.replace("[ -s /etc/hostid ]", `[ -s ${join(work, "hostid")} ]`);
    writeFileSync(join(work, "hostid"), "\x3d\x2c\x1f\x8a");
    writeFileSync(join(work, "create.sh"), script, { mode: 0o755 });
    mkdirSync(join(work, "bin"));
    // zpool list/import answer from the state file; every call is logged.
    const stub = (name: string, body: string) => {
      writeFileSync(join(work, "bin", name), `#!/bin/sh\necho "${name} $*" >> "$W/calls"\n${body}\n`);
      chmodSync(join(work, "bin", name), 0o755);
    };
    stub("zpool", `case "$1" in list) [ -e "$W/imported" ] ;; import) exit 1 ;; *) exit 0 ;; esac`);
    stub("zfs", "exit 0");
    stub("hostid", "echo 8a1f2c3d");
  });

  afterAll(() => {
    for (const loop of loops) spawnSync("losetup", ["--detach", loop]);
  });

  const run = (...args: string[]) => {
    writeFileSync(join(work, "calls"), "");
    const r = spawnSync("sh", [join(work, "create.sh"), ...args], {
      encoding: "utf8",
      env: { PATH: `${join(work, "bin")}:/usr/sbin:/usr/bin:/sbin:/bin`, W: work },
    });
    return { code: r.status, out: `${r.stdout}${r.stderr}`, calls: readFileSync(join(work, "calls"), "utf8").trim().split("\n").filter(Boolean) };
  };

  it("creates the pool over empty devices with multihost protection, a dataset per export and monitoring's, then exports it", () => {
    const r = run();
    expect(r.out).toContain(`created pool ${POOL} (multihost=on, cachefile=none) (datasets: ${POOL}/apps ${POOL}/home ${POOL}/monitoring ${POOL}/slurm)`);
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => !c.startsWith("hostid"))).toEqual([
      `zpool list -H -o name ${POOL}`,
      `zpool import -d /dev/mapper`,
      `zpool create -o ashift=12 -o multihost=on -o cachefile=none -O mountpoint=/${POOL} -O acltype=posixacl -O atime=off -O compression=lz4 -O xattr=sa ${POOL} raidz1 ${loops.join(" ")}`,
      `zfs create -p ${POOL}/apps`,
      `zfs create -p ${POOL}/home`,
      `zfs create -p ${POOL}/monitoring`,
      `zfs create -p ${POOL}/slurm`,
      `zpool export ${POOL}`,
    ]);
  });

  it("only adds the missing datasets on the node that has the pool imported (a rerun, or --datasets-only as each deploy runs it)", () => {
    writeFileSync(join(work, "imported"), "");
    try {
      for (const args of [[], ["--datasets-only"]]) {
        const r = run(...args);
        expect(r.code).toBe(0);
        expect(r.out).toContain(`pool ${POOL} is imported on this node already`);
        expect(r.calls.filter((c) => !c.startsWith("hostid"))).toEqual([
          `zpool list -H -o name ${POOL}`,
          `zfs create -p ${POOL}/apps`,
          `zfs create -p ${POOL}/home`,
          `zfs create -p ${POOL}/monitoring`,
          `zfs create -p ${POOL}/slurm`,
        ]);
      }
    } finally {
      spawnSync("rm", ["-f", join(work, "imported")]);
    }
  });

  it("with --datasets-only does nothing on a node that does not hold the pool, even over empty devices", () => {
    const r = run("--datasets-only");
    expect(r.code).toBe(0);
    expect(r.out).toContain(`pool ${POOL} is not imported on this node`);
    expect(r.calls.filter((c) => !c.startsWith("hostid"))).toEqual([`zpool list -H -o name ${POOL}`]);
  });

  it("refuses an unknown argument", () => {
    const r = run("--force");
    expect(r.code).toBe(1);
    expect(r.out).toContain(`usage: hpcdk-zpool-create-${POOL} [--datasets-only]`);
    expect(r.calls).toEqual([]);
  });

  it("refuses a device that holds a filesystem and touches nothing", () => {
    execFileSync("mkfs.ext4", ["-q", "-F", loops[1]!]);
    const r = run();
    expect(r.code).toBe(1);
    expect(r.out).toContain(`hpcdk-zpool-create-${POOL}: ${loops[1]} is not empty (it holds: ext4 ): refusing to touch it`);
    expect(r.calls.some((c) => c.startsWith("zpool create") || c.startsWith("zfs"))).toBe(false);
  });
});
