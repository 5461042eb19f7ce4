import { formatDuration } from '../core/format.js';
import { nextRun } from './cron.js';

/**
 * Should a backup run at start, because the scheduler was not running at its time? Pure: the
 * decision and the reason to log. With an RPO, only when waiting for the next scheduled run
 * would breach it; without one, when a scheduled run was missed since the last backup.
 */
export function backupCatchUp(opts: { now: Date; last: Date | undefined; rpoMs?: number; cron: string; timezone: string }): { due: boolean; reason: string } {
  const next = nextRun(opts.cron, opts.now, opts.timezone);
  if (opts.last === undefined) return { due: true, reason: 'no backup in the catalogue yet' };
  const lastText = opts.last.toISOString();
  if (opts.rpoMs !== undefined) {
    const gap = next.getTime() - opts.last.getTime();
    if (gap > opts.rpoMs) {
      return {
        due: true,
        reason: `last backup at ${lastText}; waiting for the next scheduled run at ${next.toISOString()} would leave ${formatDuration(gap)} between recovery points (RPO ${formatDuration(opts.rpoMs)})`,
      };
    }
    return { due: false, reason: `last backup at ${lastText} keeps the RPO until the next run at ${next.toISOString()}` };
  }
  const missed = nextRun(opts.cron, opts.last, opts.timezone);
  if (missed.getTime() <= opts.now.getTime()) {
    return { due: true, reason: `last backup at ${lastText}; the run scheduled at ${missed.toISOString()} was missed` };
  }
  return { due: false, reason: `last backup at ${lastText}; no scheduled run missed` };
}
