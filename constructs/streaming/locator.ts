/**
 * Service locators, the address strings KerA (and RAMCloud, which it comes from) daemons take
 * with -C and -L: `infrc:host=iris-079-ib0,port=11100,dev=mlx5_0` for InfiniBand reliable
 * connections, `tcp:host=node1,port=11100` without InfiniBand.
 */

/** How the daemons talk: InfiniBand RC (verbs) or kernel TCP. */
export type StreamTransport = "infiniband" | "tcp";

export interface LocatorOptions {
  /**
   * Host part: a name, or a shell expression the launch script expands (`${node}`) or a systemd
   * specifier (`%l`). The InfiniBand suffix is added by the locator.
   */
  readonly host: string;
  readonly port: number;
}

export interface InfrcLocatorOptions extends LocatorOptions {
  /** HCA name (`ibv_devinfo -l`). @default "mlx5_0" */
  readonly device?: string;
  /** Appended to the host name to name its IPoIB address. @default "-ib0" */
  readonly hostSuffix?: string;
}

/** A service locator: build it with `Locator.infrc` or `Locator.tcp`. */
export class Locator {
  /** InfiniBand reliable connection on the host's IPoIB name: `infrc:host=<host>-ib0,port=P,dev=D`. */
  static infrc(options: InfrcLocatorOptions): Locator {
    Locator.checkPort(options.port);
    const device = options.device ?? "mlx5_0";
    return new Locator("infrc", `host=${options.host}${options.hostSuffix ?? "-ib0"},port=${options.port},dev=${device}`);
  }

  /** Kernel TCP on the host name: `tcp:host=<host>,port=P`. */
  static tcp(options: LocatorOptions): Locator {
    Locator.checkPort(options.port);
    return new Locator("tcp", `host=${options.host},port=${options.port}`);
  }

  /** The locator for a transport. */
  static of(transport: StreamTransport, options: InfrcLocatorOptions): Locator {
    return transport === "infiniband" ? Locator.infrc(options) : Locator.tcp(options);
  }

  private static checkPort(port: number): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`Locator: port must be 1-65535, got ${port}`);
  }

  private constructor(
    /** `infrc` or `tcp`. */
    readonly scheme: string,
    private readonly options: string,
  ) {}

  toString(): string {
    return `${this.scheme}:${this.options}`;
  }
}
