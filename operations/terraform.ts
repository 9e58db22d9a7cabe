/**
 * Running Terraform on a synthesized stack: init (offline for terraform_data, from a provider
 * mirror for air-gapped sites) and apply, with hpcdk's own progress lines passed through.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { HpcdkError } from "../common/errors.js";

/** Where `terraform providers mirror` puts the null provider, for the messages and the check. */
export const NULL_PROVIDER = "registry.terraform.io/hashicorp/null";

/** Terraform could not run, or init failed: the message says what it printed. */
export class TerraformError extends HpcdkError {
  override get topic(): string {
    return "terraform";
  }
}

export function terraformPlatform(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch === "arm64" ? "arm64" : process.arch;
  return `${process.platform}_${arch}`;
}

/**
 * Checks that a provider mirror holds the null provider for this platform, in either layout
 * `terraform providers mirror` writes (packed zips, or unpacked version directories).
 * Returns the problem, or undefined when the mirror is usable.
 */
export function checkProviderMirror(mirror: string): string | undefined {
  const dir = join(resolve(mirror), NULL_PROVIDER);
  const platform = terraformPlatform();
  const fill =
    `fill it on a connected machine: in a synthesized stack directory run \`terraform providers mirror -platform=${platform} ${mirror}\`, ` +
    "then copy that directory here";
  if (!existsSync(dir)) return `the provider mirror has no hashicorp/null: looked in ${dir}; ${fill}`;
  const entries = readdirSync(dir);
  const packed = entries.some((e) => e.endsWith(`_${platform}.zip`));
  const unpacked = entries.some((v) => existsSync(join(dir, v, platform)));
  if (!packed && !unpacked) return `the provider mirror has hashicorp/null but not for ${platform}: looked in ${dir}; ${fill}`;
  return undefined;
}

/** A Terraform CLI configuration that installs the null provider from the mirror only. */
export function mirrorCliConfig(mirror: string): string {
  return [
    "provider_installation {",
    "  filesystem_mirror {",
    `    path    = ${JSON.stringify(resolve(mirror))}`,
    `    include = [${JSON.stringify(NULL_PROVIDER)}]`,
    "  }",
    "  direct {",
    `    exclude = [${JSON.stringify(NULL_PROVIDER)}]`,
    "  }",
    "}",
    "",
  ].join("\n");
}

function terraformEnv(stackDir: string, mirror: string | undefined, extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CHECKPOINT_DISABLE: "1", TF_IN_AUTOMATION: "1", ...extra };
  if (mirror) {
    const dir = join(stackDir, ".hpcdk");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "terraform.rc"), mirrorCliConfig(mirror));
    env.TF_CLI_CONFIG_FILE = join(resolve(dir), "terraform.rc");
  }
  return env;
}

/** `terraform init`; with a mirror, checks it first and installs the null provider from it only. */
export function terraformInit(stackDir: string, options: { mirror?: string; checkMirror?: boolean } = {}): void {
  if (options.mirror && options.checkMirror !== false) {
    const problem = checkProviderMirror(options.mirror);
    if (problem) throw new TerraformError(problem);
  }
  const r = spawnSync("terraform", ["init", "-input=false", "-no-color"], {
    cwd: stackDir,
    env: terraformEnv(stackDir, options.mirror, {}),
    encoding: "utf8",
  });
  if (r.error) throw new TerraformError(`cannot run terraform: ${r.error.message} (install Terraform >= 1.5)`);
  if (r.status !== 0) throw new TerraformError(`terraform init failed in ${stackDir}:\n${(r.stderr || r.stdout).trim()}`);
}

export interface ApplyRun {
  readonly ok: boolean;
  /** Terraform's "Apply complete! Resources: …" line, or its error. */
  readonly summary: string;
  readonly output: string;
}

/** Resource addresses in the stack's state (empty before the first apply). */
export function terraformStateList(stackDir: string): string[] {
  const r = spawnSync("terraform", ["state", "list", "-no-color"], { cwd: stackDir, env: terraformEnv(stackDir, undefined, {}), encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n").filter(Boolean) : [];
}

/** `terraform apply -auto-approve`; `replace` forces resources to be replaced; `targets` limits it to those resources; `onLine` gets every output line. */
export function terraformApply(
  stackDir: string,
  options: { mirror?: string; env?: Record<string, string>; replace?: readonly string[]; targets?: readonly string[]; onLine?: (line: string) => void } = {},
): Promise<ApplyRun> {
  return new Promise((resolvePromise, reject) => {
    const args = [
      "apply",
      "-input=false",
      "-auto-approve",
      "-no-color",
      ...(options.replace ?? []).map((a) => `-replace=${a}`),
      ...(options.targets ?? []).map((a) => `-target=${a}`),
    ];
    const child = spawn("terraform", args, {
      cwd: stackDir,
      env: terraformEnv(stackDir, options.mirror, options.env ?? {}),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let partial = "";
    const take = (chunk: Buffer) => {
      const text = partial + chunk.toString("utf8");
      output += chunk.toString("utf8");
      const lines = text.split("\n");
      partial = lines.pop()!;
      for (const l of lines) options.onLine?.(l);
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => reject(new TerraformError(`cannot run terraform: ${err.message}`)));
    child.on("close", (code) => {
      if (partial) options.onLine?.(partial);
      const summary =
        /Apply complete!.*$/m.exec(output)?.[0] ?? /^Error: .*$/m.exec(output)?.[0] ?? `terraform apply exited ${code}`;
      resolvePromise({ ok: code === 0, summary, output });
    });
  });
}
