/**
 * Issue 18: monitoring on the 10,000-node site of the Slurm benchmark (8 management nodes, 16
 * pools, 40 node groups of 250 hosts, Slurm). Measures what monitoring adds to a whole synthesis
 * (fresh processes, with and without the section, run alternately), the size of the rendered
 * Prometheus files (the hosts go to file_sd files: prometheus.yml must stay under 200 lines), and
 * the Slurm collector's run on a 10,000-node, 50,000-job cluster (sinfo --json, squeue, sdiag
 * answered by stand-ins that print what Slurm 22.05 prints, scaled up: there is no 10,000-node
 * Slurm here) against its 60 s interval.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { App } from "cdktf";
import { parse, stringify } from "yaml";
import { GeneratedFile } from "../constructs/core/index.js";
import { parseSite } from "../schema/load.js";
import { NO_SECRETS } from "../stacks/secrets.js";
import { SiteStack } from "../stacks/site-stack.js";
import { outDir, RUNS, synthInChild, type Row } from "./harness.js";
import { slurmSiteYaml } from "./slurm.bench.js";

export const title = "Monitoring: the 10,000-node site";

/** The Slurm benchmark's site with HA monitoring on pool01 and a remote-write endpoint. */
export function monitoredSiteYaml(): string {
  const site = parse(slurmSiteYaml()) as Record<string, unknown>;
  site.monitoring = {
    server: { pool: "pool01", floatingIp: { address: "10.0.0.200", cidr: 24 } },
    network: "10.0.0.0/24",
    alertmanager: {
      smtp: { smarthost: "mail.large.example.org:25", from: "alerts@large.example.org" },
      receivers: [{ name: "ops", email: { to: ["hpc-ops@large.example.org"] } }],
      route: { receiver: "ops" },
    },
    remoteWrite: [{ name: "influx", url: "http://influx.large.example.org:8086/api/v1/prom/write?db=prometheus" }],
  };
  return stringify(site);
}

/** One node of `sinfo --json` as Slurm 22.05 prints it (the Slurm lab's c001, fields as they come). */
function sinfoNode(name: string, i: number) {
  const drained = i % 997 === 0;
  const down = i % 1999 === 0;
  return {
    architecture: "x86_64", burstbuffer_network_address: "", boards: 1, boot_time: 1796284235, comment: "", cores: 32, cpu_binding: 0, cpu_load: 670, extra: "",
    free_memory: 19033, cpus: 64, last_busy: 1796285907, features: "compute", active_features: "compute", gres: "", gres_drained: "N/A", gres_used: "gpu:0",
    mcs_label: "", name, next_state_after_reboot: "invalid", address: name, hostname: name,
    state: down ? "down" : i % 3 === 0 ? "idle" : i % 3 === 1 ? "mixed" : "allocated",
    state_flags: drained ? ["DRAIN"] : down ? ["NOT_RESPONDING"] : [],
    next_state_after_reboot_flags: [], operating_system: "Linux 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1", owner: null, partitions: ["p01"], port: 6818,
    real_memory: 512000, reason: drained ? "disk \"sdb\" errors" : down ? "Not responding" : "", reason_changed_at: 0, reason_set_by_user: null,
    slurmd_start_time: 1796285906, sockets: 2, threads: 1, temporary_disk: 0, weight: 1, tres: "cpu=64,mem=500G,billing=64", slurmd_version: "22.05.8",
    alloc_memory: 1000, alloc_cpus: 1, idle_cpus: 63, tres_used: "cpu=1,mem=1000M", tres_weighted: 1.0,
  };
}

const SDIAG = `*******************************************************
sdiag output at Thu Dec 03 08:18:30 2026 (1796285910)
*******************************************************
Server thread count:  3
Agent queue size:     0
Agent count:          0
Agent thread count:   0
DBD Agent queue size: 0

Main schedule statistics (microseconds):
\tLast cycle:   1142
\tMax cycle:    1142
\tTotal cycles: 1
\tMean cycle:   1142
\tMean depth cycle:  1
\tLast queue length: 1

Backfilling stats
\tTotal backfilled jobs (since last slurm start): 0
\tTotal cycles: 0
\tLast cycle when: N/A
\tLast cycle: 0
\tMax cycle:  0
\tLast queue length: 0
`;

/** Stand-ins for Slurm's commands, answering as a 10,000-node, 50,000-job Slurm 22.05 would. */
function slurmStandIns(dir: string, nodes: number, jobs: number): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const names = Array.from({ length: nodes }, (_, i) => `c${String(i + 1).padStart(5, "0")}`);
  writeFileSync(join(dir, "sinfo.json"), JSON.stringify({ meta: { plugin: { type: "openapi/v0.0.38" } }, errors: [], nodes: names.map(sinfoNode) }, null, 2));
  const states = ["RUNNING", "PENDING", "PENDING", "RUNNING", "COMPLETING"];
  writeFileSync(join(dir, "squeue.txt"), Array.from({ length: jobs }, (_, j) => `p${String((j % 20) + 1).padStart(2, "0")} ${states[j % states.length]}`).join("\n") + "\n");
  writeFileSync(join(dir, "sdiag.txt"), SDIAG);
  const script = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  script("sinfo", `cat ${join(dir, "sinfo.json")}`);
  script("squeue", `cat ${join(dir, "squeue.txt")}`);
  script("sdiag", `cat ${join(dir, "sdiag.txt")}`);
  script("scontrol", "echo 'Slurmctld(primary) at mgmt1 is UP'; echo 'Slurmctld(backup) at mgmt2 is UP'");
  script("sacctmgr", "echo large");
  return bin;
}

export async function run(): Promise<Row[]> {
  const dir = outDir("monitoring-site");
  const withFile = join(dir, "mon10k.yaml");
  writeFileSync(withFile, monitoredSiteYaml());
  const withoutFile = join(dir, "nomon10k.yaml");
  writeFileSync(withoutFile, slurmSiteYaml());

  // In-process: the stack built and every file rendered, with and without monitoring, alternately
  // (both see the same load; the difference is what monitoring costs a synthesis).
  const stackMs = (yaml: string, file: string) => {
    const site = parseSite(yaml, file);
    const t0 = performance.now();
    const stack = new SiteStack(new App({ skipValidation: true, outdir: outDir("monitoring-app") }), { site, secrets: NO_SECRETS, resourceKind: "terraform_data" });
    for (const f of stack.node.findAll()) if (f instanceof GeneratedFile) f.render();
    return performance.now() - t0;
  };
  const withYaml = readFileSync(withFile, "utf8");
  const withoutYaml = readFileSync(withoutFile, "utf8");
  stackMs(withYaml, "sites/mon10k.yaml");
  const paired: { with: number; without: number }[] = [];
  for (let i = 0; i < RUNS; i++) paired.push({ with: stackMs(withYaml, "sites/mon10k.yaml"), without: stackMs(withoutYaml, "sites/nomon10k.yaml") });

  // Fresh processes, as hpcdk synth runs, alternately.
  const withRuns: { ms: number; maxRssMB: number }[] = [];
  const withoutRuns: { ms: number; maxRssMB: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    withRuns.push(synthInChild([withFile]));
    withoutRuns.push(synthInChild([withoutFile]));
  }
  // The rendered files of the last synthesis with monitoring.
  const stack = join(dir, "..", "synth", "stacks", "mon10k");
  synthInChild([withFile]);
  const prom = join(stack, "hosts", "mgmt1", "etc", "prometheus");
  const yml = readFileSync(join(prom, "prometheus.yml"), "utf8");
  const lines = yml.split("\n").length - 1;
  if (lines >= 200) throw new Error(`prometheus.yml has ${lines} lines for 10,000 hosts: the hosts are not in file_sd files`);
  const sd = readdirSync(join(prom, "file_sd")).map((f) => statSync(join(prom, "file_sd", f)).size);
  const targets = readdirSync(join(prom, "file_sd"))
    .filter((f) => f.startsWith("node-"))
    .flatMap((f) => (parse(readFileSync(join(prom, "file_sd", f), "utf8")) as { targets: string[] }[]).flatMap((g) => g.targets));
  if (targets.length !== 10_008) throw new Error(`the node job's file_sd files list ${targets.length} targets, expected 10,008 (10,000 hosts and 8 management nodes)`);

  // The Slurm collector as rendered for the controllers, on stand-ins for a large Slurm.
  const work = outDir("monitoring-collector");
  const bin = slurmStandIns(work, 10_000, 50_000);
  const textfile = join(work, "textfile");
  mkdirSync(textfile);
  const collector = join(work, "slurm-metrics");
  writeFileSync(collector, readFileSync(join(stack, "hosts", "mgmt1", "usr", "local", "libexec", "hpcdk", "slurm-metrics"), "utf8").replaceAll("/var/lib/prometheus/node-exporter", textfile));
  chmodSync(collector, 0o755);
  const collectorMs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    const r = spawnSync(collector, [], { encoding: "utf8", env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    collectorMs.push(performance.now() - t0);
    if (r.status !== 0 || r.stderr !== "") throw new Error(`the Slurm collector failed: ${r.stderr}`);
  }
  const prom10k = readFileSync(join(textfile, "hpcdk-slurm.prom"), "utf8");
  const unavailable = prom10k.split("\n").filter((l) => l.startsWith("hpcdk_slurm_node_unavailable{")).length;
  const expected = Array.from({ length: 10_000 }, (_, i) => i).filter((i) => i % 997 === 0 || i % 1999 === 0).length;
  if (!prom10k.includes("hpcdk_slurm_collector_success 1\n") || unavailable !== expected) {
    throw new Error(`the Slurm collector's output is wrong (${unavailable} unavailable nodes, expected ${expected})`);
  }

  return [
    { what: "site stack built, every file rendered, with monitoring (in-process)", values: paired.map((p) => p.with), unit: "ms" },
    { what: "the same without monitoring (in-process)", values: paired.map((p) => p.without), unit: "ms" },
    { what: "added by monitoring (paired runs, in-process)", values: paired.map((p) => p.with - p.without), unit: "ms", target: "< 1000 ms", limit: 1000 },
    { what: "whole site synth with monitoring: `hpcdk synth` (compiled CLI), start to exit", values: withRuns.map((r) => r.ms), unit: "ms" },
    { what: "the same site without monitoring: `hpcdk synth` (compiled CLI), start to exit", values: withoutRuns.map((r) => r.ms), unit: "ms" },
    { what: "whole site synth with monitoring: peak RSS", values: withRuns.map((r) => r.maxRssMB), unit: "MB" },
    { what: "prometheus.yml lines (10,008 scraped hosts)", values: [lines], unit: "lines", target: "< 200", limit: 200 },
    { what: "prometheus.yml size", values: [Buffer.byteLength(yml) / 1024], unit: "KiB" },
    { what: `file_sd files (${sd.length}): total size`, values: [sd.reduce((a, b) => a + b, 0) / 1024], unit: "KiB" },
    { what: "Slurm collector on 10,000 nodes and 50,000 jobs (sinfo --json of 10,000 nodes through jq)", values: collectorMs, unit: "ms", target: "< 30000 ms (half its 60 s interval)", limit: 30_000 },
    { what: "Slurm collector's textfile (10,000 nodes)", values: [Buffer.byteLength(prom10k) / 1024], unit: "KiB" },
  ];
}
