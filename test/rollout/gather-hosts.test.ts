/**
 * The rollout plan from what hosts answer over SSH (an SSH server in this process; each node's
 * files in a directory of its own, read by the real read-only script with its paths moved there):
 * a node holding this synthesis is current, a node with a changed corosync.conf token is planned
 * as one cluster-wide wave, a host holding nothing of the site is a first deploy.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BundleManifest } from "../../common/contracts/bundle.js";
import { readInventory } from "../../operations/remote/inventory.js";
import { gatherRollout } from "../../operations/rollout/gather.js";
import { planRollout } from "../../operations/rollout/plan.js";
import { fakeHost, keyPair, knownHostsFile, type FakeHost } from "../fake-host.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const SITE = "minilab";
const NODES = ["m1", "m2", "m3"];
const { out } = synthTo(loadExamples([SITE]));
const stack = join(out, "stacks", SITE);
const manifestOf = (dir: string) => JSON.parse(readFileSync(join(stack, dir === "cluster" ? "manifests/cluster.json" : `manifests/${dir}.json`), "utf8")) as BundleManifest;
const markerOf = (node: string) => `${node.slice(-1).repeat(64)}:none`;

describe("the rollout plan from what hosts answer", () => {
  const dir = tempDir("hpcdk-gather-");
  const key = keyPair(dir, "id_ed25519");
  const secrets = join(dir, "secrets");
  let host: FakeHost;

  /** Node `n`'s root: the bundle's files as deployed, its secrets, and (unless fresh) its marker. */
  const root = (n: string) => join(dir, "roots", n);
  const install = (n: string, fresh: boolean) => {
    const m = manifestOf(`hosts/${n}`);
    for (const f of m.files) {
      mkdirSync(dirname(join(root(n), f.path)), { recursive: true });
      cpSync(join(stack, m.dir, f.path), join(root(n), f.path));
    }
    for (const s of m.secretFiles) {
      mkdirSync(dirname(join(root(n), s.path)), { recursive: true });
      cpSync(join(secrets, s.secret), join(root(n), s.path));
    }
    if (!fresh) {
      mkdirSync(join(root(n), `var/lib/hpcdk/state/host-${n}`), { recursive: true });
      writeFileSync(join(root(n), `var/lib/hpcdk/state/host-${n}/applied`), `${markerOf(n)}\n`);
    }
  };

  beforeAll(async () => {
    mkdirSync(secrets, { recursive: true });
    for (const n of NODES) for (const s of manifestOf(`hosts/${n}`).secretFiles) writeFileSync(join(secrets, s.secret), `secret ${s.secret}\n`);
    host = await fakeHost("root", key.publicKey);
    host.answer((command, stdin) => {
      if (command !== "sh -s") return { code: 1, stderr: "not here" };
      const script = stdin.toString("utf8");
      if (script.includes("dpkg-query")) return { stdout: "HPCDK-END\n" };
      // Which node asks: its marker file's path names it. The script's absolute paths move into its root.
      const n = /state\/host-(m\d)\/applied/.exec(script)?.[1];
      if (!n) return { code: 1, stderr: "no node" };
      const moved = script.replace(/'\//g, `'${root(n)}/`);
      return { stdout: execFileSync("sh", ["-s"], { input: moved, encoding: "utf8" }) };
    });
  });
  afterAll(() => host.close());

  it("plans one cluster-wide wave for a token change on hosts that hold an older synthesis, and a first deploy for a fresh host", async () => {
    for (const n of NODES) install(n, n === "m3");
    // m1 and m2 hold an older synthesis whose token was 3000.
    for (const n of ["m1", "m2"]) {
      const file = join(root(n), "etc/corosync/corosync.conf");
      writeFileSync(file, readFileSync(file, "utf8").replace(/token: \d+/, "token: 3000"));
    }
    const inventory = readInventory(stack, {
      ssh: { user: "root", privateKey: key.file, knownHosts: knownHostsFile(dir, [host.knownHostsLine]), connectTimeoutSec: 5 },
      hosts: Object.fromEntries(NODES.map((h) => [h, { address: "127.0.0.1", port: host.port }])),
    });
    const manifests = new Map([...NODES.map((n) => [`hosts/${n}`, manifestOf(`hosts/${n}`)] as const), ["cluster", manifestOf("cluster")] as const]);
    const markers = new Map(NODES.map((n) => [`hosts/${n}`, `${"0".repeat(64)}:none`]));
    const gathered = await gatherRollout({ stackDir: stack, inventory, manifests, markers, secretsDir: secrets, clusterWaitSec: 0 });
    expect(gathered.hosts.map((h) => [h.host, h.state, h.files.map((f) => f.path)])).toEqual([
      ["m1", "changed", ["/etc/corosync/corosync.conf"]],
      ["m2", "changed", ["/etc/corosync/corosync.conf"]],
      ["m3", "new", []],
    ]);
    const plan = planRollout({ site: SITE, ...gathered });
    expect(plan.outages).toEqual([]);
    expect(plan.waves.map((w) => [w.kind, w.hosts])).toEqual([
      ["first", ["m3"]],
      ["together", NODES],
      ["cib", ["m1"]],
    ]);
    expect(plan.waves[1]!.reasons).toEqual([expect.stringMatching(/^totem\.token: 3000 -> \d+$/)]);
    expect(plan.waves[2]!.reasons).toEqual(["the live CIB could not be read: applied to be sure"]);
  });

  it("fails if a host's authkey differs from the secrets folder: a key change is an outage", async () => {
    writeFileSync(join(root("m2"), "etc/corosync/authkey"), "another key\n");
    const inventory = readInventory(stack, {
      ssh: { user: "root", privateKey: key.file, knownHosts: knownHostsFile(dir, [host.knownHostsLine]), connectTimeoutSec: 5 },
      hosts: Object.fromEntries(NODES.map((h) => [h, { address: "127.0.0.1", port: host.port }])),
    });
    const manifests = new Map(NODES.map((n) => [`hosts/${n}`, manifestOf(`hosts/${n}`)] as const));
    const gathered = await gatherRollout({ stackDir: stack, inventory, manifests, markers: new Map(), secretsDir: secrets, clusterWaitSec: 0 });
    const plan = planRollout({ site: SITE, ...gathered });
    expect(plan.outages.map((o) => o.setting)).toEqual(["/etc/corosync/authkey"]);
    expect(plan.outages[0]!.impact).toMatch(/ \(on m2\)$/);
  });
});
