import { Construct } from "constructs";
import { GeneratedFile, type Bundle } from "../core/index.js";

export const CHARLIECLOUD_PREFLIGHT = "/usr/local/sbin/hpcdk-charliecloud-preflight";

export interface CharliecloudProps {
  readonly bundle: Bundle;
  /** CH_IMAGE_STORAGE, on local disk; `$USER` is expanded per user. @default "/var/tmp/$USER.ch" */
  readonly storageDir?: string;
}

/**
 * Charliecloud on one node group: the runtime package (ch-run, ch-checkns), image storage on
 * local disk for every login shell, and a preflight the deploy runs after installing: user
 * namespaces work for an unprivileged user and the storage is local.
 * @see https://hpc.github.io/charliecloud/
 */
export class Charliecloud extends Construct {
  readonly storageDir: string;

  constructor(scope: Construct, id: string, props: CharliecloudProps) {
    super(scope, id);
    this.storageDir = props.storageDir ?? "/var/tmp/$USER.ch";
    if (!this.storageDir.startsWith("/") || /["'\\`\s]/.test(this.storageDir)) {
      throw new Error(`Charliecloud [${this.node.path}]: storageDir must be an absolute path without quotes or spaces, got "${this.storageDir}"`);
    }
    // The builders package pulls in docker.io: the runtime is what every node needs.
    props.bundle.addPackage({ debian: "charliecloud-runtime", rhel: "charliecloud-runtime" });
    new GeneratedFile(this, "profile", {
      bundle: props.bundle,
      path: "/etc/profile.d/hpcdk-charliecloud.sh",
      template: "containers/charliecloud.sh",
      context: { storageDir: this.storageDir },
      impact: { kind: "none", detail: "read by new login shells" },
    });
    const dollar = this.storageDir.indexOf("$");
    const storageBase = dollar < 0 ? this.storageDir : this.storageDir.slice(0, this.storageDir.lastIndexOf("/", dollar)) || "/";
    new GeneratedFile(this, "preflight", {
      bundle: props.bundle,
      path: CHARLIECLOUD_PREFLIGHT,
      template: "containers/charliecloud-preflight.sh",
      context: { storageBase },
      mode: 0o755,
      impact: { kind: "none", detail: "a check the deploy runs; changes nothing" },
    });
    props.bundle.addStep({
      id: "20-charliecloud-preflight",
      phase: "after-files",
      description: "check that unprivileged users can run Charliecloud containers (ch-checkns) with local image storage",
      run: CHARLIECLOUD_PREFLIGHT,
    });
  }
}
