/**
 * How hpcdk reaches the hosts of a site: SSH settings (with per-host overrides), the Terraform
 * resource kind, and the provider mirror of air-gapped sites. Nothing here is secret: keys are
 * referred to by path, and host keys are checked against a known_hosts file.
 */
import { z } from "zod";
import { hostNameProblem, hostOrAddress, narrowed, pathProblem, shown } from "./common.js";

const hostName = hostOrAddress();

/**
 * A file or directory on the deploying machine: absolute, relative (to the site's inventory file
 * or the project, leading "../" parts allowed) or under the deploying user's home (`~/`), of the
 * characters {@link pathProblem} allows.
 */
const path = narrowed((p) => {
  // A relative path may start with "../" parts (a key beside the inventory file's directory);
  // it is read by the deploying user's hpcdk, never rendered for a host.
  const absolute = p.startsWith("~/") ? p.slice(1) : p.startsWith("/") ? p : `/${p.replace(/^(?:\.\.\/)+/, "")}`;
  const why = pathProblem(absolute);
  return why === undefined ? undefined : `must be a path (absolute, relative or ~/…) of letters, digits and . _ - + @ ~ separated by single "/" (no spaces, quotes or "$"), got ${shown(p)}`;
}, "^[A-Za-z0-9._+@~/-]+$");

/** A host of the site by name (a management node or a node-group host). */
const siteHostName = narrowed(hostNameProblem, "^[a-z0-9-]+$");

/** A package name as Debian and the RHEL family write them. */
const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.-]{0,127}$/, {
  error: (iss) => `must be a package name (lowercase letters, digits, + . -), got ${shown(iss.input)}`,
});

/**
 * A version as `dpkg-query -W -f '${Version}'` or `rpm -q --qf '%{VERSION}-%{RELEASE}'` shows it:
 * an optional epoch (`1:`), then a digit, then letters, digits and `. + ~ ^ _ -`.
 * @see https://www.debian.org/doc/debian-policy/ch-controlfields.html#version
 */
const packageVersion = z
  .string({ error: (iss) => (typeof iss.input === "number" ? `must be quoted: YAML reads ${iss.input} as a number` : undefined) })
  .regex(/^([0-9]{1,9}:)?[0-9][A-Za-z0-9.+~^_-]{0,127}$/, {
    error: (iss) => `must be a package version as dpkg or rpm shows it (e.g. "2.1.5-1+deb12u1", "1:4.3-2"), got ${shown(iss.input)}`,
  });

export const SshEndpointSchema = z.strictObject({
  address: hostName.optional().describe("Address or DNS name to connect to. @default the host name"),
  port: z.int().min(1).max(65535).optional().describe("@default 22"),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).optional().describe("@default root"),
});

export const SshSchema = z.strictObject({
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).default("root").describe("Login user; must be root or have passwordless sudo. @default root"),
  port: z.int().min(1).max(65535).default(22).describe("@default 22"),
  privateKey: path.optional().describe("Private key file (~ is the deploying user's home). @default the SSH agent ($SSH_AUTH_SOCK)"),
  knownHosts: path.default("~/.ssh/known_hosts").describe("Host keys are always checked against this file. @default ~/.ssh/known_hosts"),
  connectTimeoutSec: z.int().min(1).max(600).default(15).describe("@default 15"),
  bastion: z
    .strictObject({
      address: hostName,
      port: z.int().min(1).max(65535).default(22),
      user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).default("root"),
      privateKey: path.optional().describe("@default the key of the hosts"),
    })
    .optional()
    .describe("Jump host every connection goes through. @default none"),
});

export const DeploySchema = z.strictObject({
  resource: z
    .enum(["null_resource", "terraform_data"])
    .default("null_resource")
    .describe("Terraform resource per host: null_resource (null provider) or the built-in terraform_data (no provider). @default null_resource"),
  providerMirror: path
    .optional()
    .describe("Directory filled by `terraform providers mirror` on a connected machine; the null provider is installed from it only. @default none (the registry)"),
  ssh: SshSchema.prefault({}),
  hosts: z
    .record(siteHostName, SshEndpointSchema)
    .default({})
    .describe("Per-host SSH overrides by host name (management nodes and node-group hosts). @default none"),
  groupConcurrency: z.int().min(1).max(512).default(32).describe("Hosts of a node group deployed at once. @default 32"),
  skipPackages: z
    .array(z.string().regex(/^[a-z0-9][a-z0-9+.-]{0,127}$/))
    .max(256)
    .default([])
    .describe("Packages hpcdk leaves alone (provided otherwise: a golden image, a lab stand-in). @default none"),
  packageVersions: z
    .record(packageName, packageVersion)
    .default({})
    .describe(
      "Exact versions to install, by Debian or RHEL-family package name, for every host that needs the package: `apt-get install name=version` (downgrading if need be) or `dnf install name-version`; a host holding another version gets this one. A name no host installs is an error. @default none (the repository's version)",
    ),
  maxUnavailable: z
    .int()
    .min(1)
    .max(64)
    .default(1)
    .describe(
      "Management nodes a rolling restart takes down at once; never more than quorum allows (a larger value is lowered to it, and the plan says so). @default 1",
    ),
  clusterWaitSec: z.int().min(10).max(3600).default(300).describe("How long the CIB step waits for a quorate cluster with a DC. @default 300"),
});

export type DeploySpec = z.output<typeof DeploySchema>;
