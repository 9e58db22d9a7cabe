/** What `hpcdk drill` checks on this site: failover targets that fail the drill when missed. */
import { z } from "zod";
import { shown } from "./common.js";

const TARGET = /^[a-z0-9-]+=(mmp\+)?\d+(\.\d+)?(ms|s)?$/;

export const DrillSchema = z
  .strictObject({
    expect: z
      .array(z.string().max(64).regex(TARGET, { error: (iss) => `must be METRIC=VALUE, e.g. nfs4-write-back=15s, nfs3-read-back=mmp+7s or acked-writes-lost=0, got ${shown(iss.input)}` }))
      .max(64)
      .default([])
      .describe("Targets every drill of the site checks (hpcdk drill --expect adds to them and overrides a metric named twice): METRIC=SECONDSs, METRIC=mmp+SECONDSs (after the MMP import wait of storage.multihost), or acked-writes-lost=COUNT. @default none"),
  })
  .describe("Failover drill targets (hpcdk drill). @default none");
