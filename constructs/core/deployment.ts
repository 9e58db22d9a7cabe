import { Lazy, TerraformResource, TerraformStack, type ITerraformDependable } from "cdktf";
import { Resource as NullResource } from "@cdktf/provider-null/lib/resource/index.js";
import { Construct } from "constructs";
import type { Bundle } from "./bundle.js";
import { sh } from "./languages.js";

/**
 * Which Terraform resource carries a deployment: `null_resource` from the null provider (what
 * users of this stack expect), or Terraform's built-in `terraform_data`, which needs no provider
 * at all (air-gapped sites without a provider mirror, and the tests).
 */
export type DeploymentResourceKind = "null_resource" | "terraform_data";

export interface DeploymentProps {
  readonly bundle: Bundle;
  /** @default "null_resource" */
  readonly resourceKind?: DeploymentResourceKind;
  /**
   * Command that runs hpcdk on the deploying machine, as Terraform sees it: a reference to the
   * stack's `hpcdk_cli` variable (default `hpcdk` on PATH).
   */
  readonly cli: string;
  /** Keyed fingerprint of the secrets the bundle installs, so a rotated secret redeploys. @default "none" */
  readonly secretsFingerprint?: string;
  /** Deployments that must finish first (the CIB step waits for every host). @default none */
  readonly dependsOn?: readonly ITerraformDependable[];
}

/**
 * The Terraform resource that puts one bundle on its hosts. Its triggers are the bundle's sha256
 * and the fingerprint of its secrets, so a plan names exactly the hosts and steps that change and
 * a rerun with no change changes nothing. File contents never enter the resource (they would land
 * twice in state): the bundle stays on disk and `hpcdk apply-bundle` sends it over SSH when the
 * resource is created or replaced.
 */
export class Deployment extends Construct {
  readonly resource: TerraformResource;
  readonly resourceKind: DeploymentResourceKind;
  readonly bundle: Bundle;

  constructor(scope: Construct, id: string, props: DeploymentProps) {
    super(scope, id);
    this.resourceKind = props.resourceKind ?? "null_resource";
    const bundle = (this.bundle = props.bundle);
    const sha256 = Lazy.stringValue({ produce: () => bundle.sha256 });
    const secrets = props.secretsFingerprint ?? "none";
    const triggers = { bundle_sha256: sha256, secrets };
    const provisioners = [
      {
        type: "local-exec" as const,
        // Terraform runs it in the stack directory, where the bundles are. The hosts record what
        // they got (--expect), so a deploy killed half-way is found and finished by the next one.
        // The bundle's directory is one shell word; the command itself is Terraform's variable.
        command: `${props.cli} apply-bundle --bundle ${sh(bundle.dir).text} --expect ${sha256}:${secrets}`,
      },
    ];
    const dependsOn = [...(props.dependsOn ?? [])];
    if (this.resourceKind === "null_resource") {
      this.resource = new NullResource(this, "resource", { triggers, provisioners, dependsOn });
    } else {
      // A plain TerraformResource, not cdktf's DataResource: that one adds a check that spawns
      // `terraform version` once per resource at synth (100 s for 2,000 resources).
      this.resource = new TerraformResource(this, "resource", { terraformResourceType: "terraform_data", provisioners, dependsOn });
      this.resource.addOverride("triggers_replace", triggers);
    }
  }

  /** The resource's Terraform address, for `terraform apply -replace`. */
  get address(): string {
    return `${this.resourceKind}.${TerraformStack.of(this).getLogicalId(this.resource)}`;
  }
}
