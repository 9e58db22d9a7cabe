/**
 * The hpcdk command: synth, simulate, diff, schema. Exit codes: 0 ok, 1 invalid site, 2 internal error.
 */
import { Command } from "commander";
import { EXIT, reportError } from "../common/errors.js";
import type { DiffCommandOptions } from "./commands/diff.js";
import type { DrillCommandOptions } from "./commands/drill.js";

// Each command loads its modules when it runs: `hpcdk diff` needs neither ssh2 nor the lab, and
// `--help` or `schema` not cdktf, and loading them was a good part of the command's start.

const program = new Command()
  .name("hpcdk")
  .description("Deploy HA NFS on ZFS with Pacemaker/Corosync and the HPC stack on it, from one site file.")
  .showHelpAfterError()
  .exitOverride();

program
  .command("synth")
  .description("validate site files and write cdktf.out/stacks/<site>/ (cdk.tf.json, hosts/<host>/..., cluster/cib.xml)")
  .argument("[site-files...]", "site files (default: every sites/*.yaml)")
  .option("-o, --out <dir>", "output directory", "cdktf.out")
  .option("-q, --quiet", "print only warnings and errors")
  .action(async (files: string[], opts: { out: string; quiet?: boolean }) => {
    const { synthSiteFiles } = await import("../stacks/synth.js");
    synthSiteFiles(files, opts.out, !opts.quiet);
  });

program
  .command("simulate")
  .description("run crm_simulate on the synthesized CIB: fail each node in turn (or --fail NODE) and show what is fenced and where resources go")
  .argument("<site>", "site name (sites/<site>.yaml) or site file")
  .option("-f, --fail <node>", "fail only this node")
  .option("-o, --out <dir>", "output directory", "cdktf.out")
  .option("--json", "print the result as JSON")
  .action(async (site: string, opts: { fail?: string; out: string; json?: boolean }) => {
    const { simulateCommand } = await import("./commands/simulate.js");
    process.exitCode = await simulateCommand(site, opts);
  });

program
  .command("diff")
  .description("show what a deploy would change on the hosts and its impact, against a git ref (--base), a directory of rendered files (--against, default cdktf.out) or the hosts themselves (--live); exit 0 no change, 1 changes, 2 error")
  .argument("<site>", "site name (sites/<site>.yaml) or site file")
  .option("-b, --base <git-ref>", "compare with the site at this git ref, synthesized in a temporary worktree")
  .option("--base-code <which>", "which hpcdk renders the base: base (its own, default) or current (the working tree's)")
  .option("-a, --against <dir>", "compare with a directory of rendered files (a stack or output directory) (default: cdktf.out)")
  .option("-f, --format <format>", "text, markdown (pull-request comment) or json", "text")
  .option("--fail-on <impact>", "exit 1 only if a change has this impact or worse: reload, restart, resource-move, outage")
  .option("--secrets <dir>", "the working tree's secrets (default: secrets/<site>)")
  .option("--old-secrets <dir>", "the other side's secrets (default: the same folder)")
  .option("-U, --context <lines>", "lines of context in unified diffs", "3")
  .option("--color", "colour the text output (default: when stdout is a terminal and NO_COLOR is unset)")
  .option("--no-color", "never colour")
  .option("--live", "compare with the hosts: their deployed files, owners and modes over SSH (read-only) and the live CIB; 1 on drift, 2 when a host could not be checked and no drift was found")
  .option("-i, --inventory <file>", "with --live: SSH overrides (addresses, key, known_hosts), as for hpcdk deploy")
  .option("--live-hosts <hostlist>", "with --live: hosts of node groups to check, or all (default: the first host of each group; management nodes always)")
  .action(async (site: string, opts: DiffCommandOptions) => {
    const { diffCommand } = await import("./commands/diff.js");
    process.exitCode = await diffCommand(site, opts);
  });

program
  .command("deploy")
  .description("synthesize the site and apply it with Terraform: every changed host gets its files over SSH, then the CIB")
  .argument("<site>", "site name (sites/<site>.yaml) or site file")
  .option("-o, --out <dir>", "output directory", "cdktf.out")
  .option("-i, --inventory <file>", "SSH overrides (addresses, key, known_hosts), e.g. the one hpcdk lab up prints")
  .option("--force", "apply the CIB even if someone changed the live one by hand since hpcdk last applied it")
  .option("--json", "print the summary (and the plan, with every wave) as JSON")
  .option("--plan", "print the rollout plan (waves, strategy per management node, NFS interruption expected) and send nothing")
  .option("-f, --format <format>", "with --plan: text, markdown or json", "text")
  .option("--allow-outage", "apply changes whose impact is an outage (cluster name, node id, crypto); refused without it, before anything is sent")
  .option("-b, --bundle <bundle>", "deploy only this bundle: groups/<group>, hosts/<host> or cluster (repeatable; Terraform's -target)", (v: string, prev: string[] = []) => [...prev, v])
  .action(async (site: string, opts: { out: string; inventory?: string; force?: boolean; json?: boolean; bundle?: string[] }) => {
    const { deployCommand } = await import("./commands/deploy.js");
    process.exitCode = await deployCommand(site, opts);
  });

program
  .command("apply-bundle")
  .description("put one synthesized bundle on its hosts (what each Terraform resource runs, in the stack directory)")
  .requiredOption("-b, --bundle <bundle>", "hosts/<host>, groups/<group> or cluster")
  .option("-s, --stack-dir <dir>", "the stack directory", ".")
  .option("--force", "apply the CIB even if the live one changed by hand")
  .option("--expect <marker>", "what the hosts record once they hold the bundle (sha256:fingerprint)")
  .action(async (opts: { bundle: string; stackDir: string; force?: boolean; expect?: string }) => {
    const { applyBundleCommand } = await import("./commands/deploy.js");
    process.exitCode = await applyBundleCommand(opts);
  });

program
  .command("ansible-inventory")
  .description("print the Ansible inventory of a bundle's hosts (a node group's hostlist, expanded) with the variables ansible/apply-bundle.yml needs")
  .requiredOption("-b, --bundle <bundle>", "groups/<group> or hosts/<host>")
  .option("-s, --stack-dir <dir>", "the stack directory", ".")
  .option("--secrets <dir>", "the project's secrets folder for the site (default: the one deploy.json names)")
  .option("-o, --out <file>", "write it to this file (default: stdout)")
  .action(async (opts: { bundle: string; stackDir: string; secrets?: string; out?: string }) => {
    const { ansibleInventoryCommand } = await import("./commands/ansible.js");
    process.exitCode = ansibleInventoryCommand(opts);
  });

program
  .command("drill")
  .description("fail the node holding each NFS group on the live cluster and time the failover in phases: fencing, pool import (MMP), NFS server, grace, NFSv3 and NFSv4 reads and writes, an NFSv4 lock, acknowledged writes; reports in JSON, Markdown and HTML")
  .argument("<site>", "site name (sites/<site>.yaml) or site file")
  .option("--fail <node>", "the node to fail (default: the node running the group)")
  .option("--mode <mode>", "power-off (fence it off, power it on again), kill or link-down (the lab only), standby", "power-off")
  .option("--group <name>", "drill this NFS group (repeat for several; default: every group, one after the other)", (v: string, prev: string[] = []) => [...prev, v])
  .option("--expect <target>", "a target the verdict checks, e.g. nfs4-write-back=15s, nfs3-read-back=mmp+7s, acked-writes-lost=0 (repeatable; adds to the site's drill.expect)", (v: string, prev: string[] = []) => [...prev, v])
  .option("--plan <file>", "run a fault plan (network faults in time windows, with the outcome expected) instead of failing a node")
  .option("--no-lock", "no NFSv4 lock probe")
  .option("--repeat <n>", "run N drills and report min/median/max", "1")
  .option("--timeout <seconds>", "give up a drill after this long", "180")
  .option("-o, --out <dir>", "output directory", "cdktf.out")
  .option("-i, --inventory <file>", "SSH overrides, e.g. the one hpcdk lab up prints")
  .option("--report-dir <dir>", "where the reports go", "drill-reports")
  .option("--json", "print the report as JSON")
  .action(async (site: string, opts: DrillCommandOptions) => {
    const { drillCommand } = await import("./commands/drill.js");
    process.exitCode = await drillCommand(site, opts);
  });

const lab = program
  .command("lab")
  .description("a lab to deploy to: the namespace lab (one host per management node on this machine, needs root), or a Vagrantfile of VMs");
lab
  .command("up")
  .argument("<site>", "site name or file")
  .description("bring the lab up and print the inventory hpcdk deploy takes; with --group, the fleet lab: that node group's hosts, sshd only")
  .option("-g, --group <name>", "the fleet lab: the hosts of this node group, each a namespace with sshd (no cluster stack)")
  .option("--count <n>", "the fleet lab: only the group's first N hosts")
  .option("--network <cidr>", "the fleet lab: an IPv4 /16 this machine does not route", "10.251.0.0/16")
  .option("--boot-sec <n>", "seconds a node takes to boot when the lab's power switch powers it on (a fencing reboot, an unfence), as a server's firmware and boot", "0")
  .action(async (site: string, opts: { group?: string; count?: string; network: string; bootSec: string }) => {
    const { labUpCommand, fleetUpCommand } = await import("./commands/lab.js");
    process.exitCode = opts.group ? await fleetUpCommand(site, { group: opts.group, count: opts.count, network: opts.network }) : await labUpCommand(site, { bootSec: opts.bootSec });
  });
lab
  .command("down")
  .argument("<site>", "site name or file")
  .description("stop every process of the lab and remove its namespaces and links")
  .action(async (site: string) => {
    const { labDownCommand } = await import("./commands/lab.js");
    process.exitCode = await labDownCommand(site);
  });
lab
  .command("status")
  .argument("<site>", "site name or file")
  .description("which lab hosts are on, and what their cluster says")
  .action(async (site: string) => {
    const { labStatusCommand } = await import("./commands/lab.js");
    process.exitCode = await labStatusCommand(site);
  });
lab
  .command("vagrantfile")
  .argument("<site>", "site name or file")
  .description("write a Vagrantfile (libvirt) with one VM per management node, the site's networks and its pool devices as shared disks")
  .option("-o, --out <file>", "write it to this file (default: stdout)")
  .action(async (site: string, opts: { out?: string }) => {
    const { labVagrantfileCommand } = await import("./commands/lab.js");
    process.exitCode = labVagrantfileCommand(site, opts);
  });

program
  .command("schema")
  .description("print the site file's JSON Schema (for editors)")
  .option("-o, --out <file>", "write it to a file")
  .action(async (opts: { out?: string }) => {
    const { schemaCommand } = await import("./commands/schema.js");
    schemaCommand(opts);
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = (err as { code?: string }).code;
  if (code?.startsWith("commander.")) {
    // Help and version exit 0; usage errors are already printed by commander.
    process.exitCode = code === "commander.helpDisplayed" || code === "commander.version" ? EXIT.ok : EXIT.internal;
  } else {
    process.exitCode = reportError(err);
  }
}
// A command is done when it returns: an SSH connection a failed command left open must not keep
// the process (and a CI job, or a benchmark) waiting.
process.exit(process.exitCode ?? EXIT.ok);
