/**
 * The ZFS multihost (MMP) settings as every layer sees them: the schema validates them
 * (schema/multihost.ts), the pacemaker domain renders them, the drill predicts the import wait.
 */

/** zfs_multihost_interval (ms), _import_intervals and _fail_intervals. */
export interface MultihostSettings {
  readonly intervalMs: number;
  readonly importIntervals: number;
  readonly failIntervals: number;
}

/**
 * Seconds an import of a pool last held by another, now silent, host waits for MMP's activity
 * check: twice `failIntervals × intervalMs` when the holder suspends its pool after that long
 * without a write (OpenZFS' MMP_IMPORT_SAFETY_FACTOR 200 %), else `importIntervals × intervalMs`
 * (never under 1 s). The holder's own `ub_mmp_delay` can lengthen the second case; hpcdk's nodes
 * all get the same settings, so the holder's interval is this one.
 * @see https://github.com/openzfs/zfs/blob/master/module/zfs/spa.c (spa_activity_check_duration)
 */
export function mmpImportWaitSec(m: MultihostSettings): number {
  const ms = m.failIntervals > 0 ? m.failIntervals * m.intervalMs * 2 : Math.max(1000, m.importIntervals * m.intervalMs);
  return ms / 1000;
}

/** The modprobe.d options line for the zfs module. */
export function multihostModprobeOptions(m: MultihostSettings): string {
  return `options zfs zfs_multihost_interval=${m.intervalMs} zfs_multihost_import_intervals=${m.importIntervals} zfs_multihost_fail_intervals=${m.failIntervals}`;
}
