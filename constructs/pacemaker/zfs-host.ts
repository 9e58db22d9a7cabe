import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";

export interface ZfsHostProps {
  readonly host: Bundle;
  /** 32-bit hostid, "0x" and 8 hex digits, unique in the cluster and not zero. */
  readonly hostid: string;
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
    props.host.addStep({
      id: "zfs-no-import-at-boot",
      phase: "after-files",
      description: "disable ZFS pool import at boot (Pacemaker imports the shared pools)",
      impact: { kind: "none", detail: "changes only what starts at boot" },
      run: "for unit in zfs-import-cache.service zfs-import-scan.service; do if systemctl cat \"$unit\" >/dev/null 2>&1; then systemctl disable \"$unit\"; fi; done",
    });
  }
}
