import { Construct } from "constructs";
import { CibId, type NfsGroupResources } from "../../common/contracts/cib-ids.js";
import { bundleOf, type Bundle } from "../core/index.js";
import { expandHostlist } from "../../common/hostlist.js";
import { networkContains } from "../../common/net.js";
import type { SiteSpec } from "../../schema/site.js";
import { JwtKey } from "./jwt-key.js";
import { Munge } from "./munge.js";
import { NginxProxy } from "./nginx-proxy.js";
import { SlurmConfig, type SlurmConfigProps, type SlurmNodeGroup } from "./slurm-config.js";
import { SlurmDbd } from "./slurm-dbd.js";
import { SlurmRestd } from "./slurm-restd.js";
import { Slurmctld } from "./slurmctld.js";
import { Slurmd } from "./slurmd.js";

/**
 * A slurmctld that Pacemaker runs (slurm.controllerIp), described for the stack, which builds
 * its resource group in the site's CIB (constructs/pacemaker's SlurmctldGroup takes it as is).
 */
export interface PacemakerController {
  /** The CIB id of its group (the controllers' systemd drop-in names it). */
  readonly groupId: string;
  /** The state directory mounted from the HA NFS. */
  readonly stateMount: { readonly device: string; readonly directory: string; readonly options: string };
  /** slurmctld's floating IP (SlurmctldAddr). */
  readonly ip: { readonly address: string; readonly cidr: number; readonly nic?: string };
  /** The controllers that may run it, the primary first. */
  readonly controllers: readonly string[];
}

export interface SlurmClusterProps {
  /** The validated site; its `slurm` section must be present. */
  readonly site: SiteSpec;
  /** One bundle per management node. */
  readonly hosts: Readonly<Record<string, Bundle>>;
  /** One bundle per node group. */
  readonly groups: Readonly<Record<string, Bundle>>;
  /** The cluster bundle (steps that run after the CIB step). */
  readonly cluster: Bundle;
  /** The NFS group that exports the state directory: required when the site puts the state on its NFS (slurm.stateSave). */
  readonly stateSaveServer?: NfsGroupResources;
  /** What the container runtimes need in slurm.conf. @default none */
  readonly containerSettings?: SlurmConfigProps["containers"];
  /** The cluster name Slurm records (the schema's slurmClusterName). */
  readonly clusterName: string;
  /** slurmrestd's OpenAPI plugins (the schema's openapiPlugins: the site's, or the release's defaults). */
  readonly openapiPlugins: readonly string[];
  /** Node groups that run no Slurm daemon but need MUNGE (Shifter's image gateway). @default none */
  readonly mungeGroups?: readonly string[];
}

/** Where slurm.conf and slurmdbd.conf point AuthAltParameters' jwt_key. */
export const JWT_KEY_PATH = "/etc/slurm/jwt_hs256.key";

/**
 * Slurm on a site: slurmctld on the controllers (state shared on the HA NFS when there are two),
 * slurmdbd with MariaDB, slurmrestd behind nginx, slurmd on the node groups of the partitions,
 * the client configuration on login groups, and MUNGE on every one of these hosts.
 */
export class SlurmCluster extends Construct {
  readonly config: SlurmConfig;
  readonly munge: Munge;
  readonly controllers: readonly Slurmctld[];
  readonly dbd?: SlurmDbd;
  readonly restd: readonly SlurmRestd[];
  readonly proxies: readonly NginxProxy[];
  /** With slurm.controllerIp: the slurmctld Pacemaker runs, for the stack to put in the CIB. */
  readonly pacemakerController?: PacemakerController;

  constructor(scope: Construct, id: string, props: SlurmClusterProps) {
    super(scope, id);
    const where = `SlurmCluster [${this.node.path}]`;
    const site = props.site;
    const slurm = site.slurm;
    if (!slurm) throw new Error(`${where}: the site has no slurm section`);
    const hostOf = (name: string) => bundleOf(props.hosts, name, "management node", where);
    const groupOf = (name: string) => bundleOf(props.groups, name, "node group", where);
    if (slurm.stateSave && !props.stateSaveServer) throw new Error(`${where}: slurm.stateSave needs the NFS group's address (stateSaveServer)`);

    // Controllers and the dbd are written with their address on slurm.network when the site names one.
    const network = slurm.network;
    const addressOf = (name: string): string | undefined => {
      if (!network) return undefined;
      const node = site.nodes.find((n) => n.name === name)!;
      return [...node.addresses, ...node.serviceAddresses].map((a) => a.address).find((a) => networkContains(network, a));
    };
    const controllerHost = (name: string) => {
      const addr = addressOf(name);
      return addr ? `${name}(${addr})` : name;
    };

    const partitionGroups = [...new Set(slurm.partitions.flatMap((p) => p.nodeGroups))].sort();
    const nodeGroups: SlurmNodeGroup[] = partitionGroups.map((name) => {
      const g = site.nodeGroups.find((x) => x.name === name)!;
      const hw = g.hardware;
      if (!hw) throw new Error(`${where}: node group ${name} has no hardware`);
      return {
        name,
        hosts: expandHostlist(g.hosts),
        sockets: hw.sockets,
        coresPerSocket: hw.coresPerSocket,
        threadsPerCore: hw.threadsPerCore,
        realMemoryMB: hw.memoryMB,
        ...(hw.gpus ? { gpus: { type: hw.gpus.type, count: hw.gpus.count, devices: hw.gpus.devices } } : {}),
      };
    });

    const accounting = slurm.accounting;
    const jwt = slurm.plugins.authAltTypes.includes("auth/jwt");
    const stateSaveLocation = slurm.stateSave?.mountpoint ?? "/var/spool/slurmctld";
    this.config = new SlurmConfig(this, "config", {
      version: slurm.version,
      clusterName: props.clusterName,
      controllers: slurm.controllers.map(controllerHost),
      slurmUser: slurm.slurmUser,
      ports: { slurmctld: slurm.ports.slurmctld, slurmd: slurm.ports.slurmd },
      stateSaveLocation,
      stateSaveNote: slurm.stateSave
        ? `every controller mounts ${slurm.stateSave.export} from the HA NFS (group ${props.stateSaveServer!.name}) here`
        : "on the controller's own disk",
      // Pacemaker runs one slurmctld at a time: a controller it starts as a backup need not wait long.
      slurmctldTimeoutSec: slurm.slurmctldTimeoutSec ?? (slurm.controllerIp ? 10 : 120),
      controllerAddr: slurm.controllerIp?.address,
      slurmdTimeoutSec: slurm.slurmdTimeoutSec,
      plugins: slurm.plugins,
      jwtKeyPath: JWT_KEY_PATH,
      maxTokenLifespanSec: slurm.restApi?.maxTokenLifespanSec,
      accounting: accounting
        ? { host: addressOf(accounting.host) ?? accounting.host, port: slurm.ports.slurmdbd, enforce: accounting.enforce }
        : undefined,
      cgroup: slurm.cgroup,
      nodeGroups,
      partitions: slurm.partitions,
      containers: props.containerSettings,
      configless: slurm.configless,
    });
    // Configless: slurmd fetches the files from the controllers, the primary first: the floating IP
    // of a Pacemaker-run slurmctld, else each controller on its address on slurm.network. slurmd
    // splits host:port at the first colon, so an IPv6 address is given as the controller's name.
    const ipv4 = (address: string | undefined) => (address && !address.includes(":") ? address : undefined);
    const confServer = slurm.configless
      ? (slurm.controllerIp && ipv4(slurm.controllerIp.address) ? [slurm.controllerIp.address] : slurm.controllers.map((c) => ipv4(addressOf(c)) ?? c))
          .map((h) => `${h}:${slurm.ports.slurmctld}`)
          .join(",")
      : undefined;

    // Every bundle that gets Slurm, with the strongest role it has: a controller rereads slurm.conf.
    const roles = new Map<Bundle, "controller" | "slurmd" | "client">();
    for (const c of slurm.controllers) roles.set(hostOf(c), "controller");
    const clientHost = (name: string) => {
      if (!roles.has(hostOf(name))) roles.set(hostOf(name), "client");
    };
    if (accounting) clientHost(accounting.host);
    for (const h of slurm.restApi?.hosts ?? []) clientHost(h);
    for (const g of partitionGroups) roles.set(groupOf(g), "slurmd");
    for (const g of slurm.loginGroups) if (!roles.has(groupOf(g))) roles.set(groupOf(g), "client");
    const bundles = [...roles.keys()];
    const pmix = slurm.plugins.mpiDefault.startsWith("pmix");
    // Configless: the node groups hold no copy (login groups too when the site publishes DNS SRV).
    const fetches = (bundle: Bundle, role: "controller" | "slurmd" | "client") =>
      slurm.configless && bundle.kind === "group" && (role === "slurmd" || slurm.configlessLoginGroups === "dns-srv");
    for (const [bundle, role] of roles) {
      if (!fetches(bundle, role)) this.config.install(bundle, role);
      if (role === "client") bundle.addPackage({ debian: "slurm-client", rhel: "slurm" });
      // Debian ships auth/jwt apart from the basic plugins, and every daemon and command loads
      // AuthAltTypes: without it slurmctld, slurmdbd and slurmd exit at start (found by the lab test).
      if (jwt) bundle.addPackage({ debian: "slurm-wlm-jwt-plugin" });
      // Debian's mpi_pmix plugin dlopens pmix2/lib/libpmix.so, which only libpmix-dev ships.
      if (pmix) bundle.addPackage({ debian: "libpmix-dev", rhel: "pmix" });
    }
    this.munge = new Munge(this, "munge", { bundles: [...bundles, ...(props.mungeGroups ?? []).map(groupOf).filter((b) => !roles.has(b))] });

    const managed = slurm.controllerIp ? (this.pacemakerController = this.describePacemakerController(site, props)) : undefined;
    this.controllers = slurm.controllers.map(
      (c) =>
        new Slurmctld(this, `slurmctld-${c}`, {
          host: hostOf(c),
          cluster: props.cluster,
          pacemaker: managed ? { group: managed.groupId, address: managed.ip.address } : undefined,
          config: this.config,
          stateSave: slurm.stateSave
            ? {
                server: props.stateSaveServer!.address,
                export: slurm.stateSave.export,
                nfsGroup: props.stateSaveServer!.name,
                ipResourceId: props.stateSaveServer!.ipResourceId,
                options: slurm.stateSave.mountOptions,
              }
            : undefined,
        }),
    );
    for (const g of partitionGroups) new Slurmd(this, `slurmd-${g}`, { group: groupOf(g), config: this.config, ...(confServer ? { confServer } : {}) });
    for (const g of slurm.loginGroups) {
      if (!partitionGroups.includes(g)) {
        new Slurmd(this, `client-${g}`, { group: groupOf(g), config: this.config, runsJobs: false, configless: fetches(groupOf(g), "client") });
      }
    }

    if (accounting) {
      this.dbd = new SlurmDbd(this, "slurmdbd", {
        host: hostOf(accounting.host),
        clusterName: this.config.clusterName,
        dbdHost: accounting.host,
        dbdPort: slurm.ports.slurmdbd,
        slurmUser: slurm.slurmUser,
        database: accounting.database,
        storageUser: accounting.storageUser,
        authAltTypes: slurm.plugins.authAltTypes,
        jwtKeyPath: JWT_KEY_PATH,
        mariadb: accounting.mariadb,
      });
    }

    // One JWT key file per host that signs or checks tokens, whichever daemons it runs.
    if (jwt) {
      const readers = new Map<Bundle, ("slurmctld" | "slurmdbd")[]>();
      for (const c of slurm.controllers) readers.set(hostOf(c), ["slurmctld"]);
      if (accounting) readers.set(hostOf(accounting.host), [...(readers.get(hostOf(accounting.host)) ?? []), "slurmdbd"]);
      for (const [bundle, daemons] of readers) {
        new JwtKey(this, `jwt-key-${bundle.name}`, { bundle, path: JWT_KEY_PATH, slurmUser: slurm.slurmUser, daemons });
      }
    }

    const api = slurm.restApi;
    const restd: SlurmRestd[] = [];
    const proxies: NginxProxy[] = [];
    for (const h of api?.hosts ?? []) {
      const r = new SlurmRestd(this, `slurmrestd-${h}`, {
        host: hostOf(h),
        user: api!.user,
        slurmUser: slurm.slurmUser,
        openapiPlugins: [...props.openapiPlugins],
        authTypes: api!.authTypes,
      });
      restd.push(r);
      proxies.push(
        new NginxProxy(this, `nginx-${h}`, {
          host: hostOf(h),
          socket: r.socket,
          serverName: api!.nginx.serverName,
          port: api!.nginx.port,
          tls: api!.nginx.tls,
          clientMaxBodySize: api!.nginx.clientMaxBodySize,
          rateLimit: api!.nginx.rateLimit,
          allow: api!.nginx.allow,
        }),
      );
    }
    this.restd = restd;
    this.proxies = proxies;
  }

  /**
   * slurmctld run by Pacemaker on one controller at a time: the state export mounted through the
   * NFS group's floating IP, the controller's floating IP (SlurmctldAddr), then the unit. The
   * stack builds the group from this description; the controllers mount the state with nfs-common.
   */
  private describePacemakerController(site: SiteSpec, props: SlurmClusterProps): PacemakerController {
    const where = `SlurmCluster [${this.node.path}]`;
    const slurm = site.slurm!;
    const ip = slurm.controllerIp!;
    const state = props.stateSaveServer;
    if (!state || !slurm.stateSave) throw new Error(`${where}: slurm.controllerIp needs slurm.stateSave and the NFS group that serves it`);
    const server = state.address.includes(":") ? `[${state.address}]` : state.address;
    for (const c of slurm.controllers) props.hosts[c]!.addPackage({ debian: "nfs-common", rhel: "nfs-utils" });
    return {
      groupId: CibId.slurmctldGroup,
      stateMount: { device: `${server}:${slurm.stateSave.export}`, directory: this.config.stateSaveLocation, options: slurm.stateSave.mountOptions },
      ip: { address: ip.address, cidr: ip.cidr, ...(ip.nic ? { nic: ip.nic } : {}) },
      controllers: [...slurm.controllers],
    };
  }
}
