import { Construct } from "constructs";
import { managedHeader, renderTemplate, type Bundle } from "../core/index.js";
import type { SitePackageSpec } from "../../schema/containers.js";

/** Where the installer script goes on every host that installs a site package. */
export const SITE_PACKAGE_INSTALLER = "/usr/local/sbin/hpcdk-install-site-package";

/**
 * The installer for packages a site provides (Apptainer, Sarus, Shifter, MongoDB are not in
 * Debian 12), shared by every construct of a bundle that installs such a package. It downloads,
 * refuses a file whose sha256 does not match, installs (.deb, .rpm, or a tar archive swapped
 * into its prefix) and remembers the checksum, so reruns do nothing.
 *
 * Site packages are installed before the bundle's files, as distribution packages are: hpcdk's
 * configuration files then replace the packages' defaults, and an archive unpacked into a
 * prefix never removes the files hpcdk puts there. The script therefore travels inside the
 * first step (a file of the bundle would only arrive after it).
 */
export class SitePackageInstaller extends Construct {
  private static readonly byBundle = new WeakMap<Bundle, SitePackageInstaller>();

  /** The installer of a bundle, created with the first package. */
  static of(bundle: Bundle): SitePackageInstaller {
    let installer = SitePackageInstaller.byBundle.get(bundle);
    if (!installer) {
      installer = new SitePackageInstaller(bundle, "site-package-installer", bundle);
      SitePackageInstaller.byBundle.set(bundle, installer);
    }
    return installer;
  }

  /** The installer script as the step writes it. */
  readonly script: string;

  private constructor(scope: Construct, id: string, readonly bundle: Bundle) {
    super(scope, id);
    // curl fetches, sha256sum (coreutils) verifies.
    bundle.addPackage({ debian: "curl", rhel: "curl" });
    this.script = renderTemplate("containers/install-site-package.sh", { header: managedHeader("hash", bundle.source) });
    if (this.script.includes(`\n${HEREDOC_END}\n`)) throw new Error(`SitePackageInstaller [${this.node.path}]: the script contains ${HEREDOC_END}`);
    bundle.addStep({
      id: "05-site-package-installer",
      phase: "before-files",
      description: `install ${SITE_PACKAGE_INSTALLER}, which installs the site's own packages`,
      run: [
        "mkdir -p /usr/local/sbin",
        `cat >${SITE_PACKAGE_INSTALLER}.tmp <<'${HEREDOC_END}'`,
        this.script.trimEnd(),
        HEREDOC_END,
        `chmod 0755 ${SITE_PACKAGE_INSTALLER}.tmp`,
        `mv ${SITE_PACKAGE_INSTALLER}.tmp ${SITE_PACKAGE_INSTALLER}`,
      ].join("\n"),
    });
  }
}

const HEREDOC_END = "HPCDK_SITE_PACKAGE_INSTALLER";

export interface SitePackageProps {
  readonly bundle: Bundle;
  readonly package: SitePackageSpec;
  /** Installation directory of a tar archive. Required for archives, refused for .deb/.rpm. */
  readonly prefix?: string;
  /** Leading path components a tar archive loses when unpacked. @default 1 */
  readonly stripComponents?: number;
}

/** A name for a package from its file name: `apptainer_1.3.6_amd64.deb` → `apptainer_1.3.6_amd64`. */
export function sitePackageName(url: string): string {
  const file = url.split("/").pop()!;
  return file.replace(/\.(deb|rpm|tar\.gz|tgz|tar\.xz|tar\.bz2)$/, "").replace(/[^A-Za-z0-9._+-]/g, "_").replace(/^\.+/, "") || "package";
}

const q = (s: string) => `'${s.replace(/'/g, `'"'"'`)}'`;

/**
 * One package from the site's package source, verified by sha256 and installed by a deploy
 * step before the bundle's files. Steps run in id order: the installer is `05-…`, packages
 * `10-…`, and after-files steps that need an installed package `20-…`.
 */
export class SitePackage extends Construct {
  readonly name: string;

  constructor(scope: Construct, id: string, props: SitePackageProps) {
    super(scope, id);
    const { url, sha256, format } = props.package;
    const where = `SitePackage [${this.node.path}]`;
    if (format === undefined) throw new Error(`${where}: not a .deb, .rpm or tar archive, got "${url}"`);
    if (format === "tar" && props.prefix === undefined) throw new Error(`${where}: a tar archive needs a prefix, got "${url}"`);
    if (format !== "tar" && props.prefix !== undefined) throw new Error(`${where}: only tar archives take a prefix, got "${url}"`);
    this.name = sitePackageName(url);
    SitePackageInstaller.of(props.bundle);
    const args = [this.name, url, sha256, ...(props.prefix !== undefined ? [props.prefix, String(props.stripComponents ?? 1)] : [])];
    props.bundle.addStep({
      id: `10-site-package-${this.name}`,
      phase: "before-files",
      description: `install ${this.name} from the site's package source (sha256 ${sha256.slice(0, 12)}…)`,
      run: `${SITE_PACKAGE_INSTALLER} ${args.map(q).join(" ")}`,
    });
  }
}
