/**
 * The apply script's held handlers (`--hold H`, `--held-ran`): what the together wave of a
 * rollout uses to put corosync.conf on every node before one `corosync-cfgtool -R`. A held
 * handler does not run, stays held across reruns, keeps the host's marker from being written,
 * runs as a pending handler when the script is run without `--hold`, and is dropped by
 * `--held-ran` (which writes the marker). Run from the rendered template with its state, backup
 * and file paths in a temporary directory (this machine's /var/lib/hpcdk is not touched); the
 * handlers append to a log instead of reloading anything.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { renderTemplate } from "../../constructs/core/renderer.js";
import { parseApplyOutput } from "../../operations/deploy/apply-output.js";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import { tempDir } from "../helpers.js";

const isRoot = process.getuid?.() === 0;
const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/** A bundle of two files, corosync.conf (its handler: the reload) and another with a handler of its own. */
function bundle(dir: string, corosync: string, other: string) {
  const log = join(dir, "handlers.log");
  const reload = `echo reload >> ${log}`;
  const restart = `echo restart-other >> ${log}`;
  const files = [
    { path: join(dir, "etc/corosync/corosync.conf"), text: corosync, handlers: [reload] },
    { path: join(dir, "etc/other.conf"), text: other, handlers: [restart] },
  ];
  const stage = join(dir, "stage");
  for (const f of files) {
    mkdirSync(join(stage, "files", f.path, ".."), { recursive: true });
    writeFileSync(join(stage, "files", f.path), f.text);
  }
  const script = renderTemplate("core/apply.sh", {
    header: "# test\n",
    bundle: "host t1",
    stateName: "host-t1",
    packages: [],
    pinned: false,
    stepsBefore: [],
    stepsAfter: [],
    files: files.map((f) => ({ path: f.path, owner: "root", group: "root", mode: "644", sha256: sha(f.text), secrets: "", handlers: f.handlers })),
    secretFiles: [],
  })
    .replace(/^STATE=.*$/m, `STATE=${dir}/state`)
    .replace(/^BACKUP=.*$/m, `BACKUP=${dir}/backup`);
  expect(script).toContain(`STATE=${dir}/state`);
  writeFileSync(join(stage, "apply.sh"), script);
  const manifest = {
    kind: "host",
    name: "t1",
    files: files.map((f) => ({ path: f.path, handlers: f.handlers })),
    secretFiles: [],
    steps: [],
    packages: [],
  } as unknown as BundleManifest;
  const run = (...args: string[]) => {
    const r = spawnSync("sh", [join(stage, "apply.sh"), ...args], { encoding: "utf8" });
    return { code: r.status, out: parseApplyOutput(r.stdout, manifest), stderr: r.stderr };
  };
  const handlersRan = () => (existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : []);
  const marker = () => (existsSync(join(dir, "state", "applied")) ? readFileSync(join(dir, "state", "applied"), "utf8").trim() : null);
  return { run, reload, restart, handlersRan, marker };
}

describe.skipIf(!isRoot)("the apply script's held handlers", () => {
  it("holds corosync.conf's reload, runs the other handlers, and writes no marker while it is held", () => {
    const dir = tempDir("hpcdk-hold-h-");
    const b = bundle(dir, "totem { token: 2000 }\n", "a\n");
    // WHEN the rollout applies the bundle holding the reload
    const r = b.run("m:1", "--hold", b.reload);
    // THEN the files are in place, the other file's handler ran, the reload did not
    expect(r.code, r.stderr).toBe(0);
    expect(r.out.changed).toHaveLength(2);
    expect(r.out.handlers).toEqual([b.restart]);
    expect(r.out.held).toEqual([b.reload]);
    expect(r.out.done).toBe(true);
    expect(b.handlersRan()).toEqual(["restart-other"]);
    expect(readFileSync(join(dir, "etc/corosync/corosync.conf"), "utf8")).toBe("totem { token: 2000 }\n");
    // and the host does not count as holding the bundle: a rerun of the deploy applies it again
    expect(b.marker()).toBeNull();
  });

  it("keeps the reload held on a rerun with --hold (files unchanged), then --held-ran drops it and writes the marker", () => {
    const dir = tempDir("hpcdk-hold-h-");
    const b = bundle(dir, "totem { token: 2000 }\n", "a\n");
    expect(b.run("m:1", "--hold", b.reload).code).toBe(0);
    // WHEN the rollout stopped and a rerun applies the node again, holding the reload
    const again = b.run("m:1", "--hold", b.reload);
    expect(again.out.changed).toEqual([]);
    expect(again.out.held).toEqual([b.reload]);
    expect(b.marker()).toBeNull();
    // WHEN the rollout has reloaded the cluster once and says so
    const done = b.run("m:1", "--held-ran");
    // THEN the held reload is dropped, not run, and the marker says the host holds the bundle
    expect(done.code, done.stderr).toBe(0);
    expect(done.out.released).toEqual([b.reload]);
    expect(done.out.held).toEqual([]);
    expect(done.out.handlers).toEqual([]);
    expect(b.handlersRan()).toEqual(["restart-other"]);
    expect(b.marker()).toBe("m:1");
    // and a plain rerun has nothing left to do
    const plain = b.run("m:1");
    expect([plain.out.changed, plain.out.handlers, plain.out.held, plain.out.released]).toEqual([[], [], [], []]);
  });

  it("runs a held reload that never ran when the bundle is applied without --hold (a rollout that stopped, then Terraform)", () => {
    const dir = tempDir("hpcdk-hold-h-");
    const b = bundle(dir, "totem { token: 2000 }\n", "a\n");
    expect(b.run("m:1", "--hold", b.reload).code).toBe(0);
    const plain = b.run("m:1");
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.out.handlers).toEqual([b.reload]);
    expect(b.handlersRan()).toEqual(["restart-other", "reload"]);
    expect(b.marker()).toBe("m:1");
  });

  it("holds a reload left pending by an interrupted run, and runs nothing that did not change", () => {
    const dir = tempDir("hpcdk-hold-h-");
    const b = bundle(dir, "totem { token: 2000 }\n", "a\n");
    // GIVEN a run killed after the file changed, before its handlers ran
    mkdirSync(join(dir, "state"), { recursive: true });
    expect(b.run("m:1", "--hold", b.reload).code).toBe(0);
    writeFileSync(join(dir, "state", "held-handlers"), "");
    writeFileSync(join(dir, "state", "pending-handlers"), `${b.reload}\n`);
    // WHEN applied again with the reload held
    const r = b.run("m:1", "--hold", b.reload);
    // THEN it is held, not run
    expect(r.out.held).toEqual([b.reload]);
    expect(b.handlersRan()).toEqual(["restart-other"]);
    expect(b.marker()).toBeNull();
  });

  it("fails if an argument is unknown: nothing is applied", () => {
    const dir = tempDir("hpcdk-hold-h-");
    const b = bundle(dir, "totem { token: 2000 }\n", "a\n");
    const r = b.run("m:1", "--hodl", b.reload);
    expect(r.code).toBe(1);
    expect(r.out.error).toBe("unknown argument --hodl");
    expect(existsSync(join(dir, "etc/corosync/corosync.conf"))).toBe(false);
  });
});
