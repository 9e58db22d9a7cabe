import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";

export interface SlurmRestdProps {
  readonly host: Bundle;
  /** The unprivileged user slurmrestd runs as; never root or SlurmUser. @default "slurmrestd" */
  readonly user?: string;
  /** SlurmUser, which slurmrestd must not run as. @default "slurm" */
  readonly slurmUser?: string;
  /** OpenAPI plugins (`-s`), e.g. `openapi/v0.0.38`. */
  readonly openapiPlugins: readonly string[];
  /** REST authentication plugins (`-a`). @default ["rest_auth/jwt"] */
  readonly authTypes?: readonly string[];
  /** The group of the proxy's worker processes, which may connect to the socket. @default "www-data" */
  readonly proxyGroupMember?: string;
}

/**
 * slurmrestd on a management node: its own system user, a hardened systemd unit with
 * `SLURM_JWT=daemon` (each request carries its user's token), listening on a unix socket under
 * `/run/slurmrestd/` for the proxy.
 * @see https://slurm.schedmd.com/rest.html
 * @see https://slurm.schedmd.com/slurmrestd.html
 */
export class SlurmRestd extends Construct {
  readonly user: string;
  /** The unix socket nginx proxies to. */
  readonly socket: string;
  readonly openapiPlugins: readonly string[];

  constructor(scope: Construct, id: string, props: SlurmRestdProps) {
    super(scope, id);
    const where = `SlurmRestd [${this.node.path}]`;
    this.user = props.user ?? "slurmrestd";
    const slurmUser = props.slurmUser ?? "slurm";
    if (this.user === "root" || this.user === slurmUser) {
      throw new Error(`${where}: slurmrestd must not run as root or SlurmUser, got "${this.user}"`);
    }
    const plugins = [...props.openapiPlugins];
    const bad = plugins.find((p) => !/^openapi\/(db)?v\d+\.\d+\.\d+$/.test(p));
    if (plugins.length === 0 || bad) throw new Error(`${where}: openapi plugins must be like openapi/v0.0.38, got "${bad ?? ""}"`);
    const authTypes = props.authTypes ?? ["rest_auth/jwt"];
    const badAuth = authTypes.find((a) => !/^rest_auth\/(jwt|local)$/.test(a));
    if (badAuth) throw new Error(`${where}: REST authentication plugins are rest_auth/jwt and rest_auth/local, got "${badAuth}"`);
    this.openapiPlugins = plugins;
    const runtimeDirectory = "slurmrestd";
    this.socket = `/run/${runtimeDirectory}/slurmrestd.socket`;
    const proxy = props.proxyGroupMember ?? "www-data";
    const host = props.host;
    host.addPackage({ debian: "slurmrestd", rhel: "slurm-slurmrestd" });
    host.addStep({
      id: "slurmrestd-user",
      phase: "before-files",
      description: `create the system user ${this.user} for slurmrestd and let ${proxy} reach its socket`,
      run: [
        shell`getent passwd ${this.user} >/dev/null || adduser --system --group --no-create-home --home /nonexistent ${this.user}`,
        shell`if getent passwd ${proxy} >/dev/null; then usermod -a -G ${this.user} ${proxy}; fi`,
      ].join("\n"),
    });
    new GeneratedFile(this, "unit", {
      bundle: host,
      path: "/etc/systemd/system/slurmrestd.service",
      template: "slurm/slurmrestd.service",
      context: { user: this.user, runtimeDirectory, authTypes: authTypes.join(","), plugins: plugins.join(","), listen: `unix:${this.socket}` },
      handlers: ["systemctl daemon-reload", "systemctl restart slurmrestd"],
      impact: { kind: "restart", detail: "restart slurmrestd: requests in flight fail, clients retry" },
    });
    host.addStep({
      id: "slurmrestd-enable",
      phase: "after-files",
      description: "start slurmrestd",
      run: "systemctl daemon-reload && systemctl enable --now slurmrestd",
    });
  }
}
