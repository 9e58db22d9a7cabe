/**
 * The streaming files of the fixtures (systemd units on fixed hosts; podman over tcp), pinned
 * byte for byte; the lab example's are pinned with every other file in test/snapshots. The tree
 * mirrors the output: `__snapshots__/<fixture>/groups/<group>/etc/systemd/system/...`.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readTree, synthTo } from "../helpers.js";
import { loadFixture, STREAM_FIXTURE_NAMES } from "./helpers.js";

const { out } = synthTo(STREAM_FIXTURE_NAMES.map(loadFixture));

describe.each(STREAM_FIXTURE_NAMES)("fixture %s", (site) => {
  const tree = readTree(join(out, "stacks", site));
  const paths = [...tree.keys()].filter((p) => /stream|limits\.d/.test(p) || p.startsWith("manifests/groups/"));

  it("renders the stream files", () => {
    expect(paths.length).toBeGreaterThan(10);
  });

  it.each(paths)("pins %s", async (path) => {
    await expect(tree.get(path)!.toString("utf8")).toMatchFileSnapshot(join("__snapshots__", site, path));
  });
});
