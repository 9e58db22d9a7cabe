/**
 * What changing each setting of a site file does to a running site: the update policy of every
 * field of the site schema, which `hpcdk diff` reports next to the rendered files' own impacts.
 *
 * Settings are named by pattern: `cluster.corosync.tokenMs` is one field; `nodes[]` stands for
 * adding or removing an element of a list of objects; `nodes[].id` for changing a field of an
 * element. A list of plain values (`nodes[].addresses`) and a mapping of free keys
 * (`storage.pools[].properties`) are one setting each.
 *
 * A domain adds its section as one entry of `SETTING_IMPACTS` (its top-level key in the site
 * file). A setting with no entry has the most cautious impact, `outage`, and the test
 * `test/diff/setting-impacts.test.ts` enumerates the site schema and fails for every setting
 * that has none.
 */
import type { Impact } from "../common/contracts/impact.js";

export interface SettingImpact extends Impact {
  /**
   * The setting only changes the Pacemaker CIB: its real impact is what Pacemaker's scheduler
   * plans for the CIB change, which `hpcdk diff` computes with crm_simulate (a restart, a move,
   * or nothing). `kind` is the impact assumed when the CIB was not compared.
   */
  readonly cib?: boolean;
}

/** Section (top-level key) → setting pattern inside it (`name`, `[]`, `[].id`, `corosync.tokenMs`) → impact. */
export type SettingImpactTable = Readonly<Record<string, Readonly<Record<string, SettingImpact>>>>;

const viaCib = (detail: string): SettingImpact => ({ kind: "resource-move", detail, cib: true });
const outage = (detail: string): SettingImpact => ({ kind: "outage", detail });
const restart = (detail: string): SettingImpact => ({ kind: "restart", detail });
const reload = (detail: string): SettingImpact => ({ kind: "reload", detail });
const none = (detail: string): SettingImpact => ({ kind: "none", detail });

const COROSYNC_TOGETHER = "nodes with different settings cannot talk: stop and start corosync and pacemaker on every node together";
const MMP_SETTINGS = "the zfs module's MMP parameters (/etc/modprobe.d/hpcdk-zfs.conf, and /sys/module/zfs/parameters at once): the next import of a pool waits as they say";
const CREATION_ONLY = "only the pool creation script changes: an existing pool is changed by hand (zpool/zfs)";

/** The HA NFS core's settings. */
const CORE_IMPACTS: SettingImpactTable = {
  cluster: {
    name: outage(`corosync cluster_name: ${COROSYNC_TOGETHER}`),
    pacemakerVersion: restart("CIB feature set and schema: upgrade Pacemaker on every node first (rolling restart of pacemaker)"),
    mode: outage("every NFS group is rebuilt (one group for all pools or one per pool): all exports stop and start, NFSv4 state moves"),
    stickiness: viaCib("resource-stickiness in the CIB's resource defaults"),
    preferredNodeScore: viaCib("location score of each group's preferred node"),
    noQuorumPolicy: viaCib("no-quorum-policy cluster property"),
    maintenanceMode: viaCib("maintenance-mode cluster property: Pacemaker stops or resumes managing resources"),
    dcDeadtimeSec: viaCib("dc-deadtime cluster property"),
    "corosync.tokenMs": reload("totem token: corosync-cfgtool -R on every node"),
    "corosync.cryptoCipher": outage(`totem crypto_cipher: ${COROSYNC_TOGETHER}`),
    "corosync.cryptoHash": outage(`totem crypto_hash: ${COROSYNC_TOGETHER}`),
  },
  nodes: {
    "[]": restart("corosync nodelist: corosync-cfgtool -R on the other nodes, corosync and pacemaker start or stop on the node; 2 <-> 3 nodes toggles two_node (restart every node)"),
    "[].name": outage("the node's identity in corosync and Pacemaker: stop the cluster on every node, rename, start again"),
    "[].id": outage("corosync nodeid: stop the cluster on every node, change it, start again"),
    "[].addresses": outage("knet link addresses: corosync cannot reload a changed link address (a link must be removed and added again while a working link stays): with one link, stop the cluster on every node, change it, start again"),
    "[].serviceAddresses": none("used only to check that floating IPs are reachable from the node"),
    "[].hostid": restart("/etc/hostid: ZFS reads it at the next pool import; move the node's groups away and back"),
    "[].power.plug": viaCib("fence_powerman pcmk_host_map"),
  },
  storage: {
    "pools[]": viaCib("a ZFS resource is added or removed (create a new pool with its script first)"),
    "pools[].name": outage("the pool is imported by name: export it, zpool import it under the new name, by hand"),
    "pools[].vdevs[]": viaCib(`fence_scsi reserves the pool's devices; ${CREATION_ONLY}`),
    "pools[].vdevs[].type": none(CREATION_ONLY),
    "pools[].vdevs[].devices": viaCib(`the ZFS resource's import directories and fence_scsi's devices; ${CREATION_ONLY} (zpool replace)`),
    "pools[].mountpoint": viaCib(`where NFS keeps its state (active/passive); ${CREATION_ONLY}`),
    "pools[].ashift": none(CREATION_ONLY),
    "pools[].properties": none(CREATION_ONLY),
    "pools[].importTimeoutSec": viaCib("start/stop timeouts of the ZFS resource"),
    "multihost.intervalMs": reload(MMP_SETTINGS),
    "multihost.importIntervals": reload(MMP_SETTINGS),
    "multihost.failIntervals": reload(MMP_SETTINGS),
  },
  nfs: {
    server: outage("the NFS server is replaced (kernel nfsd and exportfs resources, or nfs-ganesha): every client must remount"),
    v4LeaseSec: restart("the NFS server restarts with the new lease (a failover, with its grace period)"),
    v4GraceSec: restart("the NFS server restarts with the new grace period (a failover, with its grace period)"),
    monitorIntervalSec: viaCib("monitor intervals of the pools, NFS server, exports and floating IPs"),
    "groups[]": viaCib("a resource group (pools, NFS server, exports, floating IP) is added or removed"),
    "groups[].name": viaCib("the group's resource ids: the old group stops and the new one starts"),
    "groups[].pools": viaCib("the pools the group imports"),
    "groups[].floatingIp.address": outage("the address clients mount from: every client must remount"),
    "groups[].floatingIp.cidr": viaCib("IPaddr2 cidr_netmask"),
    "groups[].floatingIp.nic": viaCib("IPaddr2 nic"),
    "groups[].exports[]": viaCib("an exportfs resource is added to or removed from the group"),
    "groups[].exports[].path": viaCib("the exported directory (clients mounting the old path lose it)"),
    "groups[].exports[].fsid": outage("exportfs fsid: clients' file handles go stale, every client must remount"),
    "groups[].exports[].clients[]": viaCib("an exportfs resource for one client spec"),
    "groups[].exports[].clients[].spec": viaCib("exportfs clientspec"),
    "groups[].exports[].clients[].options": viaCib("exportfs options"),
    "groups[].preferredNode": viaCib("location constraint of the group"),
  },
  fencing: {
    stonith: viaCib("stonith-enabled cluster property (false is unsafe with shared pools)"),
    "devices[]": viaCib("a fence device is added or removed"),
    "devices[].name": viaCib("the fence device's resource id"),
    "devices[].agent": viaCib("the fence agent"),
    "devices[].devices": viaCib("fence_scsi devices"),
    "devices[].monitorIntervalSec": viaCib("monitor interval of the fence device"),
    "devices[].ip": viaCib("fence_powerman ip"),
    "devices[].ipport": viaCib("fence_powerman ipport"),
    "devices[].delaySec": viaCib("fence_powerman delay"),
    "devices[].powerWaitSec": viaCib("fence_powerman power_wait"),
    "levels[]": viaCib("fencing topology level"),
    "levels[].devices": viaCib("fencing topology level"),
    "levels[].nodes": viaCib("fencing topology level"),
  },
  deploy: {
    resource: restart("every deployment resource is replaced (null_resource <-> terraform_data): every host gets its bundle again, unchanged files stay untouched"),
    providerMirror: none("where terraform init finds the null provider"),
    "ssh.user": none("how hpcdk reaches the hosts"),
    "ssh.port": none("how hpcdk reaches the hosts"),
    "ssh.privateKey": none("how hpcdk reaches the hosts"),
    "ssh.knownHosts": none("how hpcdk reaches the hosts"),
    "ssh.connectTimeoutSec": none("how hpcdk reaches the hosts"),
    "ssh.bastion.address": none("how hpcdk reaches the hosts"),
    "ssh.bastion.port": none("how hpcdk reaches the hosts"),
    "ssh.bastion.user": none("how hpcdk reaches the hosts"),
    "ssh.bastion.privateKey": none("how hpcdk reaches the hosts"),
    hosts: none("how hpcdk reaches the hosts"),
    groupConcurrency: none("how many hosts of a group get their bundle at once"),
    maxUnavailable: none("how many management nodes a rolling restart takes down at once"),
    maxFailPercent: none("when a deploy stops because too many hosts of a group failed"),
    skipPackages: restart("packages the deploy installs: the hosts' bundles change and are applied again"),
    packageVersions: restart("the pinned packages are installed at that version (upgraded or downgraded) on the hosts that need them: their services restart"),
    clusterWaitSec: none("how long the CIB step waits for a quorate cluster"),
  },
  nodeGroups: {
    "[]": restart("hosts join or leave the site: their bundle is installed; daemons that list hosts (slurmctld) restart"),
    "[].name": restart("the group's bundle is renamed: its hosts get it again"),
    "[].hosts": restart("hosts join or leave the group: their bundle is installed; daemons that list hosts (slurmctld) restart"),
    "[].infiniband": restart("what the group's hosts run for InfiniBand changes"),
    "[].slurm": none("says the group runs no Slurm: only the synth warning about a group in no partition follows it"),
    "[].hardware.sockets": restart("node definitions (Slurm): restart slurmctld and slurmd"),
    "[].hardware.coresPerSocket": restart("node definitions (Slurm): restart slurmctld and slurmd"),
    "[].hardware.threadsPerCore": restart("node definitions (Slurm): restart slurmctld and slurmd"),
    "[].hardware.memoryMB": restart("node definitions (Slurm): restart slurmctld and slurmd"),
    "[].hardware.gpus.type": restart("GPU gres of the group's hosts: restart slurmctld and slurmd"),
    "[].hardware.gpus.count": restart("GPU gres of the group's hosts: restart slurmctld and slurmd"),
    "[].hardware.gpus.devices": restart("GPU gres of the group's hosts: restart slurmctld and slurmd"),
  },
};

const RECONFIGURE = "slurm.conf on every Slurm host, then scontrol reconfigure";
const RESTART_ALL = "slurm.conf on every Slurm host; slurmctld and every slurmd restart (running jobs continue)";

/** Slurm's settings. */
const SLURM_IMPACTS: Readonly<Record<string, SettingImpact>> = {
  version: restart("plugin names and the REST API's openapi plugins: upgrade Slurm first (slurmdbd, slurmctld, then slurmd), then deploy"),
  clusterName: outage("ClusterName: slurmctld refuses state saved under another name, and accounting starts a new cluster record"),
  controllers: restart("SlurmctldHost lines: slurmctld moves or gains a backup; restart slurmctld, then every slurmd"),
  network: restart(RESTART_ALL),
  // Adding or removing controllerIp changes who runs slurmctld: the address is what the diff sees.
  "controllerIp.address": outage(`SlurmctldAddr, and whether Pacemaker or systemd runs slurmctld: ${RESTART_ALL}`),
  "controllerIp.cidr": restart("the floating IP resource restarts: slurmctld's group moves its address"),
  "controllerIp.nic": restart("the floating IP resource restarts: slurmctld's group moves its address"),
  slurmUser: outage("SlurmUser owns the saved state and the spool: stop Slurm, chown the state, start it"),
  loginGroups: reload("which node groups get the Slurm commands and slurm.conf"),
  configless: restart(
    "slurm.conf moves between the node groups and the controllers: enable_configless needs slurmctld restarted (controllers first), then every slurmd restarts with --conf-server (or reads its own slurm.conf again)",
  ),
  configlessLoginGroups: reload("whether the login groups keep slurm.conf or find slurmctld through DNS SRV: read at each command"),
  slurmctldTimeoutSec: reload(RECONFIGURE),
  slurmdTimeoutSec: reload(RECONFIGURE),
  "ports.slurmctld": restart(RESTART_ALL),
  "ports.slurmd": restart(RESTART_ALL),
  "ports.slurmdbd": restart("slurmdbd and slurmctld restart"),
  "plugins.select": outage("SelectType: every daemon restarts and Slurm drops the running jobs' allocations: drain first"),
  "plugins.selectTypeParameters": outage("SelectTypeParameters: every daemon restarts and Slurm drops the running jobs' allocations: drain first"),
  "plugins.proctrack": restart("ProctrackType: every slurmd restarts; drain first, jobs started under the old plugin are not tracked"),
  "plugins.task": restart(RESTART_ALL),
  "plugins.jobacctGather": restart(RESTART_ALL),
  "plugins.priority": restart("PriorityType: slurmctld restarts"),
  "plugins.scheduler": reload(RECONFIGURE),
  "plugins.mpiDefault": reload(RECONFIGURE),
  "plugins.authAltTypes": restart("AuthAltTypes: slurmctld, slurmdbd and slurmrestd restart"),
  "cgroup.plugin": restart("cgroup.conf: every slurmd restarts"),
  "cgroup.constrainCores": restart("cgroup.conf: every slurmd restarts (new jobs are constrained)"),
  "cgroup.constrainDevices": restart("cgroup.conf: every slurmd restarts (new jobs are constrained)"),
  "cgroup.constrainRAMSpace": restart("cgroup.conf: every slurmd restarts (new jobs are constrained)"),
  "cgroup.constrainSwapSpace": restart("cgroup.conf: every slurmd restarts (new jobs are constrained)"),
  "partitions[]": reload(RECONFIGURE),
  "partitions[].name": reload(`${RECONFIGURE}; jobs and scripts that name the old partition must be changed`),
  "partitions[].nodeGroups": reload(RECONFIGURE),
  "partitions[].default": reload(RECONFIGURE),
  "partitions[].defaultTime": reload(RECONFIGURE),
  "partitions[].maxTime": reload(RECONFIGURE),
  "partitions[].allowGroups": reload(RECONFIGURE),
  "partitions[].oversubscribe": reload(RECONFIGURE),
  "partitions[].priorityTier": reload(RECONFIGURE),
  "partitions[].state": reload(RECONFIGURE),
  "stateSave.export": outage("StateSaveLocation moves: stop slurmctld, copy the state to the new export, start it"),
  "stateSave.mountpoint": outage("StateSaveLocation moves: stop slurmctld, move the mount, start it"),
  "stateSave.mountOptions": restart("the state export is remounted: slurmctld restarts"),
  "accounting.host": outage("slurmdbd and its database move: migrate the database first, or accounting starts empty"),
  "accounting.database": outage("slurmdbd uses another database: migrate it first, or accounting starts empty"),
  "accounting.storageUser": restart("slurmdbd restarts with the new database user"),
  "accounting.enforce": restart("AccountingStorageEnforce: slurmctld restarts"),
  "accounting.mariadb.bufferPoolSizeMB": restart("MariaDB restarts (slurmdbd reconnects)"),
  "accounting.mariadb.lockWaitTimeoutSec": restart("MariaDB restarts (slurmdbd reconnects)"),
  "accounting.mariadb.logFileSizeMB": restart("MariaDB restarts (slurmdbd reconnects)"),
  "accounting.mariadb.maxAllowedPacketMB": restart("MariaDB restarts (slurmdbd reconnects)"),
  "restApi.hosts": restart("slurmrestd and nginx start or stop on the hosts"),
  "restApi.user": restart("slurmrestd restarts as the new user"),
  "restApi.authTypes": restart("slurmrestd restarts"),
  "restApi.openapiPlugins": restart("slurmrestd restarts; clients of a removed API version break"),
  "restApi.maxTokenLifespanSec": restart("AuthAltParameters: slurmctld and slurmdbd restart"),
  "restApi.nginx.port": reload("nginx reloads on the new port; clients must use it"),
  "restApi.nginx.serverName": reload("nginx reloads"),
  "restApi.nginx.allow": reload("nginx reloads"),
  "restApi.nginx.clientMaxBodySize": reload("nginx reloads"),
  "restApi.nginx.rateLimit.requestsPerSecond": reload("nginx reloads"),
  "restApi.nginx.rateLimit.burst": reload("nginx reloads"),
  "restApi.nginx.tls.certificate": reload("nginx reloads with the new certificate"),
  "restApi.nginx.tls.key": reload("nginx reloads with the new key"),
};

const AT_CONTAINER_START = "read when a container starts: containers started after the deploy use it, running ones are untouched";
const RUNTIME_INSTALL = "the runtime is installed (or removed) on the group's hosts";
const PACKAGE = "the site package is downloaded, checked and installed again on the group's hosts";
const GATEWAY = "Shifter's image gateway (API replicas, Celery workers, Redis, MongoDB) restarts";

/** The container runtimes' settings: a pattern → impact list kept per runtime. */
const CONTAINERS_IMPACTS: Readonly<Record<string, SettingImpact>> = {
  sharedPaths: none("where image stores may not be: only checked at synth"),
  ...Object.fromEntries(
    ["apptainer", "charliecloud", "podman", "sarus", "shifter"].map((r) => [`${r}.groups`, restart(RUNTIME_INSTALL)]),
  ),
  ...Object.fromEntries(
    [
      "apptainer.allowPidNs", "apptainer.bindPaths", "apptainer.limitContainerOwners", "apptainer.limitContainerPaths",
      "apptainer.maxLoopDevices", "apptainer.mode", "apptainer.mountHome", "apptainer.mountHostfs",
      "charliecloud.storageDir", "podman.cgroupManager", "podman.network", "podman.runtime",
      "sarus.centralizedRepositoryDir", "sarus.gpuHook.libnvidiaContainerPath", "sarus.gpuHook.path", "sarus.infinibandDevices",
      "sarus.localRepositoryBaseDir", "sarus.mpi.bindMounts", "sarus.mpi.dependencyLibs", "sarus.mpi.libs", "sarus.prefixDir",
      "sarus.ramFilesystemType", "sarus.siteMounts[]", "sarus.siteMounts[].destination", "sarus.siteMounts[].readonly",
      "sarus.siteMounts[].source", "sarus.tempDir", "shifter.allowLibcPwdCalls", "shifter.maxGroupCount", "shifter.maxLoop",
      "shifter.siteFs[]", "shifter.siteFs[].from", "shifter.siteFs[].to", "shifter.siteResources", "shifter.udiRootPath",
      "shifter.system", "shifter.mungeSocket",
    ].map((k) => [k, reload(AT_CONTAINER_START)]),
  ),
  ...Object.fromEntries(
    ["apptainer.packages[]", "apptainer.packages[].sha256", "apptainer.packages[].url", "sarus.package.sha256", "sarus.package.url",
      "sarus.version", "shifter.packages[]", "shifter.packages[].sha256", "shifter.packages[].url"].map((k) => [k, restart(PACKAGE)]),
  ),
  "podman.graphroot": restart("podman's storage moves: images and containers stay behind in the old place"),
  "podman.runroot": restart("podman's run state moves: stop running containers first"),
  "podman.storageDriver": restart("podman's storage driver changes: users must reset their storage (podman system reset)"),
  "podman.rootlessStorageRoot": restart("rootless storage moves: users' images stay behind in the old place"),
  "podman.subordinateIds.count": restart("/etc/subuid and /etc/subgid change: users run podman system migrate"),
  "podman.subordinateIds.start": restart("/etc/subuid and /etc/subgid change: users run podman system migrate"),
  "podman.subordinateIds.uidRanges[]": restart("/etc/subuid and /etc/subgid change: users run podman system migrate"),
  "podman.subordinateIds.uidRanges[].first": restart("/etc/subuid and /etc/subgid change: users run podman system migrate"),
  "podman.subordinateIds.uidRanges[].last": restart("/etc/subuid and /etc/subgid change: users run podman system migrate"),
  "shifter.imagePath": restart("images are read from another directory: pull them again through the gateway"),
  "shifter.gateway.group": outage("the image gateway and its MongoDB move to another host: the image catalogue starts empty"),
  ...Object.fromEntries(
    ["basePort", "cacheDirectory", "celeryConcurrency", "defaultImageLocation", "expandDirectory", "mongodbPort",
      "passwdRefreshMin", "prefix", "redisPort", "replicas", "packages[]", "packages[].sha256", "packages[].url"].map((k) => [`shifter.gateway.${k}`, restart(GATEWAY)]),
  ),
  "slurm.groups": reload("oci.conf and PMIx on the groups' hosts: read at each srun --container"),
  "slurm.ociRuntime": reload("oci.conf: read at each srun --container"),
  "slurm.ociStateDir": reload("oci.conf: read at each srun --container"),
};

const NEXT_STREAM_START = "the broker daemons' launch changes: the next stream job uses it (Slurm launch), or the broker units restart (systemd launch)";

/** The stream brokers' settings. */
const STREAMING_IMPACTS: Readonly<Record<string, SettingImpact>> = {
  ...Object.fromEntries(
    [
      "broker.activeGroupsPerStreamlet", "broker.cleanerBalancer", "broker.detectFailures", "broker.extraArgs", "broker.hashTableMB",
      "broker.maxCores", "broker.memoryMB", "broker.port", "broker.replicas", "broker.reserveMB", "broker.storageDir",
      "clusterName", "coordinator.extraArgs", "coordinator.port", "coordinator.reset", "image", "runtime", "transport",
      "infiniband.device", "infiniband.hostSuffix", "infiniband.interface", "infiniband.port", "plasma.memoryBytes", "plasma.socket",
      "launch.account", "launch.brokers", "launch.coordinator", "launch.cpusPerTask", "launch.jobName", "launch.memPerCpuMB",
      "launch.nodeGroup", "launch.partition", "launch.qos", "launch.readyTimeoutSec", "launch.runDir", "launch.timeLimit", "launch.via",
    ].map((k) => [k, restart(NEXT_STREAM_START)]),
  ),
  "launch.submitFrom": none("where the batch script is copied for sbatch"),
  "build.nodeGroup": none("where the image build files are copied"),
  ...Object.fromEntries(
    ["build.arch", "build.base", "build.makeJobs", "build.rdma.distro", "build.rdma.kernel", "build.rdma.stack", "build.rdma.version"].map((k) => [
      k,
      none("the image build files only: rebuild the image (build-image.sh) to apply"),
    ]),
  ),
  "fabric.provider": restart(`FI_PROVIDER in the fabric settings: ${NEXT_STREAM_START}`),
  "limits.memlockKB": restart("limits.d and slurmd's limits drop-in: slurmd restarts on the group's hosts"),
  "limits.nofile": restart("limits.d and slurmd's limits drop-in: slurmd restarts on the group's hosts"),
};

const PROM_RELOAD = "promtool check config, then Prometheus rereads its configuration (SIGHUP): no restart, no gap in the data";
const AM_RELOAD = "amtool check-config, then Alertmanager rereads its configuration (SIGHUP): alerts and silences are kept";
const DAEMON_ARGS = "the daemons' command line: Pacemaker restarts the resource (HA, in the CIB) or systemd the unit (one host); a gap of a few scrapes";
const EMPTY_DATA = "Prometheus and Alertmanager start on empty data there: copy prometheus/ and alertmanager/ over first to keep the history and the silences";

/** The monitoring section's settings (schema/monitoring.ts). */
const MONITORING_IMPACTS: SettingImpactTable[string] = {
  "server.pool": viaCib(`the monitoring group follows the new pool; ${EMPTY_DATA}`),
  "server.dataset": viaCib(`Prometheus and Alertmanager restart on the new dataset; ${EMPTY_DATA}`),
  "server.quota": none("zfs set quota on the monitoring dataset, where the pool is imported"),
  "server.floatingIp.address": viaCib("Prometheus and Alertmanager restart on the new address: Grafana's data source and every bookmark follow it"),
  "server.floatingIp.cidr": viaCib("IPaddr2 cidr_netmask of the monitoring address"),
  "server.floatingIp.nic": viaCib("IPaddr2 nic of the monitoring address"),
  "server.host": restart(`Prometheus and Alertmanager move to another host (not HA); ${EMPTY_DATA}`),
  "server.dataDir": restart(`Prometheus and Alertmanager restart on the new directory; ${EMPTY_DATA}`),
  network: reload("the management nodes are scraped on other addresses (file_sd files: Prometheus picks them up itself)"),
  "prometheus.port": restart(`Prometheus' port: ${DAEMON_ARGS}; Grafana's data source follows`),
  "prometheus.scrapeIntervalSec": reload(PROM_RELOAD),
  "prometheus.scrapeTimeoutSec": reload(PROM_RELOAD),
  "prometheus.evaluationIntervalSec": reload(PROM_RELOAD),
  "prometheus.retention.time": restart(`--storage.tsdb.retention.time: ${DAEMON_ARGS}`),
  "prometheus.retention.size": restart(`--storage.tsdb.retention.size: ${DAEMON_ARGS}`),
  "prometheus.externalLabels": reload(`${PROM_RELOAD}; remote write stores the series under their new labels`),
  "prometheus.nodeGroups": reload("which node groups' file_sd files Prometheus reads (SIGHUP)"),
  "alertmanager.port": restart(`Alertmanager's port: ${DAEMON_ARGS}; Prometheus sends to the new one (reload)`),
  "alertmanager.resolveTimeoutSec": reload(AM_RELOAD),
  "alertmanager.receivers[]": reload(AM_RELOAD),
  "alertmanager.receivers[].name": reload(AM_RELOAD),
  "alertmanager.receivers[].email.to": reload(AM_RELOAD),
  "alertmanager.receivers[].email.sendResolved": reload(AM_RELOAD),
  "alertmanager.receivers[].webhook.url": reload(AM_RELOAD),
  "alertmanager.receivers[].webhook.sendResolved": reload(AM_RELOAD),
  "alertmanager.receivers[].webhook.bearerToken": reload(`${AM_RELOAD}; the token is the secret alertmanager-webhook-<name>-token`),
  "alertmanager.receivers[].webhook.basicAuth.username": reload(`${AM_RELOAD}; the password is the secret alertmanager-webhook-<name>-password`),
  "alertmanager.route.receiver": reload(AM_RELOAD),
  "alertmanager.route.groupWaitSec": reload(AM_RELOAD),
  "alertmanager.route.groupIntervalSec": reload(AM_RELOAD),
  "alertmanager.route.repeatIntervalSec": reload(AM_RELOAD),
  "alertmanager.route.routes[]": reload(AM_RELOAD),
  "alertmanager.route.routes[].severity": reload(AM_RELOAD),
  "alertmanager.route.routes[].receiver": reload(AM_RELOAD),
  "alertmanager.route.routes[].continue": reload(AM_RELOAD),
  "alertmanager.smtp.smarthost": reload(AM_RELOAD),
  "alertmanager.smtp.from": reload(AM_RELOAD),
  "alertmanager.smtp.hello": reload(AM_RELOAD),
  "alertmanager.smtp.authUsername": reload(`${AM_RELOAD}; the password is the secret alertmanager-smtp-password`),
  "alertmanager.smtp.requireTls": reload(AM_RELOAD),
  "remoteWrite[]": reload(`${PROM_RELOAD}; a new endpoint gets samples from now on, not the history`),
  "remoteWrite[].name": reload(PROM_RELOAD),
  "remoteWrite[].url": reload(PROM_RELOAD),
  "remoteWrite[].basicAuth.username": reload(`${PROM_RELOAD}; the password is the secret remote-write-<name>-password`),
  "exporters.nodeExporterPort": restart("node_exporter restarts on every host on the new port; Prometheus follows (reload)"),
  "exporters.haclusterExporterPort": restart("the hacluster exporter restarts on the management nodes; Prometheus follows (reload)"),
  "exporters.blackboxExporterPort": restart("the blackbox exporter restarts on the management nodes; Prometheus follows (reload)"),
  "alerts.nodeDownForSec": reload(`the alert rules: ${PROM_RELOAD}`),
  "alerts.serviceDownForSec": reload(`the alert rules: ${PROM_RELOAD}`),
  "alerts.groupNotPreferredForMin": reload(`the alert rules: ${PROM_RELOAD}`),
  "alerts.poolFullPercent": reload(`the alert rules: ${PROM_RELOAD}`),
  "alerts.clockSkewMs": reload(`the alert rules: ${PROM_RELOAD}`),
  "slurmCollector.intervalSec": reload("the Slurm collector's timer restarts with the new interval"),
  "grafana.nodeGroup": restart("the dashboards and the data source go to another node group's Grafana (grafana-server restarts there)"),
  "grafana.provisioningDir": restart("grafana-server restarts to read the moved provisioning files"),
  "grafana.dashboardsDir": restart("grafana-server restarts to read the moved dashboards"),
};

const LAB_ONLY = "only the lab's Vagrantfile (hpcdk lab vagrantfile) changes: nothing deployed depends on it";

/** The lab's settings (schema/lab.ts) shape only the lab's VMs. */
const LAB_IMPACTS: SettingImpactTable[string] = {
  "vagrant.box": none(LAB_ONLY),
  "vagrant.driver": none(LAB_ONLY),
  "vagrant.memoryMiB": none(LAB_ONLY),
  "vagrant.cpus": none(LAB_ONLY),
  "vagrant.sharedDiskGiB": none(LAB_ONLY),
  "vagrant.bootTimeoutSec": none(LAB_ONLY),
  "vagrant.zpoolStandIn": none(LAB_ONLY),
};

/**
 * Every section's impacts. A domain that adds a section to the site schema adds one entry here
 * (e.g. `slurm: SLURM_IMPACTS`, defined beside its schema).
 */
export const SETTING_IMPACTS: SettingImpactTable = {
  ...CORE_IMPACTS,
  slurm: SLURM_IMPACTS,
  containers: CONTAINERS_IMPACTS,
  streaming: STREAMING_IMPACTS,
  monitoring: MONITORING_IMPACTS,
  lab: LAB_IMPACTS,
  drill: { expect: none("only what hpcdk drill checks: nothing on the hosts changes") },
};

/** The impact of a setting no table declares: the most cautious one. */
export function undeclaredSettingImpact(pattern: string): SettingImpact {
  return { kind: "outage", detail: `no impact declared for setting ${pattern}: assume the worst` };
}

/** `nodes[].id` → ["nodes", "[].id"]; `cluster.corosync.tokenMs` → ["cluster", "corosync.tokenMs"]. */
function splitPattern(pattern: string): [string, string] {
  const m = /^([^.[]+)(?:\.(.*)|(\[.*))?$/.exec(pattern);
  if (!m) return [pattern, ""];
  return [m[1]!, m[2] ?? m[3] ?? ""];
}

/** The declared impact of a setting pattern, or undefined. */
export function declaredSettingImpact(pattern: string, table: SettingImpactTable = SETTING_IMPACTS): SettingImpact | undefined {
  const [section, rest] = splitPattern(pattern);
  return table[section]?.[rest];
}

/**
 * The impact of a change at `pattern`. A key inside a mapping of free keys
 * (`storage.pools[].properties.compression`) takes the mapping's impact; a setting nobody
 * declared takes the most cautious one.
 */
export function settingImpact(pattern: string, table: SettingImpactTable = SETTING_IMPACTS): SettingImpact & { declared: boolean } {
  let p = pattern;
  for (;;) {
    const found = declaredSettingImpact(p, table);
    if (found) return { ...found, declared: true };
    // Only a mapping's keys are stripped: a new field of a list element is not its list's.
    const parent = p.replace(/\.[^.[\]]+$/, "");
    if (parent === p || parent.endsWith("[]") || !parent.includes(".") && !parent.includes("[")) break;
    p = parent;
  }
  return { ...undeclaredSettingImpact(pattern), declared: false };
}

/** Every pattern a table declares, as full patterns (`nodes[].id`). */
export function declaredPatterns(table: SettingImpactTable = SETTING_IMPACTS): string[] {
  return Object.entries(table)
    .flatMap(([section, entries]) => Object.keys(entries).map((rest) => (rest === "" ? section : rest.startsWith("[") ? `${section}${rest}` : `${section}.${rest}`)))
    .sort();
}

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  additionalProperties?: boolean | JsonSchema;
};

/**
 * Every setting of a site schema (its JSON Schema), as patterns: each field holding a value and
 * each list of objects (`x[]`: elements added or removed). Object-valued fields are walked into;
 * variants of a union (the fence agents) contribute all their fields.
 */
export function settingPatterns(schema: object): string[] {
  const out = new Set<string>();
  const variants = (s: JsonSchema): JsonSchema[] => [s, ...[...(s.anyOf ?? []), ...(s.oneOf ?? []), ...(s.allOf ?? [])].flatMap(variants)];
  const walk = (s: JsonSchema, path: string) => {
    const all = variants(s);
    const objects = all.filter((v) => v.properties !== undefined);
    if (objects.length > 0) {
      for (const o of objects) for (const [key, sub] of Object.entries(o.properties!)) walk(sub, path === "" ? key : `${path}.${key}`);
      return;
    }
    const lists = all.filter((v) => v.items !== undefined);
    if (lists.some((a) => variants(a.items!).some((v) => v.properties !== undefined))) {
      out.add(`${path}[]`);
      for (const a of lists) walk(a.items!, `${path}[]`);
      return;
    }
    out.add(path);
  };
  walk(schema as JsonSchema, "");
  return [...out].sort();
}
