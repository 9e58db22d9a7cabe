import { PreflightError } from "../operations/deploy.js";
import { DrillError } from "../operations/drill.js";
import { SshError } from "../operations/ssh.js";
import { LabError } from "../operations/lab/lab.js";
import { VagrantfileError } from "../operations/lab/vagrantfile.js";
import { TerraformError } from "../operations/terraform.js";
import { EXIT, reportError } from "../stacks/report.js";

/** Prints any error of any command and returns its exit code (1: fix your input, 2: internal). */
export function reportCliError(err: unknown): number {
  if (err instanceof PreflightError) {
    process.stderr.write(`hpcdk: cannot deploy; nothing was sent to any host:\n${err.problems.map((p) => `  ${p}\n`).join("")}`);
    return EXIT.invalidSite;
  }
  if (err instanceof LabError) {
    process.stderr.write(`hpcdk: lab: ${err.problems.join("\n  ")}\n`);
    return EXIT.invalidSite;
  }
  if (err instanceof VagrantfileError) {
    process.stderr.write(`hpcdk: the Vagrant lab cannot be made for this site; nothing was written:\n${err.problems.map((p) => `  ${p}\n`).join("")}`);
    return EXIT.invalidSite;
  }
  if (err instanceof TerraformError) {
    process.stderr.write(`hpcdk: terraform: ${err.message}\n`);
    return EXIT.invalidSite;
  }
  if (err instanceof DrillError) {
    process.stderr.write(`hpcdk: drill: ${err.message}\n`);
    return EXIT.invalidSite;
  }
  if (err instanceof SshError) {
    process.stderr.write(`hpcdk: ${err.message}\n`);
    return EXIT.invalidSite;
  }
  return reportError(err);
}
