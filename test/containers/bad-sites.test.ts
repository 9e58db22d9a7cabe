/**
 * Bad containers sections: each case breaks the valid fixture (test/fixtures/sites/containers.yaml)
 * in one way and asserts the exact messages (file, line, field path, what was expected), and that
 * nothing is written.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requireSlurmForShifter } from "../../schema/containers-rules.js";
import { parseSite, SiteError } from "../../schema/load.js";
import { synthSiteFiles } from "../../stacks/synth.js";
import { FIXTURES, tempDir } from "../helpers.js";

interface BadCase {
  readonly name: string;
  readonly edits: readonly (readonly [string, string])[];
  readonly problems: readonly string[];
}

const BASE = readFileSync(join(FIXTURES, "containers.yaml"), "utf8");

function apply(c: BadCase): string {
  return c.edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`case "${c.name}": the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, BASE);
}

function problemsOf(text: string): readonly string[] {
  try {
    parseSite(text, "sites/bad.yaml");
  } catch (err) {
    if (!(err instanceof SiteError)) throw err;
    return err.problems;
  }
  return [];
}

const CASES: BadCase[] = [
  {
    name: "a runtime names an unknown node group",
    edits: [["  charliecloud:\n    groups: [login, compute]", "  charliecloud:\n    groups: [login, comptue]"]],
    problems: [
      "sites/bad.yaml:53:21: containers.charliecloud.groups.1: unknown node group \"comptue\" (node groups: login, compute, gpu, gw)",
    ],
  },
  {
    name: "a node group is listed twice",
    edits: [["  podman:\n    groups: [login, compute]", "  podman:\n    groups: [login, compute, login]"]],
    problems: [
      "sites/bad.yaml:55:30: containers.podman.groups.2: node group \"login\" is listed twice",
    ],
  },
  {
    name: "podman storage is on an NFS export of the site",
    edits: [["  podman:\n    groups: [login, compute]\n", "  podman:\n    groups: [login, compute]\n    graphroot: /tank/home/containers\n"]],
    problems: [
      "sites/bad.yaml:56:5: containers.podman.graphroot: \"/tank/home/containers\" is on the NFS export /tank/home (nfs.groups.0.exports.0.path): Podman storage must be on local disk",
    ],
  },
  {
    name: "rootless podman storage is in the NFS home directories",
    edits: [["  podman:\n    groups: [login, compute]\n", "  podman:\n    groups: [login, compute]\n    rootlessStorageRoot: /home/containers\n"]],
    problems: [
      "sites/bad.yaml:56:5: containers.podman.rootlessStorageRoot: \"/home/containers\" is on /home, a network filesystem of the nodes (containers.sharedPaths.0): Podman storage must be on local disk",
    ],
  },
  {
    name: "charliecloud storage is in $HOME",
    edits: [["  charliecloud:\n    groups: [login, compute]\n", "  charliecloud:\n    groups: [login, compute]\n    storageDir: $HOME/.charliecloud\n"]],
    problems: [
      "sites/bad.yaml:54:5: containers.charliecloud.storageDir: Charliecloud image storage must not be in $HOME: home directories are on NFS, got \"$HOME/.charliecloud\"",
    ],
  },
  {
    name: "charliecloud storage is on a shared path",
    edits: [["  charliecloud:\n    groups: [login, compute]\n", "  charliecloud:\n    groups: [login, compute]\n    storageDir: /shared/ch/$USER\n"]],
    problems: [
      "sites/bad.yaml:54:5: containers.charliecloud.storageDir: \"/shared/ch/$USER\" is on /shared, a network filesystem of the nodes (containers.sharedPaths.1): Charliecloud image storage must be on local disk",
    ],
  },
  {
    name: "a storage path uses an unknown variable",
    edits: [["  charliecloud:\n    groups: [login, compute]\n", "  charliecloud:\n    groups: [login, compute]\n    storageDir: /var/tmp/$LOGNAME\n"]],
    problems: [
      "sites/bad.yaml:54:5: containers.charliecloud.storageDir: may only use the variables $USER and $UID, got \"/var/tmp/$LOGNAME\"",
    ],
  },
  {
    name: "subordinate ids overlap the users' uids",
    edits: [["        - { first: 16901, last: 16910 }\n", "        - { first: 16901, last: 16910 }\n      start: 16000\n"]],
    problems: [
      "sites/bad.yaml:59:7: containers.podman.subordinateIds.start: subordinate ids 16000-671359 overlap the users' uids 16901-16910 (uidRanges.0): a user could own another user's files inside containers",
    ],
  },
  {
    name: "uid ranges overlap",
    edits: [["        - { first: 16901, last: 16910 }\n", "        - { first: 16901, last: 16910 }\n        - { first: 16905, last: 16920 }\n"]],
    problems: [
      "sites/bad.yaml:59:11: containers.podman.subordinateIds.uidRanges.1: uids 16905-16920 overlap uidRanges.0 (16901-16910)",
    ],
  },
  {
    name: "a uid range is backwards",
    edits: [["{ first: 16901, last: 16910 }", "{ first: 16910, last: 16901 }"]],
    problems: [
      "sites/bad.yaml:58:11: containers.podman.subordinateIds.uidRanges.0: first 16910 is after last 16901",
    ],
  },
  {
    name: "subordinate ids run past the largest id",
    edits: [["{ first: 16901, last: 16910 }", "{ first: 10000, last: 79999 }"]],
    problems: [
      "sites/bad.yaml:57:7: containers.podman.subordinateIds.count: 70000 users x 65536 ids from 100000 end at 4587619999, above the largest id 4294967294: lower count or start",
    ],
  },
  {
    name: "too few subordinate ids per user",
    edits: [["        - { first: 16901, last: 16910 }\n", "        - { first: 16901, last: 16910 }\n      count: 1000\n"]],
    problems: [
      "sites/bad.yaml:59:7: containers.podman.subordinateIds.count: must be at least 65536, got 1000",
    ],
  },
  {
    name: "a package has no checksum",
    edits: [['        sha256: "1111111111111111111111111111111111111111111111111111111111111111"\n', ""]],
    problems: [
      "sites/bad.yaml:50:9: containers.apptainer.packages.0.sha256: is required (a string)",
    ],
  },
  {
    name: "a checksum is not sha256",
    edits: [["1111111111111111111111111111111111111111111111111111111111111111", "d41d8cd98f00b204e9800998ecf8427e"]],
    problems: [
      "sites/bad.yaml:51:9: containers.apptainer.packages.0.sha256: must be 64 lowercase hex digits (sha256sum), got \"d41d8cd98f00b204e9800998ecf8427e\"",
    ],
  },
  {
    name: "an unquoted all-digit checksum",
    edits: [['"1111111111111111111111111111111111111111111111111111111111111111"', "1111111111111111111111111111111111111111111111111111111111111111"]],
    problems: [
      "sites/bad.yaml:51:9: containers.apptainer.packages.0.sha256: must be quoted: YAML reads a sha256 of only digits (or digits, one e, digits) as a number",
    ],
  },
  {
    name: "a package URL is not a package",
    edits: [["https://mirror.example.org/apptainer_1.3.6_amd64.deb", "https://mirror.example.org/apptainer/"]],
    problems: [
      "sites/bad.yaml:50:9: containers.apptainer.packages.0.url: must name a .deb, .rpm or .tar.gz/.tgz/.tar.xz/.tar.bz2 file, got \"https://mirror.example.org/apptainer/\"",
    ],
  },
  {
    name: "apptainer from an archive",
    edits: [["https://mirror.example.org/apptainer_1.3.6_amd64.deb", "https://mirror.example.org/apptainer-1.3.6.tar.gz"]],
    problems: [
      "sites/bad.yaml:50:9: containers.apptainer.packages.0.url: must be a .deb or .rpm package (an archive has no install scripts), got \"https://mirror.example.org/apptainer-1.3.6.tar.gz\"",
    ],
  },
  {
    name: "apptainer limits container owners in unprivileged mode",
    edits: [["  apptainer:\n    groups: [login, compute]\n", "  apptainer:\n    groups: [login, compute]\n    limitContainerOwners: [root]\n"]],
    problems: [
      "sites/bad.yaml:49:5: containers.apptainer.limitContainerOwners: only applies in setuid mode (containers.apptainer.mode: setuid)",
    ],
  },
  {
    name: "the shifter gateway group has several hosts",
    edits: [["      group: gw\n", "      group: compute\n"]],
    problems: [
      "sites/bad.yaml:76:7: containers.shifter.gateway.group: node group \"compute\" has 4 hosts (c[01-04]): the image gateway keeps its image database in a MongoDB bound to 127.0.0.1, so its group must have exactly one host",
    ],
  },
  {
    name: "the shifter gateway group does not exist",
    edits: [["      group: gw\n", "      group: gateway\n"]],
    problems: [
      "sites/bad.yaml:76:7: containers.shifter.gateway.group: unknown node group \"gateway\" (node groups: login, compute, gpu, gw)",
    ],
  },
  {
    name: "shifter images are not on shared storage",
    edits: [["imagePath: /shared/shifter/images", "imagePath: /var/lib/shifter/images"]],
    problems: [
      "sites/bad.yaml:74:5: containers.shifter.imagePath: \"/var/lib/shifter/images\" is not on shared storage: every node reads the images, so it must be under one of containers.sharedPaths (/home, /shared)",
    ],
  },
  {
    name: "the shifter gateway's redis port is an API port",
    edits: [["      group: gw\n", "      group: gw\n      redisPort: 5001\n"]],
    problems: [
      "sites/bad.yaml:77:7: containers.shifter.gateway.redisPort: port 5001 is also an image gateway API port (5000-5002)",
    ],
  },
  {
    name: "the shifter gateway's API ports run past 65535",
    edits: [["      group: gw\n", "      group: gw\n      basePort: 65534\n"]],
    problems: [
      "sites/bad.yaml:77:7: containers.shifter.gateway.basePort: 3 replicas from port 65534 end at 65536, above 65535",
    ],
  },
  {
    name: "sarus version is not a release number",
    edits: [["version: 1.7.0", "version: latest"]],
    problems: [
      "sites/bad.yaml:61:5: containers.sarus.version: must be a version like 1.7.0, got \"latest\"",
    ],
  },
  {
    name: "an unknown key in a runtime",
    edits: [["  sarus:\n    groups: [compute, gpu]\n", "  sarus:\n    groups: [compute, gpu]\n    hookDir: /opt/hooks\n"]],
    problems: [
      "sites/bad.yaml:61:5: containers.sarus.hookDir: unknown key (expected \"groups\", \"version\", \"package\", \"prefixDir\", \"localRepositoryBaseDir\", \"centralizedRepositoryDir\", \"tempDir\", \"ramFilesystemType\", \"siteMounts\", \"infinibandDevices\", \"mpi\", \"gpuHook\")",
    ],
  },
  {
    name: "the oci runtime is unknown",
    edits: [["  slurm:\n    groups: [compute, gpu]\n", "  slurm:\n    groups: [compute, gpu]\n    ociRuntime: docker\n"]],
    problems: [
      "sites/bad.yaml:82:5: containers.slurm.ociRuntime: expected one of \"runc\", \"crun\", got \"docker\"",
    ],
  },
];

describe("containers section validation", () => {
  it("accepts the fixture the cases start from", () => {
    expect(problemsOf(BASE)).toEqual([]);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("fails if %s", (_name, c) => {
    expect(problemsOf(apply(c))).toEqual(c.problems);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("writes nothing if %s", (_name, c) => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, apply(c));
    const out = join(dir, "cdktf.out");
    expect(() => synthSiteFiles([file], out, false)).toThrow(SiteError);
    expect(existsSync(out)).toBe(false);
  });
});

describe("the rule that Shifter needs Slurm", () => {
  const shifter = { containers: problemsShifter() };
  function problemsShifter() {
    return parseSite(BASE, "sites/containers.yaml").spec.containers!;
  }

  it("fails if Shifter is enabled and the site has no slurm section", () => {
    const problems: string[] = [];
    requireSlurmForShifter(shifter, (path, message) => problems.push(`${path.join(".")}: ${message}`));
    expect(problems).toEqual([
      "containers.shifter: Shifter needs the site's slurm section: its SPANK plugin, prologue and the image gateway's munge authentication come with Slurm",
    ]);
  });

  it("passes when the site has a slurm section", () => {
    const problems: string[] = [];
    requireSlurmForShifter({ ...shifter, slurm: {} }, (path, message) => problems.push(`${path.join(".")}: ${message}`));
    expect(problems).toEqual([]);
  });
});
