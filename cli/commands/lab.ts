import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadSiteFile, type LoadedSite } from "../../schema/load.js";
import { buildApp } from "../../stacks/synth.js";
import { NO_SECRETS } from "../../stacks/secrets.js";
import type { Inventory } from "../../common/contracts/inventory.js";
import { labDown, labInventory, labUp, nodeInitPid, readLabState } from "../../operations/lab/lab.js";
import { fleetDown, fleetHostPid, fleetMemory, fleetUp, readFleetState } from "../../operations/lab/fleet.js";
import { compressHostlist } from "../../common/hostlist.js";
import { hostText } from "../../operations/remote/answer.js";
import { connect } from "../../operations/remote/connect.js";
import type { SshSession } from "../../operations/remote/ssh.js";
import { managedHeader, renderTemplate, Written } from "../../constructs/core/index.js";
import { vagrantfileContext, VAGRANTFILE_TEMPLATE } from "../../operations/lab/vagrantfile.js";
import { siteFileOf } from "./simulate.js";
import { HpcdkError } from "../../common/errors.js";

/** The Debian packages the site's bundles install on its management nodes (the lab's hosts). */
function nodePackages(loaded: LoadedSite): string[] {
  const scratch = mkdtempSync(join(tmpdir(), "hpcdk-lab-"));
  try {
    const { stacks } = buildApp([loaded], join(scratch, "cdktf.out"), () => NO_SECRETS);
    const managed = new Set(loaded.spec.nodes.map((n) => n.name));
    return stacks[0]!.bundles
      .filter((b) => b.hosts.some((h) => managed.has(h)))
      .flatMap((b) => b.render().manifest.packages.map((p) => p.debian));
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** `hpcdk lab up <site>`: the namespace lab; prints the inventory `hpcdk deploy` takes. */
export async function labUpCommand(site: string, opts: { bootSec?: string } = {}): Promise<number> {
  // Digits only (Number("") is 0, Number("1e2") is 100); labUp checks the range.
  if (!/^\d+$/.test(opts.bootSec ?? "0")) throw new HpcdkError(`--boot-sec: must be a whole number of seconds, got ${JSON.stringify(opts.bootSec)}`);
  const bootSec = Number(opts.bootSec ?? "0");
  const loaded = loadSiteFile(siteFileOf(site));
  const state = await labUp(loaded.name, loaded.spec, (line) => process.stdout.write(`${line}\n`), nodePackages(loaded), { bootSec });
  process.stdout.write(
    `lab ${loaded.name} is up: ${state.nodes.length} nodes, this machine is ${state.rootVeth.address} on the lab network\n` +
      `inventory: ${state.inventoryFile}\n` +
      `deploy to it: hpcdk deploy ${loaded.name} --inventory ${state.inventoryFile}\n` +
      `ssh to a node: ssh -i ${state.dir}/id_ed25519 -o UserKnownHostsFile=${state.dir}/known_hosts root@${state.nodes[0]!.sshAddress}\n`,
  );
  return 0;
}

/** `hpcdk lab up <site> --group <group>`: the fleet lab; prints the inventory `hpcdk deploy` takes. */
export async function fleetUpCommand(site: string, opts: { group: string; count?: string; network?: string }): Promise<number> {
  const loaded = loadSiteFile(siteFileOf(site));
  const count = opts.count === undefined ? undefined : Number(opts.count);
  const state = await fleetUp(loaded.name, loaded.spec, { group: opts.group, ...(count !== undefined ? { count } : {}), ...(opts.network ? { network: opts.network } : {}) }, (line) =>
    process.stdout.write(`${line}\n`),
  );
  const memory = fleetMemory(state);
  process.stdout.write(
    `fleet lab ${loaded.name} is up: ${state.hosts.length} hosts of node group ${state.group} (${state.hosts[0]!.address} and on), ` +
      `${(memory.perHostKiB / 1024).toFixed(1)} MiB PSS per host\n` +
      `inventory: ${state.inventoryFile}\n` +
      `deploy the group to it: hpcdk deploy ${site} --inventory ${state.inventoryFile} --bundle groups/${state.group}\n`,
  );
  return 0;
}

export async function labDownCommand(site: string): Promise<number> {
  const name = site.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  if (readFleetState(name)) await fleetDown(name);
  else await labDown(name);
  process.stdout.write(`lab ${name} is down: every process stopped, every namespace and link removed\n`);
  return 0;
}

export async function labStatusCommand(site: string): Promise<number> {
  const name = site.replace(/^.*\//, "").replace(/\.ya?ml$/, "");
  const fleet = readFleetState(name);
  if (fleet) {
    const off = fleet.hosts.filter((h) => fleetHostPid(h) === undefined).map((h) => h.name);
    const memory = fleetMemory(fleet);
    process.stdout.write(
      `fleet lab ${name}: ${fleet.hosts.length - off.length} of ${fleet.hosts.length} hosts of node group ${fleet.group} on, ` +
        `${(memory.perHostKiB / 1024).toFixed(1)} MiB PSS per host${off.length ? `; off: ${compressHostlist(off)}` : ""}\n`,
    );
    return 0;
  }
  const state = readLabState(name);
  if (!state) {
    process.stdout.write(`no lab for ${name}\n`);
    return 3;
  }
  const inventory = labInventory(state);
  for (const node of state.nodes) {
    const pid = nodeInitPid(node);
    const cluster = pid ? await clusterSummary(inventory, node.name) : "";
    process.stdout.write(`${node.name}: ${pid ? `on (init pid ${pid})` : "off"} ${node.sshAddress}${cluster ? `: ${cluster}` : ""}\n`);
  }
  return 0;
}

/** What the node's cluster says in one line (`crm_mon -1 -s`), over the SSH layer; its error when it cannot say. */
async function clusterSummary(inventory: Inventory, node: string): Promise<string> {
  let session: SshSession | undefined;
  try {
    session = await connect(inventory, node);
    const r = await session.exec("crm_mon -1 -s 2>/dev/null || echo 'cluster not running'", { timeoutMs: 10_000, maxOutputBytes: 64 * 1024 });
    // Its lines as crm_mon prints them, each shown safely.
    return r.stdout
      .trim()
      .split("\n")
      .slice(0, 10)
      .map((line) => hostText(line, 200))
      .join("\n");
  } catch (err) {
    return (err as Error).message;
  } finally {
    session?.close();
  }
}

/** The Vagrantfile for a site: the lab's plan (operations/lab/vagrantfile.ts) rendered by the core's template renderer. */
export function renderVagrantfile(site: string, source: string, spec: LoadedSite["spec"]): string {
  const context = vagrantfileContext(site, source, spec);
  // The managed header of a generated file (the site file's path through the comment writer), saying how to make this one again.
  const header = managedHeader("hash", `${context.source} (hpcdk lab vagrantfile)`).replace(/the next deploy replaces this file\.$/m, "run hpcdk lab vagrantfile again after changing the site.");
  return renderTemplate(VAGRANTFILE_TEMPLATE, { ...context, header, zpoolStandInScript: new Written("sh", context.zpoolStandInScript) });
}

/**
 * `hpcdk lab vagrantfile <site> [--out FILE]`: the site's Vagrantfile (libvirt), on stdout or
 * into FILE. Nothing is written when the site is invalid or the lab cannot express it.
 */
export function labVagrantfileCommand(site: string, opts: { out?: string }): number {
  const loaded = loadSiteFile(siteFileOf(site));
  const text = renderVagrantfile(loaded.name, loaded.file, loaded.spec);
  if (!opts.out) {
    process.stdout.write(text);
    return 0;
  }
  mkdirSync(dirname(opts.out), { recursive: true });
  writeFileSync(opts.out, text);
  process.stderr.write(
    `hpcdk: wrote ${opts.out}: ${loaded.spec.nodes.length} VMs (${loaded.spec.nodes.map((n) => n.name).join(", ")})\n` +
      `  cd ${dirname(opts.out)} && vagrant up && vagrant ssh-config   # then hpcdk deploy ${loaded.name} --inventory FILE (README: "A lab of VMs")\n`,
  );
  return 0;
}
