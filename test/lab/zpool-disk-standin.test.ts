/**
 * The Vagrant lab's zpool stand-in (operations/lab/zpool-disk-standin.sh) driven by the real
 * ocf:heartbeat:ZFS agent, on one disk file seen by two "VMs": two loop devices with direct I/O
 * over the same file (no page cache between them, as QEMU's cache="none" shared disks), each VM a
 * private mount namespace with its own stand-in state. It proves what the VM lab relies on: the
 * agent imports, monitors and exports the pool unchanged, the data lives on the disk, an import
 * while the other VM holds the pool is refused (ext4's multiple mount protection, the stand-in's
 * multihost=on), and a pool still mounted elsewhere (a bind mount) is not exported.
 * Needs root (loop devices, mounts) and resource-agents.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, tempDir } from "../helpers.js";

const AGENT = "/usr/lib/ocf/resource.d/heartbeat/ZFS";
const canRun = process.getuid?.() === 0 && existsSync(AGENT);

describe.skipIf(!canRun)("the Vagrant lab's zpool stand-in under ocf:heartbeat:ZFS", () => {
  const work = tempDir("hpcdk-zpool-disk-");
  const loops: string[] = [];

  beforeAll(() => {
    // Each VM names the shared disk as the site does, in its own /dev/disk/by-id.
    execFileSync("truncate", ["-s", "64M", join(work, "disk.img")]);
    for (const vm of ["a", "b"]) {
      loops.push(execFileSync("losetup", ["--direct-io=on", "--find", "--show", join(work, "disk.img")], { encoding: "utf8" }).trim());
      mkdirSync(join(work, vm, "by-id"), { recursive: true });
      mkdirSync(join(work, vm, "state"), { recursive: true });
      symlinkSync(loops.at(-1)!, join(work, vm, "by-id", "wwn-0x5000c5000000b001"));
    }
    // VM c sees a copy of the disk taken while a holds the pool: the disk as a power cut leaves it.
    mkdirSync(join(work, "c", "by-id"), { recursive: true });
    mkdirSync(join(work, "c", "state"), { recursive: true });
    mkdirSync(join(work, "bin"));
    symlinkSync(join(ROOT, "operations", "lab", "zpool-disk-standin.sh"), join(work, "bin", "zpool"));
    chmodSync(join(ROOT, "operations", "lab", "zpool-disk-standin.sh"), 0o755);
  });

  afterAll(() => {
    for (const loop of loops) spawnSync("losetup", ["--detach", loop]);
  });

  it("imports, monitors and exports the pool on the shared disk; the other VM cannot import it meanwhile", () => {
    // GIVEN VM a and VM b, each in a mount namespace of its own (b's inside a's, so that a still
    // holds the pool while b tries), WHEN they run the agent's actions in turn, THEN each action's
    // exit code is the one the agent's contract gives.
    // Both VMs' shells: the stand-in first on PATH, the agent's environment, a step printer.
    writeFileSync(
      join(work, "functions"),
      `set -u
export W=${work}
export PATH=$W/bin:$PATH OCF_ROOT=/usr/lib/ocf OCF_RESKEY_pool=tank
vm() { # vm a|b COMMAND...: run as that VM
    v=$1; shift
    HPCDK_ZPOOL_STANDIN_STATE=$W/$v/state OCF_RESKEY_importargs="-d $W/$v/by-id" "$@"
}
step() { # step NAME COMMAND...: print NAME and the exit code
    n=$1; shift
    "$@" > /dev/null 2>> $W/stderr; echo "$n $?"
}
`,
    );
    const script = `
. ${work}/functions
step a-validate-before-create vm a ${AGENT} validate-all
step a-create vm a zpool create -o ashift=12 -o multihost=on -o cachefile=none -O mountpoint=$W/tank tank mirror $W/a/by-id/wwn-0x5000c5000000b001
vm a zpool list -H -o name,health tank
mkdir $W/tank/home && echo written-on-a > $W/tank/home/file
step a-export vm a zpool export tank
step a-validate vm a ${AGENT} validate-all
step a-monitor-exported vm a ${AGENT} monitor
step a-start vm a ${AGENT} start
step a-monitor vm a ${AGENT} monitor
dumpe2fs -h $W/a/by-id/wwn-0x5000c5000000b001 2> /dev/null > $W/dumpe2fs
grep -q '^Filesystem features:.* mmp' $W/dumpe2fs && echo "feature mmp"
grep '^MMP update interval' $W/dumpe2fs | sed 's/  */ /g'
echo synced-on-a > $W/tank/home/synced && sync -f $W/tank/home/synced
cp --sparse=always $W/disk.img $W/crash.img
ln -s $(losetup --direct-io=on --find --show $W/crash.img) $W/c/by-id/wwn-0x5000c5000000b001
unshare --mount --propagation private sh -c '
    . $W/functions
    t0=$(date +%s)
    step c-start-after-power-cut vm c ${AGENT} start
    echo "c-waited $(($(date +%s) - t0))"
    cat $W/tank/home/synced
    step c-stop vm c ${AGENT} stop
'
losetup --detach $(readlink $W/c/by-id/wwn-0x5000c5000000b001)
unshare --mount --propagation private sh -c '
    . $W/functions
    step b-validate vm b ${AGENT} validate-all
    step b-start-while-a-holds-it vm b ${AGENT} start
    step b-monitor vm b ${AGENT} monitor
'
mkdir -p $W/bind && mount --bind $W/tank/home $W/bind
step a-stop-while-bind-mounted vm a ${AGENT} stop
umount $W/bind
step a-stop vm a ${AGENT} stop
step a-monitor-stopped vm a ${AGENT} monitor
unshare --mount --propagation private sh -c '
    . $W/functions
    step b-start vm b ${AGENT} start
    step b-monitor vm b ${AGENT} monitor
    cat $W/tank/home/file
    step b-stop vm b ${AGENT} stop
'
`;
    const t0 = Date.now();
    const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", script], { encoding: "utf8", timeout: 240_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      "a-validate-before-create 6", // OCF_ERR_CONFIGURED: no such pool on the disks
      "a-create 0",
      "tank\tONLINE",
      "a-export 0",
      "a-validate 0",
      "a-monitor-exported 7", // OCF_NOT_RUNNING
      "a-start 0",
      "a-monitor 0",
      "feature mmp", // multihost=on: ext4's multiple mount protection...
      "MMP update interval: 1", // ...rewritten every second
      "c-start-after-power-cut 0", // a power-cut disk imports...
      expect.stringMatching(/^c-waited (2[0-9]|3[0-9])$/), // ...after MMP's two waits (2 x 11 s)
      "synced-on-a", // ...with what was synced before the cut (the journal replayed)
      "c-stop 0",
      "b-validate 0", // b finds the pool on the disk...
      "b-start-while-a-holds-it 1", // ...but MMP refuses to mount it while a holds it
      "b-monitor 7",
      "a-stop-while-bind-mounted 1", // a bind mount keeps the file system: no export
      "a-stop 0",
      "a-monitor-stopped 7",
      "b-start 0",
      "b-monitor 0",
      "written-on-a", // the data is on the disk, not in a's page cache
      "b-stop 0",
    ]);
    const stderr = spawnSync("cat", [join(work, "stderr")], { encoding: "utf8" }).stdout;
    expect(stderr).toContain(`cannot import 'tank': mounting ${work}/b/by-id/wwn-0x5000c5000000b001 on ${work}/tank failed`);
    expect(stderr).toContain(`cannot export 'tank': pool is busy (also mounted on ${work}/bind )`);
    // MMP made b wait before refusing: twice its check interval (5 s) and a second.
    expect(Date.now() - t0).toBeGreaterThan(11_000);
  }, 300_000);
});
