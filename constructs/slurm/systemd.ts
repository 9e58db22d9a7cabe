/**
 * The name systemd gives the mount unit of a path (`systemd-escape --path --suffix=mount`):
 * `/var/spool/slurmctld` → `var-spool-slurmctld.mount`.
 * @see https://www.freedesktop.org/software/systemd/man/systemd.unit.html#String%20Escaping%20for%20Inclusion%20in%20Unit%20Names
 */
export function mountUnitName(path: string): string {
  const trimmed = path.replace(/\/+/g, "/").replace(/^\/|\/$/g, "");
  if (trimmed === "") return "-.mount";
  const escaped = [...Buffer.from(trimmed, "utf8")]
    .map((byte, i) => {
      const c = String.fromCharCode(byte);
      if (c === "/") return "-";
      if (/[A-Za-z0-9:_]/.test(c) || (c === "." && i > 0)) return c;
      return `\\x${byte.toString(16).padStart(2, "0")}`;
    })
    .join("");
  return `${escaped}.mount`;
}
