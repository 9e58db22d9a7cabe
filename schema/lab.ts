/**
 * The site's lab: settings of the VMs `hpcdk lab vagrantfile` writes a Vagrantfile for. They
 * shape only the lab, never what is deployed to real hosts.
 *
 * @see https://vagrant-libvirt.github.io/vagrant-libvirt/configuration.html
 */
import { z } from "zod";
import { shown } from "./common.js";

export const VagrantLabSchema = z.strictObject({
  box: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,127})?$/, {
      error: (iss) => `must be a Vagrant box name such as "hpcdk/debian12" or "debian/bookworm64", got ${shown(iss.input)}`,
    })
    .default("hpcdk/debian12")
    .describe(
      "Vagrant box of every VM (libvirt provider, Debian 12 with the cluster packages). `npm run lab:vagrant` builds hpcdk/debian12 offline from Debian's repositories. @default hpcdk/debian12",
    ),
  driver: z
    .enum(["qemu", "kvm"])
    .default("qemu")
    .describe(
      "libvirt domain type: qemu is QEMU's software emulation (works everywhere, about 10x slower, needs a long boot timeout); kvm needs a /dev/kvm that runs stock guests. @default qemu",
    ),
  memoryMiB: z.int().min(256).max(1048576).default(512).describe("Guest memory of each VM. @default 512"),
  cpus: z.int().min(1).max(64).default(1).describe("Virtual CPUs of each VM. @default 1"),
  sharedDiskGiB: z.int().min(1).max(16384).default(1).describe("Size of each shared disk (one per pool device). @default 1"),
  bootTimeoutSec: z
    .int()
    .min(60)
    .max(86400)
    .default(1800)
    .describe("How long Vagrant waits for a VM to answer SSH (config.vm.boot_timeout); software emulation needs 1200 or more. @default 1800"),
  zpoolStandIn: z
    .boolean()
    .default(false)
    .describe(
      "For boxes without ZFS (hpcdk/debian12: Debian's main archive has none): every VM gets hpcdk's zpool stand-in, where a pool is an ext4 file system on its first shared disk (multihost=on becomes ext4's multiple mount protection), and the first VM creates the site's pools on the shared disks. Set deploy.skipPackages: [zfsutils-linux] with it. @default false",
    ),
});

export const LabSchema = z.strictObject({
  vagrant: VagrantLabSchema.prefault({}).describe("The Vagrant (libvirt) lab: one VM per management node. @default every default"),
});

export type LabSpec = z.output<typeof LabSchema>;
export type VagrantLabSpec = LabSpec["vagrant"];

