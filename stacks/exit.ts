/**
 * Exit codes: 0 ok, 1 the site is invalid, 2 anything else went wrong. On their own so that the
 * command can name them without loading the synthesis (and cdktf) for `--help` or `schema`.
 */
export const EXIT = { ok: 0, invalidSite: 1, internal: 2 } as const;
