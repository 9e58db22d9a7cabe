/**
 * `npm run lab:vagrant [-- SITE_FILE] [--repeat N] [--no-drill] [--keep | --down]`: the whole
 * Vagrant lab, once, timed.
 *
 * 1. builds the offline box if it is missing or build-box.sh changed (scripts/lab-vagrant/build-box.sh);
 * 2. creates a network namespace and runs libvirtd in it (scripts/lab-vagrant/libvirtd.sh);
 * 3. writes the site's Vagrantfile with `hpcdk lab vagrantfile` and runs `vagrant up` (its
 *    provisioners name the shared disks, and with lab.vagrant.zpoolStandIn install the zpool
 *    stand-in and create the site's pools on the shared disks);
 * 4. writes an inventory (user and key from `vagrant ssh-config`, host keys from ssh-keyscan
 *    inside the namespace);
 * 5. checks over SSH: the site's device names on every VM, a block written on one VM read back on
 *    the other, every pool visible from every VM, and what the disks answer to SCSI persistent
 *    reservations (fence_scsi's mechanism);
 * 6. when the site fences with fence_powerman: starts powermand in the namespace on the address
 *    the site gives fence_powerman (the host bridge), with a device that powers the VMs off and on
 *    (vpc-device.sh + vm-power.sh: virsh destroy / virsh start);
 * 7. runs `hpcdk deploy SITE --inventory FILE`, then waits for every node online with quorum and
 *    the first NFS group started;
 * 8. runs `hpcdk drill SITE --mode power-off --repeat N` (default 3) inside the namespace, which
 *    is also where its NFS client reaches the floating IP; the reports stay in the run directory;
 * 9. tears everything down (powermand, vagrant destroy, libvirtd and virtlogd by PID, the namespace).
 *
 * Not part of `npm test`: it boots VMs under QEMU's software emulation and takes many minutes.
 * Needs root. The default site is test/fixtures/sites/vagrant-lab.yaml (two nodes).
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSiteFile } from "../../schema/load.js";
import { LabError, startPowermand } from "./lab.js";
import { spawnSync } from "node:child_process";
import { domainsOf, ensureBox, inLab, inLabStreaming, labEnv, namespacePids, planVagrantRun, REPO, sshConfigOf, startLibvirt, teardown, vagrantLabPreflight, type VagrantLab } from "./vagrant-lab.js";
import { planVagrantLab } from "./vagrantfile.js";
import type { DrillReport } from "../drill.js";
import { sleep } from "../../common/async.js";
import { resourceStatus } from "../pacemaker/crm-mon.js";
import { nfsGroupOf } from "../pacemaker/resources.js";

const CLI = join(REPO, "cli", "bin", "hpcdk.js");
const args = process.argv.slice(2);
const siteFile = resolve(args.find((a, i) => !a.startsWith("--") && args[i - 1] !== "--repeat") ?? join(REPO, "test", "fixtures", "sites", "vagrant-lab.yaml"));
const keep = args.includes("--keep");
const downOnly = args.includes("--down");
const noDrill = args.includes("--no-drill");
const repeatAt = args.indexOf("--repeat");
const repeat = repeatAt >= 0 ? Number(args[repeatAt + 1]) : 3;
if (!Number.isInteger(repeat) || repeat < 1) throw new Error(`--repeat takes a number of drills, got ${JSON.stringify(args[repeatAt + 1])}`);

const log = (line: string) => process.stdout.write(`lab:vagrant: ${line}\n`);
const seconds = (ms: number) => Math.round(ms / 100) / 10;

function memAvailableMiB(): number {
  const m = /^MemAvailable:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Host memory of each QEMU process in the lab's namespace (PSS and RSS, MiB). */
function qemuMemory(lab: VagrantLab): { pid: number; vm: string; pssMiB: number; rssMiB: number }[] {
  return namespacePids(lab).flatMap((pid) => {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (!cmdline[0]?.includes("qemu-system")) return [];
      const name = cmdline[cmdline.indexOf("-name") + 1]?.replace(/^guest=/, "").split(",")[0] ?? "?";
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(rollup)?.[1] ?? NaN);
      return [{ pid, vm: name, pssMiB: Math.round(kb("Pss") / 1024), rssMiB: Math.round(kb("Rss") / 1024) }];
    } catch {
      return [];
    }
  });
}

async function main(): Promise<number> {
  const loaded = loadSiteFile(siteFile);
  const lab = planVagrantRun(loaded.name);
  if (downOnly) {
    await teardown(lab, log);
    log("down");
    return 0;
  }
  const problems = vagrantLabPreflight();
  if (problems.length > 0) throw new LabError(problems);
  if (loaded.spec.nodes.length < 2) throw new LabError(["the site needs two or more management nodes"]);

  rmSync(lab.dir, { recursive: true, force: true });
  mkdirSync(lab.dir, { recursive: true, mode: 0o700 });
  const result: Record<string, unknown> = { site: loaded.file, nodes: loaded.spec.nodes.length, memoryMiBPerVm: loaded.spec.lab?.vagrant.memoryMiB ?? 512 };
  const timings: Record<string, number> = {};
  result.timingsSec = timings;
  const t0 = Date.now();
  let mark = t0;
  const lap = (name: string) => {
    timings[name] = seconds(Date.now() - mark);
    log(`${name}: ${timings[name]} s`);
    mark = Date.now();
  };

  const built = ensureBox(lab, log);
  if (built > 0) timings.boxBuild = seconds(built * 1000);
  lap("boxReady");
  const memBefore = memAvailableMiB();
  let failure: unknown;
  try {
    await startLibvirt(lab, log);
    lap("libvirtdStart");

    const vagrantfile = join(lab.dir, "Vagrantfile");
    const gen = spawnSync("node", [CLI, "lab", "vagrantfile", siteFile, "--out", vagrantfile], { cwd: REPO, encoding: "utf8" });
    if (gen.status !== 0) throw new LabError([`hpcdk lab vagrantfile failed: ${gen.stderr.trim()}`]);

    log("vagrant up (QEMU software emulation: many minutes; output in vagrant.log)");
    const up = await inLabStreaming(lab, ["vagrant", "up", "--provider=libvirt"], { timeoutMs: 75 * 60_000, log: "vagrant.log", prefix: "  vagrant | " });
    if (up !== 0) throw new LabError([`vagrant up failed (exit ${up}): see ${lab.dir}/vagrant.log`]);
    lap("vagrantUp");

    // The inventory, the way `hpcdk lab up` writes one: root with the box's key, host keys
    // read inside the namespace, each node at its link-0 address of the site. (Not the vagrant
    // user: hpcdk deploy's cluster step runs crm_mon and cibadmin without sudo.)
    const sshConfig = sshConfigOf(lab);
    const first = sshConfig.get(loaded.spec.nodes[0]!.name);
    if (!first?.identityFile || !first.user) throw new LabError([`vagrant ssh-config names no user or key for ${loaded.spec.nodes[0]!.name}`]);
    const addresses = Object.fromEntries(loaded.spec.nodes.map((n) => [n.name, n.addresses[0]!.address]));
    const knownHosts: string[] = [];
    for (const [name, address] of Object.entries(addresses)) {
      const scan = inLab(lab, ["ssh-keyscan", "-T", "30", "-t", "ed25519", address], { timeoutMs: 60_000 });
      const line = scan.stdout.split("\n").find((l) => l.startsWith(`${address} `));
      if (!line) throw new LabError([`ssh-keyscan found no host key on ${name} (${address}): ${scan.stderr.trim()}`]);
      knownHosts.push(`${line}\n`);
    }
    const knownHostsFile = join(lab.dir, "known_hosts");
    writeFileSync(knownHostsFile, knownHosts.join(""));
    const inventoryFile = join(lab.dir, "inventory.yaml");
    const inventory = {
      ssh: { user: "root", privateKey: first.identityFile, knownHosts: knownHostsFile },
      hosts: Object.fromEntries(Object.entries(addresses).map(([name, address]) => [name, { address, port: 22 }])),
    };
    writeFileSync(inventoryFile, `# hpcdk Vagrant lab inventory for ${loaded.name}: hpcdk deploy ${loaded.name} --inventory ${inventoryFile}\n${JSON.stringify(inventory, null, 2)}\n`);
    lap("inventory");

    const ssh = (address: string, command: string, timeoutMs = 120_000) =>
      inLab(
        lab,
        ["ssh", "-i", first.identityFile, "-o", `UserKnownHostsFile=${knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", `root@${address}`, command],
        { timeoutMs, log: "checks.log" },
      );
    const names = loaded.spec.nodes.map((n) => n.name);

    // Shared disks: the site's names on every VM; a block written on one VM reads back on the
    // other. The block is sector 0 of the first device, which ext4 (the zpool stand-in's pools)
    // never uses; what was there is put back.
    const devices = loaded.spec.storage.pools.flatMap((p) => p.vdevs.flatMap((v) => v.devices));
    for (const name of names) {
      const r = ssh(addresses[name]!, `for d in ${devices.join(" ")}; do test -b "$d" || { echo "missing $d"; exit 1; }; done`);
      if (r.status !== 0) throw new LabError([`${name}: the shared disks are not named as the site names them: ${r.stdout}${r.stderr}`]);
    }
    const token = `hpcdk-vagrant-lab-${Date.now()}`;
    const saved = "/run/hpcdk-lab-sector0";
    const w = ssh(addresses[names[0]!]!, `dd if=${devices[0]} of=${saved} bs=512 count=1 iflag=direct status=none && printf '%-512s' '${token}' | dd of=${devices[0]} bs=512 count=1 oflag=direct status=none && echo written`);
    const r = ssh(addresses[names[1]!]!, `dd if=${devices[0]} bs=512 count=1 iflag=direct status=none | tr -d ' '`);
    const restored = ssh(addresses[names[0]!]!, `dd if=${saved} of=${devices[0]} bs=512 count=1 oflag=direct status=none && rm ${saved}`);
    if (w.status !== 0 || r.stdout.trim() !== token) throw new LabError([`${devices[0]}: written on ${names[0]}, ${names[1]} read ${JSON.stringify(r.stdout.trim())}: the disk is not shared`]);
    if (restored.status !== 0) throw new LabError([`${devices[0]}: could not put sector 0 back on ${names[0]}: ${restored.stderr.trim()}`]);
    result.sharedDisk = `${devices[0]}: a block written on ${names[0]} read back on ${names[1]}`;
    // fence_scsi fences by SCSI-3 persistent reservations: record what the emulated disks answer.
    const pr = ssh(addresses[names[0]!]!, `sg_persist --in --read-keys --device=${devices[0]} 2>&1; echo "exit $?"`);
    result.persistentReservations = pr.stdout.trim();
    log(`sg_persist --in --read-keys ${devices[0]} on ${names[0]}:\n${pr.stdout.trim().replace(/^/gm, "  | ")}`);
    // The pools the first VM created on the shared disks: every other VM finds them there.
    if (loaded.spec.lab?.vagrant.zpoolStandIn) {
      const pools: Record<string, string> = {};
      for (const name of names) {
        const found = ssh(addresses[name]!, "zpool import -d /dev/disk/by-id; zpool list -H");
        const seen = loaded.spec.storage.pools.filter((p) => new RegExp(`^ *pool: ${p.name}$|^${p.name}$`, "m").test(found.stdout)).map((p) => p.name);
        if (seen.length !== loaded.spec.storage.pools.length) throw new LabError([`${name} does not see every pool on the shared disks (zpool import lists ${JSON.stringify(found.stdout.trim())}): the stand-in or the disks`]);
        pools[name] = seen.join(", ");
      }
      result.pools = pools;
    }
    lap("diskChecks");

    // Power fencing: powermand on the host bridge, with a device that switches the VMs.
    const powerman = loaded.spec.fencing.devices.find((d) => d.agent === "fence_powerman");
    if (powerman && powerman.agent === "fence_powerman") {
      const plan = planVagrantLab(loaded.name, loaded.spec);
      if (!plan.networks.some((n) => n.hostIp === powerman.ip)) {
        throw new LabError([`fence_powerman's ip ${powerman.ip} is not the host bridge of any lab network (${plan.networks.map((n) => `${n.cidr}: ${n.hostIp}`).join(", ")}): the VMs could not reach powermand`]);
      }
      const domains = domainsOf(lab, names);
      const pid = startPowermand({
        dir: join(lab.dir, "powerman"),
        netns: lab.netns,
        address: powerman.ip,
        port: powerman.ipport,
        backend: "vm-power.sh",
        plugs: loaded.spec.nodes.map((n) => ({ plug: n.power.plug, target: domains.get(n.name)! })),
        env: labEnv(lab),
      });
      // Bounded: powermand answers, and every VM's plug is on (one plug a query: powerman prints
      // plug lists in hostlist form, vg[1-2]).
      const until = Date.now() + 30_000;
      let query = "";
      for (;;) {
        const answers = loaded.spec.nodes.map((n) => inLab(lab, ["powerman", "-h", `${powerman.ip}:${powerman.ipport}`, "-q", n.power.plug], { timeoutMs: 20_000, log: "checks.log" }));
        query = answers.map((q) => `${q.stdout}${q.stderr}`.trim().split("\n")[0]).join("; ");
        if (answers.every((q, i) => q.status === 0 && new RegExp(`^on:\\s+${loaded.spec.nodes[i]!.power.plug}$`, "m").test(q.stdout))) break;
        if (Date.now() > until) throw new LabError([`powermand (pid ${pid}) on ${powerman.ip}:${powerman.ipport} does not report every VM on after 30 s: ${query} (see ${lab.dir}/powerman/powermand.log)`]);
        await sleep(1000);
      }
      result.powerman = { pid, listen: `${powerman.ip}:${powerman.ipport}`, plugs: Object.fromEntries(domains), query };
      log(`powermand (pid ${pid}) on ${powerman.ip}:${powerman.ipport}: ${query}`);
      lap("powermanStart");
    }

    log(`hpcdk deploy ${loaded.file} --inventory ${inventoryFile}`);
    const deploy = await inLabStreaming(lab, ["node", CLI, "deploy", siteFile, "--inventory", inventoryFile, "--out", join(lab.dir, "cdktf.out")], {
      timeoutMs: 60 * 60_000,
      log: "deploy.log",
      prefix: "  deploy | ",
    });
    if (deploy !== 0) throw new LabError([`hpcdk deploy failed (exit ${deploy}): see ${lab.dir}/deploy.log`]);
    lap("deploy");

    // The cluster: every node online, the partition quorate (bounded wait).
    let deadline = Date.now() + 15 * 60_000;
    let crm = "";
    for (;;) {
      const r2 = ssh(addresses[names[0]!]!, "crm_mon -1");
      crm = r2.stdout;
      const online = /Online: \[ ([^\]]*) \]/.exec(crm)?.[1]?.split(/\s+/) ?? [];
      if (/partition with quorum/.test(crm) && names.every((n) => online.includes(n))) break;
      if (Date.now() > deadline) throw new LabError([`the cluster did not come up within 15 minutes; crm_mon -1 said:\n${crm}${r2.stderr}`]);
      await sleep(5_000);
    }
    lap("clusterUp");
    // The first NFS group started (unless the site keeps the cluster in maintenance mode).
    const group = loaded.spec.nfs.groups[0];
    if (group && !loaded.spec.cluster.maintenanceMode) {
      deadline = Date.now() + 10 * 60_000;
      for (;;) {
        const { started, notStarted } = groupStarted(ssh(addresses[names[0]!]!, "crm_mon -1 --output-as=xml").stdout, nfsGroupOf(join(lab.dir, "cdktf.out", "stacks", loaded.name), group.name).groupId);
        if (started) break;
        if (Date.now() > deadline) {
          const full = ssh(addresses[names[0]!]!, "crm_mon -1 --show-detail --failcounts 2>&1; zpool status 2>&1");
          throw new LabError([`the NFS group ${group.name} did not start within 10 minutes (not started: ${notStarted.join(", ") || "?"}); crm_mon -1 said:\n${full.stdout}`]);
        }
        await sleep(5_000);
      }
      crm = ssh(addresses[names[0]!]!, "crm_mon -1").stdout;
      lap("nfsGroupStarted");
    }
    result.crmMon = crm;
    log(`crm_mon -1 on ${names[0]}:\n${crm.replace(/^/gm, "  | ")}`);
    // The site's own pool creation script agrees with the stand-in: the pools exist, it touches nothing.
    if (loaded.spec.lab?.vagrant.zpoolStandIn) {
      const create = loaded.spec.storage.pools.map((p) => ssh(addresses[names[0]!]!, `/usr/local/sbin/hpcdk-zpool-create-${p.name}`).stdout.trim());
      result.poolCreateScripts = create;
      log(`hpcdk-zpool-create-<pool> on ${names[0]}: ${create.join("; ")}`);
    }
    result.hostMemory = { qemu: qemuMemory(lab), memAvailableDropMiB: memBefore - memAvailableMiB() };
    log(`host memory, the cluster up: ${JSON.stringify(result.hostMemory)}`);

    // The failover drill, from inside the namespace: SSH to the VMs and NFS to the floating IP.
    if (!noDrill && group && !loaded.spec.cluster.maintenanceMode) {
      const reportDir = join(lab.dir, "drill-reports");
      log(`hpcdk drill ${loaded.file} --mode power-off --repeat ${repeat} (reports in ${reportDir})`);
      const drill = await inLabStreaming(
        lab,
        ["node", CLI, "drill", siteFile, "--inventory", inventoryFile, "--out", join(lab.dir, "cdktf.out"), "--mode", "power-off", "--repeat", String(repeat), "--timeout", "900", "--report-dir", reportDir],
        { timeoutMs: repeat * 25 * 60_000, log: "drill.log", prefix: "  drill | " },
      );
      lap("drill");
      const runs = existsSync(reportDir) ? readdirSync(reportDir).filter((d) => d.includes("-power-off-")).sort() : [];
      const base = runs.length > 0 ? join(reportDir, runs.at(-1)!) : undefined;
      const reportFiles = base ? (repeat > 1 ? readdirSync(base).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(a) - Number(b)).map((d) => join(base, d, "report.json")) : [join(base, "report.json")]) : [];
      const reports = reportFiles.filter(existsSync).map((f) => JSON.parse(readFileSync(f, "utf8")) as DrillReport);
      result.drill = {
        exit: drill,
        reports: base,
        summary: base && existsSync(join(base, "summary.json")) ? JSON.parse(readFileSync(join(base, "summary.json"), "utf8")) : undefined,
        drills: reports.map((d) => ({
          node: d.node,
          survivor: d.survivor,
          ok: d.ok,
          metrics: d.metrics,
          failedChecks: d.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`),
          timeline: d.timeline.map((e) => `${(e.atMs / 1000).toFixed(1)} s ${e.what}`),
        })),
      };
      result.hostMemoryAfterDrill = { qemu: qemuMemory(lab), memAvailableDropMiB: memBefore - memAvailableMiB() };
      log(`host memory after the drill: ${JSON.stringify(result.hostMemoryAfterDrill)}`);
      if (drill !== 0) throw new LabError([`hpcdk drill failed (exit ${drill}): see ${lab.dir}/drill.log and the reports in ${base ?? reportDir}`]);
    } else {
      result.drill = noDrill ? "not run: --no-drill" : "not run: the site has no NFS group or runs in maintenance mode";
      log(`drill: ${result.drill as string}`);
    }
  } catch (err) {
    failure = err;
  } finally {
    if (keep) {
      // Also after a failure: the lab stays to be looked at.
      log(`--keep: the lab stays up${failure ? " after the failure" : ""}; take it down with npm run lab:vagrant -- --down ${siteFile}`);
    } else {
      mark = Date.now();
      await teardown(lab, log);
      lap("teardown");
    }
  }
  timings.total = seconds(Date.now() - t0);
  result.ok = failure === undefined;
  if (failure) result.error = failure instanceof LabError ? failure.problems : String(failure);
  writeFileSync(join(lab.dir, "result.json"), JSON.stringify(result, null, 2) + "\n");
  log(`result: ${join(lab.dir, "result.json")}: ${JSON.stringify({ ok: result.ok, timingsSec: timings })}`);
  if (failure) throw failure;
  return existsSync(lab.libvirtDir) ? 2 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  process.stderr.write(`lab:vagrant: ${err instanceof LabError ? err.problems.join("\n  ") : String((err as Error).stack ?? err)}\n`);
  process.exitCode = 1;
}

/** Whether every resource of the group runs, from crm_mon's XML (not XML yet: pacemaker is still starting), and what does not. */
function groupStarted(crmMonXml: string, groupId: string): { started: boolean; notStarted: string[] } {
  try {
    const members = resourceStatus(crmMonXml, groupId);
    const notStarted = resourceStatus(crmMonXml)
      .filter((r) => r.role !== "Started")
      .map((r) => `${r.id} ${r.role}`);
    return { started: members.length > 0 && members.every((r) => r.role === "Started"), notStarted };
  } catch {
    return { started: false, notStarted: [] };
  }
}
