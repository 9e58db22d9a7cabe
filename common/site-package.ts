/**
 * The name a site package is installed under, shared by the schema (one name, one file) and the
 * constructs (the deploy step and its marker). The ground floor: it imports nothing.
 */

/** A name for a package from its file name: `apptainer_1.3.6_amd64.deb` → `apptainer_1.3.6_amd64` (its deploy step and marker file). */
export function sitePackageName(url: string): string {
  const file = url.split("/").pop()!;
  return file.replace(/\.(deb|rpm|tar\.gz|tgz|tar\.xz|tar\.bz2)$/, "").replace(/[^A-Za-z0-9._+-]/g, "_").replace(/^\.+/, "") || "package";
}
