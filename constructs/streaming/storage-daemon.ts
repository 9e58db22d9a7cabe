import { Construct } from "constructs";

export interface StorageDaemonProps {
  /** Unix socket the store listens on (-s); brokers connect to it. @default "/tmp/plasma" */
  readonly socket?: string;
  /** Capacity in bytes (-m). @default 1000000000 */
  readonly memoryBytes?: number;
}

/** Longest path a unix socket can have: sun_path holds 108 bytes with the terminating NUL. */
const MAX_SOCKET_PATH = 107;

/**
 * The object store beside each broker: an Apache Arrow plasma store (`plasma_store -m BYTES -s
 * SOCKET`) that the broker's server process maps and hands objects through. It runs in the
 * broker's container, started first: the broker starts only once the socket exists.
 * @see https://arrow.apache.org/docs/python/plasma.html
 */
export class StorageDaemon extends Construct {
  readonly socket: string;
  readonly memoryBytes: number;
  /** Capacity in whole MB, rounded up: what the node must hold besides the broker's log. */
  readonly memoryMB: number;

  constructor(scope: Construct, id: string, props: StorageDaemonProps = {}) {
    super(scope, id);
    this.socket = props.socket ?? "/tmp/plasma";
    this.memoryBytes = props.memoryBytes ?? 1_000_000_000;
    if (!this.socket.startsWith("/") || /\s/.test(this.socket)) {
      throw new Error(`StorageDaemon [${this.node.path}]: socket must be an absolute path without spaces, got "${this.socket}"`);
    }
    if (Buffer.byteLength(this.socket) > MAX_SOCKET_PATH) {
      throw new Error(`StorageDaemon [${this.node.path}]: socket path is longer than ${MAX_SOCKET_PATH} bytes (a unix socket's limit), got "${this.socket}"`);
    }
    if (!Number.isInteger(this.memoryBytes) || this.memoryBytes < 1 << 20) {
      throw new Error(`StorageDaemon [${this.node.path}]: memoryBytes must be a whole number of at least 1048576, got ${this.memoryBytes}`);
    }
    this.memoryMB = Math.ceil(this.memoryBytes / (1024 * 1024));
  }

  /** Arguments the entrypoint's broker mode takes for the store. */
  get entrypointArgs(): string[] {
    return ["--plasma-socket", this.socket, "--plasma-memory-bytes", String(this.memoryBytes)];
  }
}
