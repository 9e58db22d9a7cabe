/** What a deploy reports for each host and bundle. */
import { performance } from "node:perf_hooks";
import { SshError } from "../remote/ssh.js";

export interface HostResult {
  readonly host: string;
  readonly ok: boolean;
  readonly changed: string[];
  readonly unchanged: number;
  readonly handlers: string[];
  /** Handlers held back for the rollout (`--hold`): the host's marker is not written while one is. @default none */
  readonly held?: string[];
  readonly steps: string[];
  readonly packages: string[];
  readonly restored: string[];
  readonly error?: string;
  readonly ms: number;
}

export interface BundleResult {
  /** `hosts/stc1`, `groups/compute`, `cluster`. */
  readonly bundle: string;
  readonly ok: boolean;
  readonly hosts: HostResult[];
  /** Hosts of a group never started because too many had failed (deploy.maxFailPercent). @default none */
  readonly skipped?: string[];
  /** Why hosts were skipped. */
  readonly stopped?: string;
}

/** Where a bundle is unpacked on a host while it is applied (private; always removed). */
export const STAGING = "/var/lib/hpcdk/staging";

/** A host's result from `t0` until now: nothing changed unless the fields say so. */
export function hostResult(host: string, t0: number, fields: Partial<Omit<HostResult, "host" | "ms">> & { ok: boolean }): HostResult {
  const { error, ...rest } = fields;
  return {
    host,
    changed: [],
    unchanged: 0,
    handlers: [],
    steps: [],
    packages: [],
    restored: [],
    ...rest,
    ...(error ? { error } : {}),
    ms: Math.round(performance.now() - t0),
  };
}

/** What failed on a host, without the host's name an SshError starts with (the caller names it). */
export function hostError(err: unknown, host: string): string {
  return err instanceof SshError ? err.message.replace(`${host}: `, "") : String((err as Error).message ?? err);
}
