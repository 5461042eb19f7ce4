import { nextRun } from './cron.js';
import { SCHEDULE_JOBS, type ScheduledJob, type ScheduledPolicy } from './jobs.js';

/** One scheduled job of one policy and the next time it fires. */
export interface TimetableEntry {
  policy: string;
  file: string;
  job: ScheduledJob;
  cron: string;
  timezone: string;
  next: Date;
}

/**
 * The next fire time of every scheduled job. Times come from `nextRun`, the same cron
 * evaluation as the systemd and crontab renderings, so the three agree on when a job fires.
 */
export class Timetable {
  private readonly entries = new Map<string, TimetableEntry>();

  get size(): number {
    return this.entries.size;
  }

  all(): TimetableEntry[] {
    return [...this.entries.values()];
  }

  get(policy: string, job: ScheduledJob): TimetableEntry | undefined {
    return this.entries.get(entryId(policy, job));
  }

  hasPolicy(policy: string): boolean {
    for (const e of this.entries.values()) if (e.policy === policy) return true;
    return false;
  }

  /**
   * Enters the jobs of one policy; a job whose cron, time zone and file are unchanged keeps
   * its next time. Adds the ids it covers to `keep`; a cron that cannot be evaluated is
   * passed to `onUnschedulable` and leaves the job out.
   */
  schedule(sp: ScheduledPolicy, now: Date, keep: Set<string>, onUnschedulable: (job: ScheduledJob, err: unknown) => void): void {
    const { name, timezone } = sp.policy;
    for (const { key, job } of SCHEDULE_JOBS) {
      const cron = sp.policy.schedule[key];
      if (cron === undefined) continue;
      const id = entryId(name, job);
      keep.add(id);
      const old = this.entries.get(id);
      if (old && old.cron === cron && old.timezone === timezone && old.file === sp.file) continue;
      try {
        this.entries.set(id, { policy: name, file: sp.file, job, cron, timezone, next: nextRun(cron, now, timezone) });
      } catch (err) {
        onUnschedulable(job, err);
      }
    }
  }

  /** Drops every job `schedule` did not cover in this round (removed policies and jobs). */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const id of [...this.entries.keys()]) if (!keep.has(id)) this.entries.delete(id);
  }

  /** The jobs whose fire time has come, earliest first. */
  due(now: Date): TimetableEntry[] {
    const t = now.getTime();
    return this.all()
      .filter((e) => e.next.getTime() <= t)
      .sort((a, b) => a.next.getTime() - b.next.getTime());
  }

  /** Moves a fired job to its first fire time after `now` (missed ones coalesce into the one run). */
  advance(e: TimetableEntry, now: Date): void {
    e.next = nextRun(e.cron, now, e.timezone);
  }

  /** After the clock went back: every next time from `now` again. */
  recomputeAll(now: Date): void {
    for (const e of this.entries.values()) this.advance(e, now);
  }

  /** Epoch ms of the earliest fire time, Infinity when nothing is scheduled. */
  earliest(): number {
    return Math.min(...this.all().map((e) => e.next.getTime()));
  }
}

function entryId(policy: string, job: ScheduledJob): string {
  return `${policy}\u0000${job}`;
}
