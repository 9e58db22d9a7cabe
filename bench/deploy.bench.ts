/**
 * Issue 3: `hpcdk deploy` to 8 hosts of a namespace lab (real sshd, corosync and pacemaker on
 * each), with Terraform (terraform_data): a full deploy to fresh hosts and a no-op redeploy. The
 * no-op redeploy's time is split into hpcdk's own (Node start, synthesis, preflight, reading each
 * host's marker over SSH, the summary) and Terraform's (init and the plan that finds nothing).
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { labDown } from "../operations/lab/lab.js";
import { RUNS, type Row } from "./harness.js";
import { deploy, labProject, labSiteYaml, requireRoot, type DeployRun } from "./lab-bench.js";

export const title = "hpcdk deploy to 8 hosts";

const SITE = "bench-deploy";
const terraformMs = (r: DeployRun) => (r.timings.terraformInitMs ?? 0) + (r.timings.terraformApplyMs ?? 0);

export async function run(): Promise<Row[]> {
  requireRoot("deploy");
  const yaml = labSiteYaml(SITE, 34, 8);
  const full: DeployRun[] = [];
  const noop: DeployRun[] = [];
  // Full deploys to fresh hosts: a new lab (and no Terraform state) each time; three of them, as
  // each takes the better part of a minute.
  const fullRuns = Math.min(RUNS, 3);
  try {
    for (let i = 0; i < fullRuns; i++) {
      const p = await labProject(SITE, yaml);
      rmSync(join(p.dir, `terraform.${SITE}.tfstate`), { force: true });
      full.push(deploy(p));
      if (i === fullRuns - 1) {
        for (let k = 0; k < RUNS; k++) {
          const r = deploy(p);
          if (!r.terraform.includes("0 added, 0 changed, 0 destroyed")) throw new Error(`bench/deploy: the redeploy was not a no-op: ${r.terraform}`);
          noop.push(r);
        }
      }
    }
  } finally {
    await labDown(SITE);
  }
  return [
    { what: "full deploy to 8 fresh hosts: wall (`hpcdk deploy`, Node start included)", values: full.map((r) => r.wallMs / 1000), unit: "s" },
    { what: "full deploy: Terraform init + apply (apply runs every host's bundle)", values: full.map((r) => terraformMs(r) / 1000), unit: "s" },
    { what: "no-op redeploy: wall", values: noop.map((r) => r.wallMs), unit: "ms" },
    {
      what: "no-op redeploy: hpcdk's own time (wall minus Terraform)",
      values: noop.map((r) => r.wallMs - terraformMs(r)),
      unit: "ms",
      target: "≤ 1500 ms",
      limit: 1500,
    },
    { what: "no-op redeploy: CPU time of hpcdk and its children (Terraform included)", values: noop.map((r) => r.cpuMs), unit: "ms" },
    { what: "no-op redeploy: of which the synthesis", values: noop.map((r) => r.timings.synthMs ?? 0), unit: "ms" },
    { what: "no-op redeploy: of which the rollout plan (each host's files read)", values: noop.map((r) => r.timings.planMs ?? 0), unit: "ms" },
    { what: "no-op redeploy: of which reading the 8 hosts' markers over SSH", values: noop.map((r) => r.timings.hostCheckMs ?? 0), unit: "ms" },
    { what: "no-op redeploy: Terraform init + plan (nothing to apply)", values: noop.map((r) => terraformMs(r)), unit: "ms" },
  ];
}
