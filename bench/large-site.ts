/**
 * The large benchmark site: 8 management nodes, 16 pools in active/active (one group each),
 * 64 exports with 2-3 clients each, power + SCSI fencing: about 200 Pacemaker resources.
 */
import { stringify } from "yaml";

export const LARGE = { nodes: 8, pools: 16, exportsPerPool: 4 } as const;

export function largeSiteYaml(): string {
  const nodes = Array.from({ length: LARGE.nodes }, (_, i) => ({
    name: `mgmt${i + 1}`,
    id: i + 1,
    addresses: [`10.0.0.${i + 1}/24`, `10.1.0.${i + 1}/24`],
  }));
  const pools = Array.from({ length: LARGE.pools }, (_, p) => ({
    name: `pool${String(p + 1).padStart(2, "0")}`,
    mountpoint: `/export/pool${String(p + 1).padStart(2, "0")}`,
    vdevs: [
      {
        type: "raidz2",
        devices: Array.from({ length: 6 }, (_, d) => `/dev/disk/by-id/wwn-0x5000c500${String(p * 6 + d).padStart(8, "0")}`),
      },
    ],
  }));
  let fsid = 100;
  const groups = pools.map((pool, p) => ({
    name: `g${String(p + 1).padStart(2, "0")}`,
    pools: [pool.name],
    preferredNode: nodes[p % nodes.length]!.name,
    floatingIp: { address: `10.0.0.${101 + p}`, cidr: 24 },
    exports: Array.from({ length: LARGE.exportsPerPool }, (_, e) => ({
      path: `${pool.mountpoint}/share${e + 1}`,
      fsid: fsid++,
      clients: [
        { spec: "10.0.0.0/24", options: "rw,sync,no_subtree_check,root_squash" },
        { spec: "10.2.0.0/16", options: "ro,sync,no_subtree_check,root_squash" },
        ...(e >= 2 ? [{ spec: "@hpc-admins", options: "rw,sync,no_subtree_check,no_root_squash" }] : []),
      ],
    })),
  }));
  return stringify({
    cluster: { name: "large", mode: "active-active" },
    nodes,
    storage: { pools },
    nfs: { groups },
    fencing: {
      devices: [
        { name: "fence_pm", agent: "fence_powerman", ip: "10.0.0.250" },
        { name: "f_scsi", agent: "fence_scsi" },
      ],
      levels: [{ devices: ["fence_pm"] }, { devices: ["f_scsi"] }],
    },
  });
}
