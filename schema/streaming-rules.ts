/**
 * The rules of the site's streaming section that relate it to the rest of the site, apart from its
 * schema (schema/streaming.ts) so that the site's schema (schema/site.ts) composes the section's
 * schema and schema/rules.ts composes these rules, with no circle through site.ts.
 */
import { countHostlist, expandHostlist, tooManyHosts } from "../common/hostlist.js";
import { ownedDirectoryProblem } from "./common.js";
import type { SiteSpec } from "./site.js";
import { BROKEN_FABRIC_PROVIDERS, VERBS_PROVIDERS, quote, type Path, type Report, type StreamingSpec } from "./streaming.js";

/** The node group a streaming launch runs on, with its index in `nodeGroups`. */
function launchGroup(site: SiteSpec, streaming: StreamingSpec) {
  const index = site.nodeGroups.findIndex((g) => g.name === streaming.launch.nodeGroup);
  return index < 0 ? undefined : { group: site.nodeGroups[index]!, index };
}

/** Cores of one host of a group (sockets × cores), when its hardware is known. */
export function groupCores(group: SiteSpec["nodeGroups"][number]): number | undefined {
  const hw = group.hardware;
  return hw ? hw.sockets * hw.coresPerSocket : undefined;
}

/** Plasma store capacity in whole MB, rounded up. */
export function plasmaMB(streaming: StreamingSpec): number {
  return Math.ceil(streaming.plasma.memoryBytes / (1024 * 1024));
}

/** The broker's log memory when it can be known at synth: explicit, or node memory minus the rest. */
export function staticBrokerMemoryMB(site: SiteSpec, streaming: StreamingSpec): number | undefined {
  if (streaming.broker.memoryMB !== undefined) return streaming.broker.memoryMB;
  const found = launchGroup(site, streaming);
  const launch = streaming.launch;
  let available: number | undefined;
  if (launch.via === "slurm" && launch.memPerCpuMB !== undefined) {
    const cpus = launch.cpusPerTask ?? (found ? groupCores(found.group) : undefined);
    available = cpus === undefined ? undefined : launch.memPerCpuMB * cpus;
  } else {
    available = found?.group.hardware?.memoryMB;
  }
  return available === undefined ? undefined : available - plasmaMB(streaming) - streaming.broker.reserveMB;
}

/** The most broker hosts of a systemd launch: each gets a unit file in the group's bundle. */
export const MAX_SYSTEMD_BROKERS = 256;
/** Longest path of a unix socket: sun_path holds 108 bytes with the terminating NUL. */
export const MAX_SOCKET_PATH = 107;

/** The smallest log a broker starts with. */
export const MIN_BROKER_MEMORY_MB = 1024;

/** Rules between the streaming section and the rest of the site. */
export function checkStreaming(site: SiteSpec & { streaming?: StreamingSpec }, report: Report): void {
  const s = site.streaming;
  if (!s) return;
  const at = (...rest: Path): Path => ["streaming", ...rest];

  // The image: a file for apptainer/singularity, a reference for podman.
  if (s.runtime === "podman") {
    if (!/^[a-z0-9]+([._\/-][a-z0-9]+)*(:[A-Za-z0-9_.-]+)?(@sha256:[0-9a-f]{64})?$/.test(s.image)) {
      report(at("image"), `podman needs an image reference such as "localhost/kera:1.0", got ${quote(s.image)}`);
    }
  } else if (!/^\/[A-Za-z0-9_.\/-]+$/.test(s.image) || s.image.split("/").includes("..")) {
    report(at("image"), `${s.runtime} needs the absolute path of a SIF file or sandbox directory, got ${quote(s.image)}`);
  }

  if (s.build.rdma.stack === "mofed" && s.build.rdma.distro === undefined && !s.build.base.startsWith("ubuntu:")) {
    report(at("build", "rdma", "distro"), `is required with base ${quote(s.build.base)}: name the MOFED distribution tag, such as "debian11.3"`);
  }

  // libfabric: the seed's notes call tcp broken; verbs needs an HCA.
  if (BROKEN_FABRIC_PROVIDERS.includes(s.fabric.provider)) {
    report(
      at("fabric", "provider"),
      `${quote(s.fabric.provider)} is broken for libfabric middleware (an upstream libfabric issue): use "sockets" (safe on any network) or "verbs" (InfiniBand)`,
    );
  }
  if (VERBS_PROVIDERS.includes(s.fabric.provider) && s.transport !== "infiniband") {
    report(at("fabric", "provider"), `${quote(s.fabric.provider)} needs InfiniBand, but streaming.transport is "tcp": use "sockets"`);
  }

  // The deploy makes the brokers' storage directory their own (install -d -o); /tmp and /var/tmp are left as they are.
  if (!["/tmp", "/var/tmp"].includes(s.broker.storageDir)) {
    const why = ownedDirectoryProblem(s.broker.storageDir, "the deploy makes it the stream daemons' (install -d -o hpcdk-stream -m 0750)");
    if (why) report(at("broker", "storageDir"), why);
  }
  // A unix socket's path is at most 107 bytes (sun_path holds 108 with its NUL).
  if (Buffer.byteLength(s.plasma.socket) > MAX_SOCKET_PATH) {
    report(at("plasma", "socket"), `must be at most ${MAX_SOCKET_PATH} characters (a unix socket's path), got ${quote(s.plasma.socket)}`);
  }

  if (s.coordinator.port === s.broker.port) {
    report(at("broker", "port"), `port ${s.broker.port} is also the coordinator's (streaming.coordinator.port): a host may run both`);
  }

  if (s.build.nodeGroup !== undefined && !site.nodeGroups.some((g) => g.name === s.build.nodeGroup)) {
    report(at("build", "nodeGroup"), `unknown node group ${quote(s.build.nodeGroup)} (node groups: ${site.nodeGroups.map((g) => g.name).join(", ") || "none"})`);
  }

  const found = launchGroup(site, s);
  if (!found) {
    report(
      at("launch", "nodeGroup"),
      `unknown node group ${quote(s.launch.nodeGroup)} (node groups: ${site.nodeGroups.map((g) => g.name).join(", ") || "none"})`,
    );
    return;
  }
  const { group, index } = found;
  const hosts = expandHostlist(group.hosts);
  if (s.transport === "infiniband" && !group.infiniband) {
    report(
      at("launch", "nodeGroup"),
      `node group ${quote(group.name)} has no InfiniBand (nodeGroups.${index}.infiniband is false), so its hosts have no ${s.infiniband.hostSuffix} interface for infrc: locators: set streaming.transport: tcp, or run on a group with InfiniBand`,
    );
  }
  const cores = groupCores(group);

  const launch = s.launch;
  if (launch.via === "slurm") {
    if (launch.brokers + 1 > hosts.length) {
      report(
        at("launch", "brokers"),
        `${launch.brokers} brokers and the coordinator need ${launch.brokers + 1} nodes, but node group ${quote(group.name)} has ${hosts.length}`,
      );
    }
    if (launch.cpusPerTask !== undefined && cores !== undefined && group.hardware) {
      const threads = cores * group.hardware.threadsPerCore;
      if (launch.cpusPerTask > threads) {
        report(at("launch", "cpusPerTask"), `${launch.cpusPerTask} CPUs per task, but a host of node group ${quote(group.name)} has ${threads}`);
      }
    }
    if (launch.memPerCpuMB !== undefined && group.hardware) {
      const cpus = launch.cpusPerTask ?? cores!;
      if (launch.memPerCpuMB * cpus > group.hardware.memoryMB) {
        report(
          at("launch", "memPerCpuMB"),
          `${launch.memPerCpuMB} MB × ${cpus} CPUs is more than the ${group.hardware.memoryMB} MB of a host of node group ${quote(group.name)}`,
        );
      }
    }
    const names = new Set(site.nodeGroups.map((g) => g.name));
    launch.submitFrom.forEach((g, k) => {
      if (!names.has(g)) report(at("launch", "submitFrom", k), `unknown node group ${quote(g)} (node groups: ${[...names].join(", ")})`);
    });
  } else {
    if (!hosts.includes(launch.coordinator)) {
      report(at("launch", "coordinator"), `${quote(launch.coordinator)} is not a host of node group ${quote(group.name)} (${group.hosts})`);
    }
    if (launch.brokers !== undefined) {
      let brokers: readonly string[] = [];
      try {
        // One systemd unit per broker host: a fixed-host launch is for small clusters.
        const count = countHostlist(launch.brokers);
        if (count > MAX_SYSTEMD_BROKERS) report(at("launch", "brokers"), `${tooManyHosts(count, MAX_SYSTEMD_BROKERS)} (one systemd unit each): launch larger clusters with via: slurm`);
        else brokers = expandHostlist(launch.brokers);
      } catch (err) {
        report(at("launch", "brokers"), (err as Error).message);
      }
      const seen = new Set<string>();
      const twice = brokers.find((h) => seen.size === seen.add(h).size);
      if (twice !== undefined) report(at("launch", "brokers"), `names ${quote(twice)} twice`);
      const groupHosts = new Set(hosts);
      const stranger = brokers.find((h) => !groupHosts.has(h));
      if (stranger !== undefined) {
        report(at("launch", "brokers"), `${quote(stranger)} is not a host of node group ${quote(group.name)} (${group.hosts})`);
      }
      if (brokers.length === 0 && launch.brokers.trim() === "") report(at("launch", "brokers"), "names no host");
    } else if (hosts.length < 2) {
      report(at("launch", "brokers"), `node group ${quote(group.name)} has only the coordinator: name the broker hosts`);
    } else if (hosts.length - 1 > MAX_SYSTEMD_BROKERS) {
      report(at("launch", "nodeGroup"), `node group ${quote(group.name)} has ${hosts.length} hosts, so ${hosts.length - 1} broker units: a systemd launch runs at most ${MAX_SYSTEMD_BROKERS} (name them in launch.brokers, or launch with via: slurm)`);
    }
  }

  // Memory: the broker's log, the plasma store and the reserve must fit a node.
  const memory = staticBrokerMemoryMB(site, s);
  const memoryField = s.broker.memoryMB !== undefined ? at("broker", "memoryMB") : launch.via === "slurm" && launch.memPerCpuMB !== undefined ? at("launch", "memPerCpuMB") : at("broker", "reserveMB");
  if (memory === undefined) {
    if (launch.via === "systemd") {
      report(at("broker", "memoryMB"), `is required: node group ${quote(group.name)} has no hardware.memoryMB to size the broker from`);
    }
  } else if (memory < MIN_BROKER_MEMORY_MB) {
    report(
      memoryField,
      `leaves a broker ${memory} MB of log memory (node or job memory − ${plasmaMB(s)} MB plasma store − ${s.broker.reserveMB} MB reserve), less than ${MIN_BROKER_MEMORY_MB} MB`,
    );
  } else if (s.broker.memoryMB !== undefined && group.hardware && s.broker.memoryMB + plasmaMB(s) + s.broker.reserveMB > group.hardware.memoryMB) {
    report(
      at("broker", "memoryMB"),
      `${s.broker.memoryMB} MB + ${plasmaMB(s)} MB plasma store + ${s.broker.reserveMB} MB reserve is more than the ${group.hardware.memoryMB} MB of a host of node group ${quote(group.name)}`,
    );
  }
  if (s.broker.replicas > 0) {
    const brokerCount = launch.via === "slurm" ? launch.brokers : launch.brokers !== undefined ? safeCount(launch.brokers) : hosts.length - 1;
    if (brokerCount <= s.broker.replicas) {
      report(at("broker", "replicas"), `${s.broker.replicas} replica(s) need at least ${s.broker.replicas + 1} brokers (a replica lives on another broker), got ${brokerCount}`);
    }
  }
}

function safeCount(expression: string): number {
  try {
    return countHostlist(expression);
  } catch {
    return 0;
  }
}
