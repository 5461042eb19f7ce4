/** Time is injected everywhere so tests can pin it; only this module reads the wall clock. */
export interface Clock {
  now(): Date;
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonic: () => performance.now(),
};

export function fixedClock(at: Date | string): Clock {
  const t = typeof at === 'string' ? new Date(at) : at;
  let mono = 0;
  return { now: () => new Date(t.getTime()), monotonic: () => (mono += 1) };
}
