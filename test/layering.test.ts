/**
 * Which way imports run (docs/DEVELOPING.md, "Layers"), enforced: dependency-cruiser reads every
 * import of the sources (type-only imports included) and each rule below names what may not be
 * imported from where. A violation fails with the rule and the two files. Known violations that
 * another part of issue 14 removes are listed in ALLOWED, each with its issue and why it is
 * still there; the list only shrinks: an entry that no longer occurs fails too, so it is removed
 * with the fix.
 *
 * @see https://github.com/sverweij/dependency-cruiser/blob/main/doc/rules-reference.md
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { cruise, type ICruiseOptions, type IForbiddenRuleType } from "dependency-cruiser";
import { describe, expect, it } from "vitest";
import { ROOT, tempDir } from "./helpers.js";

/** The layers, bottom up: the folders the rules speak of. */
const LAYERS = ["common", "schema", "constructs", "stacks", "operations", "cli"];
/** A construct domain: any folder of constructs/ but core. */
const DOMAIN = "^constructs/(?!core/)([^/]+)/";

const RULES: IForbiddenRuleType[] = [
  {
    name: "common-imports-nothing",
    comment: "common/ is the ground floor: it imports nothing of hpcdk",
    severity: "error",
    from: { path: "^common/" },
    to: { path: "^(schema|constructs|stacks|operations|cli)/" },
  },
  {
    name: "schema-imports-only-common",
    comment: "schema/ (the site file's schema and rules) imports only common/",
    severity: "error",
    from: { path: "^schema/" },
    to: { path: "^(constructs|stacks|operations|cli)/" },
  },
  {
    name: "core-imports-only-common",
    comment: "constructs/core knows no domain and no schema: it imports only common/",
    severity: "error",
    from: { path: "^constructs/core/" },
    to: { path: "^(schema/|stacks/|operations/|cli/|constructs/(?!core/))" },
  },
  {
    name: "domain-not-another-domain",
    comment: "a domain imports constructs/core and common/, never another domain: the stack passes values between them",
    severity: "error",
    from: { path: DOMAIN },
    to: { path: "^constructs/", pathNot: ["^constructs/$1/", "^constructs/core/"] },
  },
  {
    name: "domain-uses-schema-types-only",
    comment: "a domain takes the validated site spec the stack hands it (schema types), never schema code (parsing, lookups)",
    severity: "error",
    from: { path: DOMAIN },
    to: { path: "^schema/", dependencyTypesNot: ["type-only"] },
  },
  {
    name: "constructs-below-stacks",
    comment: "constructs never import the stacks, the operations or the command",
    severity: "error",
    from: { path: "^constructs/" },
    to: { path: "^(stacks|operations|cli)/" },
  },
  {
    name: "stacks-below-operations",
    comment: "stacks/ composes schema, constructs and common; it never imports the operations or the command",
    severity: "error",
    from: { path: "^stacks/" },
    to: { path: "^(operations|cli)/" },
  },
  {
    name: "operations-not-stacks-or-constructs",
    comment: "operations read what synthesis hands them (the contracts of common/) and the site schema; they never import stacks/ or a construct",
    severity: "error",
    from: { path: "^operations/" },
    to: { path: "^(stacks|constructs|cli)/" },
  },
  {
    name: "no-cycle",
    comment: "no import cycles",
    severity: "error",
    from: {},
    to: { circular: true },
  },
];

/** A known violation: a rule, the importing file, the imported file (or, for a cycle, every file of the cycle). */
interface Allowed {
  readonly rule: string;
  readonly from?: string;
  readonly to?: string;
  readonly cycle?: readonly string[];
  /** The issue that removes it, and how. */
  readonly why: string;
}

/** Known violations outside the operations kernel, each removed by another part of issue 14. This list only shrinks. */
const ALLOWED: readonly Allowed[] = [];

interface Violation {
  readonly rule: string;
  readonly from: string;
  readonly to: string;
  /** For a cycle: the path from `to` back to `from`. */
  readonly cycle?: readonly string[];
}

/** Every import of the sources under `baseDir` that breaks a rule. */
async function violations(baseDir: string): Promise<Violation[]> {
  const options: ICruiseOptions = {
    baseDir,
    validate: true,
    ruleSet: { forbidden: RULES },
    tsPreCompilationDeps: true,
    doNotFollow: { path: "node_modules" },
    exclude: { path: "\\.(sh|hbs|js)$" },
  };
  const result = await cruise(LAYERS.filter((l) => existsSync(join(baseDir, l))), options);
  if (typeof result.output === "string") throw new Error("dependency-cruiser gave text, not its result");
  return result.output.summary.violations.map((v) => ({
    rule: v.rule.name,
    from: v.from,
    to: v.to,
    ...(v.cycle ? { cycle: v.cycle.map((c) => c.name) } : {}),
  }));
}

const allows = (a: Allowed, v: Violation) =>
  a.rule === v.rule && (a.cycle ? a.cycle.includes(v.from) && a.cycle.includes(v.to) : a.from === v.from && a.to === v.to);

/** What a failing import says: the rule, what it means, and the two files. */
function message(v: Violation): string {
  const rule = RULES.find((r) => r.name === v.rule);
  const circle = v.cycle ? `, which leads back to it: ${[v.from, ...v.cycle].join(" -> ")}` : "";
  return `rule ${v.rule} (${rule?.comment ?? "?"}): ${v.from} imports ${v.to}${circle}`;
}

/** The imports that break a rule and are not known, and the known ones that no longer occur. */
function judge(found: readonly Violation[], allowed: readonly Allowed[]): { broken: string[]; stale: string[] } {
  return {
    broken: found.filter((v) => !allowed.some((a) => allows(a, v))).map(message),
    stale: allowed.filter((a) => !found.some((v) => allows(a, v))).map((a) => `${a.rule}: ${a.cycle ? a.cycle.join(" <-> ") : `${a.from} -> ${a.to}`} no longer occurs: remove it from ALLOWED`),
  };
}

describe("the layering of hpcdk's sources", () => {
  it("breaks no rule but the known violations, and every known violation still occurs (the list only shrinks)", async () => {
    const { broken, stale } = judge(await violations(ROOT), ALLOWED);
    expect(broken).toEqual([]);
    expect(stale).toEqual([]);
  });

  it("operations import neither stacks/ nor constructs/, with no exception", () => {
    expect(ALLOWED.filter((a) => a.from?.startsWith("operations/") || a.cycle?.some((f) => f.startsWith("operations/")))).toEqual([]);
  });
});

describe("the layering test itself", () => {
  /** A tree of sources with one bad import of each kind, and a good one of each. */
  function tree(files: Record<string, string>): string {
    const dir = tempDir("hpcdk-layering-");
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    return dir;
  }

  it("fails on a deliberate bad import of each kind, naming the rule and both files", async () => {
    const dir = tree({
      "common/shell.ts": 'import { site } from "../schema/site.js";\nexport const a = site;\n',
      "common/errors.ts": "export const e = 1;\n",
      "schema/site.ts": 'import { e } from "../common/errors.js";\nimport { Bundle } from "../constructs/core/bundle.js";\nexport const site = e + Bundle;\n',
      "schema/types.ts": "export type Spec = { a: number };\n",
      "constructs/core/bundle.ts": 'import { hosts } from "../../schema/hostlist.js";\nexport const Bundle = hosts;\n',
      "schema/hostlist.ts": "export const hosts = 1;\n",
      "constructs/slurm/slurm.ts": 'import { Primitive } from "../pacemaker/primitive.js";\nimport { Bundle } from "../core/bundle.js";\nimport type { Spec } from "../../schema/types.js";\nimport { hosts } from "../../schema/hostlist.js";\nexport const s = (x: Spec) => Primitive + Bundle + hosts + x.a;\n',
      "constructs/pacemaker/primitive.ts": "export const Primitive = 1;\n",
      "stacks/stack.ts": 'import { deploy } from "../operations/deploy.js";\nimport { s } from "../constructs/slurm/slurm.js";\nexport const st = deploy + s;\n',
      "operations/deploy.ts": 'import { st } from "../stacks/stack.js";\nimport { Bundle } from "../constructs/core/bundle.js";\nimport { other } from "./other.js";\nexport const deploy = st + Bundle + other;\n',
      "operations/other.ts": 'import { deploy } from "./deploy.js";\nexport const other = deploy;\n',
      "constructs/streaming/broker.ts": 'import { other } from "../../operations/other.js";\nexport const b = other;\n',
      "cli/main.ts": 'import { deploy } from "../operations/deploy.js";\nimport { st } from "../stacks/stack.js";\nexport const m = deploy + st;\n',
    });
    const { broken } = judge(await violations(dir), []);
    const rule = (name: string) => `rule ${name} (${RULES.find((r) => r.name === name)!.comment})`;
    expect(broken.sort()).toEqual(
      [
        `${rule("common-imports-nothing")}: common/shell.ts imports schema/site.ts`,
        `${rule("constructs-below-stacks")}: constructs/streaming/broker.ts imports operations/other.ts`,
        `${rule("core-imports-only-common")}: constructs/core/bundle.ts imports schema/hostlist.ts`,
        `${rule("domain-not-another-domain")}: constructs/slurm/slurm.ts imports constructs/pacemaker/primitive.ts`,
        `${rule("domain-uses-schema-types-only")}: constructs/slurm/slurm.ts imports schema/hostlist.ts`,
        `${rule("no-cycle")}: operations/deploy.ts imports operations/other.ts, which leads back to it: operations/deploy.ts -> operations/other.ts -> operations/deploy.ts`,
        `${rule("no-cycle")}: operations/deploy.ts imports stacks/stack.ts, which leads back to it: operations/deploy.ts -> stacks/stack.ts -> operations/deploy.ts`,
        `${rule("operations-not-stacks-or-constructs")}: operations/deploy.ts imports constructs/core/bundle.ts`,
        `${rule("operations-not-stacks-or-constructs")}: operations/deploy.ts imports stacks/stack.ts`,
        `${rule("schema-imports-only-common")}: schema/site.ts imports constructs/core/bundle.ts`,
        `${rule("stacks-below-operations")}: stacks/stack.ts imports operations/deploy.ts`,
      ].sort(),
    );
    // What the rules allow is not reported: a domain's use of core and of schema types, the command importing anything.
    for (const ok of ["constructs/slurm/slurm.ts imports constructs/core/bundle.ts", "constructs/slurm/slurm.ts imports schema/types.ts", "cli/main.ts imports", "schema/site.ts imports common/errors.ts"]) {
      expect(broken.filter((b) => b.includes(ok)), ok).toEqual([]);
    }
  });

  it("fails on a known violation that no longer occurs, so the list only shrinks", async () => {
    const dir = tree({ "common/shell.ts": "export const a = 1;\n" });
    const { broken, stale } = judge(await violations(dir), [{ rule: "no-cycle", from: "common/a.ts", to: "common/b.ts", why: "gone" }]);
    expect(broken).toEqual([]);
    expect(stale).toEqual(["no-cycle: common/a.ts -> common/b.ts no longer occurs: remove it from ALLOWED"]);
  });
});
