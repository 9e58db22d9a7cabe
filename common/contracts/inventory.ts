/**
 * The inventory: everything an operation needs to reach a site's hosts, written at synth into
 * each stack directory as `deploy.json` (from the site's `deploy` section) and overridden at
 * deploy time by an inventory file (a lab's addresses and key: `--inventory FILE`,
 * `HPCDK_INVENTORY`). Nothing in it is secret: keys are paths, host keys are checked against a
 * known_hosts file. Synthesis writes it (`stacks/inventory.ts`); deploy, diff --live, drill and
 * the Ansible inventory read it (`operations/remote`). The ground floor: it imports nothing of
 * hpcdk.
 */

/** A machine every SSH connection goes through first (`ssh -J`). */
export interface BastionSettings {
  /** Address or DNS name. */
  readonly address: string;
  /** @default 22 */
  readonly port: number;
  /** @default "root" */
  readonly user: string;
  /** Private key file (`~` is the deploying user's home). @default the key of the hosts, or the agent */
  readonly privateKey?: string;
}

/** How every host of the site is reached over SSH, unless a host says otherwise. */
export interface SshSettings {
  /** Login user; must be root or have passwordless sudo. */
  readonly user: string;
  readonly port: number;
  /** Private key file (`~` is the deploying user's home). @default the SSH agent ($SSH_AUTH_SOCK) */
  readonly privateKey?: string;
  /** Host keys are always checked against this file (`~` is the deploying user's home). */
  readonly knownHosts: string;
  readonly connectTimeoutSec: number;
  /** @default none */
  readonly bastion?: BastionSettings;
}

/** How one host is reached where it differs from the site's settings. */
export interface HostSettings {
  /** Address or DNS name to connect to. @default the host name */
  readonly address?: string;
  readonly port?: number;
  readonly user?: string;
}

export interface Inventory {
  readonly site: string;
  /** The site file, as named in generated headers. */
  readonly source: string;
  /** The secrets folder, relative to the stack directory. */
  readonly secretsDir: string;
  readonly ssh: SshSettings;
  /** By host name (management nodes and hosts of node groups). */
  readonly hosts: Readonly<Record<string, HostSettings>>;
  /** Hosts of a node group deployed at once. */
  readonly groupConcurrency: number;
  /** Stop starting hosts of a group once more than this percentage of them failed; 100 never stops. @default 100 */
  readonly maxFailPercent?: number;
  /** How long the CIB step waits for a quorate cluster with a DC, in seconds. */
  readonly clusterWaitSec: number;
  /** Management nodes in corosync node id order: the CIB step uses the first reachable one. */
  readonly managementNodes: readonly string[];
}

/** An inventory file: overrides of the site's settings, field by field. */
export interface InventoryOverride {
  readonly ssh?: Partial<Omit<SshSettings, "bastion">> & { readonly bastion?: Partial<BastionSettings> };
  readonly hosts?: Readonly<Record<string, HostSettings>>;
}

/** Where and as whom to connect for one host. */
export interface SshTarget {
  /** The host's name in the site. */
  readonly host: string;
  readonly address: string;
  readonly port: number;
  readonly user: string;
}

/**
 * The site's inventory with an inventory file's settings over it: each SSH setting, each field of
 * the bastion and each field of a host replaced where the file sets it. A bastion the file sets
 * and the site has not takes SSH's own port and user `root`, as the site schema does.
 */
export function applyOverride(base: Inventory, override: InventoryOverride | undefined): Inventory {
  if (!override) return base;
  const hosts: Record<string, HostSettings> = { ...base.hosts };
  for (const [name, h] of Object.entries(override.hosts ?? {})) hosts[name] = { ...hosts[name], ...h };
  const { bastion, ...ssh } = override.ssh ?? {};
  const merged = bastion === undefined ? base.ssh.bastion : ({ port: 22, user: "root", ...base.ssh.bastion, ...bastion } as BastionSettings);
  return { ...base, ssh: { ...base.ssh, ...ssh, ...(merged ? { bastion: merged } : {}) }, hosts };
}

/** Where to connect for a host: its own settings, or its name, with the site's defaults. */
export function targetOf(inventory: Inventory, host: string): SshTarget {
  const h = Object.hasOwn(inventory.hosts, host) ? inventory.hosts[host]! : {};
  return { host, address: h.address ?? host, port: h.port ?? inventory.ssh.port, user: h.user ?? inventory.ssh.user };
}
