import type { Policy } from '../policy/types.js';

/** The triad commands a policy's schedule can run. */
export type ScheduledJob = 'backup' | 'restore-test' | 'prune' | 'check';

/** Schedule keys of the policy and the triad command each one runs. */
export const SCHEDULE_JOBS: readonly { key: keyof Policy['schedule']; job: ScheduledJob }[] = [
  { key: 'backup', job: 'backup' },
  { key: 'restore_test', job: 'restore-test' },
  { key: 'prune', job: 'prune' },
  { key: 'check', job: 'check' },
];

/** The parts of a policy the scheduler uses. */
export type SchedulablePolicy = Pick<Policy, 'name' | 'schedule' | 'timezone' | 'objectives'>;

export interface ScheduledPolicy {
  /** Absolute path of the policy file (what the job is started with). */
  file: string;
  policy: SchedulablePolicy;
}

export interface JobRequest {
  policy: string;
  file: string;
  job: ScheduledJob;
  reason: 'schedule' | 'catch-up';
  /** The fire time (or the start time for a catch-up). */
  scheduledFor: Date;
  /** Aborted when the scheduler stops: finish quickly or give up safely. */
  signal: AbortSignal;
}

export type JobStatus = 'ok' | 'partial' | 'finding' | 'failed' | 'interrupted' | 'unavailable';

export interface JobOutcome {
  exitCode: number;
  status: JobStatus;
  /** One line for the log. */
  message: string;
}

/** Runs one job to its end; the scheduler never runs two jobs of one policy at once. */
export type JobRunner = (req: JobRequest) => Promise<JobOutcome>;
