/**
 * Reading the inventory (common/contracts/inventory.ts): a stack directory's `deploy.json`,
 * written at synth, with an inventory file over it (`--inventory FILE` or `HPCDK_INVENTORY`).
 * An inventory file is checked against the site schema's SSH settings (schema/deploy.ts): a typo
 * or a wrong type is refused with the file and the field, before anything is sent.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { INVENTORY_FILE } from "../../common/contracts/bundle.js";
import { applyOverride, type Inventory, type InventoryOverride } from "../../common/contracts/inventory.js";
import { HpcdkError } from "../../common/errors.js";
import { SshEndpointSchema, SshSchema } from "../../schema/deploy.js";

/** Problems found before anything was sent: nothing happened on any host. */
export class PreflightError extends HpcdkError {
  override get heading(): string {
    return "cannot deploy; nothing was sent to any host";
  }
}

/** A field of the site's schema, without its default: an inventory file sets only what it names. */
function withoutDefault(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodDefault ? (schema.unwrap() as z.ZodType) : schema;
}

/** Every field of an object schema optional and without its default. */
function overrides(shape: Record<string, z.ZodType>): Record<string, z.ZodType> {
  return Object.fromEntries(Object.entries(shape).map(([k, v]) => [k, withoutDefault(v).optional()]));
}

const { bastion: bastionField, ...sshFields } = SshSchema.shape;
const BastionSchema = (bastionField as unknown as z.ZodOptional<z.ZodObject>).unwrap();

/** An inventory file: `{ ssh: {...}, hosts: { name: {...} } }`, every field as the site schema has it. */
const InventoryFileSchema = z.strictObject({
  ssh: z.strictObject({ ...overrides(sshFields), bastion: z.strictObject(overrides(BastionSchema.shape as Record<string, z.ZodType>)).optional() }).optional(),
  hosts: z.record(z.string(), SshEndpointSchema).optional(),
});

/**
 * Reads an inventory file (YAML or JSON): `{ ssh: {...}, hosts: { name: {...} } }`. Relative key
 * and known_hosts paths in it are taken from the file's directory, as kubeconfig does: Terraform
 * runs `hpcdk apply-bundle` in the stack directory, not where the file was written.
 */
export function readOverride(file: string): InventoryOverride {
  const text = readFileSync(file, "utf8");
  let data: unknown;
  try {
    data = parseYaml(text, { maxAliasCount: 100 });
  } catch (err) {
    throw new PreflightError([`${file}: ${(err as Error).message.split("\n")[0]}`]);
  }
  const parsed = InventoryFileSchema.safeParse(data ?? {});
  if (!parsed.success) {
    throw new PreflightError(parsed.error.issues.map((i) => `${file}: ${i.path.length > 0 ? i.path.join(".") : "(top level)"}: ${i.message}`));
  }
  const override = parsed.data as InventoryOverride;
  const ssh = override.ssh;
  if (!ssh) return override;
  const fromFile = (p: string) => (isAbsolute(p) || p === "~" || p.startsWith("~/") ? p : resolve(dirname(file), p));
  const bastion = ssh.bastion;
  return {
    ...override,
    ssh: {
      ...ssh,
      ...(ssh.privateKey !== undefined ? { privateKey: fromFile(ssh.privateKey) } : {}),
      ...(ssh.knownHosts !== undefined ? { knownHosts: fromFile(ssh.knownHosts) } : {}),
      ...(bastion?.privateKey !== undefined ? { bastion: { ...bastion, privateKey: fromFile(bastion.privateKey) } } : {}),
    },
  };
}

/** The stack's inventory with the override (or the file HPCDK_INVENTORY names) over it. */
export function readInventory(stackDir: string, override?: InventoryOverride): Inventory {
  const file = join(stackDir, INVENTORY_FILE);
  if (!existsSync(file)) throw new PreflightError([`${file} does not exist: run hpcdk synth first`]);
  let base: Inventory;
  try {
    base = JSON.parse(readFileSync(file, "utf8")) as Inventory;
  } catch (err) {
    throw new PreflightError([`${file}: not the inventory hpcdk synth writes (${(err as Error).message}): run hpcdk synth again`]);
  }
  const inventory = applyOverride(base, override ?? inventoryFromEnv(stackDir));
  if (inventory.ssh.bastion !== undefined && !inventory.ssh.bastion.address) {
    throw new PreflightError(["ssh.bastion: the inventory file names a bastion without its address"]);
  }
  return inventory;
}

/**
 * The override HPCDK_INVENTORY names, if set. Under `cdktf deploy`, Terraform runs
 * `hpcdk apply-bundle` in the stack directory (`<project>/cdktf.out/stacks/<site>`): a relative
 * name is taken from the project directory, where cdktf runs and the state and secrets are.
 */
function inventoryFromEnv(stackDir: string): InventoryOverride | undefined {
  const name = process.env.HPCDK_INVENTORY;
  if (!name) return undefined;
  const file = resolve(stackDir, "../../..", name);
  if (!existsSync(file)) throw new PreflightError([`HPCDK_INVENTORY=${name}: ${file} does not exist`]);
  return readOverride(file);
}
