/**
 * The rules of the site's container runtimes section that relate it to the rest of the site, apart from its
 * schema (schema/containers.ts) so that the site's schema (schema/site.ts) composes the section's
 * schema and schema/rules.ts composes these rules, with no circle through site.ts.
 */
import { expandHostlist } from "../common/hostlist.js";
import type { SiteSpec } from "./site.js";
import { within } from "./common.js";
import { quote, sitePackageFormat, sitePackageName, type ContainersSpec, type PodmanSpec, type SitePackageSpec } from "./containers.js";

// ---------------------------------------------------------------------------------------------
// Rules

type Path = (string | number)[];
export type Report = (path: Path, message: string) => void;


/** Shifter runs from Slurm's SPANK plugin and prologue and authenticates with munge: refuse it without Slurm. */
export function requireSlurmForShifter(site: { readonly slurm?: unknown; readonly containers?: ContainersSpec }, report: Report): void {
  if (site.containers?.shifter && site.slurm === undefined) {
    report(
      ["containers", "shifter"],
      "Shifter needs the site's slurm section: its SPANK plugin, prologue and the image gateway's munge authentication come with Slurm",
    );
  }
}

/** The fixed part of a path before its first `$VAR`: `/var/tmp/$USER.ch` → `/var/tmp`. */
const fixedPrefix = (path: string) => {
  const i = path.indexOf("$");
  if (i < 0) return path;
  return path.slice(0, path.lastIndexOf("/", i)) || "/";
};

export function checkContainers(site: SiteSpec, report: Report): void {
  const c = site.containers;
  if (!c) return;
  const groupsByName = new Map(site.nodeGroups.map((g) => [g.name, g]));
  const known = site.nodeGroups.map((g) => g.name).join(", ") || "none";

  const checkGroups = (list: readonly string[], at: Path) => {
    const seen = new Set<string>();
    list.forEach((g, i) => {
      if (!groupsByName.has(g)) report([...at, i], `unknown node group ${quote(g)} (node groups: ${known})`);
      else if (seen.has(g)) report([...at, i], `node group ${quote(g)} is listed twice`);
      seen.add(g);
    });
  };

  /** Container storage must be on local disk: never under an NFS export of the site or a shared path. */
  const exportsList = site.nfs.groups.flatMap((g, gi) => g.exports.map((e, ei) => ({ path: e.path, at: `nfs.groups.${gi}.exports.${ei}.path` })));
  const localOnly = (path: string, at: Path, what: string) => {
    if (/\$\{?HOME\b/.test(path)) {
      report(at, `${what} must not be in $HOME: home directories are on NFS, got ${quote(path)}`);
      return;
    }
    const fixed = fixedPrefix(path);
    const ex = exportsList.find((e) => within(fixed, e.path) || within(e.path, fixed));
    if (ex) {
      report(at, `${quote(path)} is on the NFS export ${ex.path} (${ex.at}): ${what} must be on local disk`);
      return;
    }
    const sharedIndex = c.sharedPaths.findIndex((s) => within(fixed, s) || within(s, fixed));
    if (sharedIndex >= 0) {
      report(at, `${quote(path)} is on ${c.sharedPaths[sharedIndex]}, a network filesystem of the nodes (containers.sharedPaths.${sharedIndex}): ${what} must be on local disk`);
    }
  };

  c.sharedPaths.forEach((p, i) => {
    if (p === "/") report(["containers", "sharedPaths", i], `must not be "/": name the mount points of the network filesystems`);
  });

  // Each node group installs its site packages by name (a deploy step and a marker per name): one
  // name must mean one file. The same file listed twice is installed once.
  const packageNames = new Map<string, { url: string; sha256: string; at: Path }>();
  const checkPackages = (packages: readonly SitePackageSpec[], groups: readonly string[], at: Path) =>
    packages.forEach((p, i) => {
      for (const g of groups) {
        const key = `${g}\0${sitePackageName(p.url)}`;
        const first = packageNames.get(key);
        if (first && (first.url !== p.url || first.sha256 !== p.sha256)) {
          report([...at, i, "url"], `installs package ${quote(sitePackageName(p.url))} on node group ${quote(g)}, and so does ${first.at.join(".")} from another file (${quote(first.url)}): rename one of the files`);
          return;
        }
        if (!first) packageNames.set(key, { url: p.url, sha256: p.sha256, at: [...at, i, "url"] });
      }
    });
  const debOrRpm = (packages: readonly SitePackageSpec[], at: Path) =>
    packages.forEach((p, i) => {
      if (sitePackageFormat(p.url) === "tar") report([...at, i, "url"], `must be a .deb or .rpm package (an archive has no install scripts), got ${quote(p.url)}`);
    });
  if (c.apptainer) checkPackages(c.apptainer.packages, c.apptainer.groups, ["containers", "apptainer", "packages"]);
  if (c.sarus) checkPackages([c.sarus.package], c.sarus.groups, ["containers", "sarus", "package"]);
  if (c.shifter) {
    checkPackages(c.shifter.packages, c.shifter.groups, ["containers", "shifter", "packages"]);
    checkPackages(c.shifter.gateway.packages, [c.shifter.gateway.group], ["containers", "shifter", "gateway", "packages"]);
    debOrRpm(c.shifter.packages, ["containers", "shifter", "packages"]);
    debOrRpm(c.shifter.gateway.packages, ["containers", "shifter", "gateway", "packages"]);
  }

  if (c.apptainer) {
    const a = c.apptainer;
    checkGroups(a.groups, ["containers", "apptainer", "groups"]);
    // The bind paths apptainer.conf gets: its defaults, the fabric's on InfiniBand groups, the site's.
    a.groups.forEach((g) => {
      const defaults = ["/etc/localtime", "/etc/hosts", ...(groupsByName.get(g)?.infiniband ? ["/dev/infiniband", "/etc/libibverbs.d"] : [])];
      const seen = new Map<string, string>(defaults.map((d) => [d, "a bind path hpcdk adds"]));
      a.bindPaths.forEach((b, i) => {
        const first = seen.get(b);
        if (first !== undefined) report(["containers", "apptainer", "bindPaths", i], `${quote(b)} is given twice on node group ${quote(g)} (also ${first})`);
        else seen.set(b, `containers.apptainer.bindPaths.${i}`);
      });
    });
    debOrRpm(a.packages, ["containers", "apptainer", "packages"]);
    if (a.mode === "unprivileged") {
      if (a.limitContainerOwners.length > 0) {
        report(["containers", "apptainer", "limitContainerOwners"], "only applies in setuid mode (containers.apptainer.mode: setuid)");
      }
      if (a.limitContainerPaths.length > 0) {
        report(["containers", "apptainer", "limitContainerPaths"], "only applies in setuid mode (containers.apptainer.mode: setuid)");
      }
    }
  }

  if (c.charliecloud) {
    checkGroups(c.charliecloud.groups, ["containers", "charliecloud", "groups"]);
    localOnly(c.charliecloud.storageDir, ["containers", "charliecloud", "storageDir"], "Charliecloud image storage");
  }

  if (c.podman) {
    const p = c.podman;
    checkGroups(p.groups, ["containers", "podman", "groups"]);
    for (const field of ["graphroot", "runroot", "rootlessStorageRoot"] as const) {
      localOnly(p[field], ["containers", "podman", field], "Podman storage");
    }
    checkSubordinateIds(p.subordinateIds, ["containers", "podman", "subordinateIds"], report);
  }

  if (c.sarus) {
    checkGroups(c.sarus.groups, ["containers", "sarus", "groups"]);
  }

  if (c.shifter) {
    const s = c.shifter;
    checkGroups(s.groups, ["containers", "shifter", "groups"]);
    if (!c.sharedPaths.some((p) => within(s.imagePath, p))) {
      report(
        ["containers", "shifter", "imagePath"],
        `${quote(s.imagePath)} is not on shared storage: every node reads the images, so it must be under one of containers.sharedPaths (${c.sharedPaths.join(", ") || "none"})`,
      );
    }
    const gw = groupsByName.get(s.gateway.group);
    if (!gw) {
      report(["containers", "shifter", "gateway", "group"], `unknown node group ${quote(s.gateway.group)} (node groups: ${known})`);
    } else {
      const hosts = expandHostlist(gw.hosts);
      if (hosts.length !== 1) {
        report(
          ["containers", "shifter", "gateway", "group"],
          `node group ${quote(gw.name)} has ${hosts.length} hosts (${gw.hosts}): the image gateway keeps its image database in a MongoDB bound to 127.0.0.1, so its group must have exactly one host`,
        );
      }
    }
    const lastPort = s.gateway.basePort + s.gateway.replicas - 1;
    if (lastPort > 65535) {
      report(["containers", "shifter", "gateway", "basePort"], `${s.gateway.replicas} replicas from port ${s.gateway.basePort} end at ${lastPort}, above 65535`);
    }
    for (const [field, port] of [["mongodbPort", s.gateway.mongodbPort], ["redisPort", s.gateway.redisPort]] as const) {
      if (port >= s.gateway.basePort && port <= lastPort) {
        report(["containers", "shifter", "gateway", field], `port ${port} is also an image gateway API port (${s.gateway.basePort}-${lastPort})`);
      }
    }
    if (s.gateway.mongodbPort === s.gateway.redisPort) {
      report(["containers", "shifter", "gateway", "redisPort"], `port ${s.gateway.redisPort} is also containers.shifter.gateway.mongodbPort`);
    }
    requireSlurmForShifter(site as SiteSpec & { slurm?: unknown }, report);
  }

  if (c.slurm) checkGroups(c.slurm.groups, ["containers", "slurm", "groups"]);
}

/** The largest valid id: 2^32 - 1 is (uid_t)-1, which means "no id". */
export const MAX_ID = 4294967294;

function checkSubordinateIds(ids: PodmanSpec["subordinateIds"], at: Path, report: Report): void {
  let bad = false;
  ids.uidRanges.forEach((r, i) => {
    if (r.first > r.last) {
      report([...at, "uidRanges", i], `first ${r.first} is after last ${r.last}`);
      bad = true;
    }
  });
  if (bad) return;
  const sorted = ids.uidRanges.map((r, i) => ({ ...r, i })).sort((a, b) => a.first - b.first);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1]!;
    const cur = sorted[k]!;
    if (cur.first <= prev.last) {
      report([...at, "uidRanges", cur.i], `uids ${cur.first}-${cur.last} overlap uidRanges.${prev.i} (${prev.first}-${prev.last})`);
      bad = true;
    }
  }
  if (bad) return;
  const users = sorted.reduce((n, r) => n + (r.last - r.first + 1), 0);
  const end = ids.start + users * ids.count - 1;
  if (end > MAX_ID) {
    report([...at, "count"], `${users} users x ${ids.count} ids from ${ids.start} end at ${end}, above the largest id ${MAX_ID}: lower count or start`);
    return;
  }
  const clash = sorted.find((r) => r.first <= end && r.last >= ids.start);
  if (clash) {
    report(
      [...at, "start"],
      `subordinate ids ${ids.start}-${end} overlap the users' uids ${clash.first}-${clash.last} (uidRanges.${clash.i}): a user could own another user's files inside containers`,
    );
  }
}
