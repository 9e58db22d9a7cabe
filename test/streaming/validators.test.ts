/**
 * Every streaming file of the example site and the fixtures, fed to the program that reads it (or
 * the nearest one that runs here): shellcheck and bash -n for every script, dockerfile-utils (the
 * Docker language service's validator) plus stage checks for the Containerfile and shellcheck for
 * its RUN lines, a definition-file parser plus shellcheck for the Apptainer sections,
 * systemd-analyze verify for the units and the slurmd drop-in, the shell that sources the fabric
 * settings and fi_info for the provider. Each check also runs once on a broken input, to prove it
 * can fail.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DockerfileParser } from "dockerfile-ast";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";
import { loadExamples, readTree, synthTo, tempDir } from "../helpers.js";
import { loadFixture, shellcheck } from "./helpers.js";

const SITES = ["lab", "stream-systemd", "stream-podman"] as const;
const { out } = synthTo([...loadExamples(["lab"]), loadFixture("stream-systemd"), loadFixture("stream-podman")]);
const trees = Object.fromEntries(SITES.map((s) => [s, readTree(join(out, "stacks", s))]));
const isStream = (p: string) => /stream|limits\.d/.test(p) && !p.startsWith("manifests/");
const streamFiles = (site: string) => [...trees[site]!.keys()].filter(isStream);
const fileOf = (site: string, path: string) => join(out, "stacks", site, path);
const text = (site: string, path: string) => trees[site]!.get(path)!.toString();
/** The build files' directory in the site's tree: in the bundle of its build group. */
const imageDir = (site: string) => {
  const containerfile = [...trees[site]!.keys()].find((p) => p.endsWith("/usr/local/share/hpcdk/stream-image/Containerfile"));
  if (!containerfile) throw new Error(`${site}: no stream-image/Containerfile in the tree`);
  return containerfile.slice(0, -"/Containerfile".length);
};

/** Writes text to a temporary file and returns its path. */
function temp(name: string, content: string, mode = 0o644): string {
  const file = join(tempDir(), name);
  writeFileSync(file, content);
  chmodSync(file, mode);
  return file;
}

// ---------------------------------------------------------------------------------------------
// Containerfile

interface Stage {
  readonly name: string;
  readonly from: string;
  readonly copiesFrom: string[];
  readonly copySources: string[];
  readonly runs: string[];
  readonly entrypoint?: string;
}

/** The stages of a Containerfile, and every problem dockerfile-utils and the stage rules find. */
function checkContainerfile(content: string): { stages: Stage[]; problems: string[] } {
  const problems = validate(content).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
  const stages: Stage[] = [];
  for (const instruction of DockerfileParser.parse(content).getInstructions()) {
    const keyword = instruction.getKeyword();
    const args = instruction.getArguments().map((a) => a.getValue());
    if (keyword === "FROM") {
      const name = args[2] ?? `stage${stages.length}`;
      stages.push({ name, from: args[0]!, copiesFrom: [], copySources: [], runs: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) continue;
    if (keyword === "COPY") {
      const flags = (instruction as unknown as { getFlags(): { getName(): string; getValue(): string | null }[] }).getFlags();
      const from = flags.find((f) => f.getName() === "from")?.getValue() ?? undefined;
      const paths = args;
      if (from !== undefined) {
        stage.copiesFrom.push(from);
        if (!stages.slice(0, -1).some((s) => s.name === from)) problems.push(`COPY --from=${from}: no earlier stage ${from}`);
      } else {
        stage.copySources.push(...paths.slice(0, -1));
      }
    }
    if (keyword === "RUN") stage.runs.push(instruction.getRawArgumentsContent() ?? "");
    if (keyword === "ENTRYPOINT") (stage as { entrypoint?: string }).entrypoint = instruction.getRawArgumentsContent() ?? "";
  }
  const last = stages.at(-1);
  if (!last?.entrypoint?.startsWith("[")) problems.push("the final stage has no exec-form ENTRYPOINT");
  return { stages, problems };
}

/** shellcheck of the RUN lines of a stage set, as the bash the SHELL instruction names. */
function shellcheckRuns(stages: Stage[]) {
  const script = "#!/bin/bash\nset -o pipefail\n" + stages.flatMap((s) => s.runs).join("\n") + "\n";
  return shellcheck(temp("runs.sh", script));
}

// ---------------------------------------------------------------------------------------------
// Apptainer definition files

const DEF_SECTIONS = ["arguments", "setup", "files", "environment", "post", "runscript", "startscript", "test", "labels", "help"];
const DEF_HEADER_KEYS = ["Bootstrap", "From", "Stage", "Include", "Fingerprints", "Registry", "Namespace", "MirrorURL", "OSVersion"];
const SCRIPT_SECTIONS = ["setup", "post", "runscript", "startscript", "test", "environment"];

interface DefStage {
  header: Record<string, string>;
  sections: { name: string; args: string; body: string }[];
}

/** Parses a definition file as Apptainer reads it: a header of `Key: value`, then `%section` blocks. */
function parseDef(content: string): { stages: DefStage[]; problems: string[] } {
  const problems: string[] = [];
  const stages: DefStage[] = [];
  let stage: DefStage | undefined;
  let section: DefStage["sections"][number] | undefined;
  content.split("\n").forEach((line, i) => {
    const header = /^([A-Za-z]+):\s*(.*)$/.exec(line);
    const start = /^%([a-z]+)\s*(.*)$/.exec(line);
    if (header && (section === undefined || header[1] === "Bootstrap")) {
      if (!DEF_HEADER_KEYS.includes(header[1]!)) problems.push(`line ${i + 1}: unknown header keyword ${header[1]}`);
      if (header[1] === "Bootstrap") stages.push((stage = { header: {}, sections: [] }));
      if (!stage) problems.push(`line ${i + 1}: ${header[1]} before Bootstrap`);
      else stage.header[header[1]!] = header[2]!;
      section = undefined;
    } else if (start) {
      if (!DEF_SECTIONS.includes(start[1]!)) problems.push(`line ${i + 1}: unknown section %${start[1]}`);
      if (!stage) problems.push(`line ${i + 1}: %${start[1]} before Bootstrap`);
      else stage.sections.push((section = { name: start[1]!, args: start[2]!, body: "" }));
    } else if (section) {
      section.body += line + "\n";
    } else if (line.trim() !== "" && !line.startsWith("#")) {
      problems.push(`line ${i + 1}: not a header line: ${line}`);
    }
  });
  stages.forEach((s, k) => {
    if (s.header.Bootstrap !== "docker" || !s.header.From) problems.push(`stage ${k + 1}: needs Bootstrap: docker and From:`);
    if (stages.length > 1 && !s.header.Stage) problems.push(`stage ${k + 1}: a multi-stage definition names every stage`);
    for (const sec of s.sections.filter((x) => x.name === "files" && x.args.startsWith("from "))) {
      const from = sec.args.slice("from ".length).trim();
      if (!stages.slice(0, k).some((p) => p.header.Stage === from)) problems.push(`stage ${k + 1}: %files from ${from}: no earlier stage ${from}`);
    }
  });
  return { stages, problems };
}

/** shellcheck of every script section: %post -c /bin/bash as bash, the rest as sh. */
function shellcheckDef(stages: DefStage[]): string {
  return stages
    .flatMap((s) => s.sections.filter((x) => SCRIPT_SECTIONS.includes(x.name)))
    .map((x) => {
      const shell = x.args.includes("/bin/bash") ? "bash" : "sh";
      const result = shellcheck(temp(`${x.name}.sh`, `#!/bin/${shell}\n${x.body}`));
      return result.stdout;
    })
    .join("");
}

// ---------------------------------------------------------------------------------------------
// systemd

/**
 * A root for `systemd-analyze verify --root`: the system's own units (targets the units name),
 * and stand-ins for the programs the units run, which the build machine does not have.
 */
function systemdRoot(executables: string[]): string {
  const root = tempDir("stream-systemd-");
  cpSync("/usr/lib/systemd/system", join(root, "usr/lib/systemd/system"), { recursive: true, verbatimSymlinks: true });
  for (const exe of executables) {
    mkdirSync(join(root, dirname(exe)), { recursive: true });
    writeFileSync(join(root, exe), "#!/bin/sh\n");
    chmodSync(join(root, exe), 0o755);
  }
  mkdirSync(join(root, "etc/systemd/system"), { recursive: true });
  return root;
}

function verify(root: string, units: string[]) {
  return spawnSync("systemd-analyze", ["verify", "--man=no", `--root=${root}`, ...units.map((u) => `/etc/systemd/system/${u}`)], { encoding: "utf8" });
}

const UNIT_EXECUTABLES = ["/usr/local/libexec/hpcdk/stream-preflight", "/usr/local/libexec/hpcdk/stream-health", "/usr/bin/apptainer", "/usr/bin/podman", "/bin/rm", "/usr/sbin/slurmd"];

// ---------------------------------------------------------------------------------------------

describe.each(SITES)("site %s", (site) => {
  const scripts = streamFiles(site).filter((p) => trees[site]!.get(p)!.subarray(0, 2).toString() === "#!");

  it.each(scripts)("has a %s that shellcheck and bash -n accept", (path) => {
    const result = shellcheck(fileOf(site, path));
    expect(result.stdout).toBe("");
    expect(result.status).toBe(0);
    expect(spawnSync("bash", ["-n", fileOf(site, path)], { encoding: "utf8" }).stderr).toBe("");
  });

  it("has a Containerfile that parses, validates, and copies only from earlier stages", () => {
    const { stages, problems } = checkContainerfile(text(site, `${imageDir(site)}/Containerfile`));
    expect(problems).toEqual([]);
    expect(stages.map((s) => s.name)).toEqual(["rdma", "builder", "runtime"]);
    expect(stages[2]!.copiesFrom).toEqual(["builder"]);
    // What the runtime stage gets from the build context is the entrypoint, rendered beside it.
    for (const source of stages.flatMap((s) => s.copySources).filter((s) => s.startsWith("hpcdk/"))) {
      expect(trees[site]!.has(`${imageDir(site)}/${source.slice("hpcdk/".length)}`), source).toBe(true);
    }
  });

  it("has Containerfile RUN lines that shellcheck accepts", () => {
    const result = shellcheckRuns(checkContainerfile(text(site, `${imageDir(site)}/Containerfile`)).stages);
    expect(result.stdout).toBe("");
  });

  it("has an Apptainer definition with a builder and a runtime stage whose scripts shellcheck accepts", () => {
    const { stages, problems } = parseDef(text(site, `${imageDir(site)}/stream-broker.def`));
    expect(problems).toEqual([]);
    expect(stages.map((s) => s.header.Stage)).toEqual(["builder", "runtime"]);
    expect(stages[1]!.sections.map((s) => s.name)).toEqual(["files", "files", "post", "environment", "runscript", "test", "labels", "help"]);
    expect(shellcheckDef(stages)).toBe("");
  });

  it("has fabric settings that a shell reads back and fi_info knows", () => {
    const env = text(site, `${[...trees[site]!.keys()].find((p) => p.endsWith("/etc/hpcdk/stream/fabric.env"))}`);
    const provider = spawnSync("sh", ["-c", 'set -a; . "$1"; printf %s "$FI_PROVIDER"', "sh", temp("fabric.env", env)], { encoding: "utf8" });
    expect(provider.stderr).toBe("");
    const spec = (site === "lab" ? loadExamples(["lab"])[0]! : loadFixture(site)).spec.streaming!;
    expect(provider.stdout).toBe(spec.fabric.provider);
    // sockets is usable on any host; verbs needs an HCA, which this machine does not have.
    const usable = spawnSync("fi_info", ["-p", spec.fabric.provider]).status === 0;
    expect(usable).toBe(spec.fabric.provider === "sockets");
  });

  it("has limits that limits.conf(5) accepts, with memlock and nofile for everyone", () => {
    const limits = text(site, [...trees[site]!.keys()].find((p) => p.endsWith("limits.d/90-hpcdk-stream.conf"))!);
    const entries = limits.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("#"));
    for (const line of entries) expect(line, line).toMatch(/^\*\s+(soft|hard)\s+(memlock|nofile)\s+(unlimited|\d+)$/);
    expect(entries.map((l) => l.split(/\s+/).slice(1, 3).join(" ")).sort()).toEqual(["hard memlock", "hard nofile", "soft memlock", "soft nofile"]);
  });
});

describe("systemd", () => {
  it("verifies the broker and coordinator units", () => {
    const root = systemdRoot(UNIT_EXECUTABLES);
    const unitDir = "groups/stream/etc/systemd/system";
    const units = streamFiles("stream-systemd").filter((p) => p.startsWith(unitDir)).map((p) => p.slice(unitDir.length + 1));
    expect(units).toEqual(["hpcdk-stream-broker-s02.service", "hpcdk-stream-broker-s03.service", "hpcdk-stream-broker-s04.service", "hpcdk-stream-coordinator.service"]);
    for (const u of units) cpSync(fileOf("stream-systemd", `${unitDir}/${u}`), join(root, "etc/systemd/system", u));
    const result = verify(root, units);
    expect(result.stderr + result.stdout).toBe("");
    expect(result.status).toBe(0);
  });

  it("verifies slurmd with the stream limits drop-in", () => {
    const root = systemdRoot(UNIT_EXECUTABLES);
    writeFileSync(join(root, "etc/systemd/system/slurmd.service"), "[Unit]\nDescription=slurmd\n[Service]\nExecStart=/usr/sbin/slurmd -D\n");
    for (const site of ["lab", "stream-podman"]) {
      const dropIn = streamFiles(site).find((p) => p.includes("slurmd.service.d/"))!;
      cpSync(fileOf(site, dropIn), join(root, "etc/systemd/system/slurmd.service.d/50-hpcdk-stream-limits.conf"));
      const result = verify(root, ["slurmd.service"]);
      expect(result.stderr + result.stdout).toBe("");
      const shown = spawnSync("systemd-analyze", ["cat-config", `--root=${root}`, "systemd/system/slurmd.service.d/50-hpcdk-stream-limits.conf"], { encoding: "utf8" });
      expect(shown.stdout).toContain("LimitMEMLOCK=infinity");
    }
  });
});

describe("the validators", () => {
  it("fail if a script quotes badly", () => {
    expect(shellcheck(temp("bad.sh", "#!/bin/bash\nrm -rf $1/*\n")).status).not.toBe(0);
  });

  it("fail if the Containerfile has an unknown instruction, or copies from a stage that does not exist", () => {
    const containerfile = text("lab", `${imageDir("lab")}/Containerfile`);
    expect(checkContainerfile(containerfile.replace("ENTRYPOINT [", "ENTRYPOINTS [")).problems.length).toBeGreaterThan(0);
    expect(checkContainerfile(containerfile.replace("--from=builder", "--from=bulder")).problems).toContain("COPY --from=bulder: no earlier stage bulder");
    expect(checkContainerfile(containerfile.replace('ENTRYPOINT ["/docker-entrypoint.sh"]', "ENTRYPOINT /docker-entrypoint.sh")).problems).toContain(
      "the final stage has no exec-form ENTRYPOINT",
    );
  });

  it("fail if a RUN line quotes badly", () => {
    const { stages } = checkContainerfile(text("lab", `${imageDir("lab")}/Containerfile`).replace("RUN ldconfig", "RUN cd $HOME/x && ldconfig"));
    expect(shellcheckRuns(stages).stdout).toContain("SC2086");
  });

  it("fail if the definition has an unknown section or a broken script", () => {
    const def = text("lab", `${imageDir("lab")}/stream-broker.def`);
    expect(parseDef(def.replace("%runscript", "%runscrip")).problems).toContain(
      `line ${def.split("\n").findIndex((l) => l === "%runscript") + 1}: unknown section %runscrip`,
    );
    expect(parseDef(def.replace("%files from builder", "%files from build")).problems).toContain("stage 2: %files from build: no earlier stage build");
    expect(shellcheckDef(parseDef(def.replace('exec /docker-entrypoint.sh "$@"', "exec /docker-entrypoint.sh $@")).stages)).toContain("SC2068");
  });

  it("fail if a unit has a bad directive or runs a program that does not exist", () => {
    const root = systemdRoot(UNIT_EXECUTABLES.filter((e) => e !== "/usr/bin/apptainer"));
    const unit = text("stream-systemd", "groups/stream/etc/systemd/system/hpcdk-stream-coordinator.service");
    writeFileSync(join(root, "etc/systemd/system/a.service"), unit);
    const missing = verify(root, ["a.service"]);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain("Command /usr/bin/apptainer is not executable");
    writeFileSync(join(root, "etc/systemd/system/b.service"), unit.replace("Restart=on-failure", "Restart=sometimes").replace("/usr/bin/apptainer", "/usr/bin/podman"));
    expect(verify(root, ["b.service"]).stderr).toContain("Failed to parse service restart specifier, ignoring: sometimes");
  });

  it("fail if the fabric settings would run a command when sourced", () => {
    const result = spawnSync("sh", ["-c", 'set -a; . "$1"; printf %s "$FI_PROVIDER"', "sh", temp("f.env", "FI_PROVIDER=verbs;ofi_rxm\n")], { encoding: "utf8" });
    expect(result.stdout).not.toBe("verbs;ofi_rxm");
  });

  it("has a root with the system's targets for systemd-analyze", () => {
    expect(existsSync("/usr/lib/systemd/system/multi-user.target")).toBe(true);
  });
});
