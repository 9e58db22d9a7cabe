/**
 * The one way an operation opens a connection to a host of the site: `connect(inventory, host)`.
 * Every SSH setting the site schema documents (`deploy.ssh`, `deploy.hosts`, schema/deploy.ts)
 * and an inventory file can override is taken here, in one place:
 *
 * - the host's address, port and user (`deploy.hosts.<host>`), else its name, the site's port
 *   and user;
 * - the private key (`deploy.ssh.privateKey`, `~` expanded), else the SSH agent;
 * - the known_hosts file every host key is checked against (always);
 * - the connection timeout (`deploy.ssh.connectTimeoutSec`);
 * - the bastion every connection goes through (`deploy.ssh.bastion`), with its own port and
 *   user, and its own key or, when it names none, the key of the hosts (or the agent).
 */
import { existsSync } from "node:fs";
import { targetOf, type Inventory } from "../../common/contracts/inventory.js";
import { expandHome, SshSession, type SshOptions } from "./ssh.js";

/** How to reach one host of the inventory: address, user, key, known_hosts, timeout, bastion. */
export function sshOptionsOf(inventory: Inventory, host: string): SshOptions {
  const target = targetOf(inventory, host);
  const ssh = inventory.ssh;
  return {
    host,
    address: target.address,
    port: target.port,
    user: target.user,
    ...(ssh.privateKey !== undefined ? { privateKey: ssh.privateKey } : {}),
    knownHosts: ssh.knownHosts,
    connectTimeoutMs: ssh.connectTimeoutSec * 1000,
    ...(ssh.bastion
      ? {
          bastion: {
            address: ssh.bastion.address,
            port: ssh.bastion.port,
            user: ssh.bastion.user,
            // The schema's promise: a bastion without a key of its own uses the key of the hosts.
            ...((ssh.bastion.privateKey ?? ssh.privateKey) !== undefined ? { privateKey: ssh.bastion.privateKey ?? ssh.privateKey } : {}),
          },
        }
      : {}),
  };
}

export interface ConnectOptions {
  /** A shorter bound than the site's, for a quick question (which node is quorate?). @default deploy.ssh.connectTimeoutSec */
  readonly connectTimeoutMs?: number;
}

/** Connects to a host of the inventory (through its bastion, if any) and checks its host key. */
export function connect(inventory: Inventory, host: string, options: ConnectOptions = {}): Promise<SshSession> {
  const ssh = sshOptionsOf(inventory, host);
  return SshSession.connect(options.connectTimeoutMs === undefined ? ssh : { ...ssh, connectTimeoutMs: options.connectTimeoutMs });
}

/**
 * What keeps every connection from being tried: a key or known_hosts file that does not exist,
 * no key and no agent. Empty when the settings can be used. Checked before anything is sent.
 */
export function sshSettingProblems(inventory: Inventory): string[] {
  const problems: string[] = [];
  const ssh = inventory.ssh;
  if (ssh.privateKey && !existsSync(expandHome(ssh.privateKey))) problems.push(`private key ${ssh.privateKey} does not exist`);
  if (ssh.bastion?.privateKey && !existsSync(expandHome(ssh.bastion.privateKey))) problems.push(`bastion private key ${ssh.bastion.privateKey} does not exist`);
  if (!ssh.privateKey && !process.env.SSH_AUTH_SOCK) problems.push("no private key (deploy.ssh.privateKey) and no SSH agent ($SSH_AUTH_SOCK)");
  if (!existsSync(expandHome(ssh.knownHosts))) problems.push(`known_hosts file ${ssh.knownHosts} does not exist: host keys are always checked`);
  return problems;
}
