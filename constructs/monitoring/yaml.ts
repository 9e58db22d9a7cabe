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
