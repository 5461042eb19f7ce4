import type { Clock } from '../core/clock.js';

/** Time as the scheduler sees it. */
export interface SchedulerTimer {
  now(): Date;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and sleeps from the injected Clock. */
export function realTimer(clock: Clock): SchedulerTimer {
  return {
    now: () => clock.now(),
    // The daemon wakes on abort to stop, which is not an error.
    sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined),
  };
}
