import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { ansibleInventory } from "../../operations/ansible.js";

/** `hpcdk ansible-inventory`: the Ansible inventory of one bundle's hosts, for ansible/apply-bundle.yml. */
export function ansibleInventoryCommand(opts: { stackDir: string; bundle: string; secrets?: string; out?: string }): number {
  const inventory = ansibleInventory({ stackDir: opts.stackDir, bundle: opts.bundle, secretsDir: opts.secrets });
  if (opts.out) {
    mkdirSync(dirname(opts.out), { recursive: true });
    writeFileSync(opts.out, inventory.text);
    process.stderr.write(`hpcdk: wrote ${opts.out}: ${inventory.hosts.length} hosts in group ${inventory.group}\n`);
  } else {
    process.stdout.write(inventory.text);
  }
  return 0;
}
