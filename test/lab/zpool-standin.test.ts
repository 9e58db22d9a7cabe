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
import { doubleImports, parsePoolHistory } from "../../operations/lab/pool-history.js";
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

  it("gives what a user makes to that user (Prometheus' TSDB as prometheus), and answers the zpool collector's columns", () => {
    const r = inNamespace(`
node a "\\001\\000\\000\\000"
zpool import tank
mkdir /run/tank/data; chmod 777 /run/tank/data
setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'echo x > /run/tank/data/f; mkdir /run/tank/data/d; ln -s f /run/tank/data/l'
stat -c '%n %U' /run/tank/data/f /run/tank/data/d
stat -c '%n %U' /var/lib/hpcdk-lab/shared/pools/tank/data/d
find /run/tank/data/l -printf '%p %u\\n'
zpool list -Hp -o name,health,size,allocated,free,fragmentation | awk -F'\\t' '{ print NF, $1, $2, ($3 > 0), ($4 >= 0), $6 }'
zpool export tank
leave`);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim().split("\n")).toEqual([
      "/run/tank/data/f nobody",
      "/run/tank/data/d nobody",
      "/var/lib/hpcdk-lab/shared/pools/tank/data/d nobody",
      "/run/tank/data/l nobody",
      "6 tank ONLINE 1 1 0",
    ]);
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
    expect(lines.slice(0, 5)).toEqual(["a: 0", expect.stringMatching(/^b while a runs: 1 after \d+ ms$/), "b after a's power cut: 0 after >= 1 s", "b export: 0", "a after a clean export: 0 after 0 s"]);
    // Refused as soon as the heartbeat moved, not after the whole wait.
    expect(Number(/after (\d+) ms/.exec(lines[1]!)![1])).toBeLessThan(1600);
    expect(r.stderr).toContain("cannot import 'tank': pool is imported on another host (hostid 0000000a, its MMP heartbeat moves): export it there first");
    expect(lines[5]).toMatch(/^\d+\.\d+ import tank mmp-refused /);
    const wait = /^(\d+\.\d+) import tank mmp-wait (\d+\.\d+) (\d+\.\d+) last held by hostid 0000000a, 1600 ms$/.exec(lines[6]!);
    expect(wait, lines[6]).not.toBeNull();
    expect(Number(wait![3]) - Number(wait![2])).toBeGreaterThanOrEqual(1.6);
    expect(Number(wait![3]) - Number(wait![2])).toBeLessThan(2.5);
  });

  it("records every import and export with the node's host name and hostid on the pool's disks, and a refused import not at all", () => {
    const r = inNamespace(`echo "options zfs zfs_multihost_interval=200 zfs_multihost_fail_intervals=4" > /var/lib/modprobe.conf
node a "\\012\\000\\000\\000"; zpool import tank; zpool export tank; leave
node b "\\013\\000\\000\\000"; zpool import tank
node a "\\012\\000\\000\\000"; zpool import -f tank; echo "a while b holds it: $?"; leave
zpool export tank; leave
cat /var/lib/hpcdk-lab/shared/pools/tank.history`);
    const lines = r.stdout.trim().split("\n");
    expect(lines[0]).toBe("a while b holds it: 1");
    const events = parsePoolHistory(lines.slice(1).join("\n"));
    expect(events.map((e) => `${e.hostid} ${e.event}`)).toEqual(["0000000a import", "0000000a export", "0000000b import", "0000000b export"]);
    expect(events.every((e, i) => i === 0 || e.at >= events[i - 1]!.at)).toBe(true);
    expect(doubleImports(events.map((e) => ({ ...e, node: e.hostid })))).toEqual([]);
  });

  it("gives a file the same handle in every import (the pool's block device, the backing file's inode), so an NFS client's handle opens it after a failover", () => {
    const fh = `/usr/bin/python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
class FH(ctypes.Structure):
    _fields_ = [("handle_bytes", ctypes.c_uint), ("handle_type", ctypes.c_int), ("f_handle", ctypes.c_ubyte * 128)]
h = FH()
if sys.argv[1] == "encode":
    h.handle_bytes = 128; mid = ctypes.c_int()
    assert libc.name_to_handle_at(-100, sys.argv[2].encode(), ctypes.byref(h), ctypes.byref(mid), 0) == 0
    print(h.handle_type, bytes(h.f_handle[:h.handle_bytes]).hex(), os.stat(sys.argv[2]).st_dev)
else:
    b = bytes.fromhex(sys.argv[4]); h.handle_bytes = len(b); h.handle_type = int(sys.argv[3]); h.f_handle[:len(b)] = list(b)
    fd = libc.open_by_handle_at(os.open(sys.argv[2], os.O_RDONLY), ctypes.byref(h), os.O_RDONLY)
    print("opened" if fd >= 0 else os.strerror(ctypes.get_errno()), os.read(fd, 100) if fd >= 0 else b"", os.stat(sys.argv[2]).st_dev)
'`;
    const image = join(dir, "tank.img");
    spawnSync("truncate", ["-s", "1M", image]);
    const loop = spawnSync("losetup", ["--find", "--show", image], { encoding: "utf8" }).stdout.trim();
    expect(loop).toMatch(/^\/dev\/loop\d+$/);
    try {
      const r = inNamespace(`echo ${loop} > /var/lib/hpcdk-lab/shared/pools/tank.blkdev
echo "options zfs zfs_multihost_interval=100 zfs_multihost_fail_intervals=2" > /var/lib/modprobe.conf
fh() { ${fh} "$@"; }
node a "\\012\\000\\000\\000"; zpool import tank; echo kept > /run/tank/f; /usr/bin/python3 -c "import os; fd = os.open('/run/tank/f', os.O_RDONLY); os.fsync(fd)"
set -- $(fh encode /run/tank/f); echo "a: $3"
kill -9 "$(cat /run/hpcdk-lab/zpool/tank.pid)"; sleep 0.3; umount -l /run/tank; leave
node b "\\013\\000\\000\\000"; zpool import -f tank
fh decode /run/tank "$1" "$2"
zpool export tank; leave`);
      const lines = r.stdout.trim().split("\n");
      // The same device number in both imports, and the handle from the first opens the file in the second.
      const dev = lines[0]!.replace("a: ", "");
      expect(lines[1]).toBe(`opened b'kept\\n' ${dev}`);
    } finally {
      spawnSync("losetup", ["-d", loop]);
    }
  });
});

