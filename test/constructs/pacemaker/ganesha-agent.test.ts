/**
 * The OCF agent hpcdk ships for nfs-ganesha, run by ocf-tester (resource-agents): start, monitor,
 * stop, and the other actions Pacemaker calls, against a real ganesha.nfsd with the rendered
 * ganesha.conf. Each run has its own network, mount and PID namespaces (its own rpcbind and NFS
 * ports), so nothing reaches this machine's network.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadExamples, synthTo, tempDir } from "../../helpers.js";

const isRoot = process.getuid?.() === 0;
const { out } = synthTo(loadExamples(["minilab"]));
const host = join(out, "stacks", "minilab", "hosts", "m1");
const rendered = join(host, "usr/lib/ocf/resource.d/hpcdk/ganesha");
// The rendered tree keeps plain file modes; the bundle's apply script installs the agent 0755.
// ocf-tester also runs it as nobody, so its directory must be searchable.
const agentDir = tempDir();
chmodSync(agentDir, 0o755);
const agent = join(agentDir, "ganesha");
copyFileSync(rendered, agent);
chmodSync(agent, 0o755);

function ocfTester(config: string) {
  const dir = tempDir();
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, "export"), { recursive: true });
  writeFileSync(join(dir, "ganesha.conf"), config.replaceAll("/tank/data", join(dir, "export")).replaceAll("/tank/.nfs-state/ganesha", join(dir, "recovery")));
  const script = [
    "ip link set lo up",
    "mount -t tmpfs tmpfs /run",
    "mkdir -p /run/rpcbind",
    "rpcbind",
    `ocf-tester -n ganesha -o config=${dir}/ganesha.conf -o pidfile=${dir}/ganesha.pid -o logfile=${dir}/ganesha.log -o recovery_root=${dir}/recovery ${agent}`,
  ].join(" && ");
  return spawnSync("unshare", ["--net", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script], { encoding: "utf8", timeout: 120_000 });
}

describe.skipIf(!isRoot)("ocf:hpcdk:ganesha", () => {
  it("passes ocf-tester with the rendered ganesha.conf", () => {
    const r = ocfTester(readFileSync(join(host, "etc/ganesha/ganesha.conf"), "utf8"));
    expect(r.stdout + r.stderr).toContain(`${agent} passed all tests`);
    expect(r.status).toBe(0);
  });

  it("fails to start (and says why) if ganesha rejects part of its configuration", () => {
    const r = ocfTester(readFileSync(join(host, "etc/ganesha/ganesha.conf"), "utf8").replace("Clients = 10.30.0.0/24;", 'Clients = "10.30.0.0/24";'));
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("ocf-exit-reason:ganesha rejected");
  });
});
