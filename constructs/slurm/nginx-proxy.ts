import { Construct } from "constructs";
import { GeneratedFile, SecretFile, type Bundle } from "../core/index.js";

export interface NginxProxyProps {
  readonly host: Bundle;
  /** slurmrestd's unix socket. */
  readonly socket: string;
  /** server_name, and the CN of a self-signed certificate. */
  readonly serverName: string;
  /** @default 443 */
  readonly port?: number;
  /** Certificate and key already on the host. @default a self-signed pair generated as a secret */
  readonly tls?: { readonly certificate: string; readonly key: string };
  /** client_max_body_size. @default "1m" */
  readonly clientMaxBodySize?: string;
  /** @default { requestsPerSecond: 10, burst: 20 } */
  readonly rateLimit?: { readonly requestsPerSecond: number; readonly burst: number };
  /** Networks allowed; everyone else gets 403. @default everyone */
  readonly allow?: readonly string[];
  /** Path prefixes routed to slurmrestd. @default ["/slurm/", "/slurmdb/", "/openapi/"] */
  readonly locations?: readonly string[];
}

/**
 * nginx as the TLS front of slurmrestd: upstream the unix socket, the user and token headers
 * passed through, request size and rate limits, only the API's paths routed.
 * @see https://nginx.org/en/docs/http/ngx_http_proxy_module.html
 */
export class NginxProxy extends Construct {
  static readonly CONF_PATH = "/etc/nginx/conf.d/slurmrestd.conf";
  static readonly SELF_SIGNED = { certificate: "/etc/nginx/tls/slurmrestd.crt", key: "/etc/nginx/tls/slurmrestd.key" } as const;
  readonly certificate: string;
  readonly key: string;
  readonly port: number;

  constructor(scope: Construct, id: string, props: NginxProxyProps) {
    super(scope, id);
    const host = props.host;
    this.port = props.port ?? 443;
    const tls = props.tls ?? NginxProxy.SELF_SIGNED;
    this.certificate = tls.certificate;
    this.key = tls.key;
    host.addPackage({ debian: "nginx", rhel: "nginx" });
    if (!props.tls) {
      const days = 825;
      for (const part of ["cert", "key"] as const) {
        new SecretFile(this, `tls-${part}`, {
          bundle: host,
          path: part === "cert" ? this.certificate : this.key,
          secret: `slurmrestd-tls-${part}`,
          generate: { selfSignedTls: { commonName: props.serverName, days, part } },
          mode: 0o400,
          handlers: ["systemctl reload nginx"],
          impact: { kind: "reload", detail: "nginx reloads; clients that pinned the old certificate must trust the new one" },
        });
      }
    }
    new GeneratedFile(this, "conf", {
      bundle: host,
      path: NginxProxy.CONF_PATH,
      template: "slurm/nginx-slurmrestd.conf",
      context: {
        upstream: `unix:${props.socket}`,
        port: this.port,
        serverName: props.serverName,
        certificate: this.certificate,
        key: this.key,
        clientMaxBodySize: props.clientMaxBodySize ?? "1m",
        rateLimit: props.rateLimit ?? { requestsPerSecond: 10, burst: 20 },
        allow: [...(props.allow ?? [])],
        locations: [...(props.locations ?? ["/slurm/", "/slurmdb/", "/openapi/"])],
      },
      handlers: ["nginx -t", "systemctl reload nginx"],
      impact: { kind: "reload", detail: "nginx -t, then systemctl reload nginx: no connection is dropped" },
    });
    host.addStep({
      id: "nginx-enable",
      phase: "after-files",
      description: "check the nginx configuration and start nginx",
      run: "nginx -t && systemctl enable nginx && systemctl reload-or-restart nginx",
    });
  }
}
