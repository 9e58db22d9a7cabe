/**
 * The hpcdk command's TypeScript, compiled once into `.cache/cli/` of the checkout and rebuilt
 * when a source changes.
 *
 * Running the sources through tsx's loader costs every start ~0.2 s (a loader thread that
 * resolves and transforms each module, even from its cache). A bundle compiled by esbuild (the
 * compiler tsx itself uses, with tsx's settings) loads like plain JavaScript. Each command is its
 * own chunk, so `hpcdk synth` does not load ssh2 and `hpcdk --help` not cdktf. Packages stay
 * imports, resolved from the checkout's node_modules as before.
 *
 * A build is used while the content of every file it was compiled from is unchanged (a SHA-256
 * over their paths and bytes, ~1.5 ms for the ~100 sources). Builds are written to a temporary
 * directory and renamed into place, so commands started at once may each build but never read a
 * half-written one.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CACHE = join(ROOT, ".cache", "cli");
const ENTRY = join(ROOT, "cli", "main.ts");
/** Files besides the bundled sources that change what esbuild makes of them. */
const SETTINGS = ["tsconfig.json", "package.json", "cli/bin/compiled.js"];
/** Builds kept for commands still running from them (a chunk is loaded when a command needs it). */
const KEEP_BUILDS = 8;

/**
 * The compiled entry point's URL, built first if the sources changed. Throws when it cannot be
 * built or written (esbuild missing, a read-only checkout): the caller runs the sources with tsx.
 */
export async function compiledEntry() {
  return pathToFileURL(join(CACHE, upToDateBuild() ?? (await build()), "main.js")).href;
}

/** The current build, if every file it was compiled from is as it was; else undefined. */
function upToDateBuild() {
  try {
    const current = JSON.parse(readFileSync(join(CACHE, "current.json"), "utf8"));
    return digest(current.inputs) === current.digest && existsSync(join(CACHE, current.build, "main.js")) ? current.build : undefined;
  } catch {
    // No build yet, or a source was removed.
    return undefined;
  }
}

/** SHA-256 over the checkout's path, Node's version and each input's path and bytes. */
function digest(inputs) {
  const hash = createHash("sha256").update(`${ROOT}\0${process.versions.node}\0`);
  for (const input of inputs) hash.update(`${input}\0`).update(readFileSync(join(ROOT, input))).update("\0");
  return hash.digest("hex");
}

async function build() {
  const esbuild = await import("esbuild");
  mkdirSync(CACHE, { recursive: true });
  const temp = join(CACHE, `tmp-${process.pid}-${Date.now()}`);
  try {
    const result = await esbuild.build({
      ...compileOptions(),
      entryPoints: { main: ENTRY },
      outdir: temp,
      metafile: true,
      logLevel: "silent",
    });
    const inputs = [...new Set([...Object.keys(result.metafile.inputs), ...SETTINGS])].sort();
    const key = digest(inputs);
    const name = key.slice(0, 16);
    try {
      renameSync(temp, join(CACHE, name));
    } catch (err) {
      // Another command built the same sources at the same time.
      if (!existsSync(join(CACHE, name, "main.js"))) throw err;
    }
    const record = join(CACHE, `current.json.${process.pid}`);
    writeFileSync(record, JSON.stringify({ build: name, digest: key, inputs }, null, 2) + "\n");
    renameSync(record, join(CACHE, "current.json"));
    prune(name);
    return name;
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
}

/**
 * A module's `import.meta.url` (and `.dirname`, `.filename`) is the source file's, not the
 * bundle's: templates and the command itself are found relative to the sources. (bench/bin.mjs
 * compiles the benchmarks with it too.)
 */
/**
 * How the command's code is compiled (the benchmarks compile theirs the same way, bench/bin.mjs):
 * as tsx compiles, for this Node, function and class names kept, source maps for stack traces.
 */
export function compileOptions() {
  return {
    absWorkingDir: ROOT,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    packages: "external",
    target: `node${process.versions.node}`,
    keepNames: true,
    sourcemap: true,
    sourcesContent: false,
    plugins: [sourceLocation],
  };
}

export const sourceLocation = {
  name: "hpcdk-source-location",
  setup(build) {
    build.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8")
        .replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href))
        .replaceAll("import.meta.dirname", JSON.stringify(dirname(args.path)))
        .replaceAll("import.meta.filename", JSON.stringify(args.path));
      return { contents: text, loader: "ts" };
    });
  },
};

/** Removes all but the newest builds, and temporary directories a killed build left. */
function prune(keep) {
  const now = Date.now();
  const entries = readdirSync(CACHE, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => ({ name: e.name, mtimeMs: statSync(join(CACHE, e.name)).mtimeMs }));
  const builds = entries.filter((e) => !e.name.startsWith("tmp-") && e.name !== keep).sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const old of builds.slice(KEEP_BUILDS - 1)) rmSync(join(CACHE, old.name), { recursive: true, force: true });
  for (const t of entries.filter((e) => e.name.startsWith("tmp-") && now - e.mtimeMs > 10 * 60_000)) rmSync(join(CACHE, t.name), { recursive: true, force: true });
}
