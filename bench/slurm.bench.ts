/**
 * Issue 5 and 17: Slurm on a generated 10,000-node site with 20 partitions. Measures the Slurm
 * part (the site validated, SlurmCluster built, every file it owns rendered and written), the
 * whole site's `hpcdk synth` (the compiled CLI, a fresh process: time, CPU, peak RSS) with and
 * without its slurm section, and one node group of 10,000 and of 100,000 hosts. Checks that
 * slurm.conf names the nodes in hostlist ranges (a few hundred lines, not 10,000) and that Slurm's
 * own expander (`scontrol show hostnames`) reads exactly c00001-c10000 from it.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { App, TerraformStack } from "cdktf";
import { parse, stringify } from "yaml";
import { CibId } from "../common/contracts/cib-ids.js";
import { Bundle, GeneratedFile } from "../constructs/core/index.js";
import { SlurmCluster } from "../constructs/slurm/index.js";
import { expandHostlist } from "../common/hostlist.js";
import { parseSite } from "../schema/load.js";
import { openapiPlugins, slurmClusterName } from "../schema/slurm-rules.js";
import { outDir, ROOT, RUNS, synthInChild, type Row } from "./harness.js";
import { largeSiteYaml } from "./large-site.js";

export const title = "Slurm: 10,000 nodes, 20 partitions";

export const SLURM_SITE = { nodes: 10_000, groups: 40, partitions: 20 } as const;

/**
 * The large HA NFS site of the core benchmark, with 10,000 compute nodes in 40 racks of 250
 * (c00001-c10000, some racks with GPUs), 20 partitions over them, two controllers with their
 * state on the NFS, accounting and the REST API.
 */
export function slurmSiteYaml(): string {
  const site = parse(largeSiteYaml()) as Record<string, unknown> & { nfs: { groups: { exports: object[] }[] } };
  site.nfs.groups[0]!.exports.push({
    path: "/export/pool01/slurm",
    fsid: 9999,
    clients: [{ spec: "10.0.0.0/24", options: "rw,sync,no_subtree_check,no_root_squash" }],
  });
  const perGroup = SLURM_SITE.nodes / SLURM_SITE.groups;
  const pad = (n: number) => String(n).padStart(5, "0");
  site.nodeGroups = Array.from({ length: SLURM_SITE.groups }, (_, g) => ({
    name: `rack${String(g + 1).padStart(2, "0")}`,
    hosts: `c[${pad(g * perGroup + 1)}-${pad((g + 1) * perGroup)}]`,
    hardware: {
      sockets: 2,
      coresPerSocket: 32,
      memoryMB: 512000,
      ...(g % 8 === 7 ? { gpus: { type: "a100", count: 4, devices: "/dev/nvidia[0-3]" } } : {}),
    },
  }));
  site.slurm = {
    controllers: ["mgmt1", "mgmt2"],
    network: "10.0.0.0/24",
    stateSave: { export: "/export/pool01/slurm" },
    partitions: Array.from({ length: SLURM_SITE.partitions }, (_, p) => ({
      name: `p${String(p + 1).padStart(2, "0")}`,
      // Each partition spans two neighbouring racks; the first is the default.
      nodeGroups: [`rack${String(2 * p + 1).padStart(2, "0")}`, `rack${String(2 * p + 2).padStart(2, "0")}`],
      default: p === 0,
      maxTime: "2-00:00:00",
    })),
    accounting: { host: "mgmt3" },
    restApi: { hosts: ["mgmt3", "mgmt4"], nginx: { serverName: "slurm-api.large.example.org" } },
  };
  return stringify(site);
}

export async function run(): Promise<Row[]> {
  const file = join(outDir("slurm-site"), "slurm10k.yaml");
  const yaml = slurmSiteYaml();
  writeFileSync(file, yaml);

  const validate: number[] = [];
  const slurmPart: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const written = outDir("slurm-part");
    const t0 = performance.now();
    const site = parseSite(yaml, "sites/slurm10k.yaml");
    const t1 = performance.now();
    validate.push(t1 - t0);
    const spec = site.spec;
    // The stack's bundles, as SiteStack makes them (not timed); then the Slurm part: SlurmCluster
    // built, every file it owns rendered and written.
    const stack = new TerraformStack(new App({ skipValidation: true, outdir: outDir("slurm-app") }), "slurm10k");
    const hosts = Object.fromEntries(spec.nodes.map((n) => [n.name, new Bundle(stack, `host-${n.name}`, { kind: "host", name: n.name, source: site.file })]));
    const groups = Object.fromEntries(
      spec.nodeGroups.map((g) => [g.name, new Bundle(stack, `group-${g.name}`, { kind: "group", name: g.name, source: site.file, hosts: expandHostlist(g.hosts) })]),
    );
    const cluster = new Bundle(stack, "cluster", { kind: "cluster", name: "cluster", source: site.file });
    const t2 = performance.now();
    const slurm = new SlurmCluster(stack, "slurm", { site: spec, hosts, groups, cluster, stateSaveServer: { name: "g01", groupId: CibId.group("g01"), ipResourceId: CibId.floatingIp("g01"), address: "10.0.0.101", pools: [], exports: [] }, clusterName: slurmClusterName(spec), openapiPlugins: openapiPlugins(spec.slurm!) });
    const files = slurm.node.findAll().filter((c): c is GeneratedFile => c instanceof GeneratedFile);
    for (const [n, f] of files.entries()) writeFileSync(join(written, String(n)), f.render().bytes);
    slurmPart.push(t1 - t0 + (performance.now() - t2));
  }

  // The whole site, as `hpcdk synth` makes it; Slurm reads the node names of its slurm.conf.
  const wholeOut = outDir("slurm-whole");
  const whole = Array.from({ length: RUNS }, () => synthInChild([file], { out: wholeOut }));
  const conf = readFileSync(join(wholeOut, "stacks", "slurm10k", "hosts", "mgmt1", "etc", "slurm", "slurm.conf"), "utf8");
  const lines = conf.split("\n").length - 1;
  const nodeLines = conf.split("\n").filter((l) => l.startsWith("NodeName=")).length;
  if (lines > 400) throw new Error(`slurm.conf has ${lines} lines for ${SLURM_SITE.nodes} nodes: the nodes are not in hostlist ranges`);
  // The node names as Slurm itself reads them: scontrol expands every NodeName= hostlist.
  const named = scontrolHostnames(conf.split("\n").filter((l) => l.startsWith("NodeName=")).map((l) => l.split(" ")[0]!.slice("NodeName=".length)));
  const expected = Array.from({ length: SLURM_SITE.nodes }, (_, i) => `c${String(i + 1).padStart(5, "0")}`);
  if (named.length !== expected.length || [...named].sort().some((n, i) => n !== expected[i])) {
    throw new Error(`scontrol reads ${named.length} node names in slurm.conf (${new Set(named).size} distinct), expected c00001-c10000 once each`);
  }

  // The same site without its slurm section: what Slurm adds to a whole synthesis.
  const without = join(outDir("slurm-site-without"), "noslurm10k.yaml");
  const { slurm: _omitted, ...rest } = parse(yaml) as Record<string, unknown>;
  void _omitted;
  writeFileSync(without, stringify(rest));
  const bare = Array.from({ length: RUNS }, () => synthInChild([without]));
  // One node group of 10,000 and of 100,000 hosts (the fleet site), synthesized whole in a fresh
  // process, each bounded in time: a group's cost must not grow with the square of its hosts.
  const oneGroup = [10_000, 100_000].map((n) => ({ n, runs: Array.from({ length: RUNS }, () => oneGroupSynth(n)) }));
  return [
    { what: `validate the site file (${SLURM_SITE.nodes} nodes in ${SLURM_SITE.groups} groups, ${SLURM_SITE.partitions} partitions)`, values: validate, unit: "ms" },
    {
      what: "Slurm part: the site validated, SlurmCluster built, all its files rendered and written (in-process, compiled)",
      values: slurmPart,
      unit: "ms",
      target: "< 1000 ms",
      limit: 1000,
    },
    { what: `slurm.conf size (${nodeLines} NodeName lines; the ${SLURM_SITE.nodes} names checked with \`scontrol show hostnames\`)`, values: [Buffer.byteLength(conf) / 1024], unit: "KiB" },
    { what: "slurm.conf lines", values: [lines], unit: "lines", target: "a few hundred", limit: 400 },
    {
      what: "Slurm's share of a whole `hpcdk synth` (validation + construction + rendering + writing): median of whole minus median without Slurm",
      values: [median(whole.map((r) => r.ms)) - median(bare.map((r) => r.ms))],
      unit: "ms",
    },
    { what: "Slurm's share of the CPU time: median of whole minus median without Slurm", values: [median(whole.map((r) => r.cpuMs)) - median(bare.map((r) => r.cpuMs))], unit: "ms" },
    { what: "whole site `hpcdk synth` (HA NFS + Slurm), compiled CLI: process start to exit", values: whole.map((r) => r.ms), unit: "ms" },
    { what: "whole site `hpcdk synth`: CPU time", values: whole.map((r) => r.cpuMs), unit: "ms" },
    { what: "whole site `hpcdk synth`: peak RSS", values: whole.map((r) => r.maxRssMB), unit: "MB" },
    { what: "the same site without its slurm section: process start to exit", values: bare.map((r) => r.ms), unit: "ms" },
    { what: "the same site without its slurm section: CPU time", values: bare.map((r) => r.cpuMs), unit: "ms" },
    { what: "the same site without its slurm section: peak RSS", values: bare.map((r) => r.maxRssMB), unit: "MB" },
    ...oneGroup.flatMap(({ n, runs }) => {
      const finished = runs.every((r) => r.finished);
      const name = `one node group of ${n.toLocaleString("en")} hosts (the fleet site): \`hpcdk synth\``;
      return [
        {
          what: `${name}, process start to exit${finished ? "" : ` (did not finish in ${ONE_GROUP_TIMEOUT_MS / 1000} s)`}`,
          values: runs.map((r) => r.ms),
          unit: "ms",
          ...(n === 100_000 ? { target: "≤ 3 s", limit: 3000 } : {}),
        },
        ...(finished ? [{ what: `${name}: CPU time`, values: runs.map((r) => r.cpuMs), unit: "ms" }, { what: `${name}: peak RSS`, values: runs.map((r) => r.maxRssMB), unit: "MB" }] : []),
      ];
    }),
  ];
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

/** What `scontrol show hostnames` expands the hostlists to (a two-line slurm.conf is its configuration source). */
function scontrolHostnames(lists: readonly string[]): string[] {
  const dir = outDir("slurm-scontrol");
  writeFileSync(join(dir, "slurm.conf"), "ClusterName=bench\nSlurmctldHost=localhost\n");
  const r = spawnSync("scontrol", ["show", "hostnames", lists.join(",")], {
    encoding: "utf8",
    env: { ...process.env, SLURM_CONF: join(dir, "slurm.conf") },
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`bench/slurm: scontrol show hostnames failed: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean);
}

const ONE_GROUP_TIMEOUT_MS = 120_000;

/** The fleet site with one compute group of `n` hosts, `hpcdk synth` in a fresh process, bounded in time. */
function oneGroupSynth(n: number): { ms: number; cpuMs: number; maxRssMB: number; finished: boolean } {
  const dir = outDir(`slurm-group-${n}`);
  const digits = String(n).length;
  const file = join(dir, `group${n}.yaml`);
  writeFileSync(
    file,
    readFileSync(join(ROOT, "test", "fixtures", "sites", "fleet.yaml"), "utf8").replace("hosts: c[0001-1000]", `hosts: c[${"1".padStart(digits, "0")}-${n}]`),
  );
  try {
    return { ...synthInChild([file], { out: join(dir, "out"), timeoutMs: ONE_GROUP_TIMEOUT_MS }), finished: true };
  } catch (err) {
    if ((err as { timedOut?: boolean }).timedOut) return { ms: ONE_GROUP_TIMEOUT_MS, cpuMs: 0, maxRssMB: 0, finished: false };
    throw err;
  }
}
