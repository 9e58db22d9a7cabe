/**
 * The alert rules, unit-tested by Prometheus' own `promtool test rules`: the rule files
 * sites/lab.yaml renders, against the cases in test/monitoring/rules/*.test.yml. Every alert must
 * have a case where it fires (after its `for:` time, with its labels and its summary) and one
 * where it stays silent (healthy series, or before its `for:` time); a rule broken on purpose
 * makes promtool fail.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadExamples, readTree, synthTo, tempDir } from "../helpers.js";

const CASES = join(import.meta.dirname, "rules");
const { out } = synthTo(loadExamples(["lab"]));
const tree = readTree(join(out, "stacks", "lab"));
const RULES = "hosts/stc1/etc/prometheus/rules/";
const ruleFiles = [...tree.keys()].filter((p) => p.startsWith(RULES)).map((p) => p.slice(RULES.length));
const testFiles = readdirSync(CASES).filter((f) => f.endsWith(".test.yml")).sort();

interface RuleFile {
  groups: { rules: { alert: string }[] }[];
}
interface TestFile {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

/** The rendered rule files and the cases in one directory, as promtool wants them. */
function workDir(edit?: (file: string, text: string) => string): string {
  const dir = tempDir("hpcdk-promtool-");
  for (const f of ruleFiles) {
    const text = tree.get(`${RULES}${f}`)!.toString();
    writeFileSync(join(dir, f), edit ? edit(f, text) : text);
  }
  for (const f of testFiles) copyFileSync(join(CASES, f), join(dir, f));
  return dir;
}

const promtoolTest = (dir: string, files = testFiles) => spawnSync("promtool", ["test", "rules", ...files], { cwd: dir, encoding: "utf8", timeout: 60_000 });

describe("the alert rules under promtool test rules", () => {
  it("renders one rule file per area, and a case file for each", () => {
    expect(ruleFiles.sort()).toEqual(["hpcdk-cluster.yml", "hpcdk-hosts.yml", "hpcdk-monitoring.yml", "hpcdk-slurm.yml", "hpcdk-storage.yml"]);
    expect(testFiles).toEqual(ruleFiles.map((f) => f.replace(/\.yml$/, ".test.yml")));
    for (const f of testFiles) {
      expect((parse(readFileSync(join(CASES, f), "utf8")) as TestFile).rule_files).toEqual([f.replace(/\.test\.yml$/, ".yml")]);
    }
  });

  it("passes every case", () => {
    const r = promtoolTest(workDir());
    expect(r.stdout + r.stderr).not.toContain("FAILED");
    expect(r.status).toBe(0);
    expect(r.stdout.match(/SUCCESS/g)).toHaveLength(testFiles.length);
  });

  it("has, for every alert, a case where it fires and one where it stays silent", () => {
    const alerts = ruleFiles.flatMap((f) => (parse(tree.get(`${RULES}${f}`)!.toString()) as RuleFile).groups.flatMap((g) => g.rules.map((r) => r.alert)));
    expect(alerts.length).toBeGreaterThanOrEqual(30);
    const cases = testFiles.flatMap((f) => (parse(readFileSync(join(CASES, f), "utf8")) as TestFile).tests.flatMap((t) => t.alert_rule_test ?? []));
    const firing = new Set(cases.filter((c) => (c.exp_alerts ?? []).length > 0).map((c) => c.alertname));
    const silent = new Set(cases.filter((c) => (c.exp_alerts ?? []).length === 0).map((c) => c.alertname));
    expect(alerts.filter((a) => !firing.has(a)), "alerts without a case where they fire").toEqual([]);
    expect(alerts.filter((a) => !silent.has(a)), "alerts without a case where they stay silent").toEqual([]);
    // No case names an alert the rules do not have.
    expect([...firing, ...silent].filter((a) => !alerts.includes(a))).toEqual([]);
  });

  it("fails if a rule fires too early (its for: shortened)", () => {
    const dir = workDir((f, text) => (f === "hpcdk-hosts.yml" ? text.replace("for: 60s", "for: 10s") : text));
    const r = promtoolTest(dir, ["hpcdk-hosts.test.yml"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("alertname: NodeDown, time: 2m");
  });

  it("fails if a rule no longer fires (its threshold raised)", () => {
    const dir = workDir((f, text) => (f === "hpcdk-storage.yml" ? text.replace("> 80", "> 90") : text));
    const r = promtoolTest(dir, ["hpcdk-storage.test.yml"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("alertname: ZpoolFull, time: 21m");
  });

  it("fails if an alert's summary changes", () => {
    const dir = workDir((f, text) => (f === "hpcdk-cluster.yml" ? text.replace("was fenced: find out why", "was fenced: ignore it") : text));
    const r = promtoolTest(dir, ["hpcdk-cluster.test.yml"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("alertname: NodeFenced");
  });

  it("fails if a rule counts a dead node's last samples (the quorate-and-scraped filter removed)", () => {
    const dir = workDir((f, text) => (f === "hpcdk-cluster.yml" ? text.replace(/ and on \(instance\) \(up\{job="hacluster"\} == 1\)/g, "") : text));
    const r = promtoolTest(dir, ["hpcdk-cluster.test.yml"]);
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toContain("alertname: ClusterNodeOffline, time: 2m30s");
  });
});
