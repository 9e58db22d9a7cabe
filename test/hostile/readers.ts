/**
 * The real readers of what hpcdk renders, asked whether a value went in as one inert value:
 *
 * - shell: scripts, steps and handlers run for real in a throwaway mount and PID namespace, as
 *   nobody, with a PATH of stubs that record their argv and do nothing, /tmp, /var/tmp and
 *   /dev/shm on private tmpfs. A value is inert when no command ran with an argument that holds a
 *   piece of it (every argument with the marker holds a whole value), no file with the marker was
 *   created, and no shell said "not found" or "syntax error" about it. Apply scripts are checked
 *   exactly: every install_file, run_step and want_package line, evaluated by the shell, passes
 *   the manifest's values, one argument each;
 * - the CIB: crm_verify, and every attribute with the marker holds a whole value;
 * - corosync.conf: corosync -t on the node it is for;
 * - nginx: nginx -t (a certificate path it cannot open must be the path the site gave);
 * - slurm.conf and gres.conf: slurmd -G on a node of a GPU group finds exactly the GPUs the site
 *   gave, of the type it gave (the type read back as one value);
 * - JSON (JSON.parse) and TOML (Python's tomllib): every string with the marker is a whole value;
 * - every other file: each line with the marker holds a whole value, and the marker nowhere else.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BundleManifest } from "../../constructs/core/index.js";
import { readXml, type XmlElement } from "../../operations/xml.js";
import { cibNodes } from "../../operations/pacemaker/cib.js";
import { withOnlineStatus } from "../../operations/pacemaker/status.js";
import { MARKER } from "./corpus.js";

const ROOT = join(import.meta.dirname, "..", "..");
/** Sandboxes live under test/.tmp (git-ignored), outside the /tmp the sandbox replaces. */
const SANDBOXES = join(ROOT, "test", ".tmp");

export const isRoot = process.getuid?.() === 0;

/** Where the marker appears in `text` outside every one of `values`: the pieces that escaped. */
export function escapedMarkers(text: string, values: readonly string[]): string[] {
  let rest = text;
  // Longest values first, so a value that holds another is taken whole.
  for (const v of [...values].sort((a, b) => b.length - a.length)) if (v !== "") rest = rest.split(v).join("\u0001");
  const found: string[] = [];
  const re = new RegExp(MARKER.source, "gi");
  for (let m = re.exec(rest); m; m = re.exec(rest)) found.push(rest.slice(Math.max(0, m.index - 40), m.index + 48).replace(/\u0001/g, "<value>"));
  return found;
}

/** A shell job: a script file or a command line (`sh -c`), with the shell that runs it. */
export interface ShellJob {
  readonly id: string;
  readonly text: string;
  readonly kind: "script" | "command";
  readonly shell: "/bin/sh" | "/bin/bash";
}

/** Names a stub answers to: every word of the jobs that could name a command, and the usual ones. */
function commandNames(jobs: readonly ShellJob[]): string[] {
  const names = new Set(["touch", "rm", "cp", "mv", "mkdir", "chmod", "chown", "ln", "cat", "sh", "bash", "curl", "wget", "nc", "id", "reboot", "DROP"]);
  for (const j of jobs) for (const w of j.text.match(/[A-Za-z_][A-Za-z0-9_.+-]{0,62}/g) ?? []) names.add(w);
  // The shells' own builtins stay builtins; a stub cannot shadow them anyway.
  return [...names].filter((n) => n !== "." && n !== "..");
}

/**
 * Runs shell jobs in the sandbox; returns, per job id, what went wrong (nothing: the values are
 * inert). `values` are the whole values the site put in: an argument with the marker must hold
 * one of them.
 */
export function sandboxShell(jobs: readonly ShellJob[], values: readonly string[]): Map<string, string[]> {
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "hostile-"));
  try {
    chmodSync(dir, 0o755);
    const stubs = join(dir, "stubs");
    const logs = join(dir, "logs");
    mkdirSync(stubs);
    mkdirSync(logs);
    chmodSync(logs, 0o777);
    // One stub for every name: records its name and argv (NUL-separated, a record per call).
    writeFileSync(
      join(dir, "stub"),
      // Parameter expansion, not basename: every command name on PATH is this stub.
      "#!/bin/sh\n{ printf '%s\\0' \"${0##*/}\" \"$@\"; printf '\\036\\0'; } >> \"$HPCDK_STUB_LOG\"\nexit 0\n",
      { mode: 0o755 },
    );
    for (const name of commandNames(jobs)) symlinkSync(join(dir, "stub"), join(stubs, name));
    const run: string[] = ["set -u", "for d in /tmp /var/tmp /dev/shm; do mount -t tmpfs -o mode=1777 tmpfs \"$d\"; done"];
    jobs.forEach((job, i) => {
      const file = join(dir, `job-${i}`);
      writeFileSync(file, job.text, { mode: 0o755 });
      const log = join(logs, `job-${i}`);
      writeFileSync(`${log}.calls`, "", { mode: 0o666 });
      const argv = job.kind === "script" ? `${job.shell} ${file}` : `${job.shell} -c "$(cat ${file})"`;
      run.push(
        `/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/env -i PATH=${stubs} HOME=/nonexistent HPCDK_STUB_LOG=${log}.calls /usr/bin/timeout 20 ${argv} </dev/null >${log}.out 2>${log}.err`,
      );
    });
    run.push(`find /tmp /var/tmp /dev/shm -mindepth 1 > ${join(dir, "created")} 2>/dev/null`);
    writeFileSync(join(dir, "run.sh"), run.join("\n") + "\n");
    const r = spawnSync("unshare", ["--mount", "--pid", "--fork", "--mount-proc", "/bin/sh", join(dir, "run.sh")], { encoding: "utf8", timeout: 600_000 });
    if (r.error || r.status !== 0) throw new Error(`sandbox: ${r.error?.message ?? r.stderr}`);
    const created = readFileSync(join(dir, "created"), "utf8").split("\n").filter((l) => MARKER.test(l));
    const problems = new Map<string, string[]>();
    jobs.forEach((job, i) => {
      const log = join(logs, `job-${i}`);
      const found: string[] = [];
      for (const call of readFileSync(`${log}.calls`, "utf8").split("\u001e\u0000").filter(Boolean)) {
        const argv = call.split("\u0000").filter((a, k, all) => k < all.length - 1 || a !== "");
        for (const arg of argv) {
          if (MARKER.test(arg) && escapedMarkers(arg, values).length > 0) found.push(`ran ${JSON.stringify(argv).slice(0, 300)}: an argument holds a piece of a value`);
        }
      }
      const err = readFileSync(`${log}.err`, "utf8");
      for (const line of err.split("\n")) {
        // A command that is not there, named by a whole value, is fine (an absolute path the sandbox lacks).
        if (MARKER.test(line) && /not found|syntax error|unexpected|bad substitution/i.test(line) && escapedMarkers(line, values).length > 0) {
          found.push(`the shell said: ${line.slice(0, 300)}`);
        }
      }
      if (created.length > 0) found.push(`files were created: ${created.join(", ").slice(0, 300)}`);
      problems.set(job.id, found);
    });
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The script's commands, a quoted string that runs over several lines kept as one command. */
function commandsOf(script: string): string[] {
  const commands: string[] = [];
  let current = "";
  let single = false;
  let double = false;
  for (const line of script.split("\n")) {
    current = current === "" ? line : `${current}\n${line}`;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (single) single = c !== "'";
      else if (!double && c === "#" && (i === 0 || /\s/.test(line[i - 1]!))) break;
      else if (c === "\\") i++;
      else if (c === '"') double = !double;
      else if (c === "'" && !double) single = true;
    }
    if (!single && !double) {
      commands.push(current);
      current = "";
    }
  }
  return commands;
}

/**
 * The exact proof for an apply script: its install_file, run_step and want_package lines,
 * evaluated by sh with those functions recording their arguments, pass exactly the manifest's
 * values (paths, owners, modes, secrets, handlers, step ids and commands), one argument each.
 */
export function applyScriptProblems(script: string, manifest: BundleManifest, values: readonly string[]): string[] {
  const lines = commandsOf(script).filter((l) => /^(install_file|run_step|want_package) /.test(l));
  const recorder = [
    "rec() { printf '%s\\0' \"$@\"; printf '\\036\\0'; }",
    'install_file() { rec install_file "$@"; }',
    'run_step() { rec run_step "$@"; }',
    'want_package() { rec want_package "$@"; }',
    "sha_of() { printf 'SHA'; }",
    'STAGE=/stage',
  ];
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "apply-"));
  try {
    writeFileSync(join(dir, "lines.sh"), [...recorder, ...lines].join("\n") + "\n");
    // PATH is empty: the lines may only call the functions above.
    const r = spawnSync("/bin/sh", [join(dir, "lines.sh")], { encoding: "utf8", env: { PATH: "/nonexistent" } });
    const problems: string[] = [];
    if (r.status !== 0 || r.stderr !== "") problems.push(`the apply script's lines do not run as they are: ${r.stderr.slice(0, 300)}`);
    const calls = r.stdout.split("\u001e\u0000").filter(Boolean).map((c) => c.split("\u0000").slice(0, -1));
    const expected: string[][] = [
      ...manifest.packages.map((p) => ["want_package", p.debian, p.rhel ?? "", p.version ?? ""]),
      ...manifest.steps.filter((s) => s.phase === "before-files").map((s) => ["run_step", s.id, s.run]),
      ...manifest.files.map((f) => ["install_file", `/stage/files${f.path}`, f.path, f.owner, f.group, parseInt(f.mode, 8).toString(8), f.sha256, f.secrets.join(" "), ...f.handlers]),
      ...manifest.secretFiles.map((f) => ["install_file", `/stage/secrets/${f.secret}`, f.path, f.owner, f.group, parseInt(f.mode, 8).toString(8), "SHA", "", ...f.handlers]),
      ...manifest.steps.filter((s) => s.phase === "after-files").map((s) => ["run_step", s.id, s.run]),
    ];
    const key = (c: string[]) => JSON.stringify(c);
    const got = new Set(calls.map(key));
    for (const e of expected) if (!got.has(key(e))) problems.push(`the apply script does not pass ${key(e).slice(0, 300)} as these arguments`);
    if (calls.length !== expected.length) problems.push(`the apply script makes ${calls.length} calls, the manifest has ${expected.length} entries`);
    for (const c of calls) for (const a of c) if (MARKER.test(a) && escapedMarkers(a, values).length > 0) problems.push(`an argument holds a piece of a value: ${key(c).slice(0, 300)}`);
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** crm_verify on the CIB (every node online), and every attribute with the marker is a whole value. */
export function cibProblems(xml: string, values: readonly string[]): string[] {
  const problems: string[] = [];
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "cib-"));
  try {
    writeFileSync(join(dir, "cib.xml"), withOnlineStatus(xml, cibNodes(xml)));
    const r = spawnSync("crm_verify", ["-V", "-x", join(dir, "cib.xml")], { encoding: "utf8" });
    if (r.status !== 0) problems.push(`crm_verify refuses the CIB: ${(r.stderr + r.stdout).slice(0, 400)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const walk = (e: XmlElement) => {
    for (const { name, value } of e.attributes) {
      if (MARKER.test(value) && escapedMarkers(value, values).length > 0) problems.push(`<${e.tagName} ${name}="${value.slice(0, 200)}">: holds a piece of a value`);
    }
    for (const c of e.children) walk(c);
  };
  walk(readXml(xml));
  return problems;
}

/** corosync -t with the file as /etc/corosync/corosync.conf, as the node `host`. */
export function corosyncProblems(conf: string, host: string): string[] {
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "corosync-"));
  try {
    writeFileSync(join(dir, "corosync.conf"), conf);
    writeFileSync(join(dir, "authkey"), Buffer.alloc(256, 7), { mode: 0o400 });
    const r = spawnSync("unshare", ["--mount", "--uts", "sh", "-c", `hostname "$1" && mount --bind "$2" /etc/corosync && exec corosync -t`, "sh", host, dir], { encoding: "utf8" });
    return r.status === 0 && r.stderr.includes("Corosync Cluster Engine exiting normally") ? [] : [`corosync -t refuses it: ${r.stderr.slice(0, 400)}`];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * nginx -t on a server block. nginx opens the certificate and key while checking: a path it
 * cannot open must be exactly the path the site gave (nginx read it as one value); the test then
 * checks again with a real pair there (by replacing that one path).
 */
export function nginxProblems(conf: string, tls: { certificate: string; key: string } | undefined): string[] {
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "nginx-"));
  try {
    const made = spawnSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test", "-keyout", join(dir, "k.pem"), "-out", join(dir, "c.pem")], { encoding: "utf8" });
    if (made.status !== 0) throw new Error(made.stderr);
    const test = (text: string) => {
      writeFileSync(join(dir, "server.conf"), text);
      writeFileSync(join(dir, "nginx.conf"), `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n    access_log off;\n    include ${dir}/server.conf;\n}\n`);
      return spawnSync("nginx", ["-t", "-c", join(dir, "nginx.conf"), "-p", dir], { encoding: "utf8" });
    };
    const certificate = tls?.certificate ?? "/etc/nginx/tls/slurmrestd.crt";
    const key = tls?.key ?? "/etc/nginx/tls/slurmrestd.key";
    const first = test(conf);
    const problems: string[] = [];
    if (!first.stderr.includes(`cannot load certificate "${certificate}"`)) problems.push(`nginx did not read the certificate path as one value: ${first.stderr.slice(0, 400)}`);
    const quoted = (p: string) => `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
    const real = conf.split(`ssl_certificate ${quoted(certificate)};`).join(`ssl_certificate "${dir}/c.pem";`).split(`ssl_certificate_key ${quoted(key)};`).join(`ssl_certificate_key "${dir}/k.pem";`);
    const second = test(real);
    if (second.status !== 0 || !second.stderr.includes("test is successful")) problems.push(`nginx -t refuses it: ${second.stderr.slice(0, 400)}`);
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * slurmd -G as node `node` of a GPU group: slurm.conf and gres.conf of the group, the device files
 * under a directory of its own (made with mknod, as root). Slurm must read `count` GPUs of `type`,
 * and say nothing of an error.
 */
export function slurmdGresProblems(slurmConf: string, gresConf: string, node: string, type: string, count: number): string[] {
  mkdirSync(SANDBOXES, { recursive: true });
  const dir = mkdtempSync(join(SANDBOXES, "gres-"));
  try {
    mkdirSync(join(dir, "dev"));
    for (let i = 0; i < Math.max(count, 8); i++) {
      const made = spawnSync("mknod", [join(dir, "dev", `nvidia${i}`), "c", "1", "3"]);
      if (made.status !== 0) throw new Error(`mknod failed: ${made.stderr}`);
    }
    writeFileSync(join(dir, "slurm.conf"), slurmConf);
    writeFileSync(join(dir, "gres.conf"), gresConf.replace(/\/dev\/nvidia/g, `${dir}/dev/nvidia`));
    const r = spawnSync("slurmd", ["-G", "-N", node, "-f", join(dir, "slurm.conf")], { encoding: "utf8", timeout: 20_000 });
    const problems: string[] = [];
    if (r.status !== 0) problems.push(`slurmd -G exits ${r.status}: ${r.stderr.slice(0, 400)}`);
    if (!r.stderr.includes(`Gres Name=gpu Type=${type} Count=${count} `)) problems.push(`slurmd -G does not read ${count} GPUs of type ${JSON.stringify(type).slice(0, 100)}: ${r.stderr.slice(0, 400)}`);
    for (const line of r.stderr.split("\n")) if (/error|fatal/i.test(line)) problems.push(`slurmd -G: ${line.slice(0, 300)}`);
    return problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** JSON.parse, and every string with the marker is a whole value. */
export function jsonProblems(text: string, values: readonly string[]): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  const problems: string[] = [];
  const walk = (v: unknown) => {
    if (typeof v === "string") {
      if (MARKER.test(v) && escapedMarkers(v, values).length > 0) problems.push(`the string ${JSON.stringify(v).slice(0, 200)} holds a piece of a value`);
    } else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) (walk(k), walk(x));
  };
  walk(data);
  return problems;
}

/** Python's tomllib (the TOML reader of the standard library), and every string with the marker is a whole value. */
export function tomlProblems(text: string, values: readonly string[]): string[] {
  const r = spawnSync("/usr/bin/python3", ["-c", "import sys, tomllib, json; print(json.dumps(tomllib.loads(sys.stdin.read())))"], { input: text, encoding: "utf8" });
  if (r.status !== 0) return [`tomllib refuses it: ${r.stderr.slice(-300)}`];
  return jsonProblems(r.stdout, values);
}

/** Any text: the marker appears only inside whole values. */
export function textProblems(text: string, values: readonly string[]): string[] {
  return escapedMarkers(text, values).map((m) => `a piece of a value: …${m}…`);
}

/** Every file of a directory, by path relative to it. */
export function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else out.set(`${rel}${e.name}`, readFileSync(join(d, e.name)));
    }
  };
  walk(dir, "");
  return out;
}
