import type { JobStatus } from './jobs.js';

export interface SchedulerLogEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  policy?: string;
  job?: string;
  message: string;
  fields?: Record<string, unknown>;
}

export type SchedulerLog = (e: SchedulerLogEvent) => void;

/** How loudly a finished job is logged: results that need a look are warnings, failures errors. */
export function outcomeLogLevel(status: JobStatus): SchedulerLogEvent['level'] {
  if (status === 'ok') return 'info';
  if (status === 'partial' || status === 'finding' || status === 'unavailable') return 'warn';
  return 'error';
}
