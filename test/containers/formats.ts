/**
 * Structural checks for the container configuration files whose programs cannot run on this
 * machine (Apptainer, Sarus and Shifter are not in Debian 12; Slurm reads oci.conf only inside a
 * job step). Each follows what the upstream reader accepts:
 * - apptainer.conf: Apptainer's directive table (pkg/util/apptainerconf), `key = value` lines;
 * - sarus.json and hooks: the shape of Sarus's sarus.schema.json and hook.schema.json;
 * - udiRoot.conf: Shifter's udiRoot.conf reference, `key=value` lines, required keys;
 * - imagemanager.json: the image gateway configuration of Shifter 16.08;
 * - oci.conf: the keys Slurm 22.05's parser knows (an unknown key is fatal there).
 */
import { Ajv } from "ajv";

type Check = string[];

// ---------------------------------------------------------------------------------------------
// apptainer.conf

const YES_NO = ["yes", "no"];
/** Apptainer 1.x directives: allowed values (a list), "uint", "path", or "list" (comma-separated). */
const APPTAINER_DIRECTIVES: Record<string, readonly string[] | "uint" | "path" | "list" | "bind"> = {
  "allow setuid": YES_NO,
  "allow pid ns": YES_NO,
  "config passwd": YES_NO,
  "config group": YES_NO,
  "config resolv_conf": YES_NO,
  "mount proc": YES_NO,
  "mount sys": YES_NO,
  "mount devpts": YES_NO,
  "mount home": YES_NO,
  "mount tmp": YES_NO,
  "mount hostfs": YES_NO,
  "user bind control": YES_NO,
  "enable fusemount": YES_NO,
  "enable underlay": YES_NO,
  "mount slave": YES_NO,
  "allow container sif": YES_NO,
  "allow container encrypted": YES_NO,
  "allow container squashfs": YES_NO,
  "allow container extfs": YES_NO,
  "allow container dir": YES_NO,
  "always use nv": YES_NO,
  "use nvidia-container-cli": YES_NO,
  "always use rocm": YES_NO,
  "shared loop devices": YES_NO,
  "systemd cgroups": YES_NO,
  "max loop devices": "uint",
  "sessiondir max size": "uint",
  "mksquashfs procs": "uint",
  "download concurrency": "uint",
  "download part size": "uint",
  "download buffer size": "uint",
  "mount dev": ["yes", "no", "minimal"],
  "enable overlay": ["yes", "no", "try", "driver"],
  "root default capabilities": ["full", "file", "no"],
  "memory fs type": ["tmpfs", "ramfs"],
  "bind path": "bind",
  "limit container owners": "list",
  "limit container groups": "list",
  "limit container paths": "list",
  "allow net users": "list",
  "allow net groups": "list",
  "allow net networks": "list",
  "cni configuration path": "path",
  "cni plugin path": "path",
  "cryptsetup path": "path",
  "binary path": "path",
  "go path": "path",
  "ldconfig path": "path",
  "mksquashfs path": "path",
  "mksquashfs mem": "path",
  "nvidia-container-cli path": "path",
  "unsquashfs path": "path",
  "image driver": "path",
};
const APPTAINER_MULTI = new Set(["bind path"]);

export function checkApptainerConf(text: string): Check {
  const problems: string[] = [];
  const seen = new Set<string>();
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^([a-z][a-z_ -]*[a-z_])\s*=\s*(.*)$/.exec(line);
    if (!m) return void problems.push(`line ${i + 1}: not "directive = value": ${raw}`);
    const [, key, value] = m as unknown as [string, string, string];
    const kind = APPTAINER_DIRECTIVES[key];
    if (kind === undefined) return void problems.push(`line ${i + 1}: unknown directive "${key}"`);
    if (seen.has(key) && !APPTAINER_MULTI.has(key)) problems.push(`line ${i + 1}: "${key}" is given twice`);
    seen.add(key);
    if (Array.isArray(kind) && !kind.includes(value)) problems.push(`line ${i + 1}: ${key} must be one of ${kind.join(", ")}, got "${value}"`);
    if (kind === "uint" && !/^\d+$/.test(value)) problems.push(`line ${i + 1}: ${key} must be a whole number, got "${value}"`);
    if (kind === "bind" && !/^\/[^\s:,]*(:\/[^\s:,]*)?$/.test(value)) problems.push(`line ${i + 1}: bind path must be /src[:/dst], got "${value}"`);
    if (kind === "list" && !/^[^,\s]+(, [^,\s]+)*$/.test(value)) problems.push(`line ${i + 1}: ${key} must be a comma-separated list, got "${value}"`);
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------
// udiRoot.conf

const UDIROOT_REQUIRED = [
  "udiMount", "loopMount", "imagePath", "udiRootPath", "mountUdiRootWritable", "maxGroupCount",
  "modprobePath", "insmodPath", "cpPath", "mvPath", "chmodPath", "rootfsType", "system",
];
const UDIROOT_KNOWN = new Set([
  ...UDIROOT_REQUIRED, "sitePreMountHook", "sitePostMountHook", "optUdiImage", "etcPath", "allowLocalChroot",
  "autoLoadKernelModule", "mkfsXfsPath", "gatewayTimeout", "siteFs", "siteEnv", "siteEnvAppend", "siteEnvPrepend",
  "siteEnvUnset", "imageGateway", "batchType", "siteResources", "defaultImageType", "allowLibcPwdCalls", "defaultModules",
  "populateEtcDynamically", "optionalSshdAsRoot", "kmodBasePath", "kmodPath", "mountPropagationStyle",
]);
const UDIROOT_PATHS = ["udiMount", "loopMount", "imagePath", "udiRootPath", "sitePreMountHook", "etcPath", "modprobePath", "insmodPath", "cpPath", "mvPath", "chmodPath", "siteResources"];

export function parseUdiRootConf(text: string): { values: Map<string, string>; problems: Check } {
  const values = new Map<string, string>();
  const problems: string[] = [];
  const joined = text.replace(/\\\n/g, "");
  joined.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) return void problems.push(`line ${i + 1}: not key=value: ${raw}`);
    const key = m[1]!;
    if (!UDIROOT_KNOWN.has(key) && !/^module_[A-Za-z0-9]+_(siteEnv|siteEnvAppend|siteEnvPrepend|siteEnvUnset|conflict|siteFs|copyPath|enabled|roothook|userhook)$/.test(key)) {
      problems.push(`line ${i + 1}: unknown key "${key}"`);
    }
    if (values.has(key)) problems.push(`line ${i + 1}: "${key}" is given twice`);
    values.set(key, m[2]!);
  });
  return { values, problems };
}

export function checkUdiRootConf(text: string): Check {
  const { values, problems } = parseUdiRootConf(text);
  for (const k of UDIROOT_REQUIRED) if (!values.has(k)) problems.push(`required key ${k} is missing`);
  for (const k of UDIROOT_PATHS) {
    const v = values.get(k);
    if (v !== undefined && !/^\/\S*$/.test(v)) problems.push(`${k} must be an absolute path, got "${v}"`);
  }
  for (const k of ["mountUdiRootWritable", "allowLocalChroot", "autoLoadKernelModule", "allowLibcPwdCalls"]) {
    const v = values.get(k);
    if (v !== undefined && v !== "0" && v !== "1") problems.push(`${k} must be 0 or 1, got "${v}"`);
  }
  const rootfs = values.get("rootfsType");
  if (rootfs !== undefined && rootfs !== "tmpfs" && rootfs !== "ramfs") problems.push(`rootfsType must be tmpfs or ramfs, got "${rootfs}"`);
  const siteFs = values.get("siteFs");
  if (siteFs) {
    for (const entry of siteFs.split(";")) {
      if (!/^\/[^\s:;]*:\/[^\s:;]*(:[a-z]+)?$/.test(entry)) problems.push(`siteFs entry must be /from:/to, got "${entry}"`);
    }
  }
  for (const url of (values.get("imageGateway") ?? "").split(" ").filter(Boolean)) {
    if (!/^https?:\/\/[^\s/:]+:\d+$/.test(url)) problems.push(`imageGateway entry must be http://host:port, got "${url}"`);
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------
// oci.conf (Slurm 22.05)

const OCI_KEYS_2205 = new Set(["containerpath", "createenvfile", "runtimecreate", "runtimedelete", "runtimekill", "runtimequery", "runtimerun", "runtimestart"]);
const OCI_PATTERNS_2205 = new Set(["%", "@", "b", "e", "j", "n", "r", "s", "t", "u"]);

export function parseOciConf(text: string): { values: Map<string, string>; problems: Check } {
  const values = new Map<string, string>();
  const problems: string[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") return;
    const m = /^([A-Za-z]+)=(?:"([^"]*)"|(\S+))$/.exec(line);
    if (!m) return void problems.push(`line ${i + 1}: not Key=value: ${raw}`);
    const key = m[1]!.toLowerCase();
    if (!OCI_KEYS_2205.has(key)) problems.push(`line ${i + 1}: Slurm 22.05 does not know ${m[1]} (an unknown key is fatal to slurmstepd)`);
    if (values.has(key)) problems.push(`line ${i + 1}: ${m[1]} is given twice`);
    const value = m[2] ?? m[3]!;
    for (const p of value.matchAll(/%(.)/g)) {
      if (!OCI_PATTERNS_2205.has(p[1]!)) problems.push(`line ${i + 1}: Slurm 22.05 has no pattern %${p[1]} (slurmstepd dies on it)`);
    }
    values.set(key, value);
  });
  return { values, problems };
}

export function checkOciConf(text: string): Check {
  const { values, problems } = parseOciConf(text);
  const run = values.has("runtimerun");
  const createStart = values.has("runtimecreate") || values.has("runtimestart");
  if (run && createStart) problems.push("RunTimeRun excludes RunTimeCreate and RunTimeStart");
  if (!run && !(values.has("runtimecreate") && values.has("runtimestart"))) problems.push("needs RunTimeRun, or RunTimeCreate and RunTimeStart");
  for (const k of ["runtimequery", "runtimekill", "runtimedelete"]) if (!values.has(k)) problems.push(`${k} is missing`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// JSON files

const absolutePath = { type: "string", pattern: "^/" } as const;
const absolutePaths = { type: "array", items: absolutePath } as const;
const strings = { type: "array", items: { type: "string" } } as const;

/** The shape of Sarus 1.7's sarus.json (sarus.schema.json): required keys and value types. */
export const SARUS_SCHEMA = {
  type: "object",
  required: [
    "securityChecks", "OCIBundleDir", "rootfsFolder", "prefixDir", "tempDir", "localRepositoryBaseDir",
    "skopeoPath", "umociPath", "mksquashfsPath", "initPath", "runcPath", "ramFilesystemType",
  ],
  properties: {
    securityChecks: { type: "boolean" },
    OCIBundleDir: absolutePath,
    rootfsFolder: { type: "string", pattern: "^[^/]+$" },
    prefixDir: absolutePath,
    hooksDir: absolutePath,
    tempDir: absolutePath,
    localRepositoryBaseDir: absolutePath,
    centralizedRepositoryDir: absolutePath,
    skopeoPath: absolutePath,
    umociPath: absolutePath,
    mksquashfsPath: absolutePath,
    mksquashfsOptions: { type: "string" },
    initPath: absolutePath,
    runcPath: absolutePath,
    ramFilesystemType: { enum: ["tmpfs", "ramfs"] },
    siteMounts: {
      type: "array",
      items: {
        type: "object",
        required: ["type", "destination"],
        properties: {
          type: { const: "bind" },
          source: absolutePath,
          destination: absolutePath,
          flags: {
            type: "object",
            properties: {
              readonly: { type: "string" },
              size: { type: "string", pattern: "^[0-9]+[BKMGTPE]$" },
              bs: { type: "string", pattern: "^[0-9]+[BKMGTPE]$" },
            },
          },
        },
      },
    },
    siteDevices: {
      type: "array",
      items: { type: "object", required: ["source"], properties: { source: absolutePath, destination: absolutePath, access: { type: "string", pattern: "^(?!.*(.).*\\1)[rwm]{1,3}$" } } },
    },
    environment: {
      type: "object",
      properties: {
        set: { type: "object", additionalProperties: { type: "string" } },
        prepend: { type: "object", additionalProperties: { type: "string" } },
        append: { type: "object", additionalProperties: { type: "string" } },
        unset: strings,
      },
    },
    userMounts: {
      type: "object",
      required: ["notAllowedPrefixesOfPath", "notAllowedPaths"],
      properties: { notAllowedPrefixesOfPath: absolutePaths, notAllowedPaths: absolutePaths },
    },
    seccompProfile: absolutePath,
    apparmorProfile: { type: "string" },
    selinuxLabel: { type: "string" },
    selinuxMountLabel: { type: "string" },
    containersPolicy: { type: "object", required: ["path"], properties: { path: absolutePath, enforce: { type: "boolean" } } },
    "containersRegistries.dPath": absolutePath,
    enablePMIxv3Support: { type: "boolean" },
    defaultMPIType: { type: "string" },
  },
} as const;

/** The OCI hook configuration Sarus reads from hooksDir (hook.schema.json, version 1.0.0). */
export const OCI_HOOK_SCHEMA = {
  type: "object",
  additionalProperties: false,
  required: ["version", "hook", "when", "stages"],
  properties: {
    version: { const: "1.0.0" },
    hook: {
      type: "object",
      required: ["path"],
      properties: { path: absolutePath, args: strings, env: { type: "array", items: { type: "string", pattern: "^[A-Za-z_][A-Za-z0-9_]*=" } }, timeout: { type: "integer", minimum: 1 } },
    },
    when: {
      type: "object",
      minProperties: 1,
      properties: {
        always: { type: "boolean" },
        annotations: { type: "object", additionalProperties: { type: "string" } },
        commands: strings,
        hasBindMounts: { type: "boolean" },
      },
    },
    stages: { type: "array", minItems: 1, items: { enum: ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] } },
  },
} as const;

/** Shifter 16.08's imagemanager.json as the gateway reads it (API, workers, Celery broker). */
export const IMAGEMANAGER_SCHEMA = {
  type: "object",
  required: ["DefaultImageLocation", "DefaultImageFormat", "MongoDBURI", "MongoDB", "Broker", "CacheDirectory", "ExpandDirectory", "Locations", "Platforms"],
  properties: {
    DefaultImageLocation: { type: "string" },
    DefaultImageFormat: { enum: ["squashfs", "ext4", "cramfs"] },
    PullUpdateTimeout: { type: "integer", minimum: 1 },
    ImageExpirationTimeout: { type: "string", pattern: "^\\d+:\\d{2}:\\d{2}:\\d{2}$" },
    MongoDBURI: { type: "string", pattern: "^mongodb://[^:/@]+:[^@/]+@[^/]+/[A-Za-z]+(\\?.*)?$" },
    MongoDB: { type: "string" },
    Broker: { type: "string", pattern: "^redis://:[^@/]+@[^/]+/\\d+$" },
    CacheDirectory: { type: "string", pattern: "^/.*/$" },
    ExpandDirectory: { type: "string", pattern: "^/.*/$" },
    Locations: {
      type: "object",
      minProperties: 1,
      additionalProperties: { type: "object", required: ["remotetype"], properties: { remotetype: { enum: ["dockerv2", "dockerhub"] }, authentication: { enum: ["http", "none"] } } },
    },
    Platforms: {
      type: "object",
      minProperties: 1,
      additionalProperties: {
        type: "object",
        required: ["mungeSocketPath", "accesstype", "admins"],
        properties: {
          mungeSocketPath: absolutePath,
          accesstype: { enum: ["local", "remote"] },
          admins: strings,
          local: { type: "object", required: ["imageDir"], properties: { imageDir: absolutePath } },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validators = new Map<object, ReturnType<typeof ajv.compile>>();

/** Problems of a JSON document against a schema; a parse error is a problem too. */
export function checkJson(text: string, schema: object): Check {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return [`not JSON: ${(err as Error).message}`];
  }
  let validate = validators.get(schema);
  if (!validate) validators.set(schema, (validate = ajv.compile(schema)));
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}${e.params && "additionalProperty" in e.params ? ` (${String(e.params.additionalProperty)})` : ""}`);
}
