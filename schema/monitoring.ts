/**
 * The `monitoring` section of a site file: Prometheus and Alertmanager (Debian's packages) on the
 * management nodes, run by Pacemaker where a site pool is imported (or by systemd on one named
 * host), exporters on every host, alert rules, Alertmanager's receivers, remote write into the
 * site's time-series database, and Grafana dashboards for a Grafana the site runs.
 *
 * Every value that reaches a file is narrowed here to what the file's reader accepts: URLs are
 * parsed (http or https, no credentials, no quotes or spaces), addresses and names checked,
 * durations and sizes in Prometheus' own syntax. `checkMonitoring` relates the section to the
 * rest of the site (the pool, the nodes and their networks, the node groups, the other floating
 * IPs) and names the field to fix.
 *
 * @see https://prometheus.io/docs/prometheus/2.42/configuration/configuration/
 * @see https://prometheus.io/docs/alerting/0.25/configuration/
 */
import { z } from "zod";


export const quoted = (v: unknown) => JSON.stringify(v);

const port = z.int().min(1).max(65535);

const absolutePath = z
  .string()
  .regex(/^\/[A-Za-z0-9_.\/-]*$/, { error: (iss) => `must be an absolute path of letters, digits, "_", ".", "-" and "/", got ${quoted(iss.input)}` })
  .refine((p) => !p.split("/").some((s) => s === ".." || s === ".") && !p.includes("//"), {
    error: (iss) => `must not contain "." or ".." segments or "//", got ${quoted(iss.input)}`,
  });

const hostName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/, {
  error: (iss) => `must be a host name (lowercase letters, digits, "-", "." between labels), got ${quoted(iss.input)}`,
});

/** A Prometheus duration: `30d`, `1h30m`, `90s` (units y, w, d, h, m, s, ms, largest first). */
export const PROMETHEUS_DURATION = /^(?=\d)(\d+y)?(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?(\d+ms)?$/;
const promDuration = z
  .string()
  .regex(PROMETHEUS_DURATION, { error: (iss) => `must be a Prometheus duration such as "30d", "12h" or "1h30m", got ${quoted(iss.input)}` })
  .refine((d) => /[1-9]/.test(d), { error: (iss) => `must be longer than 0, got ${quoted(iss.input)}` });

/** A Prometheus byte size (`--storage.tsdb.retention.size`): `50GB`, `512MB`. */
const promSize = z.string().regex(/^[1-9]\d{0,6}(B|KB|MB|GB|TB|PB)$/, {
  error: (iss) => `must be a size such as "50GB" or "512MB" (units B, KB, MB, GB, TB, PB), got ${quoted(iss.input)}`,
});

/** A ZFS size for the dataset's quota: `100G`, `2T`. */
const zfsSize = z.string().regex(/^[1-9]\d{0,6}[KMGTP]$/, {
  error: (iss) => `must be a ZFS size such as "100G" or "2T" (units K, M, G, T, P), got ${quoted(iss.input)}`,
});

const ipAddress = z.union([z.ipv4(), z.ipv6()], { error: (iss) => `must be an IPv4 or IPv6 address, got ${quoted(iss.input)}` });

/** An http(s) URL without credentials, quotes, spaces or backslashes. */
const httpUrl = z.string().superRefine((text, ctx) => {
  const fail = (message: string) => ctx.addIssue({ code: "custom", message, input: text });
  if (!/^https?:\/\/[\x21-\x7e]+$/.test(text) || /["'`\\<>{}|^]/.test(text)) {
    fail(`must be an http:// or https:// URL without spaces, quotes or backslashes, got ${quoted(text)}`);
    return;
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    fail(`must be an http:// or https:// URL, got ${quoted(text)}`);
    return;
  }
  if (url.username !== "" || url.password !== "") fail(`must not carry credentials (user:password@): they would be written into the rendered tree; use basicAuth, whose password is a secret, got ${quoted(`${url.protocol}//${url.host}/...`)}`);
  if (url.hostname === "") fail(`names no host, got ${quoted(text)}`);
  if (url.hash !== "") fail(`must not have a #fragment, got ${quoted(text)}`);
});

/** host:port for an SMTP smarthost. */
const hostPort = z.string().superRefine((text, ctx) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[a-z0-9.-]+):(\d{1,5})$/.exec(text);
  const host = m?.[1];
  const ok =
    m !== null &&
    Number(m[2]) >= 1 &&
    Number(m[2]) <= 65535 &&
    (host!.startsWith("[") ? z.ipv6().safeParse(host!.slice(1, -1)).success : hostName.safeParse(host).success || z.ipv4().safeParse(host).success);
  if (!ok) ctx.addIssue({ code: "custom", message: `must be host:port such as "mail.example.org:587", got ${quoted(text)}`, input: text });
});

const email = z.string().regex(/^[A-Za-z0-9._%+-]{1,64}@[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/, {
  error: (iss) => `must be an e-mail address such as "hpc-ops@example.org", got ${quoted(iss.input)}`,
});

/** Names that become secret names and file names: lowercase letters, digits and "-". */
const shortName = (what: string) =>
  z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, { error: (iss) => `${what} must match [a-z][a-z0-9-]* (at most 31 characters), got ${quoted(iss.input)}` });

const userName = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, {
  error: (iss) => `must be a user name of letters, digits, ".", "_", "@" and "-", got ${quoted(iss.input)}`,
});

/** Prometheus label names (external labels); `__` is reserved for Prometheus itself. */
const labelName = z
  .string()
  .regex(/^[a-zA-Z_][a-zA-Z0-9_]{0,62}$/, { error: (iss) => `must be a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*), got ${quoted(iss.input)}` })
  .refine((n) => !n.startsWith("__"), { error: (iss) => `must not start with "__" (reserved by Prometheus), got ${quoted(iss.input)}` });
const labelValue = z.string().regex(/^[A-Za-z0-9_.:\/@+-]{1,128}$/, {
  error: (iss) => `must be 1-128 letters, digits and _ . : / @ + -, got ${quoted(iss.input)}`,
});

const FloatingIpSchema = z.strictObject({
  address: ipAddress.describe("The address Prometheus and Alertmanager listen on; it moves with them."),
  cidr: z.int().min(1).max(128).describe("Prefix length of the address's network (IPaddr2 cidr_netmask)."),
  nic: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,15}$/, { error: (iss) => `must be an interface name (at most 15 letters, digits, "_", ".", "-"), got ${quoted(iss.input)}` })
    .optional()
    .describe("Interface to put the address on. @default the interface holding a node address of that network"),
});

const ServerSchema = z
  .strictObject({
    pool: z
      .string()
      .optional()
      .describe(
        "HA: a pool of the site (storage.pools[].name). Prometheus and Alertmanager keep their data on a dataset of it and run as Pacemaker resources where it is imported, after it, with their own floating IP. Give this or host. @default none",
      ),
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, { error: (iss) => `must be a ZFS dataset name below the pool (letters, digits, "_", ".", ":", "-"), got ${quoted(iss.input)}` })
      .optional()
      .describe("HA: the dataset below the pool that holds the data (<pool>/<dataset>, mounted under the pool's mountpoint). @default monitoring"),
    quota: zfsSize.optional().describe("HA: ZFS quota of the dataset, so the time series can never fill the NFS pool. @default none (retention.size keeps Prometheus inside)"),
    floatingIp: FloatingIpSchema.optional().describe("HA: the address Prometheus and Alertmanager are reached on. Required with pool."),
    host: z
      .string()
      .optional()
      .describe(
        "Not HA: the management node (nodes[].name) that runs Prometheus and Alertmanager under systemd, for a site without spare pool space. When it fails nobody is alerted. Give this or pool. @default none",
      ),
    dataDir: absolutePath
      .optional()
      .describe("Not HA: the host's local directory for the data (prometheus/ and alertmanager/ below it); never NFS. @default /var/lib/prometheus"),
  })
  .describe("Where Prometheus and Alertmanager run: HA on a site pool (pool, floatingIp) or on one host (host).");

const PrometheusSchema = z.strictObject({
  port: port.default(9090).describe("Prometheus' HTTP port. @default 9090"),
  scrapeIntervalSec: z.int().min(1).max(3600).default(15).describe("scrape_interval. @default 15"),
  scrapeTimeoutSec: z.int().min(1).max(3600).default(10).describe("scrape_timeout; at most scrapeIntervalSec. @default 10"),
  evaluationIntervalSec: z.int().min(1).max(3600).default(15).describe("evaluation_interval: how often alert rules run. @default 15"),
  retention: z
    .strictObject({
      time: promDuration.default("30d").describe("--storage.tsdb.retention.time. @default 30d"),
      size: promSize.optional().describe("--storage.tsdb.retention.size: the oldest blocks go first when the data grows past it. @default none"),
    })
    .prefault({})
    .describe("How long Prometheus keeps samples."),
  externalLabels: z
    .record(labelName, labelValue)
    .default({})
    .describe("external_labels added to every sample sent to Alertmanager and remote write. @default { site: <site name> }"),
  nodeGroups: z
    .array(z.string())
    .optional()
    .describe("Node groups whose hosts are scraped (file_sd targets from each group's hostlist). @default every node group"),
});

const ReceiverSchema = z.strictObject({
  name: shortName("a receiver name").describe("Receiver name, used by the route."),
  email: z
    .strictObject({
      to: z.array(email).min(1).describe("Addresses the alerts are mailed to."),
      sendResolved: z.boolean().default(true).describe("Mail again when an alert resolves. @default true"),
    })
    .optional()
    .describe("Alerts by e-mail through alertmanager.smtp. @default none"),
  webhook: z
    .strictObject({
      url: httpUrl.describe("Where Alertmanager POSTs its JSON (chat bridge, ticket system, pager)."),
      sendResolved: z.boolean().default(true).describe("@default true"),
      bearerToken: z
        .boolean()
        .default(false)
        .describe("Send `Authorization: Bearer` with the secret alertmanager-webhook-<name>-token (put the token in secrets/<site>/). @default false"),
      basicAuth: z
        .strictObject({ username: userName.describe("Basic auth user; the password is the secret alertmanager-webhook-<name>-password.") })
        .optional()
        .describe("@default none"),
    })
    .optional()
    .describe("Alerts to a webhook. @default none"),
});

const SEVERITIES = ["critical", "warning", "info"] as const;

const AlertmanagerSchema = z.strictObject({
  port: port.default(9093).describe("Alertmanager's HTTP port (its cluster port is off: Pacemaker runs one Alertmanager). @default 9093"),
  smtp: z
    .strictObject({
      smarthost: hostPort.describe("SMTP relay, host:port."),
      from: email.describe("Sender address."),
      hello: hostName.optional().describe("Name sent in HELO/EHLO. @default Alertmanager's (localhost)"),
      authUsername: userName.optional().describe("SMTP AUTH user; the password is the secret alertmanager-smtp-password (put it in secrets/<site>/). @default no AUTH"),
      requireTls: z.boolean().default(true).describe("STARTTLS required. @default true"),
    })
    .optional()
    .describe("How e-mail receivers send. Required when a receiver has email. @default none"),
  receivers: z.array(ReceiverSchema).min(1).describe("Where alerts go: e-mail and/or webhook."),
  route: z
    .strictObject({
      receiver: z.string().describe("Receiver of every alert no other route takes (receivers[].name)."),
      groupWaitSec: z.int().min(0).max(3600).default(30).describe("group_wait. @default 30"),
      groupIntervalSec: z.int().min(1).max(86400).default(300).describe("group_interval. @default 300"),
      repeatIntervalSec: z.int().min(60).max(604800).default(14400).describe("repeat_interval. @default 14400 (4 h)"),
      routes: z
        .array(
          z.strictObject({
            severity: z.enum(SEVERITIES).describe("Alerts of this severity take this route."),
            receiver: z.string().describe("receivers[].name."),
            continue: z.boolean().default(false).describe("Also go on to the next routes and the default receiver. @default false"),
          }),
        )
        .default([])
        .describe("Receivers per severity, tried in order. @default none"),
    })
    .describe("Which receiver gets which alert. Alerts are grouped by alert name and the node or instance they are about."),
  resolveTimeoutSec: z.int().min(60).max(86400).default(300).describe("resolve_timeout. @default 300"),
});

const RemoteWriteSchema = z.strictObject({
  name: shortName("a remote write name").describe("Names the queue (and the password's secret remote-write-<name>-password)."),
  url: httpUrl.describe("The endpoint, e.g. InfluxDB 1.x: http://influx.example.org:8086/api/v1/prom/write?db=prometheus."),
  basicAuth: z
    .strictObject({ username: userName.describe("User; the password is the secret remote-write-<name>-password (put it in secrets/<site>/).") })
    .optional()
    .describe("@default none"),
});

const AlertsSchema = z.strictObject({
  nodeDownForSec: z.int().min(0).max(86400).default(60).describe("How long a host goes unscraped (or Pacemaker counts a node offline) before NodeDown/ClusterNodeOffline fire. @default 60"),
  serviceDownForSec: z.int().min(0).max(86400).default(120).describe("How long a daemon, exporter or NFS server is down before its alert fires. @default 120"),
  groupNotPreferredForMin: z.int().min(1).max(10080).default(10).describe("Minutes a resource group may run away from its preferred node before ResourceGroupNotPreferred fires. @default 10"),
  poolFullPercent: z.int().min(50).max(99).default(80).describe("A pool fuller than this fires ZpoolFull. @default 80"),
  clockSkewMs: z.int().min(10).max(60000).default(500).describe("Largest clock difference between management nodes before ManagementClockSkew fires. @default 500"),
});

export const MonitoringSchema = z.strictObject({
  server: ServerSchema,
  network: z
    .string()
    .optional()
    .describe("Network (CIDR) the management nodes are scraped on: each node's address in it. @default each node's first (link 0) address"),
  prometheus: PrometheusSchema.prefault({}).describe("Prometheus: port, intervals, retention, labels, scraped groups."),
  alertmanager: AlertmanagerSchema.describe("Alertmanager: receivers and the route to them."),
  remoteWrite: z
    .array(RemoteWriteSchema)
    .default([])
    .describe("Remote-write endpoints that get every sample (the site's InfluxDB, Thanos, VictoriaMetrics). @default none"),
  exporters: z
    .strictObject({
      nodeExporterPort: port.default(9100).describe("prometheus-node-exporter on every host. @default 9100"),
      haclusterExporterPort: port.default(9664).describe("prometheus-hacluster-exporter on the management nodes. @default 9664"),
      blackboxExporterPort: port.default(9115).describe("prometheus-blackbox-exporter on the management nodes (probes the NFS floating IPs). @default 9115"),
    })
    .prefault({})
    .describe("Exporter ports."),
  alerts: AlertsSchema.prefault({}).describe("Thresholds and durations of the alert rules."),
  slurmCollector: z
    .strictObject({
      intervalSec: z.int().min(10).max(3600).default(60).describe("How often the Slurm collector runs sinfo, squeue, sdiag on the controllers. @default 60"),
    })
    .prefault({})
    .describe("The Slurm collector (with a slurm section)."),
  grafana: z
    .strictObject({
      nodeGroup: z.string().describe("Node group (nodeGroups[].name) whose hosts run the site's Grafana; Grafana is not a Debian package: install it from Grafana's repository."),
      provisioningDir: absolutePath.default("/etc/grafana/provisioning").describe("Grafana's provisioning directory. @default /etc/grafana/provisioning"),
      dashboardsDir: absolutePath.default("/var/lib/grafana/dashboards/hpcdk").describe("Where the dashboards' JSON files go. @default /var/lib/grafana/dashboards/hpcdk"),
    })
    .optional()
    .describe("Dashboards (cluster health, NFS, ZFS pools, Slurm) and the Prometheus data source, provisioned for the site's Grafana. @default none"),
});

export type MonitoringSpec = z.output<typeof MonitoringSchema>;

/** The CIB ids monitoring adds (the stack adds them to the CIB; checkMonitoring keeps them unique). */
export const MONITORING_IDS = {
  group: "group-monitoring",
  ip: "ip-monitoring",
  prometheus: "prometheus",
  alertmanager: "alertmanager",
  /** The Pacemaker alert that feeds the fencing metrics (every placement). */
  alert: "hpcdk-metrics",
} as const;

/** Where Prometheus and Alertmanager run, with every default resolved. */
export type MonitoringServer =
  | {
      readonly kind: "ha";
      readonly pool: string;
      /** `<pool>/<dataset>` */
      readonly dataset: string;
      /** The dataset's mountpoint: below the pool's. */
      readonly dataDir: string;
      readonly quota?: string;
      readonly floatingIp: { readonly address: string; readonly cidr: number; readonly nic?: string };
    }
  | { readonly kind: "host"; readonly host: string; readonly dataDir: string };
