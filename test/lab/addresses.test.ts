/**
 * Where a lab puts its own side of each site network is planned once (operations/lab/
 * addresses.ts), for the namespace lab's hub and the Vagrant lab's libvirt bridges alike:
 * fence_powerman's address where powermand must listen, else the highest address nothing uses.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LabAddresses } from "../../operations/lab/addresses.js";
import { planLab } from "../../operations/lab/lab.js";
import { planVagrantLab } from "../../operations/lab/vagrantfile.js";
import { parseCidr, type Cidr } from "../../common/net.js";
import { FIXTURES, loadExamples, siteFromText } from "../helpers.js";

const sites = [...loadExamples(), ...["vagrant-lab", "live-lab", "deploy-lab"].map((f) => siteFromText(readFileSync(join(FIXTURES, `${f}.yaml`), "utf8"), `test/fixtures/sites/${f}.yaml`))];

describe("a lab's own addresses on the site's networks", () => {
  it.each(sites.map((s) => [s.name, s] as const))("are the same for the namespace lab and the Vagrant lab: %s", (_name, site) => {
    const hub = planLab(site.name, site.spec).bridges.map((b) => [b.network, b.hubAddress.split("/")[0]]);
    const vagrant = planVagrantLab(site.name, site.spec).networks.map((n) => [n.cidr, n.hostIp]);
    expect(vagrant).toEqual(hub);
  });

  it("puts the lab on fence_powerman's address where the site fences with powerman, else on the highest free one", () => {
    const minilab = sites.find((s) => s.name === "minilab")!;
    const pm = minilab.spec.fencing.devices.find((d) => d.agent === "fence_powerman");
    expect(pm && pm.agent === "fence_powerman" ? pm.ip : undefined).toBe("10.30.0.254");
    const plan = new LabAddresses(minilab.spec);
    expect([...plan.networks.keys()]).toEqual(["10.30.0.0/24"]);
    const net = plan.networks.get("10.30.0.0/24")!;
    expect(plan.hostSide(net)).toBe("10.30.0.254");
    // Taken addresses are not given twice; the nodes' and the floating IP's never.
    expect(plan.take(net)).toBe("10.30.0.253");
    expect(plan.take(net)).toBe("10.30.0.252");
    expect(planLab("minilab", minilab.spec).rootVeth.address).toBe("10.30.0.253/24");
    const tiny = new LabAddresses(minilab.spec);
    const net8 = parseCidr("10.30.0.8/30") as Cidr;
    expect(tiny.hostSide(net8)).toBe("10.30.0.10");
    expect(tiny.take(net8)).toBe("10.30.0.9");
    expect(tiny.take(net8)).toBeUndefined();
  });
});
