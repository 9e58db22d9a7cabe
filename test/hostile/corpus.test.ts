/**
 * The hostile corpus property test. Every payload of test/fixtures/hostile/corpus.txt goes into
 * every string field of the full sites (full-kernel.yaml, full-ganesha.yaml) in turn, alone and
 * after the field's own value. For each, either:
 *
 * - the site is refused, naming that field (or, when the field's own shape takes the payload, by
 *   a rule that relates it to another field: a renamed pool is no longer where its exports are),
 *   never with an internal error; or
 * - the site synthesizes, and the payload is inert in every file it reaches, as the programs that
 *   read them say (test/hostile/readers.ts): shell scripts, steps and handlers run in a throwaway
 *   namespace with stub commands, the apply scripts evaluated against their manifests, crm_verify,
 *   corosync -t, nginx -t, slurmd -G, JSON and TOML parsers, and the marker nowhere outside a
 *   whole value. (nfs-ganesha has no parse-only mode: its files get the whole-value check only.)
 *   Payloads that several fields take are put into all of them at once (fewer syntheses), split in
 *   halves when together they make a site that is refused.
 *
 * The test names every field it covered and prints the count of fields × payloads.
 *
 * `npm test` runs a representative part of the cross product (the suite's time budget): every
 * field with the core payloads (command substitution, a new line, a closing quote, a config block
 * escape, a secret placeholder, a space, a glob, a leading "-"), alone and after the field's value, and two more payloads per
 * field taken in turn from the whole corpus, so every payload goes into several fields. The whole
 * cross product (every field × every payload × both modes):
 *
 *     HPCDK_HOSTILE_FULL=1 npx vitest run test/hostile/corpus.test.ts
 */
import { afterAll, describe, expect, it } from "vitest";
import { siteJsonSchema } from "../../cli/commands/schema.js";
import { idPart } from "../../common/contracts/cib-ids.js";
import { validateSite, parseSite, type LoadedSite } from "../../schema/load.js";
import { SiteObjectSchema } from "../../schema/site.js";
import { mountUnitName } from "../../constructs/slurm/index.js";
import { comment, type BundleManifest } from "../../constructs/core/index.js";
import { SynthError } from "../../stacks/synth.js";
import { expandHostlist } from "../../common/hostlist.js";
import { synthTo } from "../helpers.js";
import { dotted, fullSites, label, loadCorpus, MARKER, schemaPath, siteText, stringFields, withPayload, type Field } from "./corpus.js";
import {
  applyScriptProblems,
  cibProblems,
  corosyncProblems,
  filesOf,
  isRoot,
  jsonProblems,
  nginxProblems,
  sandboxShell,
  slurmdGresProblems,
  textProblems,
  tomlProblems,
  type ShellJob,
} from "./readers.js";

const corpus = loadCorpus();
const sites = fullSites();
const MODES = ["alone", "after the value"] as const;
type Mode = (typeof MODES)[number];
const FULL = process.env.HPCDK_HOSTILE_FULL === "1";
/** The payloads every field gets in the suite's run: one of each class that broke a file before. */
const CORE = [
  "$(touch /tmp/HPCDKPWN)",
  "x\ntouch /tmp/HPCDKPWN",
  "' ; touch /tmp/HPCDKPWN ; '",
  "x;}server{listen 8080;root /HPCDKPWN;}",
  "@@hpcdk-secret:munge-key@@HPCDKPWN",
  // Taken by the freer fields, harmless only when quoted: a word split, a glob, an option.
  "x HPCDKPWN",
  "*HPCDKPWN?[a]",
  "-HPCDKPWN",
];
/** More payloads per field in the suite's run, taken in turn from the corpus. */
const TURNS = 2;
for (const c of CORE) if (!corpus.includes(c)) throw new Error(`corpus.txt lacks the core payload ${JSON.stringify(c)}`);
/** The (payload, mode) pairs field number `index` gets. */
function casesOf(index: number): [string, Mode][] {
  if (FULL) return corpus.flatMap((p) => MODES.map((m) => [p, m] as [string, Mode]));
  const out: [string, Mode][] = CORE.flatMap((p) => MODES.map((m) => [p, m] as [string, Mode]));
  for (let j = 0; j < TURNS; j++) {
    const k = (index * TURNS + j) % corpus.length;
    out.push([corpus[k]!, MODES[(index + j) % MODES.length]!]);
  }
  return out;
}
const usedPayloads = new Set<string>();
const put = (field: Field, payload: string, mode: Mode) => (mode === "alone" ? payload : `${field.original}${payload}`);

/** Payloads each field's site took (phase 2 synthesizes them): site → payload → mode → fields. */
const accepted = new Map<string, Map<string, Map<Mode, Field[]>>>();
const covered = new Set<string>();
let cases = 0;
let refused = 0;
let refusedByRule = 0;
let inert = 0;

afterAll(() => {
  const fields = sites.reduce((n, s) => n + stringFields(s.data).length, 0);
  process.stdout.write(
    `hostile corpus (${FULL ? "the whole cross product" : `the suite's part: ${CORE.length} core payloads × ${MODES.length} modes + ${TURNS} in turn per field; HPCDK_HOSTILE_FULL=1 for all`}): ` +
      `${fields} string fields (${covered.size} in the schema's terms) × ${usedPayloads.size} of ${corpus.length} payloads = ${cases} sites: ` +
      `${refused} refused naming the field, ${refusedByRule} refused by a rule, ${inert} synthesized with the payload inert\n` +
      `fields covered: ${[...covered].sort().join(", ")}\n`,
  );
});

describe.each(sites)("every payload in every string field of $name", ({ name, data }) => {
  const fields = stringFields(data);

  it.each(fields.map((f, i) => [dotted(f.path), f, i] as const))("%s: refused naming the field, or taken", (_, field, index) => {
    covered.add(schemaPath(field));
    const problems: string[] = [];
    for (const [payload, mode] of casesOf(index)) {
      usedPayloads.add(payload);
      {
        const { site, paths } = withPayload(data, field, put(field, payload, mode));
        cases++;
        let result: ReturnType<typeof validateSite>;
        try {
          result = validateSite(site);
        } catch (err) {
          problems.push(`${mode} ${label(payload)}: internal error ${(err as Error).stack?.slice(0, 400)}`);
          continue;
        }
        if ("spec" in result) {
          const bySite = accepted.get(name) ?? new Map<string, Map<Mode, Field[]>>();
          const byPayload = bySite.get(payload) ?? new Map<Mode, Field[]>();
          byPayload.set(mode, [...(byPayload.get(mode) ?? []), field]);
          bySite.set(payload, byPayload);
          accepted.set(name, bySite);
          continue;
        }
        const named = result.issues.some((i) => paths.some((p) => dotted(i.path as (string | number)[]).startsWith(dotted(p)) || (field.kind === "key" && dotted(i.path as (string | number)[]).startsWith(dotted(field.path.slice(0, -1))))));
        if (named) {
          refused++;
          continue;
        }
        // The field's own shape took it: the refusal comes from a rule between fields.
        if (SiteObjectSchema.safeParse(site).success) {
          refusedByRule++;
          continue;
        }
        problems.push(`${mode} ${label(payload)}: refused without naming ${dotted(field.path)}: ${result.issues.map((i) => `${dotted(i.path as (string | number)[])}: ${i.message}`).join(" | ").slice(0, 400)}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("the full sites", () => {
  it("hold every string field of the site schema (the test walks them all)", () => {
    const inSchema = new Set<string>();
    // biome-ignore lint: a JSON Schema walk
    const root = siteJsonSchema() as any;
    const walk = (s: any, path: string) => {
      if (!s) return;
      if (s.$ref) return walk(root.$defs[s.$ref.replace("#/$defs/", "")], path);
      for (const k of ["anyOf", "oneOf", "allOf"]) for (const x of s[k] ?? []) walk(x, path);
      if (s.type === "string") inSchema.add(path);
      for (const [k, v] of Object.entries(s.properties ?? {})) walk(v, path === "" ? k : `${path}.${k}`);
      if (s.propertyNames || (s.additionalProperties && typeof s.additionalProperties === "object")) {
        inSchema.add(`${path}<key>`);
        walk(s.additionalProperties, `${path}.*`);
      }
      if (s.items) walk(s.items, `${path}[]`);
    };
    walk(root, "");
    const inFixtures = new Set(sites.flatMap((s) => stringFields(s.data).map((f) => schemaPath(f).replace(/^(deploy\.hosts|deploy\.packageVersions|monitoring\.prometheus\.externalLabels|storage\.pools\[\]\.properties)\.[^.<]+/, "$1.*"))));
    const missing = [...inSchema].filter((p) => !inFixtures.has(p));
    expect(missing).toEqual([]);
    expect(inSchema.size).toBeGreaterThan(150);
  });
});

/** What a payload may legitimately turn into on its way (a CIB id, a unit name, a dataset name). */
function forms(payload: string): string[] {
  const parts = payload.split("/");
  const asComment = comment(payload).text;
  return [...new Set([payload, asComment, payload.toLowerCase(), idPart(payload), mountUnitName(payload).replace(/\.mount$/, ""), ...parts.map((_, i) => parts.slice(i).join("/"))])].filter((v) => MARKER.test(v));
}

/** Every check of a synthesized stack directory; problems by file. */
function inertProblems(stack: string, site: LoadedSite, values: string[]): string[] {
  const files = filesOf(stack);
  const problems: string[] = [];
  const jobs: ShellJob[] = [];
  const slurmdChecked = new Set<string>();
  const text = (b: Buffer) => b.toString("utf8");
  for (const [path, bytes] of files) {
    const body = text(bytes);
    if (path.startsWith("manifests/")) {
      const manifest = JSON.parse(body) as BundleManifest;
      problems.push(...jsonProblems(body, values).map((p) => `${path}: ${p}`));
      for (const s of manifest.steps) if (MARKER.test(s.run)) jobs.push({ id: `${path} step ${s.id}`, text: s.run, kind: "command", shell: "/bin/sh" });
      for (const f of [...manifest.files, ...manifest.secretFiles]) {
        for (const h of f.handlers) if (MARKER.test(h)) jobs.push({ id: `${path} handler of ${f.path}`, text: h, kind: "command", shell: "/bin/sh" });
      }
      if (manifest.kind !== "cluster") {
        const script = text(files.get(`apply/${manifest.kind}s/${manifest.name}.sh`)!);
        problems.push(...applyScriptProblems(script, manifest, values).map((p) => `apply/${manifest.kind}s/${manifest.name}.sh: ${p}`));
      }
      continue;
    }
    if (!MARKER.test(body) || path.startsWith("apply/")) continue;
    const fail = (list: string[]) => problems.push(...list.map((p) => `${path}: ${p}`));
    if (body.startsWith("#!/bin/sh") || body.startsWith("#!/bin/bash")) {
      jobs.push({ id: path, text: body, kind: "script", shell: body.startsWith("#!/bin/bash") ? "/bin/bash" : "/bin/sh" });
    } else if (path.endsWith("/cib.xml")) fail(cibProblems(body, values));
    else if (path.endsWith("/etc/corosync/corosync.conf")) fail(corosyncProblems(body, path.split("/")[1]!));
    else if (path.endsWith("/etc/nginx/conf.d/slurmrestd.conf")) fail(nginxProblems(body, site.spec.slurm?.restApi?.nginx.tls));
    else if (isRoot && /^groups\/[^/]+\/etc\/slurm\/(slurm|gres)\.conf$/.test(path)) {
      // slurmd -G on the group's first node, once per group (either file may hold the payload).
      const name = path.split("/")[1]!;
      const group = site.spec.nodeGroups.find((g) => g.name === name);
      const gpus = group?.hardware?.gpus;
      const key = `groups/${name}`;
      if (group && gpus && !slurmdChecked.has(key)) {
        slurmdChecked.add(key);
        const conf = (f: string) => text(files.get(`${key}/etc/slurm/${f}`)!);
        fail(slurmdGresProblems(conf("slurm.conf"), conf("gres.conf"), expandHostlist(group.hosts)[0]!, gpus.type, gpus.count));
      }
    }
    else if (path.endsWith(".json") || path === "cdk.tf.json") fail(jsonProblems(body, values));
    else if (path.endsWith("/etc/containers/containers.conf") || path.endsWith("/etc/containers/storage.conf")) fail(tomlProblems(body, values));
    // Every file, whatever else reads it: the marker only inside whole values.
    fail(textProblems(body, values));
  }
  if (isRoot && jobs.length > 0) {
    for (const [id, list] of sandboxShell(jobs, values)) problems.push(...list.map((p) => `${id}: ${p}`));
  }
  return problems;
}

describe.each(sites)("what $name takes is inert", ({ name }) => {
  it("synthesizes every payload the fields took, and the readers read each as one inert value", { timeout: 1_800_000 }, () => {
    // Phase 1 (the tests above) found what each field takes: run the whole file.
    expect(accepted.get(name)?.size ?? 0, "no taken payloads: the tests above did not run").toBeGreaterThan(0);
    const data = sites.find((s) => s.name === name)!.data;
    const problems: string[] = [];
    let syntheses = 0;
    const tryFields = (payload: string, mode: Mode, fields: Field[]): void => {
      let site: unknown = data;
      for (const f of fields) site = withPayload(site, { ...f }, put(f, payload, mode)).site;
      let loaded: LoadedSite;
      try {
        loaded = parseSite(siteText(site), `sites/${name}.yaml`);
      } catch (err) {
        // Together they make a site the rules refuse (two things of one name): half at a time.
        if (fields.length === 1) {
          problems.push(`${mode} ${label(payload)} in ${dotted(fields[0]!.path)}: taken alone, refused in the synthesis: ${(err as Error).message.slice(0, 300)}`);
          return;
        }
        const half = Math.ceil(fields.length / 2);
        tryFields(payload, mode, fields.slice(0, half));
        tryFields(payload, mode, fields.slice(half));
        return;
      }
      syntheses++;
      let out: string;
      try {
        out = synthTo([loaded]).out;
      } catch (err) {
        // A problem only the construct tree sees (deploy.packageVersions names a package no host
        // installs) is a site error too: file, line and field.
        if (err instanceof SynthError && fields.length > 1) {
          const half = Math.ceil(fields.length / 2);
          tryFields(payload, mode, fields.slice(0, half));
          tryFields(payload, mode, fields.slice(half));
          return;
        }
        const field = dotted(withPayload(data, fields[0]!, put(fields[0]!, payload, mode)).paths[0] ?? fields[0]!.path);
        if (err instanceof SynthError && err.problems.every((p) => p.includes(`: ${field.slice(0, 64)}`))) return;
        problems.push(`${mode} ${label(payload)} in ${fields.map((f) => dotted(f.path)).join(", ")}: synthesis failed: ${(err as Error).stack?.slice(0, 400)}`);
        return;
      }
      const found = inertProblems(`${out}/stacks/${name}`, loaded, forms(payload));
      if (found.length > 0) problems.push(`${mode} ${label(payload)} in ${fields.map((f) => dotted(f.path)).join(", ")}:\n    ${found.slice(0, 20).join("\n    ")}`);
      else inert += fields.length;
    };
    for (const [payload, byMode] of accepted.get(name) ?? []) {
      for (const [mode, fields] of byMode) tryFields(payload, mode, fields);
    }
    process.stdout.write(`${name}: ${syntheses} syntheses for ${[...(accepted.get(name) ?? new Map()).values()].reduce((n, m) => n + [...m.values()].reduce((k, f) => k + f.length, 0), 0)} taken (field, payload) pairs\n`);
    expect(problems).toEqual([]);
  });
});
