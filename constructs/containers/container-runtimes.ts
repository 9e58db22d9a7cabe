import { Construct } from "constructs";
import { bundleOf, type Bundle } from "../core/index.js";
import { expandHostlist } from "../../common/hostlist.js";
import type { SiteSpec } from "../../schema/site.js";
import { Apptainer } from "./apptainer.js";
import { Charliecloud } from "./charliecloud.js";
import { Podman } from "./podman.js";
import { Sarus } from "./sarus.js";
import { ShifterGateway } from "./shifter-gateway.js";
import { ShifterRuntime } from "./shifter-runtime.js";
import { Pmix, SlurmOci } from "./slurm-oci.js";

export interface ContainerRuntimesProps {
  /** The validated site; its `containers` section says what each node group gets. */
  readonly site: SiteSpec;
  /** One bundle per node group, by group name. */
  readonly groups: Readonly<Record<string, Bundle>>;
  /**
   * Slurm's configless mode: the controllers' bundles. slurmctld serves oci.conf to the slurmd,
   * so it goes there (once) instead of onto the groups. @default none: oci.conf on each group
   */
  readonly slurmConfigServers?: readonly Bundle[];
}

/**
 * The container runtimes of a site, per node group: Apptainer, Charliecloud, rootless Podman,
 * Sarus, Shifter (runtime on the groups, image gateway on its host), and Slurm's container
 * support (oci.conf, PMIx) on the groups that run slurmd.
 */
export class ContainerRuntimes extends Construct {
  readonly apptainer: Readonly<Record<string, Apptainer>> = {};
  readonly charliecloud: Readonly<Record<string, Charliecloud>> = {};
  readonly podman: Readonly<Record<string, Podman>> = {};
  readonly sarus: Readonly<Record<string, Sarus>> = {};
  readonly shifter: Readonly<Record<string, ShifterRuntime>> = {};
  readonly shifterGateway?: ShifterGateway;
  readonly slurmOci: Readonly<Record<string, SlurmOci>> = {};
  readonly pmix: Readonly<Record<string, Pmix>> = {};
  /**
   * What these runtimes need from slurm.conf (owned by the Slurm part): MpiDefault, the
   * TaskProlog that fixes XDG_RUNTIME_DIR for rootless Podman, and the prolog/epilog
   * directories of Shifter. Empty when no group needs them.
   */
  readonly slurmSettings: { mpiDefault?: string; taskProlog?: string; prologDir?: string; epilogDir?: string; prologFlags?: string } = {};

  constructor(scope: Construct, id: string, props: ContainerRuntimesProps) {
    super(scope, id);
    const site = props.site;
    const c = site.containers;
    if (!c) throw new Error(`ContainerRuntimes [${this.node.path}]: the site has no containers section`);
    const groupSpec = new Map(site.nodeGroups.map((g) => [g.name, g]));
    const groupOf = (name: string) => bundleOf(props.groups, name, "node group", `ContainerRuntimes [${this.node.path}]`);
    const ib = (name: string) => groupSpec.get(name)?.infiniband ?? false;
    const settings = this.slurmSettings;

    if (c.apptainer) {
      const a = c.apptainer;
      for (const g of a.groups) {
        (this.apptainer as Record<string, Apptainer>)[g] = new Apptainer(this, `apptainer-${g}`, {
          bundle: groupOf(g),
          packages: a.packages,
          mode: a.mode,
          infiniband: ib(g),
          bindPaths: a.bindPaths,
          mountHome: a.mountHome,
          mountHostfs: a.mountHostfs,
          allowPidNs: a.allowPidNs,
          maxLoopDevices: a.maxLoopDevices,
          limitContainerOwners: a.limitContainerOwners,
          limitContainerPaths: a.limitContainerPaths,
        });
      }
    }

    if (c.charliecloud) {
      for (const g of c.charliecloud.groups) {
        (this.charliecloud as Record<string, Charliecloud>)[g] = new Charliecloud(this, `charliecloud-${g}`, {
          bundle: groupOf(g),
          storageDir: c.charliecloud.storageDir,
        });
      }
    }

    if (c.podman) {
      const p = c.podman;
      for (const g of p.groups) {
        const podman = new Podman(this, `podman-${g}`, {
          bundle: groupOf(g),
          subordinateIds: p.subordinateIds,
          runtime: p.runtime,
          storageDriver: p.storageDriver,
          graphroot: p.graphroot,
          runroot: p.runroot,
          rootlessStorageRoot: p.rootlessStorageRoot,
          cgroupManager: p.cgroupManager,
          network: p.network,
          infiniband: ib(g),
        });
        (this.podman as Record<string, Podman>)[g] = podman;
        settings.taskProlog = podman.taskProlog;
      }
    }

    if (c.sarus) {
      const s = c.sarus;
      for (const g of s.groups) {
        (this.sarus as Record<string, Sarus>)[g] = new Sarus(this, `sarus-${g}`, {
          bundle: groupOf(g),
          version: s.version,
          package: s.package,
          ...(s.prefixDir ? { prefixDir: s.prefixDir } : {}),
          localRepositoryBaseDir: s.localRepositoryBaseDir,
          ...(s.centralizedRepositoryDir ? { centralizedRepositoryDir: s.centralizedRepositoryDir } : {}),
          tempDir: s.tempDir,
          ramFilesystemType: s.ramFilesystemType,
          siteMounts: s.siteMounts,
          ...(ib(g) ? { infinibandDevices: s.infinibandDevices } : {}),
          ...(s.mpi ? { mpi: s.mpi } : {}),
          ...(groupSpec.get(g)?.hardware?.gpus ? { gpu: s.gpuHook } : {}),
        });
      }
    }

    if (c.shifter) {
      const s = c.shifter;
      const system = s.system ?? site.cluster.name;
      const etcCacheDir = `${s.imagePath}/etc_cache`;
      const gwGroup = groupSpec.get(s.gateway.group);
      if (!gwGroup) throw new Error(`ContainerRuntimes [${this.node.path}]: no node group ${s.gateway.group} for the Shifter gateway`);
      const gateway = new ShifterGateway(this, "shifter-gateway", {
        bundle: groupOf(s.gateway.group),
        host: expandHostlist(gwGroup.hosts)[0]!,
        system,
        packages: s.gateway.packages,
        imagePath: s.imagePath,
        etcCacheDir,
        mungeSocket: s.mungeSocket,
        prefix: s.gateway.prefix,
        replicas: s.gateway.replicas,
        basePort: s.gateway.basePort,
        celeryConcurrency: s.gateway.celeryConcurrency,
        cacheDirectory: s.gateway.cacheDirectory,
        expandDirectory: s.gateway.expandDirectory,
        mongodbPort: s.gateway.mongodbPort,
        redisPort: s.gateway.redisPort,
        defaultImageLocation: s.gateway.defaultImageLocation,
        passwdRefreshMin: s.gateway.passwdRefreshMin,
      });
      (this as { shifterGateway?: ShifterGateway }).shifterGateway = gateway;
      const siteFs = s.siteFs ?? c.sharedPaths.map((p) => ({ from: p }));
      for (const g of s.groups) {
        (this.shifter as Record<string, ShifterRuntime>)[g] = new ShifterRuntime(this, `shifter-${g}`, {
          bundle: groupOf(g),
          packages: s.packages,
          system,
          imageGateways: gateway.urls,
          imagePath: s.imagePath,
          etcCacheDir,
          udiRootPath: s.udiRootPath,
          siteFs,
          siteResources: s.siteResources,
          allowLibcPwdCalls: s.allowLibcPwdCalls,
          maxLoop: s.maxLoop,
          maxGroupCount: s.maxGroupCount,
        });
      }
      settings.prologDir = "/etc/slurm/prolog.d";
      settings.epilogDir = "/etc/slurm/epilog.d";
      // Shifter's plugin runs setupRoot at allocation and needs the extern step.
      settings.prologFlags = "Alloc,Contain";
    }

    if (c.slurm) {
      for (const g of c.slurm.groups) {
        const bundle = groupOf(g);
        (this.slurmOci as Record<string, SlurmOci>)[g] = new SlurmOci(this, `slurm-oci-${g}`, {
          bundle,
          runtime: c.slurm.ociRuntime,
          stateDir: c.slurm.ociStateDir,
          // Configless: the first group's construct writes the controllers' oci.conf; every group's would be the same.
          ...(props.slurmConfigServers ? { ociConfBundles: g === c.slurm.groups[0] ? props.slurmConfigServers : [] } : {}),
        });
        const pmix = new Pmix(this, `pmix-${g}`, { bundle });
        (this.pmix as Record<string, Pmix>)[g] = pmix;
        settings.mpiDefault = pmix.mpiDefault;
      }
    }
  }
}
