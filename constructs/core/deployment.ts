import { Lazy, TerraformResource } from "cdktf";
import { Resource as NullResource } from "@cdktf/provider-null/lib/resource/index.js";
import { Construct } from "constructs";
import type { Bundle } from "./bundle.js";

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
}

/**
 * The Terraform resource that puts one bundle on its host. Its trigger is the bundle's sha256,
 * so a plan names exactly the hosts whose files, modes, owners or steps changed, and a rerun with
 * no change changes nothing. File contents never enter the resource: they stay on disk.
 */
export class Deployment extends Construct {
  readonly resource: TerraformResource;
  readonly resourceKind: DeploymentResourceKind;

  constructor(scope: Construct, id: string, props: DeploymentProps) {
    super(scope, id);
    this.resourceKind = props.resourceKind ?? "null_resource";
    const bundle = props.bundle;
    const sha256 = Lazy.stringValue({ produce: () => bundle.sha256 });
    if (this.resourceKind === "null_resource") {
      this.resource = new NullResource(this, "resource", { triggers: { bundle_sha256: sha256 } });
    } else {
      // A plain TerraformResource, not cdktf's DataResource: that one adds a check that spawns
      // `terraform version` once per resource at synth (100 s for 2,000 resources).
      this.resource = new TerraformResource(this, "resource", {
        terraformResourceType: "terraform_data",
      });
      this.resource.addOverride("triggers_replace", { bundle_sha256: sha256 });
    }
  }
}
