/**
 * What the live-change lab test and `npm run bench -- live-change` share: a local apt repository
 * with this machine's pacemaker and corosync packages repacked at a higher version, the lab's
 * nodes pointed at it, `hpcdk deploy` run while the drill's NFS probes read and write through the
 * floating IP, and what each node runs (package versions, daemons' start times), its fencing and
 * the pool's import record. Needs root, like the lab.
 *
 * The lab's nodes do not share this machine's dpkg database: each node's root is an overlay of
 * this machine's root with an upper layer of its own (operations/lab/node-boot.sh), so dpkg on a
 * node changes that node only, and `dpkg-query` on each node says what that node runs.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ProbeSet, seedFile, settleNfs, checksumOf, type ProbeTarget } from "../../operations/drill/probes.js";
import type { ProtocolMetrics } from "../../operations/drill/types.js";
import { doubleImports, parsePoolHistory, type PoolEvent } from "../../operations/lab/pool-history.js";
import { powerLog, type LabState } from "../../operations/lab/lab.js";

// Not test/helpers.ts: that imports vitest, and the bench imports this file too.
const ROOT = join(import.meta.dirname, "..", "..");

/** A command as root on a lab node over OpenSSH (the lab's key and known_hosts); throws with its stderr. */
export function onLabNode(lab: LabState, node: string, command: string, options: { timeoutMs?: number } = {}): string {
  const n = lab.nodes.find((x) => x.name === node);
  if (!n) throw new Error(`no node ${node} in the lab`);
  const r = spawnSync(
    "ssh",
    ["-i", join(lab.dir, "id_ed25519"), "-o", `UserKnownHostsFile=${join(lab.dir, "known_hosts")}`, "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", `root@${n.sshAddress}`, command],
    { encoding: "utf8", timeout: options.timeoutMs ?? 60_000 },
  );
  if (r.status !== 0) throw new Error(`${node}: ${command}: ${r.stderr}`);
  return r.stdout;
}

/** The source packages upgraded: every installed binary package built from them is repacked (resource-agents for the standby scenario of the bench). */
export const UPGRADED_SOURCES = ["pacemaker", "corosync", "resource-agents"] as const;
const SUFFIX = "+hpcdk1";

/** Where the repository is built (kept between runs: rebuilding it takes a while under load). */
const REPO_CACHE = "/var/tmp/hpcdk-rollout-repo";

export interface UpgradeRepo {
  /** The repository directory (Packages and the .debs). */
  readonly dir: string;
  /** Package → the repacked version (pacemaker and corosync: what the site pins). */
  readonly versions: Record<string, string>;
  /** Package → the version installed here (what the nodes run before). */
  readonly installed: Record<string, string>;
}

const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}) => execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024, ...opts });

/**
 * A `file:` apt repository holding every installed binary package of pacemaker and corosync,
 * repacked with the version `<installed>+hpcdk1`: `dpkg-deb -R`, the Version bumped and every
 * `(= installed)` dependency among them moved along, `dpkg-deb -b`, `dpkg-scanpackages`. The
 * .debs come from apt's cache, or `apt-get download`.
 */
export function buildUpgradeRepo(): UpgradeRepo {
  const lines = sh("dpkg-query", ["-W", "-f", "${source:Package} ${Package} ${Version} ${db:Status-Status} ${Architecture}\n"]).split("\n");
  const binaries = lines
    .map((l) => l.split(" "))
    .filter(([src, , , status]) => (UPGRADED_SOURCES as readonly string[]).includes(src!) && status === "installed")
    .map(([src, name, version, , arch]) => ({ src: src!, name: name!, version: version!, arch: arch! }));
  const installed = Object.fromEntries(binaries.map((b) => [b.name, b.version]));
  const versions = Object.fromEntries(binaries.map((b) => [b.name, `${b.version}${SUFFIX}`]));
  const key = binaries.map((b) => `${b.name}_${b.version}`).join(",");
  const dir = REPO_CACHE;
  if (existsSync(join(dir, "Packages")) && existsSync(join(dir, "key")) && readFileSync(join(dir, "key"), "utf8") === key) return { dir, versions, installed };
  rmSync(dir, { recursive: true, force: true });
  const work = `${dir}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, "debs"), { recursive: true });
  const oldVersions = new Set(binaries.map((b) => b.version));
  for (const b of binaries) {
    // apt's cache names a version with an epoch 1%3a4.12.0-2.
    let deb = [b.version.replace(":", "%3a"), b.version.replace(/^\d+:/, "")].map((v) => join("/var/cache/apt/archives", `${b.name}_${v}_${b.arch}.deb`)).find((f) => existsSync(f)) ?? "";
    if (!deb) {
      sh("apt-get", ["download", `${b.name}=${b.version}`], { cwd: work });
      deb = join(work, readdirSync(work).find((f) => f.startsWith(`${b.name}_`) && f.endsWith(".deb"))!);
    }
    const tree = join(work, b.name);
    sh("dpkg-deb", ["-R", deb, tree]);
    const control = join(tree, "DEBIAN", "control");
    let text = readFileSync(control, "utf8").replace(/^Version: .*$/m, `Version: ${b.version}${SUFFIX}`);
    for (const v of oldVersions) text = text.replaceAll(`(= ${v})`, `(= ${v}${SUFFIX})`);
    writeFileSync(control, text);
    sh("dpkg-deb", ["-Znone", "-b", tree, join(work, "debs", `${b.name}_${b.version.replace(/^\d+:/, "")}${SUFFIX}_${b.arch}.deb`)]);
    rmSync(tree, { recursive: true, force: true });
  }
  writeFileSync(join(work, "debs", "Packages"), sh("dpkg-scanpackages", ["--multiversion", "."], { cwd: join(work, "debs") }));
  writeFileSync(join(work, "debs", "key"), key);
  renameSync(join(work, "debs"), dir);
  rmSync(work, { recursive: true, force: true });
  return { dir, versions, installed };
}

/**
 * Every node's apt gets the repository as its only source (the lab has no way to the mirror), in
 * the lab's shared directory so every node sees it.
 */
export function pointNodesAtRepo(lab: LabState, repo: UpgradeRepo): void {
  const shared = join(lab.dir, "shared", "apt-repo");
  rmSync(shared, { recursive: true, force: true });
  cpSync(repo.dir, shared, { recursive: true });
  for (const n of lab.nodes) {
    onLabNode(
      lab,
      n.name,
      "set -e; mkdir -p /etc/apt/hpcdk-lab-aside; for f in /etc/apt/sources.list /etc/apt/sources.list.d/*; do [ -f \"$f\" ] && mv \"$f\" /etc/apt/hpcdk-lab-aside/ || true; done; " +
        "echo 'deb [trusted=yes] file:/var/lib/hpcdk-lab/shared/apt-repo ./' > /etc/apt/sources.list.d/hpcdk-lab.list; apt-get update -q > /dev/null 2>&1",
      { timeoutMs: 180_000 },
    );
  }
}

/** The site's `deploy:` section with pacemaker and corosync pinned to the repacked versions. */
export function pinned(yaml: string, repo: UpgradeRepo): string {
  const pins = `  packageVersions:\n    pacemaker: "${repo.versions.pacemaker}"\n    corosync: "${repo.versions.corosync}"\n`;
  if (!/^deploy:\n/m.test(yaml)) throw new Error("the site has no deploy section to pin packages in");
  return yaml.replace(/^deploy:\n/m, `deploy:\n${pins}`);
}

export interface NodeFacts {
  readonly pacemaker: string;
  readonly corosync: string;
  /** When the node's pacemakerd and corosync started, seconds since the epoch. */
  readonly pacemakerdStart: number;
  readonly corosyncStart: number;
}

/** What a node runs: its own dpkg database's versions and its daemons' start times. */
export function nodeFacts(lab: LabState, node: string): NodeFacts {
  const out = onLabNode(
    lab,
    node,
    "dpkg-query -W -f '${Package} ${Version}\\n' pacemaker corosync; now=$(date +%s); " +
      "for p in pacemakerd corosync; do pid=$(pidof -s $p); echo \"start-$p $((now - $(ps -o etimes= -p $pid)))\"; done",
  );
  const v = Object.fromEntries(out.trim().split("\n").map((l) => l.split(" ") as [string, string]));
  return { pacemaker: v.pacemaker!, corosync: v.corosync!, pacemakerdStart: Number(v["start-pacemakerd"]), corosyncStart: Number(v["start-corosync"]) };
}

/** The pool's import/export record (the lab's zpool stand-in). */
export function poolEvents(lab: LabState, pool = "tank"): PoolEvent[] {
  const file = join(lab.dir, "shared", "pools", `${pool}.history`);
  return existsSync(file) ? parsePoolHistory(readFileSync(file, "utf8")) : [];
}

/** Nodes whose power was switched off (fenced) since `sinceSec`. */
export function fencedSince(lab: LabState, sinceSec: number): string[] {
  return lab.nodes.filter((n) => (powerLog(n) ?? "").split("\n").some((l) => /^\d/.test(l) && Number(l.split(" ")[0]) >= sinceSec && l.endsWith(" off"))).map((n) => n.name);
}

export interface ProbedDeploy {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly wallMs: number;
  /** The deploy's --json summary, when it printed one. */
  readonly summary?: Record<string, unknown>;
  readonly nfs: Record<"nfs3" | "nfs4", ProtocolMetrics>;
  /** The file written before the deploy reads back the same after it. */
  readonly seedIntact: boolean;
  /** Acknowledged writes of the steady writer, and how many of them were lost. */
  readonly acknowledged: number;
  readonly startedSec: number;
  readonly doubleImports: ReturnType<typeof doubleImports>;
  readonly poolEventsDuring: PoolEvent[];
  readonly fenced: string[];
}

/**
 * `hpcdk deploy --json` with the drill's probes on the floating IP the whole time (NFSv3 and
 * NFSv4 readers and writers, the steady writer), a file written before and read after.
 */
export async function deployWithProbes(lab: LabState, project: { siteFile: string; out: string; dir: string }, target: ProbeTarget, extra: string[] = []): Promise<ProbedDeploy> {
  const run = `rollout-${Date.now()}`;
  // The file written before: the readers read it the whole time, and it must read back the same.
  const seedName = run;
  let seed: string | undefined;
  const deadline = Date.now() + 120_000;
  // A server that just started holds its grace period (writes refused): wait for it, bounded.
  while (seed === undefined) {
    try {
      seed = await seedFile(target, seedName);
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((res) => setTimeout(res, 1000));
    }
  }
  await settleNfs(target, seedName, 120_000);
  const probes = new ProbeSet(target, seedName, { pollMs: 500, maxSeconds: 1800, writerIntervalMs: 500, lockProbe: false, runId: run });
  // A few samples before the deploy starts: the probes work before anything changes.
  await new Promise((r) => setTimeout(r, 3000));
  probes.markFault();
  const startedSec = Date.now() / 1000;
  const t0 = performance.now();
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, "cli/bin/hpcdk.js"), "deploy", project.siteFile, "--out", project.out, "--inventory", lab.inventoryFile, "--json", ...extra], {
      cwd: project.dir,
      env: { ...process.env, CHECKPOINT_DISABLE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 1_500_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
  const wallMs = performance.now() - t0;
  // A few samples after: NFS still works once the deploy is done.
  await new Promise((res) => setTimeout(res, 3000));
  await probes.stop();
  const acknowledged = probes.acknowledged().length;
  const nfs = { nfs3: probes.metrics("nfs3"), nfs4: probes.metrics("nfs4") };
  const seedIntact = (await checksumOf(target, seedName)) === seed;
  let summary: Record<string, unknown> | undefined;
  try {
    summary = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    summary = undefined;
  }
  const events = poolEvents(lab);
  return {
    ...r,
    wallMs,
    ...(summary ? { summary } : {}),
    nfs,
    seedIntact,
    acknowledged,
    startedSec,
    doubleImports: doubleImports(events),
    poolEventsDuring: events.filter((e) => e.at >= startedSec),
    fenced: fencedSince(lab, startedSec),
  };
}

/** The failed actions and the nodes' state as one node's crm_mon shows them. */
export function clusterState(lab: LabState, node: string): { online: string[]; failures: number; text: string } {
  const text = onLabNode(lab, node, "crm_mon -1 --output-as=xml");
  const online = [...text.matchAll(/<node name="([^"]+)"[^>]* online="true"/g)].map((m) => m[1]!);
  const failures = (text.match(/<failure /g) ?? []).length;
  return { online, failures, text };
}
