/**
 * A private single-host Slurm for the streaming tests: munged on its own socket, slurmctld and
 * three slurmd (sn1, sn2, sn3) on ports 17010-17013 of 127.0.0.1, each slurmd in its own mount
 * namespace with a private /tmp (where each "node" has its plasma socket) and an /etc/hosts that
 * names the nodes. Nothing is shared with a Slurm the machine may run: own config, own state,
 * own munge key and socket. Every daemon is stopped by its PID.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { gone, waitFor } from "./helpers.js";

export const LAB_NODES = ["sn1", "sn2", "sn3"] as const;
const CTLD_PORT = 17010;
const FIRST_SLURMD_PORT = 17011;

export interface SlurmLab {
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  /** Runs a Slurm client command with the lab's config. */
  run(command: string, args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv }): SpawnSyncReturns<string>;
  stop(): Promise<void>;
}

/** True when the Slurm and munge programs the lab needs are installed. */
export function haveSlurm(): boolean {
  return ["slurmctld", "slurmd", "sbatch", "munged", "unshare"].every((p) => spawnSync("sh", ["-c", `command -v ${p}`]).status === 0);
}

export async function startSlurmLab(): Promise<SlurmLab> {
  // Under /var/tmp: each node mounts its own /tmp.
  const dir = mkdtempSync("/var/tmp/hpcdk-stream-lab-");
  chmodSync(dir, 0o711);
  const children: ChildProcess[] = [];
  const path = (...p: string[]) => join(dir, ...p);
  for (const d of ["munge", "state", "spool", "log"]) mkdirSync(path(d), { recursive: true, mode: 0o711 });
  chmodSync(path("munge"), 0o711);
  writeFileSync(path("munge/munge.key"), Buffer.alloc(1024, 42), { mode: 0o400 });
  const host = hostname();
  writeFileSync(path("hosts"), `127.0.0.1 localhost ${host} ${LAB_NODES.join(" ")}\n`);
  const conf = [
    "ClusterName=hpcdkstream",
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${CTLD_PORT}`,
    "AuthType=auth/munge",
    "CredType=cred/munge",
    `AuthInfo=socket=${path("munge/munge.socket")}`,
    "SlurmUser=root",
    "SlurmdUser=root",
    `StateSaveLocation=${path("state")}`,
    `SlurmdSpoolDir=${path("spool")}/%n`,
    `SlurmctldPidFile=${path("slurmctld.pid")}`,
    `SlurmdPidFile=${path("slurmd-%n.pid")}`,
    `SlurmctldLogFile=${path("log/slurmctld.log")}`,
    `SlurmdLogFile=${path("log/slurmd-%n.log")}`,
    "ProctrackType=proctrack/linuxproc",
    "TaskPlugin=task/none",
    "SelectType=select/cons_tres",
    "SelectTypeParameters=CR_Core_Memory",
    "SchedulerType=sched/builtin",
    "MpiDefault=none",
    "ReturnToService=2",
    "JobCompType=jobcomp/none",
    "AccountingStorageType=accounting_storage/none",
    "JobAcctGatherType=jobacct_gather/none",
    "SlurmctldTimeout=30",
    "SlurmdTimeout=30",
    "KillWait=5",
    "MinJobAge=600",
    ...LAB_NODES.map((n, i) => `NodeName=${n} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${FIRST_SLURMD_PORT + i} CPUs=1 RealMemory=4096 State=UNKNOWN`),
    `PartitionName=batch Nodes=${LAB_NODES.join(",")} Default=YES MaxTime=INFINITE State=UP`,
  ].join("\n");
  writeFileSync(path("slurm.conf"), conf + "\n");
  const env = { ...process.env, SLURM_CONF: path("slurm.conf") };

  const daemon = (command: string, args: string[]) => {
    // The daemons log to the lab's log directory.
    const child = spawn(command, args, { env, stdio: "ignore" });
    children.push(child);
    return child;
  };

  const stop = async () => {
    for (const child of children.reverse()) {
      if (child.pid && !gone(child.pid)) child.kill("SIGTERM");
    }
    const all = await waitFor(() => children.every((c) => !c.pid || gone(c.pid)), 15_000, 100);
    if (!all) for (const c of children) if (c.pid && !gone(c.pid)) c.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    daemon("munged", [
      "-F", "--force",
      `--socket=${path("munge/munge.socket")}`, `--key-file=${path("munge/munge.key")}`,
      `--pid-file=${path("munge/munged.pid")}`, `--log-file=${path("log/munged.log")}`, `--seed-file=${path("munge/seed")}`,
    ]);
    if (!(await waitFor(() => spawnSync("test", ["-S", path("munge/munge.socket")]).status === 0, 10_000))) throw new Error("munged did not start");
    daemon("slurmctld", ["-D", "-i", "-f", path("slurm.conf")]);
    for (const n of LAB_NODES) {
      // A node: its own mount namespace, a private /tmp and the lab's /etc/hosts.
      daemon("unshare", [
        "--mount", "--propagation", "private", "sh", "-c",
        'mount -t tmpfs tmpfs /tmp && mount --bind "$1" /etc/hosts && exec slurmd -D -N "$2" -f "$3"',
        "sh", path("hosts"), n, path("slurm.conf"),
      ]);
    }
    const idle = await waitFor(() => {
      const r = spawnSync("sinfo", ["-h", "-N", "-o", "%N %t"], { env, encoding: "utf8" });
      return LAB_NODES.every((n) => new RegExp(`^${n} idle`, "m").test(r.stdout));
    }, 60_000, 250);
    if (!idle) {
      const log = (f: string) => { try { return readFileSync(path("log", f), "utf8").slice(-2000); } catch { return ""; } };
      throw new Error(`the lab's nodes did not come up: ${spawnSync("sinfo", ["-N"], { env, encoding: "utf8" }).stdout}\n${log("slurmctld.log")}\n${log("slurmd-sn1.log")}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    dir,
    env,
    run: (command, args, options = {}) => spawnSync(command, args, { cwd: options.cwd, env: { ...env, ...options.env }, encoding: "utf8" }),
    stop,
  };
}
