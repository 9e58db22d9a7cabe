/**
 * Why the site schema refuses nfs.server ganesha with cluster.mode active-active, pinned on the
 * real programs (issue 16): after a failover an active/active site has both groups on one node,
 * so that node must run two ganesha.nfsd, one per group, each bound to its group's floating IP
 * (NFS_CORE_PARAM Bind_addr) on the same NFS and MOUNT ports. GIVEN the rendered minilab
 * ganesha.conf with a Bind_addr and fixed ports per instance, two instances in one network
 * namespace (its own rpcbind), THEN:
 *
 * - (found by hand, not tested here yet) with no IPv6 address but ::1 on the node, ganesha 4.3 ignores an
 *   IPv4 Bind_addr: its config parser asks getaddrinfo for AF_INET6 with AI_ADDRCONFIG, falls back
 *   to AF_INET, and its IPv6 listener then reads the IPv4 address as an IPv6 one and binds the
 *   wildcard; the second instance dies ("Error binding to V6 interface");
 * - with an IPv6 address on an interface (a link-local one is enough: real hosts and the namespace
 *   lab's nodes have them), the address maps to ::ffff:IP and each instance serves its own
 *   address, NFSv3 and NFSv4;
 * - stopping one instance unregisters NFS and MOUNT from rpcbind ("Unregistering ports used by
 *   NFS service"), so the other's NFSv3 clients can no longer mount (NFSv4 goes on: it needs no
 *   rpcbind) until someone registers the ports again (pmap_set, as the test does).
 *
 * So an active/active ganesha site needs: an instance per group (config, pid file, log, recovery
 * directory on its pool), its floating IP up before it starts, IPv6 on the nodes' interfaces, and
 * an agent that registers NFS and MOUNT again when another instance stops. hpcdk renders none of
 * that yet (README, "NFS server"). Each run has its own network, mount and PID namespaces.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExamples, synthTo, tempDir } from "../../helpers.js";

const isRoot = process.getuid?.() === 0;
const { out } = synthTo(loadExamples(["minilab"]));
const rendered = readFileSync(join(out, "stacks", "minilab", "hosts", "m1", "etc/ganesha/ganesha.conf"), "utf8");

/** The rendered config for one instance: its address, fixed ports, its own export and recovery directories. */
function instanceConfig(dir: string, name: string, address: string): string {
  const text = rendered
    .replace("Protocols = 3, 4;", `Protocols = 3, 4;\n    Bind_addr = ${address};\n    NFS_Port = 2049;\n    MNT_Port = 20048;\n    Enable_UDP = false;`)
    .replaceAll("/tank/data", join(dir, name, "export"))
    .replaceAll("/tank/.nfs-state/ganesha", join(dir, name, "recovery"))
    .replaceAll("10.30.0.0/24", "10.77.0.0/24");
  if (!text.includes(`Bind_addr = ${address};`) || text.includes("/tank/")) throw new Error("the rendered ganesha.conf changed: adapt this test");
  return text;
}

/**
 * Runs both instances in a namespace of their own. `ipv6` false: IPv6 off on every interface
 * (only ::1 is left); true: a ULA address on the interface (a link-local one does as well, once
 * its duplicate address detection is over; the ULA is set without it, so the run does not race
 * it). Returns the script's KEY=VALUE lines.
 */
function run(ipv6: boolean): Record<string, string> {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  for (const [name, address] of [["a", "10.77.0.1"], ["b", "10.77.0.2"]] as const) {
    writeFileSync(join(dir, `${name}.conf`), instanceConfig(dir, name, address));
  }
  const script = `
set -u
D=${dir}
ip link set lo up
${ipv6 ? "" : "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"}
ip link add tga type veth peer name tgb
ip link set tga up; ip link set tgb up
ip addr add 10.77.0.1/24 dev tga; ip addr add 10.77.0.2/24 dev tga
${ipv6 ? "ip addr add fd77::1/64 dev tga nodad" : ""}
mount -t tmpfs tmpfs /run
mkdir -p /run/rpcbind /run/ganesha
rpcbind
for g in a b; do mkdir -p $D/$g/export $D/$g/recovery; echo "file of $g" > $D/$g/export/f; chmod -R a+rX $D/$g; done
start() { setsid ganesha.nfsd -F -f $D/$1.conf -L $D/$1.log -N NIV_EVENT -p $D/$1.pid > /dev/null 2>&1 < /dev/null & echo $! > $D/$1.spid; }
alive() { kill -0 $(cat $D/$1.spid) 2> /dev/null && echo yes || echo no; }
# Ready: its NFS port answers on its address (or it died).
ready() { i=0; while [ $i -lt 40 ] && [ "$(alive $1)" = yes ] && ! rpcinfo -t $2 nfs 3 > /dev/null 2>&1; do sleep 0.25; i=$((i + 1)); done; }
v3() { timeout 10 nfs-cat "nfs://$1$D/$2/export/f" 2>&1 | head -n 1; }
v4() { timeout 10 nfs-cat "nfs://$1$D/$2/export/f?version=4" 2>&1 | head -n 1; }
stop() { kill -TERM $(cat $D/$1.spid); i=0; while [ $i -lt 40 ] && [ "$(alive $1)" = yes ]; do sleep 0.25; i=$((i + 1)); done; }
start a; ready a 10.77.0.1
start b; ready b 10.77.0.2
echo "a.alive=$(alive a)"; echo "b.alive=$(alive b)"
echo "listeners=$(ss -ltn | awk '$4 ~ /:2049$/ {print $4}' | sort | tr '\\n' ' ')"
echo "a.v3=$(v3 10.77.0.1 a)"; echo "a.v4=$(v4 10.77.0.1 a)"
echo "b.v3=$(v3 10.77.0.2 b)"; echo "b.v4=$(v4 10.77.0.2 b)"
echo "b.bindError=$(grep -c 'Error binding to V6 interface' $D/b.log)"
if [ "$(alive b)" = yes ]; then
  stop b
  echo "mountRegistered=$(rpcinfo -p 127.0.0.1 | grep -c ' 100005 ')"
  echo "a.v3AfterStop=$(v3 10.77.0.1 a)"; echo "a.v4AfterStop=$(v4 10.77.0.1 a)"
  python3 -c '
import ctypes
t = ctypes.CDLL("libtirpc.so.3")
t.pmap_set.argtypes = [ctypes.c_ulong, ctypes.c_ulong, ctypes.c_int, ctypes.c_ushort]
for prog, vers, port in [(100003, 3, 2049), (100003, 4, 2049), (100005, 1, 20048), (100005, 3, 20048)]:
    assert t.pmap_set(prog, vers, 6, port) == 1
'
  echo "a.v3AfterRegister=$(v3 10.77.0.1 a)"
fi
for g in a b; do [ "$(alive $g)" = yes ] && stop $g; done
for g in a b; do kill -KILL $(cat $D/$g.spid) 2> /dev/null; done
exit 0
`;
  const r = spawnSync("unshare", ["--net", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script], { encoding: "utf8", timeout: 150_000 });
  if (r.status !== 0) throw new Error(`the namespace script failed (${r.status}): ${r.stdout}${r.stderr}`);
  return Object.fromEntries(r.stdout.split("\n").filter((l) => l.includes("=")).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

describe.skipIf(!isRoot)("two nfs-ganesha instances on one node (why active/active ganesha is refused)", () => {
  it("with an IPv6 address each instance serves its own address; stopping one takes NFS and MOUNT out of rpcbind for the other", () => {
    const r = run(true);
    expect([r["a.alive"], r["b.alive"]]).toEqual(["yes", "yes"]);
    expect(r["listeners"]).toBe("[::ffff:10.77.0.1]:2049 [::ffff:10.77.0.2]:2049 ");
    expect([r["a.v3"], r["a.v4"], r["b.v3"], r["b.v4"]]).toEqual(["file of a", "file of a", "file of b", "file of b"]);
    // b stopped: rpcbind no longer knows MOUNT, a's NFSv3 clients cannot mount; NFSv4 goes on.
    expect(r["mountRegistered"]).toBe("0");
    expect(r["a.v3AfterStop"]).toContain("Program is not available");
    expect(r["a.v4AfterStop"]).toBe("file of a");
    // The ports registered again (the same for every instance): NFSv3 works again.
    expect(r["a.v3AfterRegister"]).toBe("file of a");
  }, 160_000);
});
