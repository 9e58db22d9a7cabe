/**
 * A Pacemaker resource agent: class, provider and type.
 * @see https://clusterlabs.org/pacemaker/doc/2.1/Pacemaker_Explained/html/resources.html#resource-classes
 */
export class ResourceAgent {
  /** An OCF agent, e.g. `ResourceAgent.ocf("heartbeat", "ZFS")`. */
  static ocf(provider: string, type: string): ResourceAgent {
    return new ResourceAgent("ocf", type, provider);
  }

  /** A fence agent, e.g. `ResourceAgent.stonith("fence_scsi")`. */
  static stonith(type: string): ResourceAgent {
    return new ResourceAgent("stonith", type);
  }

  /** A systemd unit run as a resource. */
  static systemd(unit: string): ResourceAgent {
    return new ResourceAgent("systemd", unit);
  }

  private constructor(
    readonly cls: "ocf" | "stonith" | "systemd",
    readonly type: string,
    readonly provider?: string,
  ) {}

  /** As `pcs status` prints it: `ocf:heartbeat:ZFS`, `stonith:fence_scsi`. */
  toString(): string {
    return [this.cls, this.provider, this.type].filter(Boolean).join(":");
  }
}
