import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import type { SitePackageSpec } from "../../schema/containers.js";
import { SitePackage } from "./site-package.js";

export const SHIFTER_CONFIG = "/etc/shifter/udiRoot.conf";
export const SHIFTER_ETC_PATH = "/etc/shifter/shifter_etc_files";
export const SHIFTER_PREMOUNT = "/etc/shifter/premount.sh";
/** Slurm runs every script of these directories (slurm.conf: Prolog=/etc/slurm/prolog.d/*). */
export const SHIFTER_PROLOG = "/etc/slurm/prolog.d/50-shifter";
export const SHIFTER_EPILOG = "/etc/slurm/epilog.d/50-shifter";

export interface ShifterSiteFs {
  readonly from: string;
  /** @default the same path */
  readonly to?: string;
}

export interface ShifterRuntimeProps {
  readonly bundle: Bundle;
  /** Shifter runtime packages (udiRoot with setupRoot, the SPANK plugin) from the site. */
  readonly packages: readonly SitePackageSpec[];
  /** Must match a platform of the image gateway. */
  readonly system: string;
  /** Image gateway URLs, e.g. http://sgw1:5000. */
  readonly imageGateways: readonly string[];
  /** Where images are, on shared storage. */
  readonly imagePath: string;
  /** Shared-storage directory with the gateway's cached passwd and group. */
  readonly etcCacheDir: string;
  /** @default "/opt/shifter/udiRoot" */
  readonly udiRootPath?: string;
  /** @default [] */
  readonly siteFs?: readonly ShifterSiteFs[];
  /** @default "/opt/shifter/site-resources" */
  readonly siteResources?: string;
  /** @default true */
  readonly allowLibcPwdCalls?: boolean;
  /** @default 128 */
  readonly maxLoop?: number;
  /** @default 31 */
  readonly maxGroupCount?: number;
}

/**
 * The Shifter runtime on one node group: udiRoot.conf, the site pre-mount hook, the files
 * Shifter copies into every container's /etc, the SPANK plugin in Slurm's plugstack, the Slurm
 * prologue (preloads loop and squashfs, copies the cached passwd/group: the Blue Waters LDAP fix)
 * and epilogue, and loop/squashfs at boot.
 * @see https://github.com/NERSC/shifter/blob/master/doc/config/udiRoot.conf.rst
 */
export class ShifterRuntime extends Construct {
  readonly udiRootPath: string;
  readonly udiMount = "/var/udiMount";
  readonly loopMount = "/var/udiLoopMount";
  /** The SPANK plugin, for Slurm's plugstack. */
  readonly spankPlugin: string;
  readonly prolog = SHIFTER_PROLOG;
  readonly epilog = SHIFTER_EPILOG;

  constructor(scope: Construct, id: string, props: ShifterRuntimeProps) {
    super(scope, id);
    const where = `ShifterRuntime [${this.node.path}]`;
    if (props.imageGateways.length === 0) throw new Error(`${where}: needs at least one image gateway URL`);
    this.udiRootPath = props.udiRootPath ?? "/opt/shifter/udiRoot";
    this.spankPlugin = `${this.udiRootPath}/lib/shifter/shifter_slurm.so`;
    const siteFs = (props.siteFs ?? []).map((f) => ({ from: f.from, to: f.to ?? f.from }));
    for (const f of siteFs) {
      if (!f.from.startsWith("/") || !f.to.startsWith("/") || /[\s:;]/.test(f.from + f.to)) {
        throw new Error(`${where}: siteFs paths must be absolute without spaces, ":" or ";", got "${f.from}:${f.to}"`);
      }
    }
    const maxLoop = props.maxLoop ?? 128;
    const b = props.bundle;
    props.packages.forEach((pkg, i) => new SitePackage(this, `package-${i}`, { bundle: b, package: pkg }));
    b.addPackage({ debian: "squashfs-tools", rhel: "squashfs-tools" });

    const perContainer = { kind: "none", detail: "read at every container setup; running containers keep their settings" } as const;
    new GeneratedFile(this, "udiroot-conf", {
      bundle: b,
      path: SHIFTER_CONFIG,
      template: "containers/udiRoot.conf",
      context: {
        udiMount: this.udiMount,
        loopMount: this.loopMount,
        imagePath: props.imagePath,
        udiRootPath: this.udiRootPath,
        preMountHook: SHIFTER_PREMOUNT,
        etcPath: SHIFTER_ETC_PATH,
        maxGroupCount: props.maxGroupCount ?? 31,
        siteFs: siteFs.map((f) => `${f.from}:${f.to}`).join(";"),
        siteResources: props.siteResources ?? "/opt/shifter/site-resources",
        imageGateways: props.imageGateways.join(" "),
        system: props.system,
        allowLibcPwdCalls: (props.allowLibcPwdCalls ?? true) ? 1 : 0,
      },
      impact: perContainer,
    });
    // The hook makes the directories on the way to each siteFs mount point (not the point itself).
    const parents = [
      ...new Set(
        siteFs.flatMap((f) => {
          const parts = f.to.split("/").filter(Boolean).slice(0, -1);
          return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
        }),
      ),
    ].sort();
    new GeneratedFile(this, "premount", {
      bundle: b,
      path: SHIFTER_PREMOUNT,
      template: "containers/shifter-premount.sh",
      context: { udiMount: this.udiMount, parents },
      mode: 0o755,
      impact: perContainer,
    });
    new GeneratedFile(this, "nsswitch", {
      bundle: b,
      path: `${SHIFTER_ETC_PATH}/nsswitch.conf`,
      template: "containers/shifter-nsswitch.conf",
      impact: perContainer,
    });
    new GeneratedFile(this, "plugstack", {
      bundle: b,
      path: "/etc/slurm/plugstack.conf.d/shifter.conf",
      template: "containers/shifter-plugstack.conf",
      context: { plugin: this.spankPlugin, configOption: `shifter_config=${SHIFTER_CONFIG}` },
      // Login nodes run no slurmd: try-restart leaves a stopped daemon stopped.
      handlers: ["systemctl try-restart slurmd"],
      impact: { kind: "restart", detail: "slurmd loads SPANK plugins at start: restart slurmd; srun/sbatch load it at every call" },
    });
    new GeneratedFile(this, "prolog", {
      bundle: b,
      path: SHIFTER_PROLOG,
      template: "containers/shifter-prolog.sh",
      context: { maxLoop, cacheDir: props.etcCacheDir, etcPath: SHIFTER_ETC_PATH },
      mode: 0o755,
      impact: { kind: "none", detail: "run by slurmd at every job start" },
    });
    new GeneratedFile(this, "epilog", {
      bundle: b,
      path: SHIFTER_EPILOG,
      template: "containers/shifter-epilog.sh",
      context: { udiMount: this.udiMount, unsetupRoot: `${this.udiRootPath}/sbin/unsetupRoot` },
      mode: 0o755,
      impact: { kind: "none", detail: "run by slurmd at every job end" },
    });
    new GeneratedFile(this, "modules-load", {
      bundle: b,
      path: "/etc/modules-load.d/hpcdk-shifter.conf",
      template: "containers/shifter-modules.conf",
      impact: { kind: "none", detail: "read at boot (the prologue loads the modules before that)" },
    });
    new GeneratedFile(this, "modprobe", {
      bundle: b,
      path: "/etc/modprobe.d/hpcdk-shifter.conf",
      template: "containers/shifter-modprobe.conf",
      context: { maxLoop },
      impact: { kind: "none", detail: "used when the loop module is next loaded (reboot, or rmmod when no loop device is in use)" },
    });
    b.addStep({
      id: "20-shifter-runtime-dirs",
      phase: "after-files",
      description: "create Shifter's mount points and seed the container passwd/group files",
      run: [
        shell`mkdir -p ${this.udiMount} ${this.loopMount} ${SHIFTER_ETC_PATH}`,
        shell`for f in passwd group; do if [ ! -s ${SHIFTER_ETC_PATH}/"$f" ]; then getent "$f" >${SHIFTER_ETC_PATH}/"$f".new && mv ${SHIFTER_ETC_PATH}/"$f".new ${SHIFTER_ETC_PATH}/"$f"; fi; done`,
      ].join("\n"),
    });
  }
}
