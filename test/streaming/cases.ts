/**
 * Bad streaming sections: each case edits a valid fixture in one way; `schema.test.ts` asserts
 * the exact messages (file, line, field path, what was expected).
 */
export interface StreamCase {
  readonly name: string;
  /** Fixture under test/streaming/fixtures (without .yaml). */
  readonly fixture: "stream-systemd" | "stream-podman";
  readonly edits: readonly (readonly [string, string])[];
  readonly problems: readonly string[];
}

export const CASES: StreamCase[] = [
  {
    name: "a broker group without InfiniBand when the transport is InfiniBand",
    fixture: "stream-systemd",
    edits: [["    infiniband: true\n", "    infiniband: false\n"]],
    problems: [
      "sites/bad.yaml:49:5: streaming.launch.nodeGroup: node group \"stream\" has no InfiniBand (nodeGroups.0.infiniband is false), so its hosts have no -ib0 interface for infrc: locators: set streaming.transport: tcp, or run on a group with InfiniBand",
    ],
  },
  {
    name: "an unknown node group",
    fixture: "stream-systemd",
    edits: [["    nodeGroup: stream\n", "    nodeGroup: streams\n"]],
    problems: [
      "sites/bad.yaml:49:5: streaming.launch.nodeGroup: unknown node group \"streams\" (node groups: stream)",
    ],
  },
  {
    name: "the coordinator is not a host of the group",
    fixture: "stream-systemd",
    edits: [["    coordinator: s01\n", "    coordinator: c01\n"]],
    problems: [
      "sites/bad.yaml:50:5: streaming.launch.coordinator: \"c01\" is not a host of node group \"stream\" (s[01-04])",
    ],
  },
  {
    name: "a broker host outside the group",
    fixture: "stream-systemd",
    edits: [["    coordinator: s01\n", "    coordinator: s01\n    brokers: s[02-05]\n"]],
    problems: [
      "sites/bad.yaml:51:5: streaming.launch.brokers: \"s05\" is not a host of node group \"stream\" (s[01-04])",
    ],
  },
  {
    name: "the tcp libfabric provider",
    fixture: "stream-systemd",
    edits: [["  limits:", "  fabric: { provider: tcp }\n  limits:"]],
    problems: [
      "sites/bad.yaml:46:13: streaming.fabric.provider: \"tcp\" is broken for libfabric middleware (an upstream libfabric issue): use \"sockets\" (safe on any network) or \"verbs\" (InfiniBand)",
    ],
  },
  {
    name: "the verbs provider without InfiniBand",
    fixture: "stream-podman",
    edits: [["  transport: tcp\n", "  transport: tcp\n  fabric: { provider: verbs }\n"]],
    problems: [
      "sites/bad.yaml:41:13: streaming.fabric.provider: \"verbs\" needs InfiniBand, but streaming.transport is \"tcp\": use \"sockets\"",
    ],
  },
  {
    name: "more brokers than the group has nodes",
    fixture: "stream-podman",
    edits: [["    brokers: 3\n", "    brokers: 8\n"]],
    problems: [
      "sites/bad.yaml:46:5: streaming.launch.brokers: 8 brokers and the coordinator need 9 nodes, but node group \"cpu\" has 8",
    ],
  },
  {
    name: "a broker log that does not fit the node",
    fixture: "stream-systemd",
    edits: [["    replicas: 1\n", "    replicas: 1\n    memoryMB: 64000\n"]],
    problems: [
      "sites/bad.yaml:46:5: streaming.broker.memoryMB: 64000 MB + 954 MB plasma store + 2048 MB reserve is more than the 65536 MB of a host of node group \"stream\"",
    ],
  },
  {
    name: "a node too small for plasma store and reserve",
    fixture: "stream-systemd",
    edits: [["memoryMB: 65536", "memoryMB: 3000"]],
    problems: [
      "sites/bad.yaml:44:5: streaming.broker.reserveMB: leaves a broker -2 MB of log memory (node or job memory − 954 MB plasma store − 2048 MB reserve), less than 1024 MB",
    ],
  },
  {
    name: "systemd on a group without hardware and no memory given",
    fixture: "stream-systemd",
    edits: [["    hardware: { sockets: 2, coresPerSocket: 8, memoryMB: 65536 }\n", ""]],
    problems: [
      "sites/bad.yaml:43:5: streaming.broker.memoryMB: is required: node group \"stream\" has no hardware.memoryMB to size the broker from",
    ],
  },
  {
    name: "per-CPU memory larger than the node",
    fixture: "stream-podman",
    edits: [
      ["    hosts: cpu[1-8]\n", "    hosts: cpu[1-8]\n    hardware: { coresPerSocket: 4, memoryMB: 16000 }\n"],
      ["    brokers: 3\n", "    brokers: 3\n    memPerCpuMB: 8000\n"],
    ],
    problems: [
      "sites/bad.yaml:48:5: streaming.launch.memPerCpuMB: 8000 MB × 4 CPUs is more than the 16000 MB of a host of node group \"cpu\"",
    ],
  },
  {
    name: "replicas without enough brokers",
    fixture: "stream-systemd",
    edits: [["    replicas: 1\n", "    replicas: 3\n"]],
    problems: [
      "sites/bad.yaml:45:5: streaming.broker.replicas: 3 replica(s) need at least 4 brokers (a replica lives on another broker), got 3",
    ],
  },
  {
    name: "a SIF image that is not an absolute path",
    fixture: "stream-systemd",
    edits: [["  image: /srv/containers/stream.sif\n", "  image: stream.sif\n"]],
    problems: [
      "sites/bad.yaml:40:3: streaming.image: apptainer needs the absolute path of a SIF file or sandbox directory, got \"stream.sif\"",
    ],
  },
  {
    name: "a podman image reference with spaces",
    fixture: "stream-podman",
    edits: [["  image: registry.example.org/hpc/kera:2.1\n", "  image: \"my image\"\n"]],
    problems: [
      "sites/bad.yaml:39:3: streaming.image: podman needs an image reference such as \"localhost/kera:1.0\", got \"my image\"",
    ],
  },
  {
    name: "locked memory below what RDMA needs, and too few open files",
    fixture: "stream-systemd",
    edits: [["  limits: { memlockKB: unlimited, nofile: 131072 }\n", "  limits: { memlockKB: 64, nofile: 512 }\n"]],
    problems: [
      "sites/bad.yaml:46:13: streaming.limits.memlockKB: must be at least 256, got 64",
      "sites/bad.yaml:46:28: streaming.limits.nofile: must be at least 1024, got 512",
    ],
  },
  {
    name: "a MOFED version without its release",
    fixture: "stream-podman",
    edits: [["    base: debian:12\n", "    base: debian:12\n    rdma: { stack: mofed, version: \"5.8\", kernel: 6.1.0-18-amd64 }\n"]],
    problems: [
      "sites/bad.yaml:43:27: streaming.build.rdma.version: must be a MOFED version such as \"5.1-2.5.8.0\", got \"5.8\"",
    ],
  },
  {
    name: "MOFED on a Debian base without a distribution tag",
    fixture: "stream-podman",
    edits: [["    base: debian:12\n", "    base: debian:12\n    rdma: { stack: mofed, version: 5.8-3.0.7.0, kernel: 6.1.0-18-amd64 }\n"]],
    problems: [
      "sites/bad.yaml:43:11: streaming.build.rdma.distro: is required with base \"debian:12\": name the MOFED distribution tag, such as \"debian11.3\"",
    ],
  },
  {
    name: "coordinator and broker on one port",
    fixture: "stream-systemd",
    edits: [["  broker:\n", "  coordinator: { port: 11101 }\n  broker:\n"]],
    problems: [
      "sites/bad.yaml:45:5: streaming.broker.port: port 11101 is also the coordinator's (streaming.coordinator.port): a host may run both",
    ],
  },
  {
    name: "an unknown launch and an unknown runtime",
    fixture: "stream-podman",
    edits: [["    via: slurm\n", "    via: kubernetes\n"], ["  runtime: podman\n", "  runtime: docker\n"]],
    problems: [
      "sites/bad.yaml:38:3: streaming.runtime: expected one of \"apptainer\", \"singularity\", \"podman\", got \"docker\"",
      "sites/bad.yaml:44:5: streaming.launch.via: via must be \"slurm\" or \"systemd\", got \"kubernetes\"",
    ],
  },
  {
    name: "a typo in a streaming key",
    fixture: "stream-systemd",
    edits: [["  clusterName: events\n", "  clustername: events\n"]],
    problems: [
      "sites/bad.yaml:39:3: streaming.clusterName: is required (a string)",
      "sites/bad.yaml:39:3: streaming.clustername: unknown key (did you mean \"clusterName\"?)",
    ],
  },
  {
    name: "a submit group that does not exist",
    fixture: "stream-podman",
    edits: [["    runDir: /scratch/stream\n", "    runDir: /scratch/stream\n    submitFrom: [login]\n"]],
    problems: [
      "sites/bad.yaml:48:18: streaming.launch.submitFrom.0: unknown node group \"login\" (node groups: cpu)",
    ],
  },
];
