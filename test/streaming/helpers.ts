/** Helpers of the streaming tests: fixtures, synthesis, stand-in daemons that print the seed's log lines. */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseSite, type LoadedSite } from "../../schema/load.js";

export const STREAM_FIXTURES = join(import.meta.dirname, "fixtures");
export const STREAM_FIXTURE_NAMES = ["stream-systemd", "stream-podman"] as const;

/** The text of a streaming fixture. */
export function fixtureText(name: string): string {
  return readFileSync(join(STREAM_FIXTURES, `${name}.yaml`), "utf8");
}

/** A streaming fixture, loaded with the display name the tests use in messages and headers. */
export function loadFixture(name: string): LoadedSite {
  return parseSite(fixtureText(name), `test/streaming/fixtures/${name}.yaml`);
}

/** True when /proc/PID/stat says the process is gone or a zombie. */
export function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return true;
  }
}

/** Waits (bounded) until `check` holds; returns whether it did. */
export async function waitFor(check: () => boolean, timeoutMs: number, stepMs = 50): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return check();
}

/**
 * Stand-ins for the daemons of the image (coordinator, server, plasma_store) that print the
 * seed's log lines with the arguments they were given. Each records what it did in
 * $STANDIN_STATE: the coordinator writes `coordinator.listening` once it "listens"; a server
 * refuses to start (exit 1, "couldn't reach the coordinator") when that file is missing or the
 * plasma socket does not exist, which is how the tests see the start order. STANDIN_FAIL=<daemon>
 * makes that daemon print its first lines and exit 3.
 */
const COMMON = String.raw`#!/bin/bash
set -u
state=\${STANDIN_STATE:?}
mkdir -p "\$state"
now() { date +%s.%N; }
log() { echo "\$(now) \$*"; }
opt() { # opt NAME ARGS...: the value after NAME
    local name=\$1; shift
    while [ \$# -gt 0 ]; do [ "\$1" = "\$name" ] && { echo "\${2:-}"; return; }; shift; done
}
fail_here() { [ "\${STANDIN_FAIL:-}" = "\$1" ]; }
serve() { trap 'exit 0' TERM INT; while :; do sleep 1 & wait \$!; done; }
`;

const COORDINATOR = COMMON + String.raw`
loc=\$(opt -C "\$@")
log "CoordinatorMain.cc:110 in main NOTICE[1]: Command line: \$0 \$*"
log "CoordinatorMain.cc:111 in main NOTICE[1]: Coordinator process id: \$\$"
case "\$loc" in infrc:*)
    dev=\${loc##*dev=}
    log "Infiniband.h:106 in DeviceList WARNING[1]: identified infiniband device: \$dev"
    log "InfRcTransport.cc:272 in InfRcTransport NOTICE[1]: Local Infiniband lid is 108";;
esac
if fail_here coordinator; then log "CoordinatorMain.cc:99 in main ERROR[1]: stand-in told to fail"; exit 3; fi
log "CoordinatorMain.cc:122 in main NOTICE[1]: coordinator: Listening on \$loc"
log "CoordinatorMain.cc:151 in main NOTICE[1]: Cluster name is '\$(opt --clusterName "\$@")', external storage workspace is '/ramcloud/\$(opt --clusterName "\$@")/'"
echo "\$loc" > "\$state/coordinator.listening"
log "CoordinatorService.cc:125 in init NOTICE[7]: Coordinator state has been recovered from external storage; starting service"
serve
`;

const PLASMA = COMMON + String.raw`
socket=\$(opt -s "\$@")
memory=\$(opt -m "\$@")
echo "Allowing the Plasma store to use up to \$memory bytes of memory."
if fail_here plasma_store; then echo "stand-in plasma store told to fail"; exit 3; fi
echo "plasma_store \$socket \$(now)" >> "\$state/plasma.started"
exec python3 -c 'import socket, sys, signal, time
signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
while True:
    time.sleep(1)' "\$socket"
`;

const SERVER = COMMON + String.raw`
loc=\$(opt -L "\$@")
coord=\$(opt -C "\$@")
memory=\$(opt --totalMasterMemory "\$@")
task=\${HPCDK_STREAM_TASK:-\${SLURM_PROCID:-0}}
log "ServerMain.cc:289 in main NOTICE[1]: Command line: \$0 \$*"
log "ServerMain.cc:290 in main NOTICE[1]: Server process id: \$\$"
if ! [ -S "\${STANDIN_PLASMA_SOCKET:-/tmp/plasma}" ]; then
    log "ServerMain.cc:300 in main ERROR[1]: socket() failed for pathname \${STANDIN_PLASMA_SOCKET:-/tmp/plasma}"
    exit 1
fi
echo "socket() suceeded for pathname \${STANDIN_PLASMA_SOCKET:-/tmp/plasma}"
log "ServerMain.cc:319 in main NOTICE[1]: MASTER_SERVICE, ADMIN_SERVICE: Listening on \$loc"
log "ServerConfig.h:619 in setLogAndHashTableSize NOTICE[1]: Master to allocate \$((memory * 1048576)) bytes total, 1048576 of which are for the hash table"
if fail_here server; then log "Server.cc:101 in run ERROR[1]: stand-in told to fail"; exit 3; fi
log "Server.cc:211 in enlist NOTICE[4]: Enlisting with coordinator"
if ! [ -f "\$state/coordinator.listening" ] || [ "\$(cat "\$state/coordinator.listening")" != "\$coord" ]; then
    log "CoordinatorSession.cc:119 in getSession ERROR[4]: couldn't reach the coordinator at \$coord"
    exit 1
fi
log "CoordinatorSession.cc:119 in getSession NOTICE[4]: Opened session with coordinator at \$coord"
log "Server.cc:218 in enlist NOTICE[4]: Enlisted; serverId \$((task + 1)).0"
echo "server \$task \$(now)" >> "\$state/server.enlisted"
serve
`;

/** Writes the stand-in daemons into `dir` (the entrypoint's KERA_BIN). */
export function writeStandIns(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const unescape = (s: string) => s.replace(/\\\$/g, "$");
  for (const [name, text] of [["coordinator", COORDINATOR], ["plasma_store", PLASMA], ["server", SERVER]] as const) {
    writeFileSync(join(dir, name), unescape(text));
    chmodSync(join(dir, name), 0o755);
  }
}

/**
 * A stand-in container runtime (`apptainer run [--bind B] [--env-file F] [--env K=V]... IMAGE
 * ARGS...`): checks the image exists, records its arguments in $STANDIN_STATE/runtime.log, sets
 * the environment and runs the entrypoint in place of the image's.
 */
export function writeStandInRuntime(dir: string, name: string, entrypoint: string, bin: string): void {
  mkdirSync(dir, { recursive: true });
  const text = `#!/bin/bash
set -euo pipefail
[ "$1" = run ] || { echo "${name} stand-in: only run is supported" >&2; exit 2; }
shift
mkdir -p "\${STANDIN_STATE:?}"
echo "$*" >> "$STANDIN_STATE/runtime.log"
while [ $# -gt 0 ]; do
    case "$1" in
        --bind) shift 2 ;;
        --env-file) set -a; . "$2"; set +a; shift 2 ;;
        --env) export "$2"; shift 2 ;;
        *) break ;;
    esac
done
image=$1
shift
[ -e "$image" ] || { echo "${name} stand-in: no image $image" >&2; exit 255; }
KERA_BIN=${bin} exec bash ${entrypoint} "$@"
`;
  writeFileSync(join(dir, name), text);
  chmodSync(join(dir, name), 0o755);
}

/** Runs shellcheck on a file (bash or sh by its shebang). */
export function shellcheck(file: string, shell?: string) {
  return spawnSync("shellcheck", [...(shell ? [`--shell=${shell}`] : []), "--severity=style", file], { encoding: "utf8" });
}
