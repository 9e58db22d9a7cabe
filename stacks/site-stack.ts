import { Lazy, LocalBackend, TerraformStack, TerraformVariable } from "cdktf";
import { NullProvider } from "@cdktf/provider-null/lib/provider/index.js";
import type { Construct } from "constructs";
import stringify from "json-stable-stringify";
import { bundleMarker } from "../common/contracts/marker.js";
import { Bundle, Deployment, StackFile, type DeploymentResourceKind } from "../constructs/core/index.js";
import { FloatingIp, HaNfsCluster, Primitive, ResourceAgent, SlurmctldGroup } from "../constructs/pacemaker/index.js";
import { DAEMON_AGENT, daemonParams, MonitoringService, type MonitoredGroup, type MonitoredNode } from "../constructs/monitoring/index.js";
import { MONITORING_IDS } from "../schema/monitoring.js";
import { externalLabels, monitoringServer, scrapeAddresses } from "../schema/monitoring-rules.js";
import type { SiteSpec } from "../schema/site.js";
import { SlurmCluster } from "../constructs/slurm/index.js";
import { ContainerRuntimes } from "../constructs/containers/index.js";
import { StreamingService } from "../constructs/streaming/index.js";
import { expandHostlist } from "../common/hostlist.js";
import { PACEMAKER_VERSIONS } from "../schema/pacemaker-versions.js";
import { exportDirsOnPool } from "../schema/site.js";
import { openapiPlugins, slurmClusterName } from "../schema/slurm-rules.js";
import { groupCores, staticBrokerMemoryMB } from "../schema/streaming-rules.js";
import type { LoadedSite } from "../schema/load.js";
import { inventoryOf } from "./inventory.js";
import type { SecretStore } from "./secrets.js";

export interface SiteStackProps {
  readonly site: LoadedSite;
  /** The site's secrets: the deployments' triggers carry their keyed fingerprint, never a value. */
  readonly secrets: SecretStore;
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
  /** Where the site's secrets are kept (given at construction). */
  readonly secrets: SecretStore;
  /** The deployment of each bundle, in the order of `bundles`. */
  readonly deployments: Deployment[] = [];
  /** Slurm, when the site has a slurm section. */
  readonly slurm?: SlurmCluster;
  /** Container runtimes per node group, when the site has a containers section. */
  readonly containers?: ContainerRuntimes;
  /** Prometheus, Alertmanager and the exporters, when the site has a monitoring section. */
  readonly monitoring?: MonitoringService;

  constructor(scope: Construct, props: SiteStackProps) {
    super(scope, props.site.name);
    this.site = props.site;
    this.secrets = props.secrets;
    // State lives beside the output directory (the project root for cdktf.out), never inside it:
    // synth replaces the stack directory. The path is relative to the stack directory
    // (<out>/stacks/<site>), so it names no directory of the build machine.
    new LocalBackend(this, { path: `../../../terraform.${props.site.name}.tfstate` });
    const spec = props.site.spec;
    const source = props.site.file;
    const { skipPackages, packageVersions } = spec.deploy;
    this.hosts = Object.fromEntries(
      spec.nodes.map((n) => [n.name, new Bundle(this, `host-${n.name}`, { kind: "host", name: n.name, source, skipPackages, packageVersions })]),
    );
    this.groups = Object.fromEntries(
      spec.nodeGroups.map((g) => [
        g.name,
        new Bundle(this, `group-${g.name}`, { kind: "group", name: g.name, source, hosts: expandHostlist(g.hosts), skipPackages, packageVersions }),
      ]),
    );
    // A pinned version for a package no host installs is a typo or a leftover: it would pin nothing.
    this.node.addValidation({
      validate: () => {
        const installed = new Set(this.bundles.flatMap((b) => b.allPackages.flatMap((p) => [p.debian, ...(p.rhel ? [p.rhel] : [])])));
        return Object.keys(packageVersions)
          .filter((name) => !installed.has(name))
          .map((name) => `${source}${props.site.locate(["deploy", "packageVersions", name])}: deploy.packageVersions.${name}: no host of the site installs a package of this name (the bundles' manifests list their packages)`);
      },
    });
    this.cluster = new Bundle(this, "cluster", { kind: "cluster", name: "cluster", source });
    // HA monitoring keeps its data on a dataset of a site pool, made with the pool's other datasets.
    const monitoringPlace = spec.monitoring ? monitoringServer(spec) : undefined;
    this.nfs = new HaNfsCluster(this, "ha-nfs", {
      site: spec,
      hosts: this.hosts,
      cluster: this.cluster,
      cibTarget: PACEMAKER_VERSIONS[spec.cluster.pacemakerVersion]!,
      exportDirs: Object.fromEntries(spec.storage.pools.map((p) => [p.name, exportDirsOnPool(spec, p)])),
      extraDatasets: monitoringPlace?.kind === "ha" ? { [monitoringPlace.pool]: [monitoringPlace.dataset.slice(monitoringPlace.pool.length + 1)] } : {},
    });
    // Container runtimes per node group; what they need from slurm.conf (MpiDefault, Podman's
    // TaskProlog, Shifter's prolog/epilog directories, PrologFlags) goes to Slurm as props.
    if (spec.containers) {
      // Slurm's configless mode: slurmctld serves oci.conf, so it goes to the controllers.
      const servers = spec.slurm?.configless ? spec.slurm.controllers.map((c) => this.hosts[c]!).filter((b) => b !== undefined) : undefined;
      this.containers = new ContainerRuntimes(this, "containers", { site: spec, groups: this.groups, ...(servers ? { slurmConfigServers: servers } : {}) });
    }
    if (spec.slurm) {
      // Slurm's shared state lives on an NFS export, reached through its group's floating IP.
      const stateSave = spec.slurm.stateSave;
      const stateGroup = stateSave ? this.nfs.groups.find((g) => g.exports.includes(stateSave.export)) : undefined;
      const slurm = (this.slurm = new SlurmCluster(this, "slurm", {
        site: spec,
        hosts: this.hosts,
        groups: this.groups,
        cluster: this.cluster,
        stateSaveServer: stateGroup,
        clusterName: slurmClusterName(spec),
        openapiPlugins: openapiPlugins(spec.slurm),
        containerSettings: this.containers?.slurmSettings,
        mungeGroups: spec.containers?.shifter ? [spec.containers.shifter.gateway.group] : [],
      }));
      // A Pacemaker-run slurmctld (slurm.controllerIp): its group goes into the site's CIB.
      if (slurm.pacemakerController) {
        new SlurmctldGroup(this, "slurmctld-group", {
          cluster: this.nfs.pacemaker,
          slurmctld: slurm.pacemakerController,
          stateGroup: stateGroup!,
          nodes: spec.nodes.map((n) => n.name),
          preferredNodeScore: spec.cluster.preferredNodeScore,
        });
      }
    }
    // Stream brokers (their Slurm job, host settings and image build files).
    if (spec.streaming) {
      const launch = spec.nodeGroups.find((g) => g.name === spec.streaming!.launch.nodeGroup);
      new StreamingService(this, "streaming", {
        site: spec,
        groups: this.groups,
        sizing: { brokerMemoryMB: staticBrokerMemoryMB(spec, spec.streaming), launchGroupCores: launch ? groupCores(launch) : undefined },
      });
    }
    if (spec.monitoring) this.monitoring = this.buildMonitoring(spec, props.site.name);

    this.buildDeployments(props.resourceKind ?? spec.deploy.resource);
    this.buildStackFiles();
  }

  /** A deployment resource per bundle: hosts and groups first, the CIB once every management node has its files. */
  private buildDeployments(resourceKind: DeploymentResourceKind): void {
    if (resourceKind === "null_resource") new NullProvider(this, "null");
    // How Terraform runs hpcdk: `hpcdk` on PATH, or TF_VAR_hpcdk_cli (hpcdk deploy sets it).
    const cli = new TerraformVariable(this, "hpcdk_cli", {
      type: "string",
      default: "hpcdk",
      description: "Command that runs hpcdk on the deploying machine (hpcdk deploy sets it)",
    });
    const deployment = (bundle: Bundle, dependsOn: Deployment[] = []) => {
      const d = new Deployment(this, `deploy-${bundle.kind === "cluster" ? "cluster" : `${bundle.kind}-${bundle.name}`}`, {
        bundle,
        resourceKind,
        cli: cli.stringValue,
        // Resolved when synthesis writes the Terraform JSON, after it had the store make the secrets.
        secretsFingerprint: Lazy.stringValue({ produce: () => this.fingerprintOf(bundle) }),
        dependsOn: dependsOn.map((x) => x.resource),
      });
      this.deployments.push(d);
      return d;
    };
    const hostDeployments = Object.values(this.hosts).map((b) => deployment(b));
    for (const group of Object.values(this.groups)) deployment(group);
    // The CIB goes in once every management node has its files (and runs its cluster).
    deployment(this.cluster, hostDeployments);
  }

  /**
   * The rest of the stack directory (the bundles make their own files): how the hosts are
   * reached, and the Terraform JSON as cdktf writes it (keys sorted; synthesis prepares the
   * stack first).
   */
  private buildStackFiles(): void {
    const { name, file, spec } = this.site;
    new StackFile(this, "inventory", { path: "deploy.json", content: () => JSON.stringify(inventoryOf(name, file, spec), null, 2) + "\n" });
    new StackFile(this, "terraform-json", { path: "cdk.tf.json", content: () => stringify(this.toTerraform(), { space: 2 })! });
  }

  /**
   * Monitoring, from what the other domains deploy: the management nodes and the addresses they are
   * scraped on, the node groups' hostlists, the systemd units each host must run (for the
   * ServiceDown alert), the NFS floating IPs, Slurm's controllers. With HA placement its resource
   * group goes into the CIB here: the floating IP, Prometheus and Alertmanager (ocf:hpcdk:daemon),
   * colocated with the pool that holds their data and started after it.
   */
  private buildMonitoring(spec: SiteSpec, siteName: string): MonitoringService {
    const m = spec.monitoring!;
    const units = new Map<Bundle, Set<string>>();
    const run = (bundle: Bundle | undefined, ...names: string[]) => {
      if (!bundle) return;
      const set = units.get(bundle) ?? new Set<string>();
      for (const n of names) set.add(n);
      units.set(bundle, set);
    };
    for (const n of spec.nodes) run(this.hosts[n.name], "corosync.service", "pacemaker.service");
    const slurm = spec.slurm;
    if (slurm) {
      for (const c of slurm.controllers) run(this.hosts[c], "munge.service", ...(slurm.controllerIp ? [] : ["slurmctld.service"]));
      if (slurm.accounting) run(this.hosts[slurm.accounting.host], "munge.service", "slurmdbd.service", "mariadb.service");
      for (const h of slurm.restApi?.hosts ?? []) run(this.hosts[h], "munge.service", "slurmrestd.service", "nginx.service");
      for (const g of new Set(slurm.partitions.flatMap((p) => p.nodeGroups))) run(this.groups[g], "munge.service", "slurmd.service");
      for (const g of slurm.loginGroups) run(this.groups[g], "munge.service");
      if (spec.containers?.shifter) run(this.groups[spec.containers.shifter.gateway.group], "munge.service");
    }
    const unitsOf = (b: Bundle) => [...(units.get(b) ?? [])].sort();
    const addresses = scrapeAddresses(spec);
    const scraped = new Set(m.prometheus.nodeGroups ?? spec.nodeGroups.map((g) => g.name));
    const managementNodes: MonitoredNode[] = spec.nodes.map((n) => ({ name: n.name, address: addresses[n.name]!, bundle: this.hosts[n.name]!, units: unitsOf(this.hosts[n.name]!) }));
    const nodeGroups: MonitoredGroup[] = spec.nodeGroups.map((g) => ({
      name: g.name,
      hosts: expandHostlist(g.hosts),
      bundle: this.groups[g.name]!,
      units: unitsOf(this.groups[g.name]!),
      scraped: scraped.has(g.name),
    }));
    const server = monitoringServer(spec);
    const monitoring = new MonitoringService(this, "monitoring", {
      siteName,
      monitoring: m,
      server,
      externalLabels: externalLabels(siteName, m),
      ids: MONITORING_IDS,
      managementNodes,
      nodeGroups,
      nfsGroups: spec.nfs.groups.map((g) => ({ name: g.name, address: g.floatingIp.address })),
      kernelNfsServer: spec.nfs.server === "kernel",
      stonithEnabled: spec.fencing.stonith,
      slurm: slurm ? { controllers: slurm.controllers, accounting: slurm.accounting !== undefined, takeover: slurm.controllerIp ? "pacemaker" : "slurm" } : undefined,
      grafanaGroup: m.grafana ? this.groups[m.grafana.nodeGroup] : undefined,
    });

    const cib = this.nfs.pacemaker;
    const alert = monitoring.pacemakerAlert;
    cib.addAlert({ id: alert.id, path: alert.path, select: alert.select, recipients: [alert.recipient], timeoutSec: alert.timeoutSec });
    const ha = monitoring.haGroup;
    if (ha) {
      const pool = this.nfs.pools.find((p) => p.pool === ha.pool);
      if (!pool) throw new Error(`SiteStack [${this.node.path}]: monitoring runs on pool ${ha.pool}, which the site's CIB does not have`);
      const members = [
        new FloatingIp(this, "monitoring-ip", { cluster: cib, resourceId: ha.ip.resourceId, address: ha.ip.address, cidr: ha.ip.cidr, nic: ha.ip.nic, monitorIntervalSec: spec.nfs.monitorIntervalSec }),
        ...ha.daemons.map(
          (d) =>
            new Primitive(this, `monitoring-${d.id}`, {
              cluster: cib,
              resourceId: d.id,
              agent: ResourceAgent.ocf(DAEMON_AGENT.provider, DAEMON_AGENT.type),
              params: daemonParams(d),
              operations: [
                { name: "start", timeoutSec: d.startTimeoutSec },
                { name: "stop", timeoutSec: d.stopTimeoutSec },
                { name: "monitor", intervalSec: d.monitorIntervalSec, timeoutSec: 30 },
              ],
            }),
        ),
      ];
      cib.addGroup(ha.groupId, members);
      // Where the pool is imported, once it is: the TSDB lives on it. The pool's own group may
      // restart its NFS members without touching monitoring.
      cib.addColocation(ha.groupId, pool.resourceId);
      cib.addOrder(pool.resourceId, ha.groupId);
    }
    return monitoring;
  }

  /** What a host records once it holds a bundle: its sha256 and its secrets' fingerprint. */
  markerOf(bundle: Bundle): string {
    return bundleMarker(bundle.sha256, this.fingerprintOf(bundle));
  }

  private fingerprintOf(bundle: Bundle): string {
    return this.secrets.fingerprint(bundle.render().manifest.secrets.map((s) => s.name));
  }

  /** Host bundles, then group bundles, each sorted by name, then the cluster bundle. */
  get bundles(): Bundle[] {
    const byName = (a: Bundle, b: Bundle) => (a.name < b.name ? -1 : 1);
    return [...Object.values(this.hosts).sort(byName), ...Object.values(this.groups).sort(byName), this.cluster];
  }
}
