/**
 * The cdktf app entry (`cdktf.json` runs it): synthesizes every site in `sites/`, or the files
 * listed in HPCDK_SITES (comma-separated), into cdktf's output directory.
 */
import { reportError } from "../common/errors.js";
import { synthSiteFiles } from "./synth.js";

process.env.CHECKPOINT_DISABLE ??= "1";
const files = (process.env.HPCDK_SITES ?? "").split(",").filter(Boolean);
try {
  synthSiteFiles(files, process.env.CDKTF_OUTDIR ?? "cdktf.out");
} catch (err) {
  process.exitCode = reportError(err);
}
