/**
 * Every rendered file of the example sites, pinned byte for byte. The snapshot tree mirrors the
 * output: `__snapshots__/<site>/hosts/<host>/etc/corosync/corosync.conf`, so a reviewer reads a
 * change as the file the host will get. Binary files are pinned as hex (`<path>.hex`).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { EXAMPLES, loadExamples, readTree, synthTo } from "../helpers.js";

const { out } = synthTo(loadExamples());

/**
 * The keyed fingerprint of a site's secrets (in the Terraform triggers and the --expect of each
 * resource) depends on the secrets of the machine that synthesizes: it is pinned as a placeholder.
 */
function withoutFingerprints(text: string): string {
  return text.replace(/("secrets": ")[0-9a-f]{64}"/g, '$1<secrets fingerprint>"').replace(/(--expect [0-9a-f]{64}:)[0-9a-f]{64}/g, "$1<secrets fingerprint>");
}

function asText(path: string, bytes: Buffer): { name: string; text: string } {
  const binary = bytes.includes(0) || !bytes.equals(Buffer.from(bytes.toString("utf8"), "utf8")) || path.endsWith("/etc/hostid");
  return binary ? { name: `${path}.hex`, text: bytes.toString("hex") + "\n" } : { name: path, text: withoutFingerprints(bytes.toString("utf8")) };
}

describe.each(EXAMPLES)("site %s", (site) => {
  const tree = readTree(join(out, "stacks", site));

  it("renders corosync.conf, the CIB, hostids and pool scripts for every node", () => {
    const paths = [...tree.keys()];
    expect(paths).toContain("cdk.tf.json");
    expect(paths).toContain("cluster/cib.xml");
    expect(paths.filter((p) => p.endsWith("/etc/corosync/corosync.conf")).length).toBeGreaterThanOrEqual(3);
    expect(paths.filter((p) => p.endsWith("/etc/hostid")).length).toBeGreaterThanOrEqual(3);
  });

  it.each([...tree.keys()])("pins %s", async (path) => {
    const { name, text } = asText(path, tree.get(path)!);
    await expect(text).toMatchFileSnapshot(join("__snapshots__", site, name));
  });
});
