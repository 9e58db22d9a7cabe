/**
 * The narrowed values every section of a site file shares: absolute paths, device paths, host
 * names, NIC names, ZFS pool and dataset names, Slurm and Unix names, ports, and how a value is
 * shown in an error message.
 *
 * Site files come from pull requests, and what hpcdk renders from them runs as root: a value
 * reaches a generated file either through the writer of that file's language (which quotes it)
 * or, where the language has no safe quoting (corosync.conf, gres.conf, udiRoot.conf, exports
 * options, ...), only after the schema has narrowed it to what the target accepts. These are the
 * narrowing rules. Each says what it expects in its error message.
 *
 * Cost: every check here is linear in the length of its input (a length bound first, then a
 * character loop or a regular expression of one character class; no nested quantifiers, no
 * backtracking), so no value can make validation slow.
 */
import { isIP } from "node:net";
import { z } from "zod";

// ---------------------------------------------------------------------------------------------
// Messages

import { shown } from "../common/shown.js";

export { MAX_SHOWN, shown } from "../common/shown.js";

/** A string check: a reason when the value is refused, undefined when it is accepted. */
export type Check = (value: string) => string | undefined;

/**
 * A zod string narrowed by `check`. `pattern` goes into the JSON Schema for editors (an
 * approximation: the check decides).
 */
export function narrowed(check: Check, pattern?: string) {
  const schema = z.string().superRefine((value, ctx) => {
    const why = check(value);
    if (why !== undefined) ctx.addIssue({ code: "custom", message: why, input: value });
  });
  return pattern === undefined ? schema : schema.meta({ pattern });
}

/** Control characters (C0, DEL, C1), line and paragraph separators: never in a value hpcdk renders. */
export function hasControl(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Paths

/** Longest path (PATH_MAX is 4096 bytes with the terminating NUL). */
export const MAX_PATH = 4095;
/** Longest path component (NAME_MAX). */
export const MAX_NAME = 255;

/**
 * Characters of a path component: letters, digits and `. _ - + @ ~`. Nothing else is needed for
 * the directories of an HPC site, and nothing else is safe unquoted in every language a path
 * reaches (shell, systemd units, slurm.conf, udiRoot.conf, apptainer.conf, ganesha.conf, nginx,
 * the CIB): no whitespace, quotes, `$`, `%`, `#`, `;`, `:`, `,`, `=`, braces or brackets, no
 * control characters and no look-alike letters from other scripts.
 */
const PATH_CHARS = /^[A-Za-z0-9._+@~/-]*$/;
const PATH_CHARS_TEXT = `letters, digits and . _ - + @ ~`;
/** Device names (`/dev/disk/by-id/…`, `/dev/mapper/…`) also hold ":" (by-path and by-id names do). */
const DEVICE_CHARS = /^[A-Za-z0-9._+@:/-]*$/;

export interface PathOptions {
  /** Also accept ":" (device names). @default false */
  readonly colon?: boolean;
}

/**
 * Why `p` is not an absolute path hpcdk accepts, or undefined: it starts with "/", has single
 * "/" between components, no "." or ".." component, no trailing "/" (except "/" itself), only
 * {@link PATH_CHARS_TEXT}, at most {@link MAX_PATH} characters and {@link MAX_NAME} per component.
 */
export function pathProblem(p: string, options: PathOptions = {}): string | undefined {
  const expected = `must be an absolute path of ${PATH_CHARS_TEXT}${options.colon ? " :" : ""} separated by single "/" (no spaces, quotes, "$", "." or ".." parts, no trailing "/")`;
  if (p.length > MAX_PATH) return `${expected}, at most ${MAX_PATH} characters, got ${shown(p)}`;
  if (!p.startsWith("/")) return `${expected}, got ${shown(p)}`;
  if (!(options.colon ? DEVICE_CHARS : PATH_CHARS).test(p)) {
    const bad = [...p].find((c) => !(options.colon ? DEVICE_CHARS : PATH_CHARS).test(c) || c === "");
    return `${expected}, got ${shown(p)}${bad === undefined ? "" : ` (${shown(bad)} is not allowed)`}`;
  }
  if (p === "/") return undefined;
  const parts = p.slice(1).split("/");
  for (const part of parts) {
    if (part === "") return `${expected}, got ${shown(p)} (empty part: "//" or a trailing "/")`;
    if (part === "." || part === "..") return `${expected}, got ${shown(p)} (a "${part}" part)`;
    if (part.length > MAX_NAME) return `${expected}, got ${shown(p)} (a part longer than ${MAX_NAME} characters)`;
  }
  return undefined;
}

const PATH_PATTERN = "^/[A-Za-z0-9._+@~/-]*$";

/** An absolute path, narrowed as {@link pathProblem} says. */
export const absolutePath = () => narrowed((p) => pathProblem(p), PATH_PATTERN);

/** True when `path` is `dir` or lies under it. */
export function within(path: string, dir: string): boolean {
  return path === dir || path.startsWith(dir === "/" ? "/" : `${dir}/`);
}

/**
 * Directories of the operating system. hpcdk refuses to install into, replace, chown or chmod any
 * of them as a directory of its own (a Sarus prefix, a state directory, a storage root): a site
 * file that names /usr/local as a prefix would otherwise have it moved aside and chowned.
 */
export const SYSTEM_DIRECTORIES: readonly string[] = [
  "/",
  ...["bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt", "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var"].map(
    (d) => `/${d}`,
  ),
  ...["bin", "sbin", "lib", "lib32", "lib64", "libx32", "libexec", "include", "share", "src", "local", "games"].map((d) => `/usr/${d}`),
  ...["bin", "sbin", "lib", "lib64", "libexec", "include", "share", "etc", "src", "man", "games"].map((d) => `/usr/local/${d}`),
  ...["lib", "log", "spool", "cache", "tmp", "run", "lock", "mail", "opt", "local", "backups", "www"].map((d) => `/var/${d}`),
  "/run/user",
  "/run/lock",
  "/var/lib/hpcdk",
];

/** Trees no directory of a site may live in: the kernel's, devices, boot files and /etc. */
const SYSTEM_TREES: readonly string[] = ["/proc", "/sys", "/dev", "/boot", "/etc"];

/**
 * Why `p` cannot be a directory hpcdk makes its own (creates, replaces, chowns or chmods), or
 * undefined. `what` names the use in the message.
 */
export function ownedDirectoryProblem(p: string, what: string): string | undefined {
  const path = pathProblem(p);
  if (path !== undefined) return path;
  if (SYSTEM_DIRECTORIES.includes(p)) {
    return `${shown(p)} is a system directory: ${what}, so it must be a directory of its own (such as ${p === "/" ? "/srv/x" : `${p}/x`})`;
  }
  const tree = SYSTEM_TREES.find((t) => within(p, t));
  if (tree !== undefined) return `${shown(p)} is under ${tree}: ${what}, so it must not be in ${tree}`;
  return undefined;
}

/** A directory hpcdk makes its own; `what` says what hpcdk does to it (e.g. "the deploy chowns it to the slurm user"). */
export const ownedDirectory = (what: string) => narrowed((p) => ownedDirectoryProblem(p, what), PATH_PATTERN);

/** Stable names of a shared device: the same on every node. */
const STABLE_DEVICE_DIRS = ["/dev/disk/by-id/", "/dev/mapper/"] as const;

/** Why `p` is not a stable device path (`/dev/disk/by-id/NAME`, `/dev/mapper/NAME`), or undefined. */
export function stableDeviceProblem(p: string): string | undefined {
  const expected = `must be a stable device path under /dev/disk/by-id/ or /dev/mapper/ (the same on every node; a name of letters, digits and . _ - + @ :), got ${shown(p)}`;
  const dir = STABLE_DEVICE_DIRS.find((d) => p.startsWith(d));
  if (dir === undefined) return expected;
  const name = p.slice(dir.length);
  if (name === "" || name === "." || name === ".." || name.includes("/") || name.length > MAX_NAME || !DEVICE_CHARS.test(name)) return expected;
  return undefined;
}

export const stableDevice = () => narrowed(stableDeviceProblem, "^/dev/(disk/by-id|mapper)/[A-Za-z0-9._+@:-]+$");

// ---------------------------------------------------------------------------------------------
// Names

/**
 * Why `name` is not a host name by RFC 1123 (labels of letters, digits and "-", not starting or
 * ending with "-", at most 63 characters each, 253 in all), or undefined.
 */
export function hostNameProblem(name: string): string | undefined {
  const expected = `must be a host name (RFC 1123: labels of letters, digits and "-" separated by ".", each at most 63 characters and not starting or ending with "-"), got ${shown(name)}`;
  if (name.length === 0 || name.length > 253) return expected;
  for (const label of name.split(".")) {
    if (label.length === 0 || label.length > 63 || !/^[A-Za-z0-9-]+$/.test(label) || label.startsWith("-") || label.endsWith("-")) return expected;
  }
  return undefined;
}

export const hostName = () => narrowed(hostNameProblem, "^[A-Za-z0-9.-]+$");

/** Why `value` is neither a host name nor an IPv4/IPv6 address, or undefined. */
export function hostOrAddressProblem(value: string): string | undefined {
  if (value.length <= 45 && isIP(value) !== 0) return undefined;
  return hostNameProblem(value) === undefined && !/^[0-9.]+$/.test(value) ? undefined : `must be a host name or an IP address, got ${shown(value)}`;
}

export const hostOrAddress = () => narrowed(hostOrAddressProblem, "^[A-Za-z0-9.:-]+$");

/**
 * Why `name` is not a network interface name the kernel accepts and IPaddr2 can use, or undefined:
 * at most 15 characters (IFNAMSIZ), not "." or "..", no "/", ":" or whitespace (dev_valid_name);
 * hpcdk takes letters, digits and `_ . -`.
 */
export function nicNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 15 || name === "." || name === ".." || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    return `must be a network interface name: 1-15 letters, digits, "_", "." or "-" (the kernel's IFNAMSIZ; no "/", ":" or spaces), got ${shown(name)}`;
  }
  return undefined;
}

export const nicName = () => narrowed(nicNameProblem, "^[A-Za-z0-9_.-]{1,15}$");

/**
 * Pool names zpool refuses or that name a vdev class: `mirror`, `raidz…`, `draid…`, `spare…`
 * (zpool_name_valid reserves every name starting with them), and `log`, `cache`, `special`,
 * `dedup`.
 */
const RESERVED_POOL_PREFIXES = ["mirror", "raidz", "draid", "spare"] as const;
const RESERVED_POOL_NAMES = ["log", "cache", "special", "dedup"] as const;

/**
 * Why `name` is not a ZFS pool name hpcdk accepts, or undefined. ZFS's rules (a letter first;
 * letters, digits, `_ - . :`; not a reserved word; not `c<digit>…`, which looks like a Solaris
 * disk), narrowed: no ":" and no space, because the name is also part of a Pacemaker resource id
 * (`zfs-<pool>`) and of file names.
 * @see https://openzfs.github.io/openzfs-docs/man/master/8/zpool-create.8.html
 */
export function poolNameProblem(name: string): string | undefined {
  if (name.length === 0 || name.length > 200 || !/^[A-Za-z][A-Za-z0-9_.-]*$/.test(name)) {
    return `a pool name must be a letter, then letters, digits, "_", "." or "-" (at most 200 characters), got ${shown(name)}`;
  }
  const prefix = RESERVED_POOL_PREFIXES.find((r) => name.startsWith(r));
  if (prefix !== undefined) return `${shown(name)} starts with "${prefix}", which zpool reserves (mirror, raidz, draid and spare name vdev types)`;
  if ((RESERVED_POOL_NAMES as readonly string[]).includes(name)) return `${shown(name)} is reserved by zpool (log, cache, special and dedup name vdev classes)`;
  if (/^c[0-9]/.test(name)) return `${shown(name)} looks like a disk name (c0t0d0): ZFS refuses pool names of "c" and a digit`;
  return undefined;
}

export const poolName = () => narrowed(poolNameProblem, "^[A-Za-z][A-Za-z0-9_.-]*$");

/** Characters of a ZFS dataset name component (ZFS also allows spaces; hpcdk does not). */
export function datasetComponentProblem(part: string): string | undefined {
  if (part.length === 0 || part.length > MAX_NAME || !/^[A-Za-z0-9_.:-]+$/.test(part)) {
    return `${shown(part)} cannot name a ZFS dataset (letters, digits and _ . : - only)`;
  }
  return undefined;
}

/** A name of a Slurm object (partition, node group: NodeSet and Feature), lower case. */
export const SLURM_NAME = /^[a-z][a-z0-9_-]{0,62}$/;
/** A Unix user or group name (useradd's rules, at most 32 characters). */
export const UNIX_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** A string matching `re`, with a message naming `what` and the expected form. */
export function named(what: string, re: RegExp, hint: string) {
  return narrowed((v) => (v.length <= 256 && re.test(v) ? undefined : `${what} must match ${hint}, got ${shown(v)}`), re.source);
}

export { SECRET_PLACEHOLDER_PREFIX } from "../common/contracts/bundle.js";

// ---------------------------------------------------------------------------------------------
// Numbers and uniqueness

export const port = () => z.int().min(1).max(65535);

type Path = (string | number)[];

/**
 * A checker of values that must be unique: the second use of a value is reported at its path,
 * naming where it was first used.
 */
export function uniqueness(report: (path: Path, message: string) => void, what: string) {
  const seen = new Map<string, Path>();
  return (value: string, path: Path): void => {
    const first = seen.get(value);
    if (first) report(path, `${what} ${shown(value)} is already used by ${first.join(".")}`);
    else seen.set(value, path);
  };
}
