import { Construct } from "constructs";
import { GeneratedFile, secretRef, shell, type Bundle, type SecretSpec } from "../core/index.js";
import type { SitePackageSpec } from "../../schema/containers.js";
import { SitePackage } from "./site-package.js";

export const SHIFTER_GATEWAY_CONFIG = "/etc/shifter/imagemanager.json";
const REDIS_CONFIG = "/etc/shifter/redis.conf";
const MONGO_USERS_JS = "/etc/shifter/mongo-users.js";
const MONGO_USERS = "/usr/local/sbin/hpcdk-shifter-mongo-users";
const ETC_CACHE = "/usr/local/sbin/hpcdk-shifter-etc-cache";
const UNITS = "/etc/systemd/system";

/** The gateway's secrets: generated once per site, filled in on the host by the deploy. */
export const SHIFTER_SECRETS = {
  redis: { name: "shifter-redis-password", generate: { password: 32 } },
  mongoAdmin: { name: "shifter-mongodb-admin-password", generate: { password: 32 } },
  mongo: { name: "shifter-mongodb-password", generate: { password: 32 } },
} as const satisfies Record<string, SecretSpec>;

export interface ShifterGatewayProps {
  /** The bundle of the gateway's node group (one host). */
  readonly bundle: Bundle;
  /** The gateway host's name, as the compute nodes reach it. */
  readonly host: string;
  /** The platform the gateway serves (udiRoot.conf `system`). */
  readonly system: string;
  /** shifter-imagegw (with its Python virtualenv in <prefix>/venv), mongodb-org-server, mongosh. */
  readonly packages: readonly SitePackageSpec[];
  /** Where images go, on shared storage. */
  readonly imagePath: string;
  /** Shared-storage directory for the cached passwd and group files. */
  readonly etcCacheDir: string;
  /** Munge socket of the gateway host. @default "/run/munge/munge.socket.2" */
  readonly mungeSocket?: string;
  /** @default "/opt/shifter/imagegw" */
  readonly prefix?: string;
  /** API processes on consecutive ports. @default 3 */
  readonly replicas?: number;
  /** @default 5000 */
  readonly basePort?: number;
  /** @default 24 */
  readonly celeryConcurrency?: number;
  /** @default "/var/lib/shifter/cache" */
  readonly cacheDirectory?: string;
  /** @default "/var/lib/shifter/expand" */
  readonly expandDirectory?: string;
  /** @default 27017 */
  readonly mongodbPort?: number;
  /** @default 6379 */
  readonly redisPort?: number;
  /** @default "registry-1.docker.io" */
  readonly defaultImageLocation?: string;
  /** @default 10 */
  readonly passwdRefreshMin?: number;
}

/**
 * The Shifter image gateway on its one host: N API processes on consecutive ports (gunicorn),
 * the Celery workers with their concurrency, Redis as the Celery broker (password, local only,
 * config mode 0640), MongoDB bound to 127.0.0.1 with authorization and a Shifter db owner, and
 * a timer that caches passwd/group on shared storage for the compute nodes' prologue.
 * @see https://github.com/NERSC/shifter/blob/master/doc/install/imagegw.rst
 */
export class ShifterGateway extends Construct {
  /** The URLs compute nodes use (udiRoot.conf imageGateway). */
  readonly urls: readonly string[];
  readonly ports: readonly number[];

  constructor(scope: Construct, id: string, props: ShifterGatewayProps) {
    super(scope, id);
    const where = `ShifterGateway [${this.node.path}]`;
    if (props.bundle.hosts.length !== 1) {
      throw new Error(`${where}: the gateway runs on exactly one host (MongoDB is bound to 127.0.0.1), got ${props.bundle.hosts.length}`);
    }
    const replicas = props.replicas ?? 3;
    const basePort = props.basePort ?? 5000;
    if (replicas < 1 || basePort + replicas - 1 > 65535) throw new Error(`${where}: ${replicas} replicas from port ${basePort} do not fit`);
    this.ports = Array.from({ length: replicas }, (_, i) => basePort + i);
    this.urls = this.ports.map((p) => `http://${props.host}:${p}`);
    const prefix = props.prefix ?? "/opt/shifter/imagegw";
    const mongodbPort = props.mongodbPort ?? 27017;
    const redisPort = props.redisPort ?? 6379;
    const cacheDirectory = props.cacheDirectory ?? "/var/lib/shifter/cache";
    const expandDirectory = props.expandDirectory ?? "/var/lib/shifter/expand";
    const b = props.bundle;

    b.addStep({
      id: "01-shifter-user",
      phase: "before-files",
      description: "create the shifter system user the image gateway runs as",
      run: "getent passwd shifter >/dev/null || useradd --system --user-group --home-dir /var/lib/shifter --shell /usr/sbin/nologin shifter",
    });
    props.packages.forEach((pkg, i) => new SitePackage(this, `package-${i}`, { bundle: b, package: pkg }));
    b.addPackage({ debian: "redis-server", rhel: "redis" });

    const apiUnits = this.ports.map((p) => `shifter-imagegw-api@${p}.service`);
    const gatewayUnits = [...apiUnits, "shifter-imagegw-worker.service"];
    const dir = (d: string) => (d.endsWith("/") ? d : `${d}/`);
    const config = {
      DefaultImageLocation: props.defaultImageLocation ?? "registry-1.docker.io",
      DefaultImageFormat: "squashfs",
      PullUpdateTimeout: 300,
      ImageExpirationTimeout: "90:00:00:00",
      // SCRAM-SHA-1: what the pymongo of Shifter's Python 2.7 gateway speaks (the Blue Waters URI).
      MongoDBURI: `mongodb://shifter:${secretRef(SHIFTER_SECRETS.mongo.name)}@127.0.0.1:${mongodbPort}/Shifter?authMechanism=SCRAM-SHA-1`,
      MongoDB: "Shifter",
      Broker: `redis://:${secretRef(SHIFTER_SECRETS.redis.name)}@127.0.0.1:${redisPort}/0`,
      CacheDirectory: dir(cacheDirectory),
      ExpandDirectory: dir(expandDirectory),
      Locations: { [props.defaultImageLocation ?? "registry-1.docker.io"]: { remotetype: "dockerv2", authentication: "http" } },
      Platforms: {
        [props.system]: {
          mungeSocketPath: props.mungeSocket ?? "/run/munge/munge.socket.2",
          accesstype: "local",
          admins: ["root"],
          local: { imageDir: props.imagePath },
        },
      },
    };
    new GeneratedFile(this, "imagemanager", {
      bundle: b,
      path: SHIFTER_GATEWAY_CONFIG,
      header: "none",
      content: () => JSON.stringify(config, null, 4) + "\n",
      // Holds the MongoDB and Redis passwords: the gateway's user and root only.
      owner: "shifter",
      group: "shifter",
      mode: 0o600,
      secrets: [SHIFTER_SECRETS.mongo, SHIFTER_SECRETS.redis],
      handlers: [shell`systemctl try-restart ${gatewayUnits}`],
      impact: { kind: "restart", detail: "restart the image gateway API and workers (image pulls in progress are retried)" },
    });
    new GeneratedFile(this, "redis-conf", {
      bundle: b,
      path: REDIS_CONFIG,
      template: "containers/shifter-redis.conf",
      context: { port: redisPort, password: secretRef(SHIFTER_SECRETS.redis.name), dir: "/var/lib/shifter-redis" },
      owner: "root",
      group: "redis",
      mode: 0o640,
      secrets: [SHIFTER_SECRETS.redis],
      handlers: ["systemctl try-restart shifter-redis.service"],
      impact: { kind: "restart", detail: "restart the gateway's Redis (queued pulls are retried)" },
    });
    new GeneratedFile(this, "mongod-conf", {
      bundle: b,
      path: "/etc/mongod.conf",
      template: "containers/shifter-mongod.conf",
      context: { port: mongodbPort },
      handlers: ["systemctl try-restart mongod.service"],
      impact: { kind: "restart", detail: "restart mongod: the gateway reconnects" },
    });
    new GeneratedFile(this, "mongo-users-js", {
      bundle: b,
      path: MONGO_USERS_JS,
      template: "containers/shifter-mongo-users.js",
      // JavaScript comments, not "#": the marker is in the comment all the same.
      header: "js",
      context: {
        adminUser: "hpcdk-admin",
        adminPassword: secretRef(SHIFTER_SECRETS.mongoAdmin.name),
        database: "Shifter",
        user: "shifter",
        password: secretRef(SHIFTER_SECRETS.mongo.name),
      },
      mode: 0o600,
      secrets: [SHIFTER_SECRETS.mongoAdmin, SHIFTER_SECRETS.mongo],
      handlers: [MONGO_USERS],
      impact: { kind: "none", detail: "run by the deploy: sets the MongoDB users' passwords" },
    });
    new GeneratedFile(this, "mongo-users", {
      bundle: b,
      path: MONGO_USERS,
      template: "containers/shifter-mongo-users.sh",
      context: { port: mongodbPort, script: MONGO_USERS_JS },
      mode: 0o755,
      impact: { kind: "none", detail: "run by the deploy" },
    });
    /** A systemd unit: reloaded into systemd, and the units it runs restarted if they run. */
    const unit = (name: string, context: object, restart: readonly string[], detail: string) =>
      new GeneratedFile(this, name.replace(/[@.]/g, "-"), {
        bundle: b,
        path: `${UNITS}/${name}`,
        template: `containers/${name}`,
        context,
        handlers: ["systemctl daemon-reload", ...(restart.length > 0 ? [shell`systemctl try-restart ${restart}`] : [])],
        impact: { kind: restart.length > 0 ? "restart" : "none", detail },
      });
    unit("shifter-redis.service", { config: REDIS_CONFIG, stateDirectory: "shifter-redis" }, ["shifter-redis.service"], "restart the gateway's Redis");
    const gwconfig = `GWCONFIG=${SHIFTER_GATEWAY_CONFIG}`;
    unit("shifter-imagegw-api@.service", { gwconfig, prefix, gunicorn: `${prefix}/venv/bin/gunicorn`, basePort }, apiUnits, "restart the image gateway API processes");
    unit(
      "shifter-imagegw-worker.service",
      {
        gwconfig,
        config: `CONFIG=${SHIFTER_GATEWAY_CONFIG}`,
        prefix,
        celery: `${prefix}/venv/bin/celery`,
        system: props.system,
        workerName: `worker.queue.${props.system}`,
        concurrency: `--concurrency=${props.celeryConcurrency ?? 24}`,
      },
      ["shifter-imagegw-worker.service"],
      "restart the image gateway workers",
    );
    new GeneratedFile(this, "etc-cache", {
      bundle: b,
      path: ETC_CACHE,
      template: "containers/shifter-etc-cache.sh",
      context: { cacheDir: props.etcCacheDir },
      mode: 0o755,
      impact: { kind: "none", detail: "run by shifter-etc-cache.timer" },
    });
    unit("shifter-etc-cache.service", { script: ETC_CACHE }, [], "a oneshot run by its timer: the next run uses it");
    unit("shifter-etc-cache.timer", { minutes: props.passwdRefreshMin ?? 10 }, ["shifter-etc-cache.timer"], "restart the timer");

    const asShifter = (test: string) => `setpriv --reuid="$(id -u shifter)" --regid="$(id -g shifter)" --init-groups ${test}`;
    b.addStep({
      id: "20-shifter-gateway-dirs",
      phase: "after-files",
      description: "create the gateway's local directories and check it can write the images and the passwd cache on shared storage",
      run: [
        shell`install -d -o shifter -g shifter -m 0750 ${cacheDirectory} ${expandDirectory}`,
        shell`for d in ${props.imagePath} ${props.etcCacheDir}; do`,
        `    ${asShifter('test -w "$d"')} || { echo "shifter gateway: $d must exist on shared storage and be writable by the shifter user (make it so on the file server)" >&2; exit 1; }`,
        "done",
      ].join("\n"),
    });
    b.addStep({
      id: "21-shifter-gateway-databases",
      phase: "after-files",
      description: "start Redis and MongoDB for the gateway and create the MongoDB users",
      run: [
        "systemctl daemon-reload",
        // Debian starts its own Redis on 6379: the gateway runs its own with a password.
        "if systemctl cat redis-server.service >/dev/null 2>&1; then systemctl disable --now redis-server.service; fi",
        "systemctl enable --now shifter-redis.service mongod.service",
        MONGO_USERS,
      ].join("\n"),
    });
    b.addStep({
      id: "22-shifter-gateway-services",
      phase: "after-files",
      description: `start ${replicas} image gateway API processes (ports ${this.ports[0]}-${this.ports[this.ports.length - 1]}), the workers and the passwd cache timer`,
      run: shell`systemctl enable --now ${gatewayUnits} shifter-etc-cache.timer`,
    });
  }
}
