/**
 * common/hostlist.ts against Slurm's own hostlist code: `scontrol show hostnames` and
 * `scontrol show hostlist` on random inputs from a seeded generator (the same cases every run;
 * a failure prints its seed and case). Three properties:
 * 1. expansion: expandHostlist(E) is exactly what scontrol expands E to, in order;
 * 2. compression round trip: scontrol expands compressHostlist(H) to the distinct names of H;
 * 3. compression form: scontrol, given those names in that order, writes the same expression.
 * And every expression scontrol rejects, expandHostlist rejects too.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { compressHostlist, expandHostlist } from "../../common/hostlist.js";
import { tempDir } from "../helpers.js";

const SEED = 20261121;
const CASES = 400;

/** mulberry32: a small seeded generator, so every run checks the same cases. */
function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]) => xs[int(0, xs.length - 1)]!;
  return { next, int, pick };
}

const PREFIXES = ["c", "n", "gpu", "rack1-n", "login", "x-", "cn0", "a.b"];

/** A random number as written in a hostlist: sometimes zero-padded. */
function number(r: ReturnType<typeof rng>, width: number): string {
  const n = r.int(0, r.pick([9, 20, 120, 1100]));
  return width > 0 ? String(n).padStart(width, "0") : String(n);
}

/** A random valid hostlist expression: names, brackets with lists and ranges, several brackets. */
function expression(r: ReturnType<typeof rng>): string {
  const parts: string[] = [];
  for (let p = r.int(1, 3); p > 0; p--) {
    const kind = r.int(0, 9);
    if (kind === 0) {
      parts.push(r.pick(PREFIXES) + (r.next() < 0.5 ? number(r, r.pick([0, 2, 3])) : "x"));
      continue;
    }
    const brackets = kind === 1 ? 2 : 1;
    let text = r.pick(PREFIXES);
    for (let b = 0; b < brackets; b++) {
      if (b > 0) text += r.pick(["", "-", "p"]);
      const items: string[] = [];
      for (let i = r.int(1, 3); i > 0; i--) {
        const width = r.pick([0, 0, 2, 3, 4]);
        const lo = Number(number(r, 0));
        const hi = lo + r.int(0, brackets === 2 ? 3 : 40);
        const loText = width > 0 ? String(lo).padStart(width, "0") : String(lo);
        // The end of a range is written padded or not: Slurm takes the width from the start.
        const hiText = r.next() < 0.5 ? String(hi) : String(hi).padStart(width, "0");
        items.push(lo === hi && r.next() < 0.5 ? loText : `${loText}-${hiText}`);
      }
      text += `[${items.join(",")}]`;
    }
    parts.push(text);
  }
  return parts.join(",");
}

/** A random set of host names, with duplicates, mixed widths and names without numbers. */
function hostNames(r: ReturnType<typeof rng>): string[] {
  const hosts: string[] = [];
  for (let k = r.int(1, 4); k > 0; k--) {
    const prefix = r.pick(PREFIXES);
    const width = r.pick([0, 0, 1, 2, 3]);
    let n = r.int(0, 120);
    for (let i = r.int(1, 30); i > 0; i--) {
      n += r.pick([1, 1, 1, 2, 5]);
      hosts.push(prefix + (width > 0 ? String(n).padStart(width, "0") : String(n)));
    }
  }
  if (r.next() < 0.3) hosts.push(r.pick(["login", "mgmt", "c"]));
  for (let i = hosts.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [hosts[i], hosts[j]] = [hosts[j]!, hosts[i]!];
  }
  return hosts.concat(hosts.slice(0, r.int(0, 3)));
}

/** Runs scontrol on many inputs in one shell: one output block per input. */
function scontrolEach(command: "hostnames" | "hostlist", inputs: readonly string[]): { out: string; failed: boolean }[] {
  const dir = tempDir("hpcdk-hostlist-");
  // scontrol wants a configuration source even for hostlist work; a two-line slurm.conf does.
  writeFileSync(join(dir, "slurm.conf"), "ClusterName=hostlist\nSlurmctldHost=localhost\n");
  writeFileSync(join(dir, "inputs"), inputs.join("\n") + "\n");
  const script = `while IFS= read -r line; do if scontrol show ${command} "$line" 2>/dev/null; then echo "@@ok"; else echo "@@failed"; fi; done < "$1"`;
  const result = spawnSync("sh", ["-c", script, "sh", join(dir, "inputs")], {
    encoding: "utf8",
    env: { ...process.env, SLURM_CONF: join(dir, "slurm.conf") },
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`scontrol loop failed: ${result.stderr}`);
  const blocks: { out: string; failed: boolean }[] = [];
  let current: string[] = [];
  for (const line of result.stdout.split("\n")) {
    if (line === "@@ok" || line === "@@failed") {
      blocks.push({ out: current.join("\n"), failed: line === "@@failed" });
      current = [];
    } else if (line !== "") current.push(line);
  }
  if (blocks.length !== inputs.length) throw new Error(`scontrol answered ${blocks.length} of ${inputs.length} inputs`);
  return blocks;
}

describe("hostlists agree with scontrol", () => {
  it(`expands ${CASES} random expressions exactly as scontrol show hostnames (seed ${SEED})`, () => {
    const r = rng(SEED);
    const inputs = Array.from({ length: CASES }, () => expression(r));
    const answers = scontrolEach("hostnames", inputs);
    inputs.forEach((e, i) => {
      expect(answers[i]!.failed, `scontrol rejected case ${i}: ${e}`).toBe(false);
      expect(expandHostlist(e), `case ${i}: ${e}`).toEqual(answers[i]!.out.split("\n"));
    });
  });

  it(`compresses ${CASES} random host sets into expressions scontrol reads back and writes alike (seed ${SEED + 1})`, () => {
    const r = rng(SEED + 1);
    const sets = Array.from({ length: CASES }, () => hostNames(r));
    const compressed = sets.map((h) => compressHostlist(h));
    const expanded = scontrolEach("hostnames", compressed);
    const ours = compressed.map((c) => expandHostlist(c));
    const rewritten = scontrolEach("hostlist", ours.map((names) => names.join(",")));
    sets.forEach((hosts, i) => {
      const c = compressed[i]!;
      expect(expanded[i]!.out.split("\n"), `case ${i}: ${c}`).toEqual(ours[i]);
      expect(new Set(ours[i]).size, `case ${i}: ${c} names a host twice`).toBe(ours[i]!.length);
      expect([...ours[i]!].sort(), `case ${i}: ${c}`).toEqual([...new Set(hosts)].sort());
      expect(rewritten[i]!.out, `case ${i}: ${ours[i]!.join(",")}`).toBe(c);
    });
  });

  it("rejects every malformed expression scontrol rejects", () => {
    const bad = ["c[3-1]", "c[a-b]", "a[]", "c[1-2]x", "a[01-02]b", "a[1-2]b[3]c", "a[1-2]]"];
    const answers = scontrolEach("hostnames", bad);
    bad.forEach((e, i) => {
      // The negative control: scontrol itself must reject each of these, or the case proves nothing.
      expect(answers[i]!.failed || answers[i]!.out === "", `scontrol accepted ${e}`).toBe(true);
      expect(() => expandHostlist(e), e).toThrow();
    });
  });

  it("fails if our expansion differs from scontrol's (the comparison can fail)", () => {
    const [answer] = scontrolEach("hostnames", ["c[1-3]"]);
    expect(answer!.out.split("\n")).not.toEqual(expandHostlist("c[1-4]"));
  });
});
