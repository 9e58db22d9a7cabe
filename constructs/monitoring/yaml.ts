import { stringify } from "yaml";

/**
 * A YAML file for Prometheus, Alertmanager, their exporters and Grafana, written by a YAML
 * writer, never by a template: every site value is quoted where YAML needs it. The writer works
 * to YAML 1.1, which is what Go's yaml.v2 (Prometheus, Alertmanager) reads, so strings that 1.1
 * would take for something else (`yes`, `on`, `1:30`) are quoted; the output is YAML 1.2 as well.
 */
export function yamlFile(header: string, value: unknown): string {
  return header + stringify(value, { lineWidth: 0, version: "1.1" });
}

/** Seconds as a Prometheus duration: 90 → "90s", 0 → "0s". */
export function seconds(n: number): string {
  if (!Number.isInteger(n) || n < 0) throw new Error(`seconds: not a whole number of seconds: ${n}`);
  return `${n}s`;
}

/** A file_sd target group: its targets and the labels they share. */
export interface TargetGroup {
  readonly targets: readonly string[];
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * A file_sd file: the same YAML `yamlFile` would write, with every target and label value
 * double-quoted (a JSON string is a YAML double-quoted scalar), written without the YAML writer: a
 * 10,000-host site's target lists took the writer about 2 s per synthesis, this takes milliseconds.
 */
export function fileSdYaml(header: string, groups: readonly TargetGroup[]): string {
  const q = (s: string) => JSON.stringify(s);
  // A label name stays plain unless YAML 1.1 would read it as something else (y, no, on, null).
  const key = (k: string) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) && !/^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL)$/.test(k) ? k : q(k));
  const parts = [header];
  for (const g of groups) {
    parts.push(g.targets.length > 0 ? "- targets:\n" : "- targets: []\n");
    for (const t of g.targets) parts.push(`    - ${q(t)}\n`);
    const labels = Object.entries(g.labels);
    if (labels.length > 0) {
      parts.push("  labels:\n");
      for (const [k, v] of labels) parts.push(`    ${key(k)}: ${q(v)}\n`);
    }
  }
  return parts.join("");
}
