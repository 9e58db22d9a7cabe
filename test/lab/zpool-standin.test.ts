/**
 * The namespace lab's zpool stand-in (operations/lab/zpool-standin.sh), installed as zpool and as
 * zfs in every lab node: import bind-mounts the shared pool directory, `zfs create -p` (what
 * hpcdk-zpool-create-<pool> --datasets-only runs at each deploy) makes a directory in the
 * imported pool, and refuses while the pool is exported. Runs in a private mount namespace with
 * tmpfs over /run and /var/lib, so nothing of this machine is touched. Needs root.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT, tempDir } from "../helpers.js";

describe.skipIf(process.getuid?.() !== 0)("the namespace lab's zpool and zfs stand-in", () => {
  it("creates datasets as directories in the imported pool only", () => {
    const bin = join(tempDir("hpcdk-zpool-standin-"), "bin");
    mkdirSync(bin);
    for (const name of ["zpool", "zfs"]) {
      copyFileSync(join(ROOT, "operations", "lab", "zpool-standin.sh"), join(bin, name));
      chmodSync(join(bin, name), 0o755);
    }
    const script = `set -u
mount --make-rprivate /
mount -t tmpfs lab-run /run
mount -t tmpfs lab-var /var/lib
export PATH=${bin}:$PATH
mkdir -p /var/lib/hpcdk-lab/shared/pools/tank
echo /run/tank > /var/lib/hpcdk-lab/shared/pools/tank.mountpoint
zfs create -p tank/home; echo "exported: $?"
zpool import tank; echo "import: $?"
zfs create -p tank/home/alice; echo "create: $?"
[ -d /run/tank/home/alice ] && [ -d /var/lib/hpcdk-lab/shared/pools/tank/home/alice ]; echo "dirs: $?"
zfs destroy tank/home; echo "destroy: $?"
zpool export tank; echo "export: $?"
`;
    const r = spawnSync("unshare", ["--mount", "sh", "-c", script], { encoding: "utf8", timeout: 20_000 });
    expect(r.stdout.trim().split("\n")).toEqual(["exported: 1", "import: 0", "create: 0", "dirs: 0", "destroy: 1", "export: 0"]);
    expect(r.stderr).toContain("cannot create tank/home: pool tank is not imported on this node");
    expect(r.stderr).toContain("cannot run zfs destroy tank/home: the lab's stand-in knows only zfs create -p POOL/DIR");
  });
});
