/** Time is injected everywhere so tests can pin it; only this module reads the wall clock. */
export interface Clock {
  now(): Date;
  /** Monotonic milliseconds, for measuring durations. */
  monotonic(): number;
  /** Waits `ms`; rejects with the signal's reason as soon as it aborts. */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** The one abortable wait: rejects with the signal's reason (or an AbortError) when it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal!));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortReason(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('The operation was aborted', 'AbortError');
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonic: () => performance.now(),
  sleep,
};

/** A clock stopped at `at`: its sleeps end at once (without moving it), an aborted one still rejects. */
export function fixedClock(at: Date | string): Clock {
  const t = typeof at === 'string' ? new Date(at) : at;
  let mono = 0;
  return { now: () => new Date(t.getTime()), monotonic: () => (mono += 1), sleep: (_ms, signal) => sleep(0, signal) };
}
