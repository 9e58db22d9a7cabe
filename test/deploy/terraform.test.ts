/**
 * Air-gapped sites: the null provider comes from a mirror. hpcdk checks the mirror before
 * `terraform init` and says where it looked and how to fill it; the CLI configuration it writes
 * makes Terraform look in the mirror only (proved by Terraform's own error on an empty mirror).
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkProviderMirror, mirrorCliConfig, terraformInit, terraformPlatform } from "../../operations/terraform.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

describe("the provider mirror", () => {
  it("fails if the mirror has no null provider, naming where it looked and how to fill it", () => {
    const mirror = tempDir();
    expect(checkProviderMirror(mirror)).toBe(
      `the provider mirror has no hashicorp/null: looked in ${join(mirror, "registry.terraform.io/hashicorp/null")}; ` +
        `fill it on a connected machine: in a synthesized stack directory run \`terraform providers mirror -platform=${terraformPlatform()} ${mirror}\`, then copy that directory here`,
    );
    expect(() => terraformInit(tempDir(), { mirror })).toThrow("the provider mirror has no hashicorp/null");
  });

  it("accepts a mirror in the packed layout terraform providers mirror writes", () => {
    const mirror = tempDir();
    const dir = join(mirror, "registry.terraform.io/hashicorp/null");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `terraform-provider-null_3.2.3_${terraformPlatform()}.zip`), "");
    expect(checkProviderMirror(mirror)).toBeUndefined();
  });

  it("makes Terraform look in the mirror only (its error: not found in any of the search locations)", () => {
    const { out } = synthTo(loadExamples(["lab"]));
    const stack = join(out, "stacks", "lab");
    const mirror = tempDir();
    writeFileSync(join(stack, "terraform.rc"), mirrorCliConfig(mirror));
    const r = spawnSync("terraform", ["init", "-input=false", "-no-color"], {
      cwd: stack,
      env: { ...process.env, TF_CLI_CONFIG_FILE: join(stack, "terraform.rc"), CHECKPOINT_DISABLE: "1" },
      encoding: "utf8",
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr.replace(/\s+/g, " ")).toContain("provider registry.terraform.io/hashicorp/null was not found in any of the search locations");
    expect(r.stderr).toContain(mirror);
  });

  it("lets a terraform_data stack init and plan with no provider at all", () => {
    const { out, built } = synthTo(loadExamples(["lab"]).map((s) => ({ ...s, spec: { ...s.spec, deploy: { ...s.spec.deploy, resource: "terraform_data" as const } } })));
    const stack = join(out, "stacks", "lab");
    terraformInit(stack);
    const plan = spawnSync("terraform", ["plan", "-input=false", "-no-color"], { cwd: stack, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1" } });
    expect(plan.status).toBe(0);
    // One resource per management node, per node group, and the cluster's CIB step.
    expect(plan.stdout).toContain(`Plan: ${built.stacks[0]!.bundles.length} to add, 0 to change, 0 to destroy.`);
    expect(plan.stdout).not.toContain("null_resource");
  });
});
