/**
 * What the rollout plan reads on a host, and what the deploy's marker check then reads again: a
 * host that holds the synthesis already answers one short read (its marker, corosync.conf), not
 * every file of its bundle; the markers the plan read are not read a second time. The host is an
 * SSH server in this process that runs the scripts it is sent with a real `sh`, in a directory
 * standing in for its root.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { appliedMarkerPath, parseBundleRef, type BundleManifest } from "../../common/contracts/bundle.js";
import type { InventoryOverride } from "../../common/contracts/inventory.js";
import { readMarkers } from "../../operations/deploy/index.js";
import { readInventory } from "../../operations/remote/inventory.js";
import { gatherRollout } from "../../operations/rollout/gather.js";
import { RUNNING_COROSYNC_CONF } from "../../operations/rollout/together.js";
import { fakeHost, keyPair, knownHostsFile, type FakeHost } from "../fake-host.js";
import { loadExamples, synthTo, tempDir } from "../helpers.js";

const SITE = "minilab";
const NOW = `${"b".repeat(64)}:${"c".repeat(64)}`;
const BEFORE = `${"d".repeat(64)}:${"e".repeat(64)}`;
const BUNDLE = "hosts/m1";

const { out } = synthTo(loadExamples([SITE]));
const stack = join(out, "stacks", SITE);
const manifest = JSON.parse(readFileSync(join(stack, "manifests", "hosts", "m1.json"), "utf8")) as BundleManifest;
const markerFile = appliedMarkerPath(parseBundleRef(BUNDLE)!);

describe("the rollout plan's reads of a host (an SSH server in this process running real sh)", () => {
  const dir = tempDir("hpcdk-gather-");
  const root = join(dir, "root");
  const key = keyPair(dir, "id_ed25519");
  let host: FakeHost;
  let override: InventoryOverride;
  /** The paths each `sh -s` read was asked for, in order. */
  let reads: string[][] = [];

  const holds = (marker: string) => {
    mkdirSync(dirname(join(root, markerFile)), { recursive: true });
    writeFileSync(join(root, markerFile), `${marker}\n`);
  };
  const gather = () =>
    gatherRollout({
      stackDir: stack,
      inventory: readInventory(stack, override),
      manifests: new Map([[BUNDLE, manifest]]),
      markers: new Map([[BUNDLE, NOW]]),
      secretsDir: join(out, "no-secrets"),
    });

  beforeAll(async () => {
    // The host holds the bundle's files as synthesized.
    cpSync(join(stack, "hosts", "m1"), root, { recursive: true });
    host = await fakeHost("root", key.publicKey);
    override = {
      ssh: { user: "root", privateKey: key.file, knownHosts: knownHostsFile(dir, [host.knownHostsLine]), connectTimeoutSec: 5 },
      hosts: Object.fromEntries(["m1", "m2", "m3"].map((h) => [h, { address: "127.0.0.1", port: host.port }])),
    };
    // Every absolute path a command or script names is quoted ('/…'): under the stand-in root here.
    const rooted = (text: string) => text.replaceAll("'/", `'${root}/`);
    host.answer((command, stdin) => {
      if (command !== "sh -s") return { stdout: execFileSync("sh", ["-c", rooted(command)], { encoding: "utf8" }) };
      const script = stdin.toString("utf8");
      reads.push([...new Set([...script.matchAll(/'(\/[^']*)'/g)].map((m) => m[1]!))]);
      return { stdout: execFileSync("sh", ["-s"], { input: rooted(script), encoding: "utf8" }) };
    });
  });
  afterAll(() => host.close());

  it("reads only the marker and corosync.conf of a host that holds the synthesis, and says so", async () => {
    holds(NOW);
    reads = [];
    const g = await gather();
    expect(g.hosts).toEqual([{ host: "m1", bundle: BUNDLE, state: "current", files: [], packages: [] }]);
    // One read, of the marker and corosync.conf (and the together wave's record of what the cluster runs): not the bundle's other files.
    expect(reads).toEqual([[markerFile, "/etc/corosync/corosync.conf", RUNNING_COROSYNC_CONF]]);
    expect(manifest.files.length).toBeGreaterThan(5);
    expect(g.corosync.old).toBe(readFileSync(join(stack, "hosts", "m1", "etc/corosync/corosync.conf"), "utf8"));
    expect([...g.markersRead]).toEqual([[BUNDLE, NOW]]);
  });

  it("reads every file of a host that holds another synthesis and names what differs", async () => {
    holds(BEFORE);
    writeFileSync(join(root, "etc/hostid"), "junk");
    reads = [];
    const g = await gather();
    expect(reads).toHaveLength(2);
    expect(reads[1]).toEqual(expect.arrayContaining([...manifest.files.map((f) => f.path), markerFile]));
    expect(g.hosts[0]).toMatchObject({ state: "changed" });
    // The files as synthesized are the same, but for the one changed here (and the secret this test has none of).
    expect(g.hosts[0]!.files.map((f) => `${f.change} ${f.path}`)).toEqual(["changed /etc/hostid", "added /etc/corosync/authkey"]);
    expect([...g.markersRead]).toEqual([[BUNDLE, BEFORE]]);
    cpSync(join(stack, "hosts", "m1", "etc/hostid"), join(root, "etc/hostid"));
  });

  it("takes the corosync.conf a stopped together wave recorded as what the cluster runs, not the new file the host holds", async () => {
    holds(BEFORE);
    const record = join(root, RUNNING_COROSYNC_CONF);
    mkdirSync(dirname(record), { recursive: true });
    writeFileSync(record, "totem {\n  token: 1000\n}\n");
    try {
      const g = await gather();
      expect(g.corosync.old).toBe("totem {\n  token: 1000\n}\n");
    } finally {
      rmSync(record);
    }
    expect((await gather()).corosync.old).toBe(readFileSync(join(stack, "hosts", "m1", "etc/corosync/corosync.conf"), "utf8"));
  });

  it("records a marker file of more than one line as no complete apply, as the deploy's marker check does", async () => {
    mkdirSync(dirname(join(root, markerFile)), { recursive: true });
    writeFileSync(join(root, markerFile), `${NOW}\nleft over\n`);
    const g = await gather();
    expect([...g.markersRead]).toEqual([[BUNDLE, null]]);
  });

  it("does not read again a marker the plan read (the deploy's check before Terraform), and reads the others", async () => {
    holds(NOW);
    const before = host.commands.length;
    const known = await readMarkers(stack, [BUNDLE], override, undefined, new Map([[BUNDLE, NOW]]));
    expect([...known]).toEqual([[BUNDLE, [NOW]]]);
    expect(host.commands.length).toBe(before);
    // Without it, the host is asked.
    holds(BEFORE);
    const asked = await readMarkers(stack, [BUNDLE], override);
    expect(host.commands.length).toBe(before + 1);
    expect([...asked]).toEqual([[BUNDLE, [BEFORE]]]);
  });
});
