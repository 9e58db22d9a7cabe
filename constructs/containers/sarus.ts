import { Construct } from "constructs";
import { GeneratedFile, shell, type Bundle } from "../core/index.js";
import type { SitePackageSpec } from "../../schema/containers.js";
import { SitePackage } from "./site-package.js";
import { INFINIBAND_BINDS } from "./apptainer.js";

export interface SarusMount {
  readonly source: string;
  /** @default the source */
  readonly destination?: string;
  /** @default false */
  readonly readonly?: boolean;
}

export interface SarusMpiHook {
  /** MPI_LIBS: the host's MPICH-ABI libraries, full paths with version numbers. */
  readonly libs: readonly string[];
  /** MPI_DEPENDENCY_LIBS. @default [] */
  readonly dependencyLibs?: readonly string[];
  /** BIND_MOUNTS. @default [] */
  readonly bindMounts?: readonly string[];
}

export interface SarusGpuHook {
  /** @default "/usr/bin/nvidia-container-runtime-hook" */
  readonly path?: string;
  /** Prefix of libnvidia-container (bin/nvidia-container-cli, lib/). @default "/usr" */
  readonly libnvidiaContainerPath?: string;
}

export interface SarusProps {
  readonly bundle: Bundle;
  /** Release, e.g. "1.7.0". */
  readonly version: string;
  /** The standalone archive (.tar.gz, unpacked into prefixDir) or a site-built .deb/.rpm. */
  readonly package: SitePackageSpec;
  /** @default "/opt/sarus/<version>" */
  readonly prefixDir?: string;
  /** @default "/home" */
  readonly localRepositoryBaseDir?: string;
  /** @default none */
  readonly centralizedRepositoryDir?: string;
  /** @default "/tmp" */
  readonly tempDir?: string;
  /** @default "tmpfs" */
  readonly ramFilesystemType?: "tmpfs" | "ramfs";
  /** @default [] */
  readonly siteMounts?: readonly SarusMount[];
  /** The group has InfiniBand: mount /etc/libibverbs.d and these devices. @default none */
  readonly infinibandDevices?: readonly string[];
  /** The native MPI hook (`sarus run --mpi`). @default none */
  readonly mpi?: SarusMpiHook;
  /** The NVIDIA Container Toolkit hook, for groups with GPUs. @default none */
  readonly gpu?: SarusGpuHook;
}

/** Programs Sarus runs, from Debian packages: every one must be root-owned (Sarus checks). */
export const SARUS_TOOLS = {
  runcPath: "/usr/bin/runc",
  skopeoPath: "/usr/bin/skopeo",
  umociPath: "/usr/bin/umoci",
  mksquashfsPath: "/usr/bin/mksquashfs",
  initPath: "/usr/bin/tini-static",
} as const;

const json = (value: unknown) => JSON.stringify(value, null, 4) + "\n";

/**
 * Sarus on one node group: the site's package, `<prefix>/etc/sarus.json` (every key Sarus's
 * schema requires, tools from Debian packages), the OCI hooks in `<prefix>/etc/hooks.d` (native
 * MPI, NVIDIA GPUs), and the security requirements Sarus checks at every run (root-owned
 * config and tools, setuid binary).
 * @see https://sarus.readthedocs.io/en/stable/config/configuration_reference.html
 */
export class Sarus extends Construct {
  readonly prefixDir: string;
  readonly configPath: string;
  readonly hooksDir: string;

  constructor(scope: Construct, id: string, props: SarusProps) {
    super(scope, id);
    const where = `Sarus [${this.node.path}]`;
    if (!/^\d+\.\d+\.\d+$/.test(props.version)) throw new Error(`${where}: version must look like 1.7.0, got "${props.version}"`);
    this.prefixDir = props.prefixDir ?? `/opt/sarus/${props.version}`;
    this.configPath = `${this.prefixDir}/etc/sarus.json`;
    this.hooksDir = `${this.prefixDir}/etc/hooks.d`;
    const b = props.bundle;
    const isArchive = /\.(tar\.gz|tgz|tar\.xz|tar\.bz2)$/.test(props.package.url);
    new SitePackage(this, "package", { bundle: b, package: props.package, ...(isArchive ? { prefix: this.prefixDir } : {}) });
    for (const pkg of ["runc", "skopeo", "umoci", "squashfs-tools", "tini"]) b.addPackage({ debian: pkg, rhel: pkg });

    const bundleDir = `${this.prefixDir}/var/OCIBundleDir`;
    const siteMounts = [
      ...(props.siteMounts ?? []).map((m) => ({
        type: "bind",
        source: m.source,
        destination: m.destination ?? m.source,
        flags: m.readonly ? { readonly: "" } : {},
      })),
      ...(props.infinibandDevices ? [{ type: "bind", source: INFINIBAND_BINDS[1], destination: INFINIBAND_BINDS[1], flags: { readonly: "" } }] : []),
    ];
    const config = {
      securityChecks: true,
      OCIBundleDir: bundleDir,
      rootfsFolder: "rootfs",
      prefixDir: this.prefixDir,
      hooksDir: this.hooksDir,
      tempDir: props.tempDir ?? "/tmp",
      localRepositoryBaseDir: props.localRepositoryBaseDir ?? "/home",
      ...(props.centralizedRepositoryDir ? { centralizedRepositoryDir: props.centralizedRepositoryDir } : {}),
      ...SARUS_TOOLS,
      ramFilesystemType: props.ramFilesystemType ?? "tmpfs",
      siteMounts,
      ...(props.infinibandDevices ? { siteDevices: props.infinibandDevices.map((source) => ({ source, access: "rw" })) } : {}),
      environment: { set: { SARUS_CONTAINER: "1" } },
      userMounts: { notAllowedPrefixesOfPath: ["/etc", "/var", "/opt/sarus"], notAllowedPaths: ["/opt"] },
    };
    // Sarus refuses to run unless its configuration and hooks are root-owned and writable by
    // root only.
    const readOnly = { kind: "none", detail: "read at every sarus run; running containers keep their settings" } as const;
    new GeneratedFile(this, "config", {
      bundle: b,
      path: this.configPath,
      header: "none",
      content: () => json(config),
      mode: 0o644,
      impact: readOnly,
    });
    if (props.mpi) {
      const env = [
        "LDCONFIG_PATH=/sbin/ldconfig",
        `MPI_LIBS=${props.mpi.libs.join(":")}`,
        `MPI_DEPENDENCY_LIBS=${(props.mpi.dependencyLibs ?? []).join(":")}`,
        `BIND_MOUNTS=${(props.mpi.bindMounts ?? []).join(":")}`,
      ];
      new GeneratedFile(this, "mpi-hook", {
        bundle: b,
        path: `${this.hooksDir}/05-mpi-hook.json`,
        header: "none",
        content: () =>
          json({
            version: "1.0.0",
            hook: { path: `${this.prefixDir}/bin/mpi_hook`, env },
            when: { annotations: { "^com.hooks.mpi.enabled$": "^true$" } },
            stages: ["createContainer"],
          }),
        impact: readOnly,
      });
    }
    if (props.gpu) {
      const lib = props.gpu.libnvidiaContainerPath ?? "/usr";
      new GeneratedFile(this, "gpu-hook", {
        bundle: b,
        path: `${this.hooksDir}/03-nvidia-container-toolkit.json`,
        header: "none",
        content: () =>
          json({
            version: "1.0.0",
            hook: {
              path: props.gpu!.path ?? "/usr/bin/nvidia-container-runtime-hook",
              args: ["nvidia-container-runtime-hook", "prestart"],
              env: [`PATH=${lib}/bin:/usr/sbin:/usr/bin:/sbin:/bin`, ...(lib === "/usr" ? [] : [`LD_LIBRARY_PATH=${lib}/lib`])],
            },
            when: { always: true },
            stages: ["prestart"],
          }),
        impact: readOnly,
      });
    }
    const dirs = [bundleDir, ...(props.centralizedRepositoryDir ? [props.centralizedRepositoryDir] : [])];
    b.addStep({
      id: "20-sarus-security",
      phase: "after-files",
      description: `make ${this.prefixDir} root-owned and not writable by others, sarus setuid root (Sarus checks both at every run)`,
      run: [
        shell`prefix=${this.prefixDir}`,
        `[ -x "$prefix/bin/sarus" ] || { echo "sarus: $prefix/bin/sarus is missing" >&2; exit 1; }`,
        shell`mkdir -p ${dirs}`,
        `chown -R root:root "$prefix"`,
        `chmod -R go-w "$prefix"`,
        `chmod 4755 "$prefix/bin/sarus"`,
      ].join("\n"),
    });
  }
}
