/**
 * The scheduler's state machine: a timer loop over the Timetable that hands due jobs to their
 * policy's lane and runs them through an injected `JobRunner`. It reads time only through an
 * injected `SchedulerTimer`, so tests pin the clock and advance it; node-cron would need its
 * own timers faked and parses cron its own way. The loop sleeps at most `maxSleepMs` (1 min)
 * at a time and re-reads the clock, which also copes with suspend/resume and clock steps;
 * fire times missed while asleep coalesce into one run.
 *
 * Rules: a job never overlaps itself (a fire while it runs or waits is skipped and logged);
 * the jobs of one policy run one at a time, in order, behind each other; a backup missed
 * while the scheduler was not running is run once at start when `backupCatchUp` says so.
 */
import { formatDuration } from '../core/format.js';
import { backupCatchUp } from './catch-up.js';
import type { JobOutcome, JobRunner, ScheduledJob, ScheduledPolicy } from './jobs.js';
import { outcomeLogLevel, type SchedulerLog } from './log.js';
import { PolicyLane, type PendingJob } from './policy-lane.js';
import type { SchedulerTimer } from './timer.js';
import { Timetable, type TimetableEntry } from './timetable.js';

export interface SchedulerOptions {
  timer: SchedulerTimer;
  runner: JobRunner;
  log: SchedulerLog;
  /** Recovery point of the newest backup of the policy, for the catch-up at start. */
  lastBackup?: (p: ScheduledPolicy) => Date | undefined | Promise<Date | undefined>;
  /** Longest sleep before the clock is read again; default 60 s. */
  maxSleepMs?: number;
}

export interface UpcomingRun {
  policy: string;
  job: ScheduledJob;
  cron: string;
  next: Date;
  running: boolean;
  queued: boolean;
}

/** A clock step back by more than this is a step, not jitter: next times are recomputed. */
const CLOCK_STEP_BACK_MS = 1000;
/** A fire time passed by more than this is logged as late (suspended or busy). */
const LATE_FIRE_MS = 5 * 60_000;

export class Scheduler {
  private readonly lanes = new Map<string, PolicyLane>();
  private readonly timetable = new Timetable();
  private readonly caughtUp = new Set<string>();
  private wake = new AbortController();
  private started = false;
  private lastNow: number | undefined;
  private stopSignal: AbortSignal = new AbortController().signal;

  constructor(private readonly opts: SchedulerOptions) {}

  /** Sets (or replaces, on reload) the policies; running jobs are left alone. */
  setPolicies(list: readonly ScheduledPolicy[]): void {
    const now = this.opts.timer.now();
    const seen = new Map<string, string>();
    const keep = new Set<string>();
    for (const sp of list) {
      const name = sp.policy.name;
      const first = seen.get(name);
      if (first !== undefined) {
        this.opts.log({ level: 'error', policy: name, message: `defined again in ${sp.file} (first in ${first}); this copy is ignored` });
        continue;
      }
      seen.set(name, sp.file);
      const lane = this.lanes.get(name);
      if (lane) lane.sp = sp;
      else this.lanes.set(name, new PolicyLane(sp));
      this.timetable.schedule(sp, now, keep, (job, err) =>
        this.opts.log({ level: 'error', policy: name, job, message: `not scheduled: ${err instanceof Error ? err.message : String(err)}` }),
      );
    }
    this.timetable.retainOnly(keep);
    for (const [name, lane] of [...this.lanes]) {
      if (seen.has(name)) continue;
      const dropped = lane.dropQueued();
      if (dropped) this.opts.log({ level: 'info', policy: name, message: `removed: ${dropped} queued job(s) dropped` });
      if (!lane.running) this.lanes.delete(name);
    }
    // Wake the loop so it sleeps until the new earliest time.
    this.wake.abort();
  }

  upcoming(): UpcomingRun[] {
    return this.timetable
      .all()
      .map((e) => {
        const lane = this.lanes.get(e.policy);
        return { policy: e.policy, job: e.job, cron: e.cron, next: e.next, running: lane?.running?.job === e.job, queued: lane?.isWaiting(e.job) ?? false };
      })
      .sort((a, b) => a.next.getTime() - b.next.getTime() || a.policy.localeCompare(b.policy));
  }

  /** Resolves when no job runs or waits (tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.lanes.values()].map((l) => l.running?.done).filter((d): d is Promise<void> => d !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * The loop: catch-up at start, then fire due jobs until `stop` aborts. On stop, queued
   * jobs are dropped, running ones receive the abort (the runner ends or abandons them)
   * and are awaited before this resolves.
   */
  async run(stop: AbortSignal): Promise<void> {
    if (this.started) throw new Error('Scheduler.run called twice');
    this.started = true;
    this.opts.log({ level: 'info', message: `started: ${this.lanes.size} polic${this.lanes.size === 1 ? 'y' : 'ies'}, ${this.timetable.size} job(s)` });
    this.stopSignal = stop;
    await this.catchUpAll();
    while (!stop.aborted) {
      const now = this.opts.timer.now();
      this.noticeClockStep(now);
      this.fireDue(now);
      // New policies added by a reload get their catch-up check once.
      await this.catchUpAll();
      const wait = Math.min(this.timetable.earliest() - now.getTime(), this.opts.maxSleepMs ?? 60_000);
      if (this.wake.signal.aborted) this.wake = new AbortController();
      await this.opts.timer.sleep(Math.max(0, wait), AbortSignal.any([stop, this.wake.signal]));
    }
    await this.shutDown();
  }

  private noticeClockStep(now: Date): void {
    const t = now.getTime();
    if (this.lastNow !== undefined && t < this.lastNow - CLOCK_STEP_BACK_MS) {
      this.opts.log({ level: 'warn', message: `the clock went back ${formatDuration(this.lastNow - t)}; next run times recomputed` });
      this.timetable.recomputeAll(now);
    }
    this.lastNow = t;
  }

  private fireDue(now: Date): void {
    for (const e of this.timetable.due(now)) {
      const late = now.getTime() - e.next.getTime();
      if (late > LATE_FIRE_MS) this.opts.log({ level: 'warn', policy: e.policy, job: e.job, message: `fire time ${e.next.toISOString()} passed ${formatDuration(late)} ago (suspended or busy); running once now` });
      this.fire(e, 'schedule', e.next);
      this.timetable.advance(e, now);
    }
  }

  private async shutDown(): Promise<void> {
    let dropped = 0;
    for (const lane of this.lanes.values()) dropped += lane.dropQueued();
    const running = [...this.lanes.values()].flatMap((l) => (l.running ? [`${l.sp.policy.name} ${l.running.job}`] : []));
    this.opts.log({
      level: 'info',
      message: `stopping: ${running.length ? `waiting for ${running.join(', ')}` : 'no job running'}${dropped ? `; ${dropped} queued job(s) dropped` : ''}`,
    });
    await this.idle();
    this.opts.log({ level: 'info', message: 'stopped' });
  }

  private async catchUpAll(): Promise<void> {
    for (const [name, lane] of this.lanes) {
      if (this.caughtUp.has(name)) continue;
      this.caughtUp.add(name);
      const entry = this.timetable.get(name, 'backup');
      if (!entry || !this.opts.lastBackup) continue;
      let last: Date | undefined;
      try {
        last = await this.opts.lastBackup(lane.sp);
      } catch (err) {
        this.opts.log({ level: 'warn', policy: name, job: 'backup', message: `cannot tell when the last backup ran (${err instanceof Error ? err.message : String(err)}); no catch-up` });
        continue;
      }
      const now = this.opts.timer.now();
      const d = backupCatchUp({ now, last, rpoMs: lane.sp.policy.objectives.rpo, cron: entry.cron, timezone: entry.timezone });
      if (d.due) {
        this.opts.log({ level: 'info', policy: name, job: 'backup', message: `missed backup: ${d.reason}; running it now` });
        this.fire(entry, 'catch-up', now);
      } else {
        this.opts.log({ level: 'debug', policy: name, job: 'backup', message: `no catch-up: ${d.reason}` });
      }
    }
  }

  private fire(entry: TimetableEntry, reason: PendingJob['reason'], scheduledFor: Date): void {
    const lane = this.lanes.get(entry.policy);
    if (!lane) return;
    const overlap = lane.admit({ entry, reason, scheduledFor });
    const due = scheduledFor.toISOString();
    if (overlap === 'running') {
      this.opts.log({ level: 'warn', policy: entry.policy, job: entry.job, message: `skipped the run due at ${due}: the previous one (started ${lane.running!.startedAt.toISOString()}) is still running` });
      return;
    }
    if (overlap === 'waiting') {
      this.opts.log({ level: 'warn', policy: entry.policy, job: entry.job, message: `skipped the run due at ${due}: one is already waiting` });
      return;
    }
    if (lane.running) this.opts.log({ level: 'info', policy: entry.policy, job: entry.job, message: `queued behind ${lane.running.job}` });
    this.startNext(lane);
  }

  /** Starts the lane's next job unless one runs or the scheduler stops; chains the one after. */
  private startNext(lane: PolicyLane): void {
    if (this.stopSignal.aborted) return;
    const next = lane.takeNext();
    if (!next) return;
    const { entry } = next;
    const startedAt = this.opts.timer.now();
    this.opts.log({ level: 'info', policy: entry.policy, job: entry.job, message: `started${next.reason === 'catch-up' ? ' (catch-up)' : ''}`, fields: { reason: next.reason, scheduledFor: next.scheduledFor.toISOString() } });
    const done = this.runAndLog(next, startedAt);
    lane.running = { job: entry.job, startedAt, done };
    void done.then(() => {
      lane.running = undefined;
      if (!this.timetable.hasPolicy(entry.policy) && lane.queue.length === 0) this.lanes.delete(entry.policy);
      this.startNext(lane);
    });
  }

  private async runAndLog(p: PendingJob, startedAt: Date): Promise<void> {
    const { entry } = p;
    let outcome: JobOutcome;
    try {
      outcome = await this.opts.runner({ policy: entry.policy, file: entry.file, job: entry.job, reason: p.reason, scheduledFor: p.scheduledFor, signal: this.stopSignal });
    } catch (err) {
      outcome = { exitCode: 1, status: 'failed', message: `could not run: ${err instanceof Error ? err.message : String(err)}` };
    }
    const took = this.opts.timer.now().getTime() - startedAt.getTime();
    this.opts.log({
      level: outcomeLogLevel(outcome.status),
      policy: entry.policy,
      job: entry.job,
      message: `${outcome.status} (exit ${outcome.exitCode}) after ${formatDuration(took)}: ${outcome.message}`,
      fields: { status: outcome.status, exitCode: outcome.exitCode, durationMs: took },
    });
  }
}
