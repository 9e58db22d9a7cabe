/**
 * The preflight script on this machine, which has no HCA: it runs every check with the real
 * tools (ibv_devinfo, ip, getent, ulimit, fi_info), reports each thing that is missing with what
 * to do, and exits 1. (Its passing path runs on every node of the Slurm lab, over tcp.)
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

describe("stream-preflight", () => {
  const { out } = synthTo(loadExamples(["lab"]));
  const preflight = join(out, "stacks/lab/groups/compute/usr/local/libexec/hpcdk/stream-preflight");

  it("fails on a host without InfiniBand and says everything that is missing", () => {
    // GIVEN this machine: no HCA, no ib0, no c001-ib0, a limited memlock, no apptainer, no image
    const etc = tempDir();
    const result = spawnSync("bash", [preflight, "c001"], { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", HPCDK_STREAM_ETC: etc } });
    // THEN every check ran and each failure says what to fix
    expect(result.status).toBe(1);
    const missing = result.stdout.split("\n").filter((l) => l.startsWith("MISSING: "));
    expect(missing).toContainEqual(expect.stringMatching(/^MISSING: no InfiniBand device mlx5_0: ibv_devinfo says: /));
    expect(missing).toContain("MISSING: /dev/infiniband/uverbs* does not exist: load the HCA driver and ib_uverbs (rdma-core, or MOFED)");
    expect(missing).toContain("MISSING: interface ib0 does not exist (IPoIB: ib_ipoib module and the interface configuration)");
    expect(missing).toContain("MISSING: c001-ib0 does not resolve (the locators name it): add it to DNS or /etc/hosts");
    expect(missing).toContain(`MISSING: ${etc}/fabric.env does not set FI_PROVIDER`);
    expect(missing).toContain("MISSING: apptainer is not installed");
    expect(missing).toContain("MISSING: image /shared/containers/kera.sif does not exist or is not readable");
    expect(result.stderr).toBe(`stream-preflight: ${missing.length} check(s) failed on c001: the stream daemons would not start here\n`);
  });

  it("names Slurm's node when it runs as a task", () => {
    const result = spawnSync("bash", [preflight], { encoding: "utf8", env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", SLURMD_NODENAME: "c042" } });
    expect(result.stdout).toContain("MISSING: c042-ib0 does not resolve");
  });
});
