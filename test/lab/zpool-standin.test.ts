/**
 * The namespace lab's zpool stand-in (operations/lab/zpool-standin.sh), installed as zpool and as
 * zfs in every lab node, and its pool file system (operations/lab/poolfs.c): `zfs create -p`
 * makes a dataset in the imported pool only; data written to the pool stays in the node's memory
 * until fsync or the transaction-group timer, so a power cut (poolfs killed) loses exactly what
 * was not flushed, and a sync=disabled dataset loses fsynced data too; an import of a pool
 * another host held waits for MMP's activity check as /etc/modprobe.d says, refuses while the
 * other host's heartbeat moves, and a cleanly exported pool imports at once. Runs in private
 * mount namespaces with tmpfs over /run, /var/lib and /var/log, so nothing of this machine is
 * touched. Needs root (and the lab lock: it starts poolfs daemons).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { buildPoolfs } from "../../operations/lab/lab.js";
import { ROOT, tempDir } from "../helpers.js";

describe.skipIf(process.getuid?.() !== 0)("the namespace lab's zpool and zfs stand-in", () => {
  const dir = tempDir("hpcdk-zpool-standin-");
  const bin = join(dir, "bin");
  beforeAll(() => {
    buildPoolfs({ dir });
    for (const name of ["zpool", "zfs"]) {
      copyFileSync(join(ROOT, "operations", "lab", "zpool-standin.sh"), join(bin, name));
      chmodSync(join(bin, name), 0o755);
    }
  }, 60_000);

  /** A script in a private mount namespace: the pool directory on this machine's disk (shared), /run per "node". */
  let runs = 0;
  const inNamespace = (body: string) => {
    // Each test its own pool: a pool left imported by a "power cut" makes the next import wait.
    const shared = join(dir, `shared-${runs++}`);
    mkdirSync(shared, { recursive: true });
    const script = `set -u
mount --make-rprivate /
mount -t tmpfs lab-var /var/lib
mount -t tmpfs lab-log /var/log
mkdir -p /var/lib/hpcdk-lab/shared
mount --bind ${shared} /var/lib/hpcdk-lab/shared
export PATH=${bin}:$PATH HPCDK_LAB_POOLFS=${bin}/hpcdk-lab-poolfs
mkdir -p /var/lib/hpcdk-lab/shared/pools/tank
echo /run/tank > /var/lib/hpcdk-lab/shared/pools/tank.mountpoint
# a "node": its own /run (the imported state) and /etc (an overlay: its hostid, its modprobe.d)
node() {
  mount -t tmpfs "run-$1" /run; mkdir -p /run/etc-upper /run/etc-work
  mount -t overlay "etc-$1" -o lowerdir=/etc,upperdir=/run/etc-upper,workdir=/run/etc-work /etc
  printf "$2" > /etc/hostid; mkdir -p /etc/modprobe.d; cp /var/lib/modprobe.conf /etc/modprobe.d/hpcdk-zfs.conf 2>/dev/null || true
}
leave() { umount -l /etc; umount -l /run; }
${body}
`;
    return spawnSync("unshare", ["--mount", "sh", "-c", script], { encoding: "utf8", timeout: 60_000 });
  };

  it("creates datasets as directories in the imported pool only", () => {
    const r = inNamespace(`
node a "\\001\\000\\000\\000"
zfs create -p tank/home; echo "exported: $?"
zpool import tank; echo "import: $?"
zfs create -p tank/home/alice; echo "create: $?"
[ -d /run/tank/home/alice ] && [ -d /var/lib/hpcdk-lab/shared/pools/tank/home/alice ]; echo "dirs: $?"
zfs destroy tank/home; echo "destroy: $?"
zpool list -H -o health tank
zpool export tank; echo "export: $?"
zpool list tank; echo "list: $?"
leave`);
    expect(r.stdout.trim().split("\n")).toEqual(["exported: 1", "import: 0", "create: 0", "dirs: 0", "destroy: 1", "ONLINE", "export: 0", "list: 1"]);
    expect(r.stderr).toContain("cannot create tank/home: pool tank is not imported on this node");
    expect(r.stderr).toContain("cannot run zfs destroy tank/home: the lab's stand-in knows only zfs create -p [-o sync=V] POOL/DIR");
  });

  it("loses exactly the unflushed data at a power cut; a sync=disabled dataset loses fsynced data too", () => {
    const write = (path: string, sync: boolean) => `/usr/bin/python3 -c "
import os
fd = os.open('${path}', os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b'x' * 5000)
${sync ? "os.fsync(fd)" : ""}
os.close(fd)"`;
    const r = inNamespace(`echo "options zfs zfs_txg_timeout=0" > /var/lib/modprobe.conf
node a "\\001\\000\\000\\000"
echo "zfs_txg_timeout: 0 (no timer)"
zpool import tank
zfs create -p tank/safe && zfs create -p -o sync=disabled tank/fast && zfs get -H -o value sync tank/fast
${write("/run/tank/safe/flushed", true)}
${write("/run/tank/safe/unflushed", false)}
${write("/run/tank/fast/flushed", true)}
wc -c < /run/tank/safe/unflushed
kill -9 "$(cat /run/hpcdk-lab/zpool/tank.pid)"; sleep 0.3
zpool list -H -o health tank
for f in safe/flushed safe/unflushed fast/flushed; do echo "$f $(wc -c < /var/lib/hpcdk-lab/shared/pools/tank/$f)"; done
umount -l /run/tank
leave`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual(["zfs_txg_timeout: 0 (no timer)", "disabled", "5000", "FAULTED", "safe/flushed 5000", "safe/unflushed 0", "fast/flushed 0"]);
  });

  it("waits for MMP's activity check as /etc/modprobe.d says before importing a pool another host held, refuses while it still writes", () => {
    const r = inNamespace(`echo "options zfs zfs_multihost_interval=200 zfs_multihost_fail_intervals=4" > /var/lib/modprobe.conf
node a "\\012\\000\\000\\000"; zpool import tank; echo "a: $?"; A=$(cat /run/hpcdk-lab/zpool/tank.pid)
node b "\\013\\000\\000\\000"
t0=$(date +%s%3N); zpool import -f tank; echo "b while a runs: $? after $(( ($(date +%s%3N) - t0) / 100 ))00 ms"
kill -9 "$A"; sleep 0.2
t0=$(date +%s%3N); zpool import -f tank; echo "b after a's power cut: $? after >= $(( ($(date +%s%3N) - t0) / 1000 )) s"
zpool export tank; echo "b export: $?"; leave; leave
node a "\\012\\000\\000\\000"
t0=$(date +%s%3N); zpool import tank; echo "a after a clean export: $? after $(( ($(date +%s%3N) - t0) / 1000 )) s"
zpool export tank; leave
cat /var/log/hpcdk-lab/zpool.log`);
    const lines = r.stdout.trim().split("\n");
    // 4 fail intervals x 200 ms x 2 = 1.6 s; the heartbeat of a running holder moves within 200 ms.
    expect(lines.slice(0, 5)).toEqual(["a: 0", expect.stringMatching(/^b while a runs: 1 after [0-9]00 ms$/), "b after a's power cut: 0 after >= 1 s", "b export: 0", "a after a clean export: 0 after 0 s"]);
    expect(r.stderr).toContain("cannot import 'tank': pool is imported on another host (hostid 0000000a, its MMP heartbeat moves): export it there first");
    expect(lines[5]).toMatch(/^\d+\.\d+ import tank mmp-refused /);
    const wait = /^(\d+\.\d+) import tank mmp-wait (\d+\.\d+) (\d+\.\d+) last held by hostid 0000000a, 1600 ms$/.exec(lines[6]!);
    expect(wait, lines[6]).not.toBeNull();
    expect(Number(wait![3]) - Number(wait![2])).toBeGreaterThanOrEqual(1.6);
    expect(Number(wait![3]) - Number(wait![2])).toBeLessThan(2.5);
  });
});
