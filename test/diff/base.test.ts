/**
 * `hpcdk diff --base GIT_REF` with real git: a throwaway repository holding a copy of hpcdk and its
 * sites (under the system temp directory), the base synthesized in a temporary worktree by the
 * base's own code, and the worktree gone afterwards, also when the base fails.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { appendFileSync, cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FIXTURES, ROOT, SOURCE_DIRS, tempDir } from "../helpers.js";

let repo: string;
/** The temporary directory of the hpcdk under test (its TMPDIR): other runs of hpcdk diff --base on this machine do not show in it. */
let hpcdkTmp: string;
const git = (...args: string[]) => execFileSync("git", ["-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.org", ...args], { encoding: "utf8" });
/** Runs the repository's own hpcdk (its working tree's code), as a developer in that checkout does. */
const hpcdk = (...args: string[]) =>
  spawnSync(process.execPath, [join(repo, "cli", "bin", "hpcdk.js"), ...args], { cwd: repo, encoding: "utf8", env: { ...process.env, CHECKPOINT_DISABLE: "1", TMPDIR: hpcdkTmp } });
const baseTemps = () => readdirSync(hpcdkTmp).filter((d) => d.startsWith("hpcdk-diff-base-"));
function edit(file: string, from: string, to: string): void {
  const text = readFileSync(join(repo, file), "utf8");
  expect(text).toContain(from);
  writeFileSync(join(repo, file), text.replace(from, to));
}

beforeAll(() => {
  repo = tempDir("hpcdk-diff-repo-");
  hpcdkTmp = tempDir("hpcdk-diff-tmp-");
  const files = execFileSync("git", ["-C", ROOT, "ls-files", "--cached", "--others", "--exclude-standard"], { encoding: "utf8" })
    .split("\n")
    .filter((f) => f && ([...SOURCE_DIRS, "sites"].includes(f.split("/")[0]!) && f.includes("/") || /^(package(-lock)?\.json|tsconfig\.json|\.gitignore)$/.test(f)));
  for (const f of files) {
    mkdirSync(dirname(join(repo, f)), { recursive: true });
    cpSync(join(ROOT, f), join(repo, f));
  }
  symlinkSync(join(ROOT, "node_modules"), join(repo, "node_modules"), "dir");
  git("init", "-q", "-b", "main");
  // The link to the dependencies is the checkout's, not the repository's (.gitignore's "node_modules/" matches directories only).
  appendFileSync(join(repo, ".git", "info", "exclude"), "node_modules\n");
  git("add", "-A");
  git("commit", "-q", "-m", "base");
});

function expectNoWorktreeLeft(before: string[]): void {
  expect(git("worktree", "list", "--porcelain").match(/^worktree /gm)).toHaveLength(1);
  expect(baseTemps().filter((d) => !before.includes(d))).toEqual([]);
}

describe("hpcdk diff --base", () => {
  it("exits 0 when the working tree renders what the base renders", () => {
    const before = baseTemps();
    const r = hpcdk("diff", "lab", "--base", "HEAD");
    expect(r.stderr).toBe("");
    const sha = git("rev-parse", "--short=7", "HEAD").trim();
    expect(r.stdout).toBe(`hpcdk diff lab: sites/lab.yaml in the working tree vs HEAD (${sha}), rendered by the base's hpcdk\nno changes\n`);
    expect(r.status).toBe(0);
    expectNoWorktreeLeft(before);
  });

  it("shows an uncommitted site edit with its settings and their impact", () => {
    const before = baseTemps();
    edit("sites/radon.yaml", "    tokenMs: 1000 ", "    tokenMs: 1500 ");
    try {
      const r = hpcdk("diff", "radon", "--base", "main", "--format", "json");
      expect(r.stderr).toBe("");
      expect(r.status).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.settings.map((s: { path: string; old: unknown; new: unknown; impact: { kind: string } }) => [s.path, s.old, s.new, s.impact.kind])).toEqual([
        ["cluster.corosync.tokenMs", 1000, 1500, "reload"],
      ]);
      expect(report.impact).toBe("reload");
      expect(report.stack.bundles.map((b: { dir: string }) => b.dir)).toEqual(["hosts/radon1", "hosts/radon3", "hosts/radon4"]);
    } finally {
      git("checkout", "--", "sites/radon.yaml");
    }
    expectNoWorktreeLeft(before);
  });

  it("renders the base with the base's code: a template change in the working tree shows, unless --base-code current", () => {
    const before = baseTemps();
    appendFileSync(join(repo, "templates", "pacemaker", "corosync.conf.hbs"), "# reviewed by hpcdk\n");
    try {
      const r = hpcdk("diff", "lab", "--base", "HEAD", "--format", "json");
      expect(r.status).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.settings).toEqual([]);
      expect(report.stack.bundles[0].files[0].patch).toMatch(/\+# reviewed by hpcdk\n$/);
      expect(report.old.description).toMatch(/rendered by the base's hpcdk$/);
      const current = hpcdk("diff", "lab", "--base", "HEAD", "--base-code", "current");
      expect(current.stdout).toMatch(/rendered by the working tree's hpcdk\nno changes\n$/);
      expect(current.status).toBe(0);
    } finally {
      git("checkout", "--", "templates");
    }
    expectNoWorktreeLeft(before);
  });

  it("shows a site that does not exist at the base as all new", () => {
    const before = baseTemps();
    cpSync(join(FIXTURES, "two-node.yaml"), join(repo, "sites", "duo.yaml"));
    try {
      const r = hpcdk("diff", "duo", "--base", "HEAD", "--format", "json");
      expect(r.status).toBe(1);
      const report = JSON.parse(r.stdout);
      expect(report.old.description).toMatch(/: sites\/duo\.yaml does not exist there$/);
      expect(report.settingsNote).toBe("the site is new");
      expect(report.stack.bundles.map((b: { dir: string; status: string }) => `${b.dir} ${b.status}`)).toEqual(["hosts/n1 added", "hosts/n2 added", "cluster added"]);
      expect(report.stack.terraform.every((t: { action: string }) => t.action === "create")).toBe(true);
    } finally {
      git("clean", "-fq", "sites");
    }
    expectNoWorktreeLeft(before);
  });

  it("exits 2 if the ref does not exist", () => {
    const r = hpcdk("diff", "lab", "--base", "no-such-branch");
    expect(r.stderr).toBe(`hpcdk: diff: --base no-such-branch: no such commit in ${repo}\n`);
    expect(r.status).toBe(2);
  });

  it("exits 2 and removes the worktree if the base does not synthesize", () => {
    const before = baseTemps();
    // A commit whose site is invalid: the base's own hpcdk refuses it.
    edit("sites/lab.yaml", "    id: 2\n", "    id: 1\n");
    git("commit", "-qam", "broken");
    edit("sites/lab.yaml", "    id: 1\n    addresses: [10.10.0.12/24]", "    id: 2\n    addresses: [10.10.0.12/24]");
    git("commit", "-qam", "fixed");
    const r = hpcdk("diff", "lab", "--base", "HEAD~1");
    expect(r.stderr).toContain('hpcdk: diff: synthesizing the base failed: hpcdk: the site is invalid (1 problem); nothing was written:\n  sites/lab.yaml:20:5: nodes.1.id: node id "1" is already used by nodes.0.id');
    expect(r.status).toBe(2);
    expectNoWorktreeLeft(before);
  });
});
