/**
 * Bad Slurm sections: each case breaks the valid fixture (fixtures/slurm.yaml) in one way and
 * asserts the exact messages (file, line, field path, what was expected), and that nothing is
 * written.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseSite, SiteError } from "../../schema/load.js";
import { synthSiteFiles } from "../../stacks/synth.js";
import { tempDir } from "../helpers.js";

const BASE = readFileSync(join(import.meta.dirname, "fixtures", "slurm.yaml"), "utf8");

interface BadCase {
  readonly name: string;
  readonly edits: readonly (readonly [string, string])[];
  readonly problems: readonly string[];
}

function apply(c: BadCase): string {
  return c.edits.reduce((text, [from, to]) => {
    if (!text.includes(from)) throw new Error(`case "${c.name}": the fixture has no ${JSON.stringify(from)}`);
    return text.replace(from, to);
  }, BASE);
}

const CASES: BadCase[] = [
  {
    name: "a controller is not a management node",
    edits: [["controllers: [n1, n2]","controllers: [n1, n9]"]],
    problems: [
      "sites/bad.yaml:51:21: slurm.controllers.1: unknown management node \"n9\" (nodes: n1, n2)"
    ],
  },
  {
    name: "two controllers have no shared state",
    edits: [["  stateSave:\n    export: /tank/slurm\n",""]],
    problems: [
      "sites/bad.yaml:51:3: slurm.stateSave: 2 controllers need a shared StateSaveLocation: name an export of the site's NFS (slurm.stateSave.export), exports: /tank/data, /tank/slurm"
    ],
  },
  {
    name: "the state export is not an export of the site",
    edits: [["export: /tank/slurm","export: /tank/nothing"]],
    problems: [
      "sites/bad.yaml:54:5: slurm.stateSave.export: \"/tank/nothing\" is not an export of the site's NFS (exports: /tank/data, /tank/slurm)"
    ],
  },
  {
    name: "the state export is read-only",
    edits: [["options: rw,sync,no_subtree_check,no_root_squash","options: ro,sync,no_subtree_check,no_root_squash"]],
    problems: [
      "sites/bad.yaml:54:5: slurm.stateSave.export: \"/tank/slurm\" is exported read-only to every client: slurmctld must write its state there"
    ],
  },
  {
    name: "a controller cannot write the state export",
    edits: [["spec: 192.168.10.0/28","spec: 192.168.10.0/31"]],
    problems: [
      "sites/bad.yaml:51:21: slurm.controllers.1: \"n2\" has no address that /tank/slurm is exported read-write to (192.168.10.0/31): it could not write the shared StateSaveLocation"
    ],
  },
  {
    name: "a task plugin name has a typo",
    edits: [["  loginGroups:","  plugins:\n    task: [task/cgrop]\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:12: slurm.plugins.task.0: expected one of \"task/affinity\", \"task/cgroup\", \"task/none\", got \"task/cgrop\""
    ],
  },
  {
    name: "AuthAltTypes names slurmrestd's plugin",
    edits: [["  loginGroups:","  plugins:\n    authAltTypes: [rest_auth/jwt]\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:20: slurm.plugins.authAltTypes.0: expected one of \"auth/jwt\", got \"rest_auth/jwt\""
    ],
  },
  {
    name: "an openapi plugin is not shipped by the release",
    edits: [["    hosts: [n2]\n","    hosts: [n2]\n    openapiPlugins: [openapi/v0.0.39]\n"]],
    problems: [
      "sites/bad.yaml:66:22: slurm.restApi.openapiPlugins.0: Slurm 22.05 ships no \"openapi/v0.0.39\" (openapi plugins: openapi/v0.0.36, openapi/v0.0.37, openapi/v0.0.38, openapi/dbv0.0.36, openapi/dbv0.0.37, openapi/dbv0.0.38)"
    ],
  },
  {
    name: "slurmrestd runs as SlurmUser",
    edits: [["    hosts: [n2]\n","    hosts: [n2]\n    user: slurm\n"]],
    problems: [
      "sites/bad.yaml:66:5: slurm.restApi.user: slurmrestd must run as its own unprivileged user, not root or SlurmUser, got \"slurm\""
    ],
  },
  {
    name: "a partition names an unknown node group",
    edits: [["nodeGroups: [cpu]","nodeGroups: [cpus]"]],
    problems: [
      "sites/bad.yaml:57:20: slurm.partitions.0.nodeGroups.0: unknown node group \"cpus\" (nodeGroups: cpu, gpu, login)"
    ],
  },
  {
    name: "a partition's node group has no hardware",
    edits: [["nodeGroups: [gpu]","nodeGroups: [gpu, login]"]],
    problems: [
      "sites/bad.yaml:60:25: slurm.partitions.1.nodeGroups.1: node group \"login\" has no hardware (nodeGroups.2.hardware): Slurm's node definition needs its sockets, cores, threads and memory"
    ],
  },
  {
    name: "two partitions are the default",
    edits: [["      nodeGroups: [gpu]\n","      nodeGroups: [gpu]\n      default: true\n"]],
    problems: [
      "sites/bad.yaml:61:7: slurm.partitions.1.default: only one partition can be the default, partitions.0 already is"
    ],
  },
  {
    name: "GPU device files do not match the count",
    edits: [["count: 2, devices","count: 4, devices"]],
    problems: [
      "sites/bad.yaml:47:37: nodeGroups.1.hardware.gpus.devices: \"/dev/nvidia[0-1]\" names 2 device file(s) but count is 4"
    ],
  },
  {
    name: "a time limit is not a Slurm time",
    edits: [["      default: true\n","      default: true\n      maxTime: 2 days\n"]],
    problems: [
      "sites/bad.yaml:59:7: slurm.partitions.0.maxTime: must be a Slurm time (minutes, \"hh:mm:ss\", \"days-hh:mm:ss\" or \"UNLIMITED\"), got \"2 days\""
    ],
  },
  {
    name: "the accounting host is unknown",
    edits: [["  accounting:\n    host: n2","  accounting:\n    host: db1"]],
    problems: [
      "sites/bad.yaml:63:5: slurm.accounting.host: unknown management node \"db1\" (nodes: n1, n2)"
    ],
  },
  {
    name: "a controller has no address on slurm.network",
    edits: [["network: 192.168.10.0/24","network: 10.9.0.0/16"]],
    problems: [
      "sites/bad.yaml:51:17: slurm.controllers.0: \"n1\" has no address in slurm.network 10.9.0.0/16",
      "sites/bad.yaml:51:21: slurm.controllers.1: \"n2\" has no address in slurm.network 10.9.0.0/16",
      "sites/bad.yaml:63:5: slurm.accounting.host: \"n2\" has no address in slurm.network 10.9.0.0/16"
    ],
  },
  {
    name: "a partition is named default",
    edits: [["- name: batch","- name: default"]],
    problems: [
      "sites/bad.yaml:56:7: slurm.partitions.0.name: \"default\" is reserved by Slurm (PartitionName=DEFAULT sets defaults for every partition)"
    ],
  },
  {
    name: "task/none is combined with another task plugin",
    edits: [["  loginGroups:","  plugins:\n    task: [task/none, task/affinity]\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:5: slurm.plugins.task: task/none cannot be combined with other task plugins, got task/none,task/affinity"
    ],
  },
  {
    name: "jobacct_gather/cgroup runs without proctrack/cgroup",
    edits: [["  loginGroups:","  plugins:\n    proctrack: proctrack/linuxproc\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:5: slurm.plugins.jobacctGather: jobacct_gather/cgroup needs proctrack/cgroup, got proctrack/linuxproc (use jobacct_gather/linux)"
    ],
  },
  {
    name: "a node group is named like one of its hosts",
    edits: [["  - name: gpu\n    hosts: gn[1-2]","  - name: gn1\n    hosts: gn[1-2]"],["nodeGroups: [gpu]","nodeGroups: [gn1]"]],
    problems: [
      "sites/bad.yaml:42:5: nodeGroups.1.name: \"gn1\" is also a host name: Slurm's NodeSet gn1 would overlap NodeName gn1"
    ],
  },
  {
    name: "a key of the slurm section has a typo",
    edits: [["  controllers:","  controlers:"]],
    problems: [
      "sites/bad.yaml:51:3: slurm.controllers: is required (a list)",
      "sites/bad.yaml:51:3: slurm.controlers: unknown key (did you mean \"controllers\"?)"
    ],
  },
  {
    name: "the MPI type is not one Debian ships",
    edits: [["  loginGroups:","  plugins:\n    mpiDefault: openmpi\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:5: slurm.plugins.mpiDefault: expected one of \"none\", \"pmi2\", \"pmix\", \"pmix_v4\", \"cray_shasta\", got \"openmpi\""
    ],
  },
  {
    name: "a login group is unknown",
    edits: [["loginGroups: [login]","loginGroups: [logins]"]],
    problems: [
      "sites/bad.yaml:61:17: slurm.loginGroups.0: unknown node group \"logins\" (nodeGroups: cpu, gpu, login)"
    ],
  },
  {
    name: "the REST API has no auth/jwt",
    edits: [["  loginGroups:","  plugins:\n    authAltTypes: []\n  loginGroups:"]],
    problems: [
      "sites/bad.yaml:62:5: slurm.plugins.authAltTypes: slurmrestd with rest_auth/jwt needs auth/jwt in AuthAltTypes"
    ],
  },
];

describe("bad slurm sections", () => {
  it("accepts the fixture", () => {
    expect(parseSite(BASE, "sites/slurm.yaml").spec.slurm?.controllers).toEqual(["n1", "n2"]);
  });

  it.each(CASES.map((c) => [c.name, c] as const))("fails if %s", (_name, c) => {
    let problems: readonly string[] = [];
    try {
      parseSite(apply(c), "sites/bad.yaml");
    } catch (err) {
      if (!(err instanceof SiteError)) throw err;
      problems = err.problems;
    }
    expect(problems).toEqual(c.problems);
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
