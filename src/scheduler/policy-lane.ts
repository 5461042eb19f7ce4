import type { JobRequest, ScheduledJob, ScheduledPolicy } from './jobs.js';
import type { TimetableEntry } from './timetable.js';

/** A job waiting for its policy's lane. */
export interface PendingJob {
  entry: TimetableEntry;
  reason: JobRequest['reason'];
  scheduledFor: Date;
}

export interface RunningJob {
  job: ScheduledJob;
  startedAt: Date;
  done: Promise<void>;
}

/** Why a job cannot be queued: it is running, or one run of it already waits. */
export type Overlap = 'running' | 'waiting';

/**
 * Overlap prevention for one policy: its jobs run one at a time, in the order they came, and
 * a job never runs or waits twice (a second fire is refused, not stacked).
 */
export class PolicyLane {
  queue: PendingJob[] = [];
  running: RunningJob | undefined;

  constructor(public sp: ScheduledPolicy) {}

  /** Queues the job, or says why it would overlap itself. */
  admit(p: PendingJob): Overlap | undefined {
    if (this.running?.job === p.entry.job) return 'running';
    if (this.isWaiting(p.entry.job)) return 'waiting';
    this.queue.push(p);
    return undefined;
  }

  isWaiting(job: ScheduledJob): boolean {
    return this.queue.some((p) => p.entry.job === job);
  }

  /** The job to start now, if the lane is free. */
  takeNext(): PendingJob | undefined {
    return this.running ? undefined : this.queue.shift();
  }

  /** Empties the queue; returns how many jobs were dropped. */
  dropQueued(): number {
    const n = this.queue.length;
    this.queue = [];
    return n;
  }
}
