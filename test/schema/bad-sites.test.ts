/**
 * Bad site files: each case breaks the valid two-node fixture in one way and asserts the exact
 * messages (file, line, field path, what was expected), and that nothing is written.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { synthSiteFiles } from "../../stacks/synth.js";
import { FIXTURES, hpcdk, tempDir } from "../helpers.js";

interface BadCase {
  readonly name: string;
  /** Replacements applied to the fixture, in order; or `text` for a whole file. */
  readonly edits?: readonly (readonly [string, string])[];
  readonly text?: string;
  readonly problems: readonly string[];
}

const BASE = readFileSync(join(FIXTURES, "two-node.yaml"), "utf8");

function apply(c: BadCase): string {
  if (c.text !== undefined) return c.text;
  return (c.edits ?? []).reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`case "${c.name}": the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, BASE);
}

const CASES: BadCase[] = [
  {
    name: "typo in a top-level key",
    edits: [["fencing:\n", "fenching:\n"]],
    problems: [
      "sites/bad.yaml:27:1: fenching: unknown key (did you mean \"fencing\"?)"
    ],
  },
  {
    name: "typo in a nested key",
    edits: [["    addresses: [192.168.10.1/24]", "    adresses: [192.168.10.1/24]"]],
    problems: [
      "sites/bad.yaml:5:5: nodes.0.addresses: is required (a list)",
      "sites/bad.yaml:7:5: nodes.0.adresses: unknown key (did you mean \"addresses\"?)"
    ],
  },
  {
    name: "unknown key with no close match",
    edits: [["  name: duo\n", "  name: duo\n  colour: blue\n"]],
    problems: [
      "sites/bad.yaml:4:3: cluster.colour: unknown key (expected \"name\", \"pacemakerVersion\", \"mode\", \"stickiness\", \"preferredNodeScore\", \"noQuorumPolicy\", \"maintenanceMode\", \"dcDeadtimeSec\", \"corosync\")"
    ],
  },
  {
    name: "node id is a string",
    edits: [["    id: 1\n", "    id: one\n"]],
    problems: [
      "sites/bad.yaml:6:5: nodes.0.id: expected a number, got \"one\""
    ],
  },
  {
    name: "node id is zero",
    edits: [["    id: 2\n", "    id: 0\n"]],
    problems: [
      "sites/bad.yaml:9:5: nodes.1.id: must be at least 1, got 0"
    ],
  },
  {
    name: "missing cluster name",
    edits: [["  name: duo\n", "  mode: active-passive\n"]],
    problems: [
      "sites/bad.yaml:3:3: cluster.name: is required (a string)"
    ],
  },
  {
    name: "bad cluster name",
    edits: [["  name: duo\n", "  name: my cluster\n"]],
    problems: [
      "sites/bad.yaml:3:3: cluster.name: must be 1-32 letters, digits, \"_\" or \"-\", got \"my cluster\""
    ],
  },
  {
    name: "one node only",
    edits: [["  - name: n2\n    id: 2\n    addresses: [192.168.10.2/24]\n", ""]],
    problems: [
      "sites/bad.yaml:4:1: nodes: must have at least 2 item(s), got 1"
    ],
  },
  {
    name: "duplicate node id",
    edits: [["    id: 2\n", "    id: 1\n"]],
    problems: [
      "sites/bad.yaml:9:5: nodes.1.id: node id \"1\" is already used by nodes.0.id"
    ],
  },
  {
    name: "duplicate node name",
    edits: [["  - name: n2\n", "  - name: n1\n"]],
    problems: [
      "sites/bad.yaml:8:5: nodes.1.name: node name \"n1\" is already used by nodes.0.name"
    ],
  },
  {
    name: "duplicate address",
    edits: [["[192.168.10.2/24]", "[192.168.10.1/24]"]],
    problems: [
      "sites/bad.yaml:10:17: nodes.1.addresses.0: address \"192.168.10.1\" is already used by nodes.0.addresses.0"
    ],
  },
  {
    name: "address without prefix",
    edits: [["[192.168.10.2/24]", "[192.168.10.2]"]],
    problems: [
      "sites/bad.yaml:10:17: nodes.1.addresses.0: must be ADDRESS/PREFIX such as \"10.10.0.11/24\", got \"192.168.10.2\""
    ],
  },
  {
    name: "address not an ip",
    edits: [["[192.168.10.2/24]", "[n2.example.com/24]"]],
    problems: [
      "sites/bad.yaml:10:17: nodes.1.addresses.0: \"n2.example.com\" is not an IPv4 or IPv6 address"
    ],
  },
  {
    name: "prefix too long",
    edits: [["[192.168.10.2/24]", "[192.168.10.2/33]"]],
    problems: [
      "sites/bad.yaml:10:17: nodes.1.addresses.0: prefix must be a whole number from 0 to 32, got \"33\""
    ],
  },
  {
    name: "node link on another network",
    edits: [["[192.168.10.2/24]", "[192.168.11.2/24]"]],
    problems: [
      "sites/bad.yaml:10:17: nodes.1.addresses.0: \"192.168.11.2/24\" is not in 192.168.10.0/24, the network of corosync link 0 on n1",
      "sites/bad.yaml:21:21: nfs.groups.0.floatingIp.address: 192.168.10.100/24 is outside the networks of n2: every node that may run the group needs an address in 192.168.10.0/24"
    ],
  },
  {
    name: "uneven link count",
    edits: [["[192.168.10.2/24]", "[192.168.10.2/24, 192.168.20.2/24]"]],
    problems: [
      "sites/bad.yaml:10:5: nodes.1.addresses: has 2 address(es) but nodes.0 has 1: every node needs one address per corosync link"
    ],
  },
  {
    name: "device outside by-id",
    edits: [["/dev/disk/by-id/scsi-SATA_disk2]", "/dev/sdb]"]],
    problems: [
      "sites/bad.yaml:16:54: storage.pools.0.vdevs.0.devices.1: must be a stable device path under /dev/disk/by-id/ or /dev/mapper/ (the same on every node; a name of letters, digits and . _ - + @ :), got \"/dev/sdb\""
    ],
  },
  {
    name: "device used twice",
    edits: [["/dev/disk/by-id/scsi-SATA_disk2]", "/dev/disk/by-id/scsi-SATA_disk1]"]],
    problems: [
      "sites/bad.yaml:16:54: storage.pools.0.vdevs.0.devices.1: device \"/dev/disk/by-id/scsi-SATA_disk1\" is already used by storage.pools.0.vdevs.0.devices.0"
    ],
  },
  {
    name: "mirror with one device",
    edits: [["devices: [/dev/disk/by-id/scsi-SATA_disk1, /dev/disk/by-id/scsi-SATA_disk2]", "devices: [/dev/disk/by-id/scsi-SATA_disk1]"]],
    problems: [
      "sites/bad.yaml:16:11: storage.pools.0.vdevs.0.devices: a mirror vdev needs at least 2 devices, got 1"
    ],
  },
  {
    name: "unknown vdev type",
    edits: [["- type: mirror", "- type: raid5"]],
    problems: [
      "sites/bad.yaml:15:11: storage.pools.0.vdevs.0.type: expected one of \"stripe\", \"mirror\", \"raidz1\", \"raidz2\", \"raidz3\", got \"raid5\""
    ],
  },
  {
    name: "unknown pool in group",
    edits: [["pools: [tank]", "pools: [tnak]"]],
    problems: [
      "sites/bad.yaml:20:15: nfs.groups.0.pools.0: unknown pool \"tnak\" (pools: tank)",
      "sites/bad.yaml:13:7: storage.pools.0.name: pool \"tank\" is in no nfs group, so Pacemaker would never import it"
    ],
  },
  {
    name: "export that cannot be a ZFS dataset",
    edits: [["- path: /tank/data", "- path: /tank/data@2024"]],
    problems: [
      "sites/bad.yaml:23:11: nfs.groups.0.exports.0.path: \"data@2024\" cannot name a ZFS dataset (letters, digits and _ . : - only), in \"/tank/data@2024\""
    ],
  },
  {
    name: "export outside the pool",
    edits: [["- path: /tank/data", "- path: /srv/data"]],
    problems: [
      "sites/bad.yaml:23:11: nfs.groups.0.exports.0.path: \"/srv/data\" is not on a pool of this group (mountpoints: /tank)"
    ],
  },
  {
    name: "relative export path",
    edits: [["- path: /tank/data", "- path: tank/data"]],
    problems: [
      "sites/bad.yaml:23:11: nfs.groups.0.exports.0.path: must be an absolute path of letters, digits and . _ - + @ ~ separated by single \"/\" (no spaces, quotes, \"$\", \".\" or \"..\" parts, no trailing \"/\"), got \"tank/data\""
    ],
  },
  {
    name: "fsid negative",
    edits: [["fsid: 7", "fsid: -1"]],
    problems: [
      "sites/bad.yaml:24:11: nfs.groups.0.exports.0.fsid: must be at least 0, got -1"
    ],
  },
  {
    name: "client spec with spaces",
    edits: [["- spec: 192.168.10.0/24", "- spec: 192.168.10.0/24 10.0.0.0/8"]],
    problems: [
      "sites/bad.yaml:26:15: nfs.groups.0.exports.0.clients.0.spec: must be one NFS client: an IP address, a network ADDRESS/PREFIX, \"*\", a host name (wildcards * and ? allowed) or @netgroup, got \"192.168.10.0/24 10.0.0.0/8\""
    ],
  },
  {
    name: "bad export options",
    edits: [["- spec: 192.168.10.0/24", "- spec: 192.168.10.0/24\n              options: rw sync"]],
    problems: [
      "sites/bad.yaml:27:15: nfs.groups.0.exports.0.clients.0.options: must be comma-separated export options like \"rw,sync\" (exports(5) words, values of letters, digits and . _ : / @ + -), got \"rw sync\" (\"rw sync\" is not an exports(5) option)"
    ],
  },
  {
    name: "floating ip outside every node network",
    edits: [["address: 192.168.10.100, cidr: 24", "address: 10.99.0.100, cidr: 24"]],
    problems: [
      "sites/bad.yaml:21:21: nfs.groups.0.floatingIp.address: 10.99.0.100/24 is outside the networks of n1, n2: every node that may run the group needs an address in 10.99.0.0/24"
    ],
  },
  {
    name: "floating ip is a node address",
    edits: [["address: 192.168.10.100, cidr: 24", "address: 192.168.10.2, cidr: 24"]],
    problems: [
      "sites/bad.yaml:21:21: nfs.groups.0.floatingIp.address: 192.168.10.2 is also the address of nodes.1 (n2): a floating IP must not belong to a node"
    ],
  },
  {
    name: "bad floating ip",
    edits: [["address: 192.168.10.100, cidr: 24", "address: 192.168.10.300, cidr: 24"]],
    problems: [
      "sites/bad.yaml:21:21: nfs.groups.0.floatingIp.address: must be an IPv4 or IPv6 address, got \"192.168.10.300\""
    ],
  },
  {
    name: "cidr too long for ipv4",
    edits: [["address: 192.168.10.100, cidr: 24", "address: 192.168.10.100, cidr: 40"]],
    problems: [
      "sites/bad.yaml:21:46: nfs.groups.0.floatingIp.cidr: must be at most 32 for an IPv4 address, got 40"
    ],
  },
  {
    name: "unknown preferred node",
    edits: [["      pools: [tank]\n", "      pools: [tank]\n      preferredNode: n3\n"]],
    problems: [
      "sites/bad.yaml:21:7: nfs.groups.0.preferredNode: unknown node \"n3\" (nodes: n1, n2)"
    ],
  },
  {
    name: "stonith with no fence device",
    edits: [["fencing:\n  devices:\n    - name: pm\n      agent: fence_powerman\n      ip: 192.168.10.250\n", "fencing:\n  stonith: true\n"]],
    problems: [
      "sites/bad.yaml:28:3: fencing.devices: stonith is enabled but no fence device is configured: add a fence_scsi or fence_powerman device (fencing.stonith: false runs without fencing, which is unsafe with shared pools)"
    ],
  },
  {
    name: "unknown fence agent",
    edits: [["agent: fence_powerman", "agent: fence_ipmi"]],
    problems: [
      "sites/bad.yaml:30:7: fencing.devices.0.agent: agent must be \"fence_scsi\" or \"fence_powerman\", got \"fence_ipmi\""
    ],
  },
  {
    name: "fence_scsi not covering a pool device",
    edits: [["    - name: pm\n", "    - name: scsi\n      agent: fence_scsi\n      devices: [/dev/disk/by-id/scsi-SATA_disk1]\n    - name: pm\n"]],
    problems: [
      "sites/bad.yaml:31:7: fencing.devices.0.devices: does not cover \"/dev/disk/by-id/scsi-SATA_disk2\" (storage.pools.0.vdevs.0.devices.1): fence_scsi must reserve every device of every pool"
    ],
  },
  {
    name: "fencing level names an unknown device",
    edits: [["      ip: 192.168.10.250\n", "      ip: 192.168.10.250\n  levels:\n    - devices: [ipmi]\n"]],
    problems: [
      "sites/bad.yaml:33:17: fencing.levels.0.devices.0: unknown fence device \"ipmi\" (devices: pm)"
    ],
  },
  {
    name: "duplicate fsid",
    edits: [["            - spec: 192.168.10.0/24\n", "            - spec: 192.168.10.0/24\n        - path: /tank/other\n          fsid: 7\n          clients:\n            - spec: 192.168.10.0/24\n"]],
    problems: [
      "sites/bad.yaml:28:11: nfs.groups.0.exports.1.fsid: fsid \"7\" is already used by nfs.groups.0.exports.0.fsid"
    ],
  },
  {
    name: "active-active with one group",
    edits: [["  name: duo\n", "  name: duo\n  mode: active-active\n"]],
    problems: [
      "sites/bad.yaml:19:3: nfs.groups: active-active needs at least two groups (one per pool), got 1 (or set cluster.mode: active-passive)"
    ],
  },
  {
    name: "unknown pacemaker version",
    edits: [["  name: duo\n", "  name: duo\n  pacemakerVersion: \"1.1.18\"\n"]],
    problems: [
      "sites/bad.yaml:4:3: cluster.pacemakerVersion: expected one of \"2.0.5\", \"2.1.5\", \"2.1.6\", \"2.1.7\", got \"1.1.18\""
    ],
  },
  {
    name: "token timeout of wrong type",
    edits: [["  name: duo\n", "  name: duo\n  corosync:\n    tokenMs: 3s\n"]],
    problems: [
      "sites/bad.yaml:5:5: cluster.corosync.tokenMs: expected a number, got \"3s\""
    ],
  },
  {
    name: "hostid zero",
    edits: [["    id: 1\n", "    id: 1\n    hostid: 0x00000000\n"]],
    problems: [
      "sites/bad.yaml:7:5: nodes.0.hostid: must be a non-zero 32-bit hex number such as 0x1a2b3c4d, got 0"
    ],
  },
  {
    name: "pool in no group",
    edits: [["          devices: [/dev/disk/by-id/scsi-SATA_disk1, /dev/disk/by-id/scsi-SATA_disk2]\n", "          devices: [/dev/disk/by-id/scsi-SATA_disk1, /dev/disk/by-id/scsi-SATA_disk2]\n    - name: extra\n      vdevs:\n        - type: stripe\n          devices: [/dev/mapper/spare1]\n"]],
    problems: [
      "sites/bad.yaml:17:7: storage.pools.1.name: pool \"extra\" is in no nfs group, so Pacemaker would never import it"
    ],
  },
  {
    name: "yaml syntax error",
    edits: [["  name: duo\n", "  name: duo\n   bad: [\n"]],
    problems: [
      "sites/bad.yaml:3:9: Nested mappings are not allowed in compact mappings",
      "sites/bad.yaml:3:9: Implicit keys need to be on a single line",
      "sites/bad.yaml:5:1: Flow sequence in block collection must be sufficiently indented and end with a ]"
    ],
  },
  {
    name: "duplicate yaml key",
    edits: [["  name: duo\n", "  name: duo\n  name: trio\n"]],
    problems: [
      "sites/bad.yaml:4:3: Map keys must be unique"
    ],
  },
  {
    name: "empty file",
    text: "",
    problems: [
      "sites/bad.yaml: cluster: is required (a mapping)",
      "sites/bad.yaml: nodes: is required (a list)",
      "sites/bad.yaml: storage: is required (a mapping)",
      "sites/bad.yaml: nfs: is required (a mapping)"
    ],
  },
  {
    name: "duplicate hostid",
    edits: [
      ["    id: 1\n", "    id: 1\n    hostid: 0x0a0b0c0d\n"],
      ["    id: 2\n", "    id: 2\n    hostid: 0x0a0b0c0d\n"],
    ],
    problems: [
      "sites/bad.yaml:11:5: nodes.1.hostid: hostid \"0x0a0b0c0d\" is already used by nodes.0.hostid"
    ],
  },
  {
    name: "several problems in the shape at once",
    edits: [["    id: 2\n    addresses: [192.168.10.2/24]\n", "    id: two\n    addresses: [192.168.10.2/24]\n    adresses: []\n"]],
    problems: [
      "sites/bad.yaml:9:5: nodes.1.id: expected a number, got \"two\"",
      "sites/bad.yaml:11:5: nodes.1.adresses: unknown key (did you mean \"addresses\"?)"
    ],
  },
  {
    name: "several rule violations at once",
    edits: [["fsid: 7", "fsid: 7\n        - path: /tank/other\n          fsid: 7\n          clients: [{ spec: 192.168.10.0/24 }]"]],
    problems: [
      "sites/bad.yaml:28:11: Map keys must be unique"
    ],
  },
  {
    name: "a node group hostlist is malformed",
    edits: [["fencing:\n", "nodeGroups:\n  - name: compute\n    hosts: c[001-128\nfencing:\n"]],
    problems: [
      "sites/bad.yaml:29:5: nodeGroups.0.hosts: unbalanced brackets in \"c[001-128\"",
    ],
  },
  {
    name: "a node group holds a management node",
    edits: [["fencing:\n", "nodeGroups:\n  - name: compute\n    hosts: n[1-4]\nfencing:\n"]],
    problems: [
      "sites/bad.yaml:29:5: nodeGroups.0.hosts: \"n1\" is a management node (nodes): a host is either a management node or in one node group",
    ],
  },
  {
    name: "two node groups share a host",
    edits: [["fencing:\n", "nodeGroups:\n  - name: compute\n    hosts: c[01-10]\n  - name: gpu\n    hosts: c[10-12]\nfencing:\n"]],
    problems: [
      "sites/bad.yaml:31:5: nodeGroups.1.hosts: \"c10\" is already in node group \"compute\"",
    ],
  },
  {
    name: "ganesha in active-active mode",
    edits: [["  name: duo\n", "  name: duo\n  mode: active-active\n"], ["nfs:\n", "nfs:\n  server: ganesha\n"]],
    problems: [
      "sites/bad.yaml:19:3: nfs.server: ganesha runs one server per node for all exports, and in active-active a failover puts two groups on one node, where two ganesha instances collide: hpcdk renders one ganesha per node, not one per group bound to its floating IP, and stopping one ganesha takes the NFS and MOUNT registrations out of rpcbind for the other (README, NFS server): use cluster.mode active-passive (one ganesha for every pool), or nfs.server kernel for active-active (one export set per group on the one kernel server, as real active/active NFS sites run)",
      "sites/bad.yaml:20:3: nfs.groups: active-active needs at least two groups (one per pool), got 1 (or set cluster.mode: active-passive)",
    ],
  },
  {
    name: "an NFSv4 lease and grace period under 10 s with the kernel server (ganesha takes 5)",
    edits: [["nfs:\n", "nfs:\n  v4LeaseSec: 5\n  v4GraceSec: 5\n"]],
    problems: [
      "sites/bad.yaml:18:3: nfs.v4LeaseSec: the kernel NFS server takes a lease of 10 s or more, got 5 (a shorter one needs nfs.server: ganesha)",
      "sites/bad.yaml:19:3: nfs.v4GraceSec: the kernel NFS server takes a grace period of 10 s or more, got 5 (a shorter one needs nfs.server: ganesha)",
    ],
  },
  {
    name: "an NFSv4 grace period shorter than the lease",
    edits: [["nfs:\n", "nfs:\n  v4LeaseSec: 30\n  v4GraceSec: 15\n"]],
    problems: [
      "sites/bad.yaml:19:3: nfs.v4GraceSec: must not be shorter than the lease (nfs.v4LeaseSec: 30), got 15: clients could not reclaim their state in time",
    ],
  },
  {
    name: "a pinned package version that is not a version, an unquoted one, or a package name in capitals",
    edits: [
      [
        "fencing:\n",
        'deploy:\n  packageVersions:\n    pacemaker: latest\n    corosync: 3.1\n    Pcs: "0.11.5-1"\n    resource-agents: "1:4.12.0-2"\nfencing:\n',
      ],
    ],
    problems: [
      'sites/bad.yaml:29:5: deploy.packageVersions.pacemaker: must be a package version as dpkg or rpm shows it (e.g. "2.1.5-1+deb12u1", "1:4.3-2"), got "latest"',
      "sites/bad.yaml:30:5: deploy.packageVersions.corosync: must be quoted: YAML reads 3.1 as a number",
      'sites/bad.yaml:31:5: deploy.packageVersions.Pcs: must be a package name (lowercase letters, digits, + . -), got "Pcs"',
    ],
  },
];

describe("site validation", () => {
  it("accepts the fixture the cases start from", () => {
    expect(parseSite(BASE, "sites/two-node.yaml").spec.nodes).toHaveLength(2);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("fails if %s", (_name, c) => {
    let problems: readonly string[] = [];
    try {
      parseSite(apply(c), "sites/bad.yaml");
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual(c.problems);
  });

  it("has at least 25 broken site files", () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("writes nothing if %s", (_name, c) => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, apply(c));
    const out = join(dir, "cdktf.out");
    expect(() => synthSiteFiles([file], out, false)).toThrow(SiteError);
    expect(existsSync(out)).toBe(false);
  });

  it("writes nothing for any site if one of several site files is invalid", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "good.yaml"), BASE);
    writeFileSync(join(dir, "bad.yaml"), BASE.replace("fsid: 7", "fsid: -1"));
    const result = hpcdk(["synth", "--out", join(dir, "out"), join(dir, "good.yaml"), join(dir, "bad.yaml")]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "hpcdk: the site is invalid (1 problem); nothing was written:\n" +
        "  bad.yaml:24:11: nfs.groups.0.exports.0.fsid: must be at least 0, got -1\n",
    );
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});
