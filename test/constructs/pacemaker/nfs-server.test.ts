/**
 * The kernel NFS server's host files. With the server's state on the pool (active/passive), the
 * nfsserver agent bind-mounts /var/lib/nfs from the pool and must unmount it when it stops;
 * nfsdcld holds its database there, so it is made part of nfs-server.service (the Vagrant lab's
 * drill found every stop failing, and the node fenced, without it).
 */
import { describe, expect, it } from "vitest";
import { loadExamples, readTree, synthTo } from "../../helpers.js";

const DROPIN = "etc/systemd/system/nfsdcld.service.d/hpcdk-part-of-nfs-server.conf";
const { out } = synthTo(loadExamples(["lab", "radon", "minilab"]));
const files = (site: string) => [...readTree(`${out}/stacks/${site}`).entries()];

describe("NfsServer", () => {
  it("makes nfsdcld part of nfs-server.service on every node when the state is on the pool", () => {
    // GIVEN lab (active/passive, kernel NFS): every node may run the group.
    const dropins = files("lab").filter(([path]) => path.endsWith(DROPIN));
    expect(dropins.map(([path]) => path)).toEqual(["stc1", "stc2", "stc3", "stc4"].map((h) => `hosts/${h}/${DROPIN}`));
    const text = dropins[0]![1].toString();
    expect(text).toContain("bind-mounts it from /stc2_pool/.nfs-state");
    expect(text.endsWith("[Unit]\nPartOf=nfs-server.service\n")).toBe(true);
  });

  it("leaves nfsdcld alone where the state is not on a pool (a cloned server) or the server is ganesha", () => {
    expect(files("radon").filter(([path]) => path.includes("nfsdcld"))).toEqual([]);
    expect(files("minilab").filter(([path]) => path.includes("nfsdcld"))).toEqual([]);
  });
});
