/**
 * The Grafana dashboards hpcdk renders, checked against the dashboard model Grafana publishes
 * (`@grafana/schema`, its TypeScript types generated from Grafana's own schema): each rendered
 * JSON file becomes a TypeScript literal that must satisfy `Dashboard`, each panel `Panel` with
 * its panel type's options and field config (known keys, right types; Grafana fills in the
 * options left out), and the TypeScript compiler judges. Grafana itself is not a Debian package
 * and does not run here. A dashboard with a misspelt key fails the check.
 */
import { spawnSync } from "node:child_process";
import { symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadExamples, readTree, ROOT, synthTo, tempDir } from "../helpers.js";

const { out } = synthTo(loadExamples(["lab"]));
const tree = readTree(join(out, "stacks", "lab"));
const DIR = "groups/ops/var/lib/grafana/dashboards/hpcdk/";
const dashboards = [...tree.keys()].filter((p) => p.startsWith(DIR)).map((p) => p.slice(DIR.length));

const PANEL_TYPES: Record<string, { module: string; fieldConfig: boolean }> = {
  timeseries: { module: "timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen", fieldConfig: true },
  stat: { module: "stat/panelcfg/x/StatPanelCfg_types.gen", fieldConfig: false },
  table: { module: "table/panelcfg/x/TablePanelCfg_types.gen", fieldConfig: true },
  bargauge: { module: "bargauge/panelcfg/x/BarGaugePanelCfg_types.gen", fieldConfig: false },
};

/** A TypeScript module that type-checks a dashboard's JSON against Grafana's published types. */
function typedDashboard(model: { panels: { type: string }[] } & Record<string, unknown>): string {
  const imports = Object.entries(PANEL_TYPES).map(
    ([type, p]) =>
      `import type { Options as ${type}Options${p.fieldConfig ? `, FieldConfig as ${type}FieldConfig` : ""} } from "@grafana/schema/dist/esm/raw/composable/${p.module}";`,
  );
  const panels = model.panels.map((p, i) => {
    const spec = PANEL_TYPES[p.type];
    if (!spec) throw new Error(`panel ${i} has type ${p.type}, which this check does not know`);
    const generics = `Partial<${p.type}Options>${spec.fieldConfig ? `, Partial<${p.type}FieldConfig>` : ""}`;
    return `const panel${i} = ${JSON.stringify(p, null, 2)} satisfies Json<Panel<${generics}>>;`;
  });
  const { panels: _, ...rest } = model;
  return [
    'import type { Dashboard, Panel } from "@grafana/schema";',
    ...imports,
    // JSON holds strings where the types have string enums (ThresholdsMode.Absolute is "absolute"):
    // the same types with each enum as the union of its values.
    "type Json<T> = T extends string ? `${T}` : T extends number | boolean | null | undefined ? T : T extends readonly (infer U)[] ? Json<U>[] : T extends object ? { [K in keyof T]: Json<T[K]> } : T;",
    ...panels,
    `export const dashboard = { ...${JSON.stringify(rest, null, 2)}, panels: [${model.panels.map((_p, i) => `panel${i}`).join(", ")}] } satisfies Json<Dashboard>;`,
    "",
  ].join("\n");
}

/** tsc --noEmit on the modules, resolving @grafana/schema from the checkout's node_modules. */
function tsc(files: Record<string, string>) {
  const dir = tempDir("hpcdk-grafana-");
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: "NodeNext", moduleResolution: "NodeNext", target: "ES2022", types: [], noUnusedLocals: false }, include: ["*.ts"] }),
  );
  return spawnSync(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", dir, "--noErrorTruncation"], { encoding: "utf8", timeout: 120_000 });
}

describe("the Grafana dashboards and provisioning of sites/lab.yaml", () => {
  it("renders cluster health, NFS, ZFS pools and Slurm for the Grafana node group", () => {
    expect(dashboards.sort()).toEqual(["cluster-health.json", "nfs.json", "slurm.json", "zfs-pools.json"]);
  });

  it("satisfies Grafana's published dashboard and panel types (@grafana/schema, checked by tsc)", () => {
    const files = Object.fromEntries(dashboards.map((d) => [d.replace(".json", ".ts"), typedDashboard(JSON.parse(tree.get(`${DIR}${d}`)!.toString()))]));
    const r = tsc(files);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("fails the check for a misspelt key in a panel and a wrong type in the dashboard", () => {
    const model = JSON.parse(tree.get(`${DIR}nfs.json`)!.toString());
    model.panels[0].gridpos = model.panels[0].gridPos;
    model.refresh = 60;
    const r = tsc({ "broken.ts": typedDashboard(model) });
    expect(r.status).not.toBe(0);
    expect(r.stdout).toContain(`'"gridpos"' does not exist in type`);
    expect(r.stdout, r.stdout.slice(-3000)).toContain("Types of property 'refresh' are incompatible.");
  });

  it("gives every panel a unique id and a place on the grid, and the data source hpcdk provisions", () => {
    const provisioned = parse(tree.get("groups/ops/etc/grafana/provisioning/datasources/hpcdk-lab.yaml")!.toString()) as { datasources: { uid: string; url: string; type: string }[] };
    expect(provisioned.datasources).toEqual([expect.objectContaining({ uid: "hpcdk-lab-prometheus", type: "prometheus", url: "http://172.16.0.102:9090/" })]);
    for (const d of dashboards) {
      const model = JSON.parse(tree.get(`${DIR}${d}`)!.toString());
      const ids = model.panels.map((p: { id: number }) => p.id);
      expect(new Set(ids).size).toBe(ids.length);
      for (const p of model.panels) {
        expect(p.datasource).toEqual({ type: "prometheus", uid: "hpcdk-lab-prometheus" });
        expect(p.gridPos.x + p.gridPos.w).toBeLessThanOrEqual(24);
      }
      expect(model.description).toContain("Generated by hpcdk from sites/lab.yaml");
      expect(model.uid.length).toBeLessThanOrEqual(40);
    }
    const provider = parse(tree.get("groups/ops/etc/grafana/provisioning/dashboards/hpcdk-lab.yaml")!.toString()) as { providers: { options: { path: string } }[] };
    expect(provider.providers[0]!.options.path).toBe("/var/lib/grafana/dashboards/hpcdk");
  });

  it("queries only metrics the exporters and collectors hpcdk deploys provide", () => {
    const known = /^(ha_cluster_|hpcdk_|node_|probe_|up$|ALERTS$)/;
    for (const d of dashboards) {
      const model = JSON.parse(tree.get(`${DIR}${d}`)!.toString());
      for (const p of model.panels) {
        for (const t of p.targets) {
          // Label lists, selectors, strings and ranges out; what is left and not a function call is a metric.
          const bare = t.expr
            .replace(/\b(by|on|without|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
            .replace(/\{[^}]*\}|"[^"]*"|\[[^\]]*\]/g, " ");
          const metrics = [...bare.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()/g)].map((m) => m[1]!).filter((m) => !/^(and|or|unless|bool|offset)$/.test(m));
          expect(metrics.length, t.expr).toBeGreaterThan(0);
          for (const m of metrics) expect(m, `${d}: ${p.title}: ${t.expr}`).toMatch(known);
        }
      }
    }
  });
});
