import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";
import { mmpImportWaitSec, multihostModprobeOptions, type MultihostSettings } from "../../common/contracts/multihost.js";

export interface ZfsHostProps {
  readonly host: Bundle;
  /** 32-bit hostid, "0x" and 8 hex digits, unique in the cluster and not zero. */
  readonly hostid: string;
  /** The zfs module's multihost (MMP) settings. @default OpenZFS' (1000 ms, 20, 10) */
  readonly multihost?: MultihostSettings;
}

/**
 * What ZFS needs on a node of a shared-pool cluster: a unique `/etc/hostid` (multihost=on uses it
 * to see that another node has the pool imported) and no pool import at boot (Pacemaker imports).
 * @see https://openzfs.github.io/openzfs-docs/man/master/8/zgenhostid.8.html
 */
export class ZfsHost extends Construct {
  readonly hostid: number;

  constructor(scope: Construct, id: string, props: ZfsHostProps) {
    super(scope, id);
    if (!/^0x[0-9a-f]{8}$/.test(props.hostid) || Number(props.hostid) === 0) {
      throw new Error(`ZfsHost [${this.node.path}]: hostid must be 0x and 8 hex digits, not zero, got "${props.hostid}"`);
    }
    this.hostid = Number(props.hostid);
    // Debian ships ZFS in contrib; RHEL-family hosts get it from the OpenZFS repository.
    props.host.addPackage({ debian: "zfsutils-linux", rhel: "zfs" });
    // /etc/hostid is 4 bytes in host byte order, as zgenhostid and sethostid(3) write it; every
    // supported platform (x86_64, aarch64, ppc64le) is little-endian.
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32LE(this.hostid);
    new GeneratedFile(this, "hostid", {
      bundle: props.host,
      path: "/etc/hostid",
      header: "none",
      content: () => bytes,
      impact: { kind: "resource-move", detail: "ZFS uses the new hostid at the next pool import: move the node's groups away and back" },
    });
    // MMP's settings: how often the holder writes, and how long an import of a pool another
    // host held waits. They are module parameters, writable while the module is loaded.
    const mmp = props.multihost ?? { intervalMs: 1000, importIntervals: 20, failIntervals: 10 };
    const params = { zfs_multihost_interval: mmp.intervalMs, zfs_multihost_import_intervals: mmp.importIntervals, zfs_multihost_fail_intervals: mmp.failIntervals };
    new GeneratedFile(this, "modprobe", {
      bundle: props.host,
      path: "/etc/modprobe.d/hpcdk-zfs.conf",
      content: (header) =>
        `${header}# ZFS multihost protection (MMP): an import of a pool another host held waits ${mmpImportWaitSec(mmp)} s for its\n# activity check (storage.multihost).\n${multihostModprobeOptions(mmp)}\n`,
      handlers: [
        `if [ -d /sys/module/zfs/parameters ]; then ${Object.entries(params).map(([k, v]) => `echo ${v} > /sys/module/zfs/parameters/${k}`).join("; ")}; fi`,
      ],
      impact: { kind: "reload", detail: "the loaded zfs module takes the new MMP settings at once (/sys/module/zfs/parameters); the next import of a pool waits as they say" },
    });
    props.host.addStep({
      id: "zfs-no-import-at-boot",
      phase: "after-files",
      description: "disable ZFS pool import at boot (Pacemaker imports the shared pools)",
      impact: { kind: "none", detail: "changes only what starts at boot" },
      run: "for unit in zfs-import-cache.service zfs-import-scan.service; do if systemctl cat \"$unit\" >/dev/null 2>&1; then systemctl disable \"$unit\"; fi; done",
    });
  }
}
