/**
 * `npm run lab:vagrant [-- SITE_FILE] [--keep | --down]`: the whole Vagrant lab, once, timed.
 *
 * 1. builds the offline box if it is missing (scripts/lab-vagrant/build-box.sh);
 * 2. creates a network namespace and runs libvirtd in it (scripts/lab-vagrant/libvirtd.sh);
 * 3. writes the site's Vagrantfile with `hpcdk lab vagrantfile` and runs `vagrant up`;
 * 4. writes an inventory (user and key from `vagrant ssh-config`, host keys from ssh-keyscan
 *    inside the namespace) and runs `hpcdk deploy SITE --inventory FILE`;
 * 5. checks over SSH: both nodes online in `crm_mon -1` with quorum, the site's device names on
 *    every VM, a block written on one VM read back on the other, and what the disks answer to
 *    SCSI persistent reservations (fence_scsi's mechanism);
 * 6. tears everything down (vagrant destroy, libvirtd and virtlogd by PID, the namespace).
 *
 * Not part of `npm test`: it boots VMs under QEMU's software emulation and takes many minutes.
 * Needs root. The default site is test/fixtures/sites/vagrant-lab.yaml (two nodes).
 */
import { readFileSync, writeFileSync, mkdirSync, rmSync, existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { loadSiteFile } from "../../schema/load.js";
import { LabError } from "./lab.js";
import { spawnSync } from "node:child_process";
import { ensureBox, inLab, inLabStreaming, namespacePids, planVagrantRun, REPO, sshConfigOf, startLibvirt, teardown, vagrantLabPreflight, type VagrantLab } from "./vagrant-lab.js";

const CLI = join(REPO, "cli", "bin", "hpcdk.js");
const args = process.argv.slice(2);
const siteFile = resolve(args.find((a) => !a.startsWith("--")) ?? join(REPO, "test", "fixtures", "sites", "vagrant-lab.yaml"));
const keep = args.includes("--keep");
const downOnly = args.includes("--down");

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
    const addresses = Object.fromEntries(loaded.spec.nodes.map((n) => [n.name, n.addresses[0]!.split("/")[0]!]));
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

    log(`hpcdk deploy ${loaded.file} --inventory ${inventoryFile}`);
    const deploy = await inLabStreaming(lab, ["node", CLI, "deploy", siteFile, "--inventory", inventoryFile, "--out", join(lab.dir, "cdktf.out")], {
      timeoutMs: 60 * 60_000,
      log: "deploy.log",
      prefix: "  deploy | ",
    });
    if (deploy !== 0) throw new LabError([`hpcdk deploy failed (exit ${deploy}): see ${lab.dir}/deploy.log`]);
    lap("deploy");

    const ssh = (address: string, command: string, timeoutMs = 120_000) =>
      inLab(
        lab,
        ["ssh", "-i", first.identityFile, "-o", `UserKnownHostsFile=${knownHostsFile}`, "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=30", `${first.user}@${address}`, command],
        { timeoutMs, log: "checks.log" },
      );
    // The cluster: every node online, the partition quorate (bounded wait).
    const names = loaded.spec.nodes.map((n) => n.name);
    const deadline = Date.now() + 15 * 60_000;
    let crm = "";
    for (;;) {
      const r = ssh(addresses[names[0]!]!, "sudo crm_mon -1");
      crm = r.stdout;
      const online = /Online: \[ ([^\]]*) \]/.exec(crm)?.[1]?.split(/\s+/) ?? [];
      if (/partition with quorum/.test(crm) && names.every((n) => online.includes(n))) break;
      if (Date.now() > deadline) throw new LabError([`the cluster did not come up within 15 minutes; crm_mon -1 said:\n${crm}${r.stderr}`]);
      await new Promise((r2) => setTimeout(r2, 5_000));
    }
    result.crmMon = crm;
    log(`crm_mon -1 on ${names[0]}:\n${crm.replace(/^/gm, "  | ")}`);
    lap("clusterCheck");

    // Shared disks: the site's names on every VM; a block written on one VM reads back on the other.
    const devices = loaded.spec.storage.pools.flatMap((p) => p.vdevs.flatMap((v) => v.devices));
    for (const name of names) {
      const r = ssh(addresses[name]!, `for d in ${devices.join(" ")}; do test -b "$d" || { echo "missing $d"; exit 1; }; done`);
      if (r.status !== 0) throw new LabError([`${name}: the shared disks are not named as the site names them: ${r.stdout}${r.stderr}`]);
    }
    const token = `hpcdk-vagrant-lab-${Date.now()}`;
    const w = ssh(addresses[names[0]!]!, `printf '%-512s' '${token}' | sudo dd of=${devices[0]} bs=512 count=1 oflag=direct status=none && echo written`);
    const r = ssh(addresses[names[1]!]!, `sudo dd if=${devices[0]} bs=512 count=1 iflag=direct status=none | tr -d ' '`);
    if (w.status !== 0 || r.stdout.trim() !== token) throw new LabError([`${devices[0]}: written on ${names[0]}, ${names[1]} read ${JSON.stringify(r.stdout.trim())}: the disk is not shared`]);
    result.sharedDisk = `${devices[0]}: a block written on ${names[0]} read back on ${names[1]}`;
    // fence_scsi fences by SCSI-3 persistent reservations: record what the emulated disks answer.
    const pr = ssh(addresses[names[0]!]!, `sudo sg_persist --in --read-keys --device=${devices[0]} 2>&1; echo "exit $?"`);
    result.persistentReservations = pr.stdout.trim();
    log(`sg_persist --in --read-keys ${devices[0]} on ${names[0]}:\n${pr.stdout.trim().replace(/^/gm, "  | ")}`);
    lap("diskChecks");

    // ---- DRILL HOOK (issue 4: hpcdk drill) -------------------------------------------------
    // The failover drill is built on another branch and is not in this one. Once it is, run it
    // here against the VMs, with the same inventory:
    //   inLabStreaming(lab, ["node", CLI, "drill", siteFile, "--inventory", inventoryFile, ...])
    // and keep its report beside result.json. Note for that drill: this lab's site runs in
    // maintenance mode (no ZFS module in Debian's main archive), so there is no resource to move.
    const commands = spawnSync("node", [CLI, "--help"], { cwd: REPO, encoding: "utf8" }).stdout;
    const hasDrill = /^\s+drill\b/m.test(commands);
    result.drill = hasDrill ? "hpcdk drill exists in this tree but is not wired into lab:vagrant yet (see the DRILL HOOK)" : "not run: hpcdk drill is not in this branch (DRILL HOOK in operations/lab/vagrant-lab-run.ts)";
    log(`drill: ${result.drill as string}`);
    // -----------------------------------------------------------------------------------------

    result.hostMemory = { qemu: qemuMemory(lab), memAvailableDropMiB: memBefore - memAvailableMiB() };
    log(`host memory: ${JSON.stringify(result.hostMemory)}`);
  } catch (err) {
    failure = err;
  } finally {
    if (keep && !failure) {
      log(`--keep: the lab stays up; take it down with npm run lab:vagrant -- --down ${siteFile}`);
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
