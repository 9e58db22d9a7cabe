import { LocalBackend, TerraformStack } from "cdktf";
import { NullProvider } from "@cdktf/provider-null/lib/provider/index.js";
import type { Construct } from "constructs";
import { Bundle, Deployment, type DeploymentResourceKind } from "../constructs/core/index.js";
import { HaNfsCluster } from "../constructs/pacemaker/index.js";
import { StreamingService } from "../constructs/streaming/index.js";
import { expandHostlist } from "../schema/hostlist.js";
import type { LoadedSite } from "../schema/load.js";

export interface SiteStackProps {
  readonly site: LoadedSite;
  /** @default "null_resource" */
  readonly resourceKind?: DeploymentResourceKind;
}

/**
 * One Terraform stack per site: a bundle per management node and one for the cluster (the CIB),
 * the domain constructs that fill them, and a deployment resource per bundle.
 */
export class SiteStack extends TerraformStack {
  readonly site: LoadedSite;
  readonly hosts: Readonly<Record<string, Bundle>>;
  /** One bundle per node group: rendered once, installed on every host of the group. */
  readonly groups: Readonly<Record<string, Bundle>>;
  readonly cluster: Bundle;
  readonly nfs: HaNfsCluster;

  constructor(scope: Construct, props: SiteStackProps) {
    super(scope, props.site.name);
    this.site = props.site;
    // State lives beside the output directory (the project root for cdktf.out), never inside it:
    // synth replaces the stack directory. The path is relative to the stack directory
    // (<out>/stacks/<site>), so it names no directory of the build machine.
    new LocalBackend(this, { path: `../../../terraform.${props.site.name}.tfstate` });
    const spec = props.site.spec;
    const source = props.site.file;
    this.hosts = Object.fromEntries(
      spec.nodes.map((n) => [n.name, new Bundle(this, `host-${n.name}`, { kind: "host", name: n.name, source })]),
    );
    this.groups = Object.fromEntries(
      spec.nodeGroups.map((g) => [g.name, new Bundle(this, `group-${g.name}`, { kind: "group", name: g.name, source, hosts: expandHostlist(g.hosts) })]),
    );
    this.cluster = new Bundle(this, "cluster", { kind: "cluster", name: "cluster", source });
    this.nfs = new HaNfsCluster(this, "ha-nfs", { site: spec, hosts: this.hosts, cluster: this.cluster });
    if (spec.streaming) new StreamingService(this, "streaming", { site: spec, groups: this.groups, cluster: this.cluster });

    const resourceKind = props.resourceKind ?? "null_resource";
    if (resourceKind === "null_resource") new NullProvider(this, "null");
    for (const bundle of this.bundles) {
      new Deployment(this, `deploy-${bundle.kind === "cluster" ? "cluster" : `${bundle.kind}-${bundle.name}`}`, { bundle, resourceKind });
    }
  }

  /** Host bundles, then group bundles, each sorted by name, then the cluster bundle. */
  get bundles(): Bundle[] {
    const byName = (a: Bundle, b: Bundle) => (a.name < b.name ? -1 : 1);
    return [...Object.values(this.hosts).sort(byName), ...Object.values(this.groups).sort(byName), this.cluster];
  }
}
