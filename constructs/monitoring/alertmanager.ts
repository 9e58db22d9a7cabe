import { Construct } from "constructs";
import { GeneratedFile, SecretFile, type Bundle } from "../core/index.js";
import { hostPort, type ServerPlacement } from "./prometheus-server.js";
import { enableNow, tryRestart } from "./service-control.js";
import { seconds, yamlFile } from "./yaml.js";

export interface AlertReceiver {
  readonly name: string;
  readonly email?: { readonly to: readonly string[]; readonly sendResolved: boolean };
  readonly webhook?: {
    readonly url: string;
    readonly sendResolved: boolean;
    /** `Authorization: Bearer` with the secret `alertmanager-webhook-<name>-token`. */
    readonly bearerToken: boolean;
    /** Basic auth user; the password is the secret `alertmanager-webhook-<name>-password`. */
    readonly basicAuthUser?: string;
  };
}

export interface AlertmanagerProps {
  readonly hosts: readonly Bundle[];
  readonly placement: ServerPlacement;
  /** @default 9093 */
  readonly port?: number;
  readonly smtp?: {
    readonly smarthost: string;
    readonly from: string;
    readonly hello?: string;
    /** SMTP AUTH user; the password is the secret `alertmanager-smtp-password`. */
    readonly authUsername?: string;
    readonly requireTls: boolean;
  };
  readonly receivers: readonly AlertReceiver[];
  readonly route: {
    readonly receiver: string;
    readonly groupWaitSec: number;
    readonly groupIntervalSec: number;
    readonly repeatIntervalSec: number;
    readonly routes: readonly { readonly severity: string; readonly receiver: string; readonly continue: boolean }[];
  };
  /** @default 300 */
  readonly resolveTimeoutSec?: number;
}

const CONFIG = "/etc/prometheus/alertmanager.yml";
const SECRETS = "/etc/prometheus/secrets";
export const ALERTMANAGER_PIDFILE = "/run/hpcdk-monitoring/alertmanager.pid";

/**
 * Checks the configuration with amtool, then sends SIGHUP to the Alertmanager that runs here:
 * Pacemaker's copy (its PID file) or Debian's unit. A failed check fails the handler, and the
 * deploy puts the previous files back.
 */
export const RELOAD_ALERTMANAGER =
  `amtool check-config ${CONFIG} >/dev/null && ` +
  `if pid=$(cat ${ALERTMANAGER_PIDFILE} 2>/dev/null) && kill -0 "$pid" 2>/dev/null; then kill -HUP "$pid"; ` +
  "elif [ -d /run/systemd/system ]; then systemctl try-reload-or-restart prometheus-alertmanager.service; fi";

/**
 * Alertmanager (Debian's prometheus-alertmanager) with the site's receivers (e-mail through an
 * SMTP relay, webhooks) and route: alerts grouped by name and the host, node or resource they are
 * about; a NodeDown silences the alerts about that host's daemons, an offline node its
 * "not on the preferred node" alerts, a dead slurmctld pair the per-controller alerts. Passwords
 * and tokens are secrets in files Alertmanager reads (`*_file`), never in the rendered tree. Its
 * own cluster port is off: one Alertmanager runs (Pacemaker moves it). A changed configuration is
 * checked with amtool and reloaded (SIGHUP).
 * @see https://prometheus.io/docs/alerting/0.25/configuration/
 */
export class Alertmanager extends Construct {
  static readonly UNIT = "prometheus-alertmanager.service";
  readonly port: number;
  readonly args: readonly string[];
  readonly url: string;
  readonly dataDir: string;
  /** host:port Prometheus sends alerts to. */
  readonly target: string;

  constructor(scope: Construct, id: string, props: AlertmanagerProps) {
    super(scope, id);
    const where = `Alertmanager [${this.node.path}]`;
    this.port = props.port ?? 9093;
    const placement = props.placement;
    this.target = hostPort(placement.address, this.port);
    this.url = `http://${this.target}/`;
    this.dataDir = `${placement.dataDir}/alertmanager`;
    this.args = [
      `--config.file=${CONFIG}`,
      `--storage.path=${this.dataDir}`,
      `--web.listen-address=${this.target}`,
      `--web.external-url=${this.url}`,
      // One Alertmanager runs at a time: no gossip port, no peers to wait for.
      "--cluster.listen-address=",
    ];
    const bad = this.args.find((a) => /[\s"'\\`$;&|<>]/.test(a));
    if (bad) throw new Error(`${where}: an argument holds a space or a shell character, got "${bad}"`);
    const names = new Set(props.receivers.map((r) => r.name));
    for (const r of [props.route.receiver, ...props.route.routes.map((x) => x.receiver)]) {
      if (!names.has(r)) throw new Error(`${where}: the route names unknown receiver "${r}"`);
    }
    if (props.receivers.some((r) => r.email) && !props.smtp) throw new Error(`${where}: e-mail receivers need smtp`);

    const secretPath = (secret: string) => `${SECRETS}/${secret}`;
    const secrets: string[] = [];
    const smtp = props.smtp;
    if (smtp?.authUsername !== undefined) secrets.push("alertmanager-smtp-password");
    const receivers = [...props.receivers].sort((a, b) => (a.name < b.name ? -1 : 1)).map((r) => {
      const webhook = r.webhook;
      let httpConfig: object | undefined;
      if (webhook?.bearerToken) {
        const secret = `alertmanager-webhook-${r.name}-token`;
        secrets.push(secret);
        httpConfig = { authorization: { type: "Bearer", credentials_file: secretPath(secret) } };
      } else if (webhook?.basicAuthUser !== undefined) {
        const secret = `alertmanager-webhook-${r.name}-password`;
        secrets.push(secret);
        httpConfig = { basic_auth: { username: webhook.basicAuthUser, password_file: secretPath(secret) } };
      }
      return {
        name: r.name,
        ...(r.email ? { email_configs: [{ to: r.email.to.join(", "), send_resolved: r.email.sendResolved }] } : {}),
        ...(webhook ? { webhook_configs: [{ url: webhook.url, send_resolved: webhook.sendResolved, ...(httpConfig ? { http_config: httpConfig } : {}) }] } : {}),
      };
    });
    const config = {
      global: {
        resolve_timeout: seconds(props.resolveTimeoutSec ?? 300),
        ...(smtp
          ? {
              smtp_smarthost: smtp.smarthost,
              smtp_from: smtp.from,
              ...(smtp.hello !== undefined ? { smtp_hello: smtp.hello } : {}),
              ...(smtp.authUsername !== undefined ? { smtp_auth_username: smtp.authUsername, smtp_auth_password_file: secretPath("alertmanager-smtp-password") } : {}),
              smtp_require_tls: smtp.requireTls,
            }
          : {}),
      },
      route: {
        receiver: props.route.receiver,
        group_by: ["alertname", "instance", "node", "resource"],
        group_wait: seconds(props.route.groupWaitSec),
        group_interval: seconds(props.route.groupIntervalSec),
        repeat_interval: seconds(props.route.repeatIntervalSec),
        ...(props.route.routes.length > 0
          ? { routes: props.route.routes.map((r) => ({ matchers: [`severity="${r.severity}"`], receiver: r.receiver, continue: r.continue })) }
          : {}),
      },
      inhibit_rules: [
        // A host that is down takes its daemons and exporters with it: one alert, not ten.
        { source_matchers: ['alertname="NodeDown"'], target_matchers: ['scope="host-service"'], equal: ["instance"] },
        // A group cannot run on its preferred node while that node is out of the cluster.
        { source_matchers: ['alertname="ClusterNodeOffline"'], target_matchers: ['alertname="ResourceGroupNotPreferred"'], equal: ["node"] },
        // With no slurmctld answering, the per-controller alerts add nothing.
        { source_matchers: ['alertname="SlurmctldDown"'], target_matchers: ['alertname="SlurmctldControllerDown"'] },
      ],
      receivers,
    };

    let configBody: string | undefined;
    for (const host of props.hosts) {
      host.addPackage({ debian: "prometheus-alertmanager" });
      new GeneratedFile(this, `config-${host.name}`, {
        bundle: host,
        path: CONFIG,
        content: (header) => header + (configBody ??= yamlFile("", config)),
        owner: "root",
        group: "prometheus",
        mode: 0o640,
        handlers: [RELOAD_ALERTMANAGER],
        impact: { kind: "reload", detail: "amtool check-config, then Alertmanager rereads it (SIGHUP): alerts and silences are kept" },
      });
      for (const secret of secrets) {
        new SecretFile(this, `${secret}-${host.name}`, {
          bundle: host,
          path: secretPath(secret),
          secret,
          // The site's own password or token goes into secrets/<site>/ in place of this generated one.
          generate: { password: 32 },
          owner: "prometheus",
          group: "prometheus",
          mode: 0o400,
          handlers: [RELOAD_ALERTMANAGER],
          impact: { kind: "reload", detail: "Alertmanager rereads its configuration (SIGHUP) and sends with the new credentials" },
        });
      }
      if (placement.kind === "host") {
        new GeneratedFile(this, `defaults-${host.name}`, {
          bundle: host,
          path: "/etc/default/prometheus-alertmanager",
          template: "monitoring/server.default",
          context: { daemon: "Alertmanager", unit: "/lib/systemd/system/prometheus-alertmanager.service", args: this.args.join(" ") },
          handlers: [tryRestart(Alertmanager.UNIT)],
          impact: { kind: "restart", detail: "Alertmanager restarts with the new arguments: pending notifications are sent again" },
        });
        host.addStep({
          id: "alertmanager-data-dir",
          phase: "after-files",
          description: `make Alertmanager's data directory ${this.dataDir}`,
          run: `install -d -o prometheus -g prometheus -m 0750 ${this.dataDir}`,
          impact: { kind: "none", detail: "a directory's owner and mode" },
        });
        host.addStep({
          id: "alertmanager-enable",
          phase: "after-files",
          description: "start Alertmanager",
          run: enableNow(Alertmanager.UNIT),
          impact: { kind: "none", detail: "starts Alertmanager where it does not run" },
        });
      }
    }
  }
}
