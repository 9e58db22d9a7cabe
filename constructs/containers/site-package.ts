import { Construct } from "constructs";
import { managedHeader, renderTemplate, shell, type Bundle } from "../core/index.js";
import { sitePackageName } from "../../common/site-package.js";
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
        // The heredoc's quoted delimiter keeps the script as it is (no expansion).
        `${shell`cat >${`${SITE_PACKAGE_INSTALLER}.tmp`}`} <<'${HEREDOC_END}'`,
        this.script.trimEnd(),
        HEREDOC_END,
        shell`chmod 0755 ${`${SITE_PACKAGE_INSTALLER}.tmp`}`,
        shell`mv ${`${SITE_PACKAGE_INSTALLER}.tmp`} ${SITE_PACKAGE_INSTALLER}`,
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

export { sitePackageName };


/**
 * One package from the site's package source, verified by sha256 and installed by a deploy
 * step before the bundle's files. Steps run in id order: the installer is `05-…`, packages
 * `10-…`, and after-files steps that need an installed package `20-…`.
 */
export class SitePackage extends Construct {
  /** The packages of each bundle by name: one file installed under a name once (the site may list it for two runtimes). */
  private static readonly installed = new WeakMap<Bundle, Map<string, string>>();
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
    const installed = SitePackage.installed.get(props.bundle) ?? new Map<string, string>();
    SitePackage.installed.set(props.bundle, installed);
    const key = JSON.stringify(args);
    const known = installed.get(this.name);
    if (known !== undefined) {
      if (known !== key) throw new Error(`${where}: two different files are installed as ${this.name} in ${props.bundle.node.path}`);
      return;
    }
    installed.set(this.name, key);
    props.bundle.addStep({
      id: `10-site-package-${this.name}`,
      phase: "before-files",
      description: `install ${this.name} from the site's package source (sha256 ${sha256.slice(0, 12)}…)`,
      run: shell`${SITE_PACKAGE_INSTALLER} ${args}`,
    });
  }
}
