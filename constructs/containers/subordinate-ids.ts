/**
 * Subordinate uid/gid ranges for rootless containers (/etc/subuid, /etc/subgid), computed from
 * the site's user uid ranges so that every user of every node gets the same, private range.
 */

export interface UidRange {
  readonly first: number;
  readonly last: number;
}

export interface SubordinateIdsSpec {
  readonly uidRanges: readonly UidRange[];
  /** First subordinate id. */
  readonly start: number;
  /** Ids per user. */
  readonly count: number;
}

/** Largest valid id: 2^32-1 is (uid_t)-1. */
const MAX_ID = 4294967294;

/**
 * The lines of /etc/subuid (and /etc/subgid): `<uid>:<first subordinate id>:<count>`, one per
 * uid of the ranges, in uid order. Entries name the uid, not the login, so users from LDAP need
 * no local account (shadow's newuidmap matches an entry by name or by uid).
 */
export function subordinateIdLines(spec: SubordinateIdsSpec): string[] {
  const ranges = [...spec.uidRanges].sort((a, b) => a.first - b.first);
  for (const r of ranges) if (r.first > r.last) throw new Error(`uid range ${r.first}-${r.last} is empty`);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.first <= ranges[i - 1]!.last) throw new Error(`uid ranges ${ranges[i - 1]!.first}-${ranges[i - 1]!.last} and ${ranges[i]!.first}-${ranges[i]!.last} overlap`);
  }
  const lines: string[] = [];
  let next = spec.start;
  for (const r of ranges) {
    for (let uid = r.first; uid <= r.last; uid++) {
      lines.push(`${uid}:${next}:${spec.count}`);
      next += spec.count;
    }
  }
  const end = next - 1;
  if (end > MAX_ID) throw new Error(`subordinate ids ${spec.start}-${end} go past ${MAX_ID}`);
  const clash = ranges.find((r) => r.first <= end && r.last >= spec.start);
  if (clash) throw new Error(`subordinate ids ${spec.start}-${end} overlap the uids ${clash.first}-${clash.last}`);
  return lines;
}
