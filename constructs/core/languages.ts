/**
 * The writers of the languages hpcdk renders. Every value that reaches a generated file goes
 * through the writer of that file's language: templates call them as Handlebars helpers
 * (`{{sh pool}}`, `{{ganesha path}}`, `{{nginx key}}`, …; the renderer refuses a template that
 * interpolates anything else), and code that builds a file or a command calls them directly.
 *
 * A writer either quotes the value so that the program reading the file reads it back as the
 * same single value (shell, ganesha strings, nginx strings, TOML, JSON, systemd command lines,
 * SQL), or, for a language without safe quoting (corosync.conf, slurm.conf and gres.conf,
 * apptainer.conf, udiRoot.conf, oci.conf, …), checks that the value holds only what that
 * language takes as one plain value, and throws otherwise. The site schema narrows every value
 * first (schema/common.ts), so a throw here is a bug in hpcdk, never a site problem; the hostile
 * corpus test (test/hostile) feeds each writer every payload and proves it with the real reader.
 */
import { shQuote } from "../../common/shell.js";

/** Text written in one language by a writer below: a writer of the same language passes it through. */
export class Written {
  constructor(
    readonly language: Language,
    readonly text: string,
  ) {}

  toString(): string {
    return this.text;
  }
}

/** A value a writer takes: text, a number, or what a writer of the same language already wrote. */
export type Value = string | number | Written;

function text(language: Language, value: unknown): string | Written {
  if (value instanceof Written) {
    if (value.language !== language) throw new Error(`a value written as ${value.language} cannot go into ${language}`);
    return value;
  }
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`${language}: not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value !== "string") throw new Error(`${language}: expected text or a number, got ${value === null ? "null" : typeof value}`);
  return value;
}

/** Throws unless `value` matches `re` (a plain value of `language`). */
function plain(language: Language, re: RegExp, what: string) {
  return (value: unknown): Written => {
    const t = text(language, value);
    if (t instanceof Written) return t;
    if (!re.test(t)) throw new Error(`${language}: ${JSON.stringify(t.slice(0, 200))} is not ${what}`);
    return new Written(language, t);
  };
}

const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

// ---------------------------------------------------------------------------------------------
// Shell

/** One POSIX shell word: single-quoted (the one `shQuote`). */
export function sh(value: unknown): Written {
  const t = text("sh", value);
  return t instanceof Written ? t : new Written("sh", shQuote(t));
}

/**
 * A shell word that expands the variables `vars` (`$HOME`, `$USER`, `${UID}`) and nothing else:
 * `/var/tmp/$USER.ch` → `'/var/tmp/'"${USER}"'.ch'`. Throws on any other `$`.
 */
export function shWithVariables(value: unknown, vars: readonly string[]): Written {
  const t = text("sh", value);
  if (t instanceof Written) return t;
  let out = "";
  let literal = "";
  for (let i = 0; i < t.length; i++) {
    if (t[i] !== "$") {
      literal += t[i];
      continue;
    }
    const m = /^\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))/.exec(t.slice(i, i + 64));
    const name = m?.[1] ?? m?.[2];
    if (!m || !vars.includes(name!)) throw new Error(`sh: ${JSON.stringify(t.slice(0, 200))} expands more than ${vars.map((v) => `$${v}`).join(", ")}`);
    if (literal !== "") out += shQuote(literal);
    literal = "";
    out += `"\${${name}}"`;
    i += m[0].length - 1;
  }
  if (literal !== "" || out === "") out += shQuote(literal);
  return new Written("sh", out);
}

/**
 * A command line: a template literal whose every `${value}` becomes one shell word (`sh`), and
 * whose literal text is the command itself. `shell\`chown ${user}:${group} ${path}\`` →
 * `chown 'slurm':'slurm' '/var/spool/slurmctld'`. A `Written` sh value goes in as written.
 */
export function shell(strings: TemplateStringsArray, ...values: unknown[]): string {
  let out = strings[0]!;
  values.forEach((v, i) => {
    out += Array.isArray(v) ? v.map((x) => sh(x).text).join(" ") : sh(v).text;
    out += strings[i + 1]!;
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Comments and headers

/**
 * Text inside a comment of any language (a `#` line, a `//` line, an XML comment): one line,
 * printable ASCII; anything else is escaped (`\n`, `\x1b`, `\u{2028}`), a backslash doubled, and
 * `--` (which ends an XML comment) written `-\x2d`. Never throws: comments only inform.
 */
export function comment(value: unknown): Written {
  const t = text("comment", value);
  if (t instanceof Written) return t;
  let out = "";
  for (const c of t) {
    const code = c.codePointAt(0)!;
    if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else if (code > 0x7e) out += `\\u{${code.toString(16)}}`;
    else out += c;
  }
  return new Written("comment", out.replace(/--/g, "-\\x2d"));
}

// ---------------------------------------------------------------------------------------------
// Configuration languages with quoting

/**
 * A ganesha.conf double-quoted string: `\` and `"` escaped, newline, tab and return as `\n`,
 * `\t`, `\r` (what ganesha's lexer turns back). NUL refused.
 * @see https://github.com/nfs-ganesha/nfs-ganesha/blob/next/src/config_parsing/analyse.c (save_token)
 */
export function ganesha(value: unknown): Written {
  const t = text("ganesha", value);
  if (t instanceof Written) return t;
  if (t.includes("\0")) throw new Error("ganesha: a string cannot hold a NUL byte");
  const escaped = t.replace(/[\\"\n\t\r]/g, (c) => ({ "\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r" })[c]!);
  return new Written("ganesha", `"${escaped}"`);
}

/**
 * One client of ganesha's `Clients =` list, which takes no quoted strings: the value must be one
 * token of ganesha's lexer (an IPv4/IPv6 address or network, `*`, `@netgroup`, a name starting
 * with a letter, a wildcard pattern).
 */
export const ganeshaClient = plain(
  "ganesha",
  /^(\*|@[A-Za-z_][A-Za-z0-9_.-]*|[0-9]{1,3}(\.[0-9]{1,3}){3}(\/[0-9]{1,2})?|[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*(\/[0-9]{1,3})?|[A-Za-z_?][A-Za-z0-9._-]*|[A-Za-z0-9._-]*[*?][A-Za-z0-9._*?-]*)$/,
  "one ganesha client (address, network, *, @netgroup, name or wildcard)",
);

/**
 * An nginx string: double-quoted, `\` and `"` escaped. nginx has no escape for `$` (it starts a
 * variable in directives that take them, such as ssl_certificate), so `$` is refused, as are
 * control characters.
 * @see https://nginx.org/en/docs/beginners_guide.html#conf_structure
 */
export function nginx(value: unknown): Written {
  const t = text("nginx", value);
  if (t instanceof Written) return t;
  if (t.includes("$") || CONTROL.test(t)) throw new Error(`nginx: ${JSON.stringify(t.slice(0, 200))} holds "$" or a control character, which an nginx string cannot hold`);
  return new Written("nginx", `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}

/**
 * A TOML basic string (containers.conf, storage.conf): `"…"` with `\`, `"` and control characters
 * escaped (`\u00XX`).
 * @see https://toml.io/en/v1.0.0#string
 */
export function toml(value: unknown): Written {
  const t = text("toml", value);
  if (t instanceof Written) return t;
  let out = "";
  for (const c of t) {
    const code = c.codePointAt(0)!;
    if (c === "\\" || c === '"') out += `\\${c}`;
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return new Written("toml", `"${out}"`);
}

/** A JSON (and JavaScript) string or number. */
export function json(value: unknown): Written {
  const t = text("json", value);
  if (t instanceof Written) return t;
  // JSON.stringify leaves U+2028 and U+2029 as they are, which older JavaScript reads as line ends.
  return new Written("json", JSON.stringify(typeof value === "number" ? value : t).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`));
}

/**
 * A word of a systemd Exec*= command line: as it is when it is plain, else double-quoted with
 * `\`, `"` escaped; `$` written `$$` and `%` written `%%` everywhere (systemd expands both).
 * Control characters refused.
 * @see https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html#Command%20lines
 */
export function systemdExec(value: unknown): Written {
  const t = text("systemd", value);
  if (t instanceof Written) return t;
  if (CONTROL.test(t)) throw new Error(`systemd: ${JSON.stringify(t.slice(0, 200))} holds a control character`);
  const escaped = t.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  if (/^[A-Za-z0-9_./:=@+,%$-]+$/.test(t)) return new Written("systemd", escaped);
  return new Written("systemd", `"${escaped.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}

/**
 * One `NAME=value` assignment of a systemd `Environment=` line: as it is when it is plain, else
 * double-quoted with `\` and `"` escaped; `%` written `%%` (systemd does not expand `$` there).
 */
export function systemdEnv(value: unknown): Written {
  const t = text("systemd", value);
  if (t instanceof Written) return t;
  if (CONTROL.test(t) || !/^[A-Za-z_][A-Za-z0-9_]*=/.test(t)) throw new Error(`systemd: ${JSON.stringify(t.slice(0, 200))} is not a NAME=value assignment`);
  const escaped = t.replace(/%/g, "%%");
  if (/^[A-Za-z0-9_./:=@+,%-]+$/.test(t)) return new Written("systemd", escaped);
  return new Written("systemd", `"${escaped.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}

/**
 * A value of a systemd unit setting (`Where=`, `Description=`, `User=`): the rest of the line,
 * `%` written `%%`. Refused: control characters, leading or trailing spaces, a trailing `\`
 * (it would continue the line).
 */
export function systemd(value: unknown): Written {
  const t = text("systemd", value);
  if (t instanceof Written) return t;
  if (CONTROL.test(t) || t !== t.trim() || t.endsWith("\\")) {
    throw new Error(`systemd: ${JSON.stringify(t.slice(0, 200))} cannot be a unit setting's value (control character, edge space or trailing "\\")`);
  }
  return new Written("systemd", t.replace(/%/g, "%%"));
}

/** An SQL identifier in backquotes (MariaDB), a backquote doubled. */
export function sqlIdentifier(value: unknown): Written {
  const t = text("sql", value);
  if (t instanceof Written) return t;
  if (t.includes("\0")) throw new Error("sql: an identifier cannot hold a NUL byte");
  return new Written("sql", `\`${t.replace(/`/g, "``")}\``);
}

/** An SQL string in single quotes (MariaDB): `'` doubled, `\` doubled. */
export function sqlString(value: unknown): Written {
  const t = text("sql", value);
  if (t instanceof Written) return t;
  if (t.includes("\0")) throw new Error("sql: a string cannot hold a NUL byte");
  return new Written("sql", `'${t.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`);
}

/**
 * A value of an environment file read both as shell (apptainer --env-file) and by systemd
 * (EnvironmentFile=): plain when it is, else in double quotes; `"`, `\`, `$`, backquote and
 * control characters refused (the two readers treat them differently).
 */
export function envfile(value: unknown): Written {
  const t = text("envfile", value);
  if (t instanceof Written) return t;
  if (/^[A-Za-z0-9_.,:/@+=-]*$/.test(t)) return new Written("envfile", t);
  if (/["\\$`]/.test(t) || CONTROL.test(t)) throw new Error(`envfile: ${JSON.stringify(t.slice(0, 200))} cannot be quoted the same for sh and systemd`);
  return new Written("envfile", `"${t}"`);
}

/**
 * A value of an environment file read literally (podman --env-file and systemd both take it as
 * written, quotes included): plain characters only, `;` allowed (libfabric's `verbs;ofi_rxm`).
 */
export const envfileLiteral = (value: unknown): Written => plainEnv(value);
const plainEnv = (v: unknown) => plain("envfile", /^[A-Za-z0-9_.,:/@+=;-]*$/, "a literal environment value")(v);

// ---------------------------------------------------------------------------------------------
// Languages without safe quoting: one plain value, checked

/** corosync.conf: values run to the end of the line, `{`, `}` and `#` are syntax: names and addresses only. */
export const corosync = plain("corosync", /^[A-Za-z0-9._:-]+$/, "a corosync value (letters, digits, . _ : -)");

/**
 * slurm.conf and gres.conf (and cgroup.conf, slurmdbd.conf): Slurm's parser splits at spaces,
 * takes `#` as a comment and has no escapes inside quotes: plain values only.
 * @see https://slurm.schedmd.com/slurm.conf.html
 */
export const slurm = plain("slurm", /^[A-Za-z0-9._,:/@+=()[\]*~-]+$/, "a slurm.conf value (no spaces, quotes or #)");

/** One `key=value` line of slurm.conf or gres.conf: each value through {@link slurm}. */
export function slurmLine(pairs: readonly (readonly [string, Value])[]): Written {
  return new Written(
    "slurm",
    pairs
      .map(([k, v]) => {
        if (!/^[A-Za-z]+$/.test(k)) throw new Error(`slurm: ${JSON.stringify(k)} is not a key`);
        return `${k}=${slurm(v).text}`;
      })
      .join(" "),
  );
}

/** apptainer.conf: `key = value` to the end of the line, no quoting. */
export const apptainer = plain("apptainer", /^[A-Za-z0-9._/:@+=,~ -]+$/, "an apptainer.conf value");

/** Shifter's udiRoot.conf: `key=value` to the end of the line, no quoting. */
export const udiroot = plain("udiroot", /^[A-Za-z0-9._/:;@+=,~ -]+$/, "a udiRoot.conf value");

/**
 * oci.conf: Slurm's parser reads `"…"` without escapes, and slurmstepd runs the command with
 * /bin/sh -c: words that need no quoting in either.
 */
export const oci = plain("oci", /^[A-Za-z0-9._/:=@+~-]+$/, "an oci.conf command word");

/** A `#SBATCH --option=value` value: sbatch splits at spaces. */
export const sbatch = plain("sbatch", /^[A-Za-z0-9._:,=/+-]+$/, "an #SBATCH value");

/** A Containerfile or Apptainer definition word (ARG, COPY, From:): no spaces, quotes, `$` or `\`. */
export const dockerfile = plain("dockerfile", /^[A-Za-z0-9._:/@+=-]+$/, "a Containerfile word");

/** Text inside a Containerfile `LABEL "…"` or a definition's help: no quotes, `$`, `\` or control characters. */
export const dockerfileText = plain("dockerfile", /^[A-Za-z0-9._:/@+=, ()'-]+$/, "Containerfile text");

/**
 * One plain word: safe unquoted in shell (no "~" first, where it would expand) and inside double
 * quotes, and in every configuration language where a word runs to the next space (limits.conf,
 * redis.conf).
 */
export const word = plain("word", /^[A-Za-z0-9._/:@+=-][A-Za-z0-9._/:@+=~-]*$/, "a plain word (letters, digits, . _ / : @ + = ~ -)");

/** systemd-tmpfiles: a path field, `%` written `%%`. */
export function tmpfiles(value: unknown): Written {
  const w = plain("tmpfiles", /^\/[A-Za-z0-9._/+@~%-]*$/, "a tmpfiles.d path")(value);
  return w.language === "tmpfiles" && !(value instanceof Written) ? new Written("tmpfiles", w.text.replace(/%/g, "%%")) : w;
}

/** A udev rule's double-quoted value (Vagrant lab): no quotes, `\` or control characters. */
export const udev = plain("udev", /^[A-Za-z0-9._/:@+=-]+$/, "a udev rule value");

/** An /etc/hosts entry: an address and names separated by spaces. */
export const hosts = plain("hosts", /^[0-9A-Fa-f.:]+( [A-Za-z0-9.-]+)+$/, "an /etc/hosts line");

/** A Ruby double-quoted string (the Vagrantfile): letters, digits and `. _ / : - ,` and spaces. */
export function ruby(value: unknown): Written {
  const w = plain("ruby", /^[A-Za-z0-9 ._/:,-]*$/, "a Ruby string of letters, digits, spaces and . _ / : , -")(value);
  return value instanceof Written ? w : new Written("ruby", `"${w.text}"`);
}

/** A number for any language. */
export function num(value: unknown): Written {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`num: expected a number, got ${typeof value === "string" ? JSON.stringify(value.slice(0, 200)) : typeof value}`);
  return new Written("num", String(value));
}

/** Every writer, by the name templates call it with. */
export const WRITERS = {
  sh,
  comment,
  ganesha,
  ganeshaClient,
  nginx,
  toml,
  json,
  systemd,
  systemdExec,
  systemdEnv,
  sqlIdentifier,
  sqlString,
  envfile,
  corosync,
  slurm,
  apptainer,
  udiroot,
  oci,
  sbatch,
  dockerfile,
  dockerfileText,
  word,
  tmpfiles,
  udev,
  hosts,
  ruby,
  num,
} as const;

export type Language =
  | "sh"
  | "comment"
  | "ganesha"
  | "nginx"
  | "toml"
  | "json"
  | "systemd"
  | "sql"
  | "envfile"
  | "corosync"
  | "slurm"
  | "apptainer"
  | "udiroot"
  | "oci"
  | "sbatch"
  | "dockerfile"
  | "word"
  | "tmpfiles"
  | "udev"
  | "hosts"
  | "ruby"
  | "num";
