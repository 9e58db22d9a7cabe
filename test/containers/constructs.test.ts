/** Unit tests of the container constructs: computed values and the errors constructs throw. */
import { App, TerraformStack } from "cdktf";
import { describe, expect, it } from "vitest";
import { Bundle } from "../../constructs/core/index.js";
import { Apptainer, Podman, SitePackage, ShifterGateway, sitePackageName, subordinateIdLines } from "../../constructs/containers/index.js";
import { loadExamples, synthTo } from "../helpers.js";

function group(hosts: string[] = ["c01", "c02"]) {
  const stack = new TerraformStack(new App({ skipValidation: true }), "t");
  return new Bundle(stack, "group-compute", { kind: "group", name: "compute", source: "sites/t.yaml", hosts });
}
const PKG = { url: "https://mirror.example.org/x_1.0_amd64.deb", sha256: "a".repeat(64), format: "deb" as const };
const SUBIDS = { uidRanges: [{ first: 1000, last: 1001 }], start: 100000, count: 65536 };

describe("subordinate ids", () => {
  it("gives every uid of every range its own block, in uid order", () => {
    expect(subordinateIdLines({ uidRanges: [{ first: 20000, last: 20001 }, { first: 1000, last: 1000 }], start: 100000, count: 65536 })).toEqual([
      "1000:100000:65536",
      "20000:165536:65536",
      "20001:231072:65536",
    ]);
  });

  it("fails if ranges overlap, the ids run past 2^32-2, or they overlap a uid range", () => {
    expect(() => subordinateIdLines({ uidRanges: [{ first: 1, last: 10 }, { first: 5, last: 20 }], start: 100000, count: 65536 })).toThrow(
      "uid ranges 1-10 and 5-20 overlap",
    );
    expect(() => subordinateIdLines({ uidRanges: [{ first: 1, last: 70000 }], start: 100000, count: 65536 })).toThrow(
      "subordinate ids 100000-4587619999 go past 4294967294",
    );
    expect(() => subordinateIdLines({ uidRanges: [{ first: 150000, last: 150001 }], start: 100000, count: 65536 })).toThrow(
      "subordinate ids 100000-231071 overlap the uids 150000-150001",
    );
  });
});

describe("site packages", () => {
  it("are named after their file", () => {
    expect(sitePackageName("https://repo/x/apptainer_1.3.6_amd64.deb")).toBe("apptainer_1.3.6_amd64");
    expect(sitePackageName("file:///srv/pkgs/sarus-1.7.0-Release.tar.gz")).toBe("sarus-1.7.0-Release");
  });

  it("install before the files: the installer first, then each package, sorted", () => {
    const b = group();
    new SitePackage(b, "p2", { bundle: b, package: { url: "https://m/zeta_1_amd64.deb", sha256: "b".repeat(64), format: "deb" } });
    new SitePackage(b, "p1", { bundle: b, package: PKG });
    const steps = b.render().manifest.steps;
    expect(steps.map((s) => [s.phase, s.id])).toEqual([
      ["before-files", "05-site-package-installer"],
      ["before-files", "10-site-package-x_1.0_amd64"],
      ["before-files", "10-site-package-zeta_1_amd64"],
    ]);
    expect(steps[1]!.run).toBe(`'/usr/local/sbin/hpcdk-install-site-package' 'x_1.0_amd64' 'https://mirror.example.org/x_1.0_amd64.deb' '${"a".repeat(64)}'`);
  });

  it("fails if an archive has no prefix", () => {
    const b = group();
    expect(() => new SitePackage(b, "p", { bundle: b, package: { url: "https://m/s.tar.gz", sha256: "a".repeat(64), format: "tar" } })).toThrow(
      'SitePackage [t/group-compute/p]: a tar archive needs a prefix, got "https://m/s.tar.gz"',
    );
  });
});

describe("the constructs", () => {
  it("fail if Apptainer limits container owners in unprivileged mode", () => {
    const b = group();
    expect(() => new Apptainer(b, "a", { bundle: b, packages: [PKG], limitContainerOwners: ["root"] })).toThrow(
      "Apptainer [t/group-compute/a]: limit container owners/paths only apply in setuid mode",
    );
  });

  it("fail if Apptainer gets a bind path twice", () => {
    const b = group();
    expect(() => new Apptainer(b, "a", { bundle: b, packages: [PKG], infiniband: true, bindPaths: ["/dev/infiniband"] })).toThrow(
      'Apptainer [t/group-compute/a]: bind path "/dev/infiniband" is given twice',
    );
  });

  it("fail if the Shifter gateway's group has two hosts", () => {
    const b = group();
    expect(() => new ShifterGateway(b, "gw", { bundle: b, host: "c01", system: "t", packages: [PKG], imagePath: "/s/i", etcCacheDir: "/s/e" })).toThrow(
      "ShifterGateway [t/group-compute/gw]: the gateway runs on exactly one host (MongoDB is bound to 127.0.0.1), got 2",
    );
  });

  it("fail if two Podman constructs claim one node group's storage.conf", () => {
    const b = group();
    new Podman(b, "p1", { bundle: b, subordinateIds: SUBIDS });
    expect(() => new Podman(b, "p2", { bundle: b, subordinateIds: SUBIDS })).toThrow(
      "Bundle [t/group-compute]: /etc/containers/storage.conf is claimed by both t/group-compute/p1/storage-conf and t/group-compute/p2/storage-conf",
    );
  });

  it("render InfiniBand devices into containers.conf only for InfiniBand groups", () => {
    const ib = group();
    new Podman(ib, "p", { bundle: ib, subordinateIds: SUBIDS, infiniband: true });
    const plain = group();
    new Podman(plain, "p", { bundle: plain, subordinateIds: SUBIDS });
    expect(ib.fileBytes("/etc/containers/containers.conf")!.toString()).toContain('"/dev/infiniband"');
    expect(plain.fileBytes("/etc/containers/containers.conf")!.toString()).not.toContain("infiniband");
  });
});

describe("the example site's container runtimes", () => {
  const { built } = synthTo(loadExamples(["lab"]));
  const containers = built.stacks[0]!.containers!;

  it("tell the Slurm constructs what slurm.conf needs", () => {
    expect(containers.slurmSettings).toEqual({
      taskProlog: "/usr/local/libexec/hpcdk/podman-task-prolog",
      prologDir: "/etc/slurm/prolog.d",
      epilogDir: "/etc/slurm/epilog.d",
      prologFlags: "Alloc,Contain",
      mpiDefault: "pmix",
    });
  });

  it("point the Shifter runtime at every gateway replica", () => {
    expect(containers.shifterGateway!.urls).toEqual(["http://sgw1:5000", "http://sgw1:5001", "http://sgw1:5002"]);
  });
});
