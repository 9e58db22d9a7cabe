/**
 * ZFS multihost protection (MMP) of the shared pools: the module settings every management node
 * gets in /etc/modprobe.d/, and the wait they give an import of a pool another host held.
 * @see https://openzfs.github.io/openzfs-docs/Performance%20and%20Tuning/Module%20Parameters.html#zfs-multihost-interval
 */
import { z } from "zod";

export const MultihostSchema = z
  .strictObject({
    intervalMs: z
      .int()
      .min(100)
      .max(60_000)
      .default(1000)
      .describe("zfs_multihost_interval: how often the host holding a pool writes an MMP uberblock (ms; OpenZFS' minimum is 100). @default 1000"),
    importIntervals: z
      .int()
      .min(1)
      .max(1000)
      .default(20)
      .describe("zfs_multihost_import_intervals: intervals an import watches the pool for another host's MMP writes when the last holder does not suspend its pool (failIntervals 0). @default 20"),
    failIntervals: z
      .int()
      .min(0)
      .max(1000)
      .default(10)
      .describe("zfs_multihost_fail_intervals: intervals without a successful MMP write after which the holder suspends the pool; an import then waits twice as long. 0: never suspend (a stalled holder keeps writing when it wakes). @default 10"),
  })
  .describe("ZFS multihost (MMP) module settings, rendered to /etc/modprobe.d/hpcdk-zfs.conf on every management node. @default OpenZFS' (1000 ms, 20, 10: a 20 s import wait)");

export type MultihostSpec = z.output<typeof MultihostSchema>;

export { mmpImportWaitSec, multihostModprobeOptions } from "../common/contracts/multihost.js";
