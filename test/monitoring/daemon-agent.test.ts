/**
 * The OCF agent hpcdk ships to run Prometheus and Alertmanager under Pacemaker (ocf:hpcdk:daemon),
 * run by ocf-tester (resource-agents) with the instance attributes of the monitoring lab's CIB:
 * start (as the prometheus user, until /-/ready answers), monitor, stop, and the other actions
 * Pacemaker calls, against Debian's real prometheus and prometheus-alertmanager. Each run has its
 * own network, mount and PID namespaces, so the daemons listen on a loopback nobody else sees and
 * end with the run.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { shQuote } from "../../common/shell.js";
import { loadSiteFile } from "../../schema/load.js";
import { FIXTURES, have, readTree, synthTo, tempDir } from "../helpers.js";

const isRoot = process.getuid?.() === 0;
const { out } = synthTo([loadSiteFile(join(FIXTURES, "monitoring-lab.yaml"))]);
const tree = readTree(join(out, "stacks", "monitoring-lab"));
const cib = tree.get("cluster/cib.xml")!.toString();
const agentDir = tempDir();
chmodSync(agentDir, 0o755);
const agent = join(agentDir, "daemon");
writeFileSync(agent, tree.get("hosts/m1/usr/lib/ocf/resource.d/hpcdk/daemon")!);
chmodSync(agent, 0o755);

/** The resource's instance attributes in the rendered CIB. */
function params(rsc: string): Record<string, string> {
  const found = [...cib.matchAll(new RegExp(`<nvpair id="${rsc}-instance_attributes-([a-z_]+)" name="[a-z_]+" value="([^"]*)"/>`, "g"))];
  return Object.fromEntries(found.map((m) => [m[1]!, m[2]!]));
}

/** The attributes moved into a temporary directory and onto the run's own loopback; each rewrite must match. */
function rebased(rsc: string, dir: string): Record<string, string> {
  const p = params(rsc);
  const move = (text: string, from: string, to: string) => {
    if (!text.includes(from)) throw new Error(`${rsc}: no ${from} in ${text}`);
    return text.replaceAll(from, to);
  };
  const local = (text: string) => move(move(text, "/etc/prometheus/", `${dir}/etc/`), "/tank/monitoring/", `${dir}/data/`);
  return {
    ...p,
    options: move(local(p.options!), "10.34.0.102", "127.0.0.1"),
    data_dir: move(p.data_dir!, "/tank/monitoring/", `${dir}/data/`),
    pidfile: move(p.pidfile!, "/run/hpcdk-monitoring/", `${dir}/run/`),
    logfile: move(p.logfile!, "/var/log/prometheus/", `${dir}/log/`),
    ready_url: move(p.ready_url!, "10.34.0.102", "127.0.0.1"),
  };
}

function ocfTester(rsc: string, dir: string, extra = "") {
  const attrs = rebased(rsc, dir);
  const script = ["ip link set lo up", "mount -t tmpfs tmpfs /run", `ocf-tester -n ${rsc} ${Object.entries(attrs).map(([k, v]) => `-o ${shQuote(`${k}=${v}`)}`).join(" ")} ${agent}`, extra]
    .filter(Boolean)
    .join(" && ");
  return spawnSync("unshare", ["--net", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script], { encoding: "utf8", timeout: 240_000 });
}

function workDir(): string {
  const dir = tempDir("hpcdk-daemon-");
  // The prometheus user walks through it to its data directory.
  chmodSync(dir, 0o755);
  spawnSync("mkdir", ["-p", join(dir, "etc"), join(dir, "run")]);
  writeFileSync(join(dir, "etc", "prometheus.yml"), "global:\n  scrape_interval: 15s\n");
  writeFileSync(join(dir, "etc", "alertmanager.yml"), "route: { receiver: none }\nreceivers: [{ name: none }]\n");
  for (const f of ["prometheus.yml", "alertmanager.yml"]) chmodSync(join(dir, "etc", f), 0o644);
  return dir;
}

const WHY_NOT = !isRoot ? "needs root (namespaces, setpriv)" : !have("ocf-tester") ? "ocf-tester is not installed (resource-agents)" : !have("xmllint") ? "xmllint is not installed (libxml2-utils)" : undefined;

describe.skipIf(WHY_NOT)("ocf:hpcdk:daemon", () => {
  it.each(["prometheus", "alertmanager"])("passes ocf-tester running %s with the CIB's attributes", (rsc) => {
    const dir = workDir();
    const r = ocfTester(rsc, dir);
    expect(r.stdout + r.stderr).toContain(`${agent} passed all tests`);
    expect(r.status).toBe(0);
    // It ran as the prometheus user and logged there.
    const log = spawnSync("cat", [join(dir, "log", `${rsc}.log`)], { encoding: "utf8" }).stdout;
    expect(log).toMatch(rsc === "prometheus" ? /Server is ready to receive web requests/ : /Listening/);
    expect(spawnSync("stat", ["-c", "%U", join(dir, "data", rsc)], { encoding: "utf8" }).stdout.trim()).toBe("prometheus");
  }, 240_000);

  it("fails to start, and says why, when the program exits at once", () => {
    const dir = workDir();
    writeFileSync(join(dir, "etc", "prometheus.yml"), "global:\n  scrape_intervall: 15s\n");
    const r = ocfTester("prometheus", dir);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("ocf-exit-reason:/usr/bin/prometheus exited at start");
  }, 240_000);

  it("reports a program that died as failed, and refuses options with shell characters", () => {
    const dir = workDir();
    const attrs = rebased("alertmanager", dir);
    const env = Object.entries(attrs).map(([k, v]) => `OCF_RESKEY_${k}=${shQuote(v)}`).join(" ");
    const script = [
      "ip link set lo up",
      "mount -t tmpfs tmpfs /run",
      `env ${env} OCF_ROOT=/usr/lib/ocf ${agent} start`,
      `kill -9 "$(cat ${shQuote(attrs.pidfile!)})"`,
      "sleep 0.5",
      `{ env ${env} OCF_ROOT=/usr/lib/ocf ${agent} monitor; echo "monitor=$?"; }`,
      `{ env ${env} OCF_RESKEY_options='--config.file=/x;reboot' OCF_ROOT=/usr/lib/ocf ${agent} validate-all; echo "validate=$?"; }`,
    ].join(" && ");
    const r = spawnSync("unshare", ["--net", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script], { encoding: "utf8", timeout: 120_000 });
    // OCF_ERR_GENERIC (1) for the dead program, OCF_ERR_CONFIGURED (6) for the options.
    expect(r.stdout).toContain("monitor=1");
    expect(r.stdout).toContain("validate=6");
  }, 120_000);
});


