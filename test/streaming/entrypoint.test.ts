/**
 * The image's entrypoint, run as the container would run it, against stand-in daemons that print
 * the seed's log lines: the start order (plasma store, then the broker server), log names per task
 * from SLURM_PROCID, and the failure path (a daemon that exits takes the entrypoint down, loudly,
 * and stops the other daemon). Every process is stopped by PID; every wait is bounded.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { loadExamples, synthTo, tempDir } from "../helpers.js";
import { gone, waitFor, writeStandIns } from "./helpers.js";

let entrypoint: string;
let bin: string;
const running: ChildProcess[] = [];

beforeAll(() => {
  const { out } = synthTo(loadExamples(["lab"]));
  entrypoint = join(out, "stacks/lab/groups/login/usr/local/share/hpcdk/stream-image/docker-entrypoint.sh");
  bin = join(tempDir("stream-bin-"), "bin");
  writeStandIns(bin);
});

// Each entrypoint runs in its own process group: a failed test kills the group (the entrypoint
// and the daemons it started), by its id.
afterEach(async () => {
  for (const child of running.splice(0)) {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // The group is empty: everything has stopped.
    }
  }
});

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}

function start(args: string[], env: Record<string, string>): Run {
  const child = spawn("bash", [entrypoint, ...args], { env: { PATH: process.env.PATH!, KERA_BIN: bin, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  running.push(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (err += d));
  const exit = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exit };
}

/** Resolves with the exit code, or null when the process is still running after `ms`. */
async function exitWithin(run: Run, ms: number): Promise<number | null | "running"> {
  return Promise.race([run.exit, new Promise<"running">((r) => setTimeout(() => r("running"), ms))]);
}

function world() {
  const dir = tempDir("stream-ep-");
  return { dir, state: join(dir, "state"), logs: join(dir, "logs"), socket: join(dir, "plasma.sock") };
}

/** PIDs of the processes whose command line contains `text`, children of `parent`. */
function childrenOf(parent: number): number[] {
  const result = spawnSync("pgrep", ["-P", String(parent)], { encoding: "utf8" });
  return result.stdout.split("\n").filter(Boolean).map(Number);
}

const COORDINATOR_ARGS = ["-C", "infrc:host=iris-079-ib0,port=11100,dev=mlx5_0", "--maxCores", "3", "-n", "--reset", "--clusterName", "test"];
const brokerArgs = (socket: string) => [
  "--plasma-socket", socket, "--plasma-memory-bytes", "1000000000", "--",
  "-L", "infrc:host=iris-080-ib0,port=11101,dev=mlx5_0", "--totalMasterMemory", "6144",
  "-C", "infrc:host=iris-079-ib0,port=11100,dev=mlx5_0", "--clusterName", "test",
];

describe("the entrypoint", () => {
  it("runs the coordinator in the foreground, logs to coordinator.out and copies the log to its output", async () => {
    const w = world();
    const run = start(["coordinator", ...COORDINATOR_ARGS], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, SLURM_PROCID: "0" });
    expect(await waitFor(() => run.stdout().includes("coordinator: Listening on infrc:host=iris-079-ib0,port=11100,dev=mlx5_0"), 10_000)).toBe(true);
    // The coordinator logs its cluster name on the line after "Listening" (as RAMCloud's does):
    // wait for it before reading the file (read at once, it was not there yet under load).
    expect(await waitFor(() => run.stdout().includes("Cluster name is 'test'"), 10_000)).toBe(true);
    const log = readFileSync(join(w.logs, "coordinator.out"), "utf8");
    expect(log).toContain(`NOTICE[1]: Command line: ${bin}/coordinator ${COORDINATOR_ARGS.join(" ")}`);
    expect(log).toContain("Cluster name is 'test'");
    // It stays up while the daemon runs ...
    expect(await exitWithin(run, 500)).toBe("running");
    const daemons = childrenOf(run.child.pid!);
    expect(daemons.length).toBeGreaterThan(0);
    // ... and stops it on SIGTERM (scancel, systemctl stop).
    run.child.kill("SIGTERM");
    expect(await exitWithin(run, 10_000)).toBe(0);
    expect(await waitFor(() => daemons.every(gone), 5_000)).toBe(true);
  });

  it("starts the plasma store first and the broker once the store's socket exists; logs are named by SLURM_PROCID", async () => {
    const w = world();
    // GIVEN a coordinator that listens
    const coordinator = start(["coordinator", ...COORDINATOR_ARGS], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs });
    expect(await waitFor(() => existsSync(join(w.state, "coordinator.listening")), 10_000)).toBe(true);
    // WHEN task 1 of a job starts a broker
    const broker = start(["broker", ...brokerArgs(w.socket)], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, SLURM_PROCID: "1", STANDIN_PLASMA_SOCKET: w.socket });
    // THEN it enlists as server 2.0, with its logs in plasma-1.out and server-1.out
    expect(await waitFor(() => existsSync(join(w.logs, "server-1.out")) && readFileSync(join(w.logs, "server-1.out"), "utf8").includes("Enlisted; serverId 2.0"), 15_000)).toBe(true);
    expect(readFileSync(join(w.logs, "plasma-1.out"), "utf8")).toContain("Allowing the Plasma store to use up to 1000000000 bytes of memory.");
    const server = readFileSync(join(w.logs, "server-1.out"), "utf8");
    expect(server).toContain(`socket() suceeded for pathname ${w.socket}`);
    expect(server).toContain("Master to allocate 6442450944 bytes total");
    expect(broker.stdout()).toMatch(/started plasma store[\s\S]*started broker server/);
    for (const run of [broker, coordinator]) {
      run.child.kill("SIGTERM");
      expect(await exitWithin(run, 10_000)).toBe(0);
    }
  });

  it("fails loudly and stops the plasma store when the broker server exits", async () => {
    const w = world();
    writeFileSync(join(w.dir, "unused"), "");
    const broker = start(["broker", ...brokerArgs(w.socket)], {
      STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, SLURM_PROCID: "2", STANDIN_PLASMA_SOCKET: w.socket, STANDIN_FAIL: "server",
    });
    expect(await exitWithin(broker, 15_000)).toBe(3);
    expect(broker.stderr()).toContain("docker-entrypoint: broker server exited (exit status 3)");
    expect(broker.stderr()).toContain(`last lines of ${w.logs}/server-2.out:`);
    expect(broker.stderr()).toContain("ERROR[1]: stand-in told to fail");
    // The plasma store went down with it: nothing is left listening on the socket.
    const plasma = spawnSync("pgrep", ["-f", `socket.*${w.socket}`], { encoding: "utf8" }).stdout.split("\n").filter(Boolean).map(Number);
    expect(await waitFor(() => plasma.every(gone), 5_000)).toBe(true);
  });

  it("fails when the plasma store exits before it creates its socket", async () => {
    const w = world();
    const broker = start(["broker", ...brokerArgs(w.socket)], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, STANDIN_FAIL: "plasma_store" });
    expect(await exitWithin(broker, 15_000)).toBe(3);
    expect(broker.stderr()).toContain(`docker-entrypoint: plasma store exited before creating its socket ${w.socket} (exit status 3)`);
    expect(existsSync(join(w.logs, "server-0.out"))).toBe(false);
  });

  it("fails when a broker cannot reach its coordinator (the stand-ins see the start order)", async () => {
    const w = world();
    const broker = start(["broker", ...brokerArgs(w.socket)], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, STANDIN_PLASMA_SOCKET: w.socket });
    expect(await exitWithin(broker, 15_000)).toBe(1);
    expect(broker.stderr()).toContain("couldn't reach the coordinator at infrc:host=iris-079-ib0,port=11100,dev=mlx5_0");
  });

  it("fails when the coordinator exits at once", async () => {
    const w = world();
    const run = start(["coordinator", ...COORDINATOR_ARGS], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, STANDIN_FAIL: "coordinator" });
    expect(await exitWithin(run, 10_000)).toBe(3);
    expect(run.stderr()).toContain("docker-entrypoint: coordinator exited (exit status 3)");
  });

  it("fails when a daemon binary is missing", async () => {
    const w = world();
    const run = start(["coordinator"], { STANDIN_STATE: w.state, HPCDK_STREAM_LOG_DIR: w.logs, KERA_BIN: join(w.dir, "nothing") });
    expect(await exitWithin(run, 10_000)).toBe(1);
    expect(run.stderr()).toBe(`docker-entrypoint: cannot start coordinator: ${join(w.dir, "nothing")}/coordinator is not an executable file\n`);
  });

  it("runs a shell, and refuses an unknown mode", async () => {
    const sh = start(["sh", "-c", "echo inside"], {});
    expect(await exitWithin(sh, 5_000)).toBe(0);
    expect(sh.stdout()).toBe("inside\n");
    const bad = start(["producer"], {});
    expect(await exitWithin(bad, 5_000)).toBe(1);
    expect(bad.stderr()).toContain("docker-entrypoint: usage:");
  });
});
