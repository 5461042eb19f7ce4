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

/**
 * triad's arguments for one scheduled job. The prune job applies the retention rules first
 * (`forget --prune`) when the policy has any, so that an unattended repository does not
 * keep every snapshot for ever; without rules it prunes what was forgotten by hand. The check
 * job reads the rolling share of packs (`--read-data-subset auto`), so that a daily check
 * verifies every stored byte within the policy's verify.every.
 */
export function jobArguments(job: ScheduledJob, policyFile: string, opts: { appliesRetention: boolean }): string[] {
  if (job === 'prune' && opts.appliesRetention) return ['forget', '--prune', '-p', policyFile];
  if (job === 'check') return ['check', '--read-data-subset', 'auto', '-p', policyFile];
  return [job, '-p', policyFile];
}

const DESCRIPTIONS: Record<string, string> = {
  backup: 'backup',
  'restore-test': 'restore test',
  forget: 'retention (forget and prune)',
  prune: 'prune',
  check: 'repository check',
};

/** What a job's command does, for unit descriptions: `forget --prune` → "retention (forget and prune)". */
export function describeJob(args: readonly string[]): string {
  const command = args[0] ?? '';
  return DESCRIPTIONS[command] ?? command;
}

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
