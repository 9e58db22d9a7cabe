import { describe, expect, it } from "vitest";
import { resourcesToReplace, type DeployedResource } from "../../operations/deploy/replace.js";

const A = `${"a".repeat(64)}:none`;
const B = `${"b".repeat(64)}:none`;
const C = `${"c".repeat(64)}:none`;
const resources: DeployedResource[] = [
  { address: "null_resource.hosts_m1", bundle: "hosts/m1", marker: A },
  { address: "null_resource.hosts_m2", bundle: "hosts/m2", marker: A },
  { address: "null_resource.cluster", bundle: "cluster", marker: C },
];
const all = new Set(resources.map((r) => r.address));

describe("which resources the deploy replaces", () => {
  it("replaces the cluster resource when stale state meets a fresh lab: hosts hold nothing, no CIB can be read", () => {
    // GIVEN Terraform's state from an earlier lab, and fresh hosts that hold no bundle
    const markers = new Map<string, (string | null | undefined)[]>([
      ["hosts/m1", [null]],
      ["hosts/m2", [null]],
      ["cluster", [undefined]],
    ]);
    // THEN the hosts and the CIB are applied again (the CIB was reported "unchanged" before)
    expect(resourcesToReplace(resources, all, markers)).toEqual(["null_resource.hosts_m1", "null_resource.hosts_m2", "null_resource.cluster"]);
  });

  it("leaves the cluster resource alone when its marker is unknown but no host resource runs", () => {
    const markers = new Map<string, (string | null | undefined)[]>([
      ["hosts/m1", [A]],
      ["hosts/m2", [undefined]],
      ["cluster", [undefined]],
    ]);
    expect(resourcesToReplace(resources, all, markers)).toEqual([]);
  });

  it("replaces the cluster resource when the live CIB records another bundle", () => {
    const markers = new Map<string, (string | null | undefined)[]>([
      ["hosts/m1", [A]],
      ["hosts/m2", [A]],
      ["cluster", [B]],
    ]);
    expect(resourcesToReplace(resources, all, markers)).toEqual(["null_resource.cluster"]);
  });

  it("never replaces what is not in the state (Terraform creates it anyway)", () => {
    const markers = new Map<string, (string | null | undefined)[]>([
      ["hosts/m1", [null]],
      ["hosts/m2", [null]],
      ["cluster", [undefined]],
    ]);
    expect(resourcesToReplace(resources, new Set(["null_resource.cluster"]), markers)).toEqual(["null_resource.cluster"]);
    expect(resourcesToReplace(resources, new Set(["null_resource.hosts_m1"]), markers)).toEqual(["null_resource.hosts_m1"]);
  });

  it("keeps a cluster whose hosts and CIB hold this synthesis", () => {
    const markers = new Map<string, (string | null | undefined)[]>([
      ["hosts/m1", [A]],
      ["hosts/m2", [A]],
      ["cluster", [C]],
    ]);
    expect(resourcesToReplace(resources, all, markers)).toEqual([]);
  });
});
