import type { SchedulerTimer } from '../../src/scheduler/index.js';

/** Lets every pending promise chain and setImmediate callback run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
}

interface Waiter {
  at: number;
  resolve: () => void;
}

/**
 * A pinned clock for the scheduler: time moves only in advanceTo(), which wakes the sleepers
 * in time order and lets the woken code run before moving on, so a job that "takes" 90
 * minutes (sleeps on this timer) ends at exactly +90 min of virtual time.
 */
export class FakeTimer implements SchedulerTimer {
  private t: number;
  private waiters: Waiter[] = [];

  constructor(start: string) {
    this.t = Date.parse(start);
  }

  now(): Date {
    return new Date(this.t);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const w: Waiter = {
        at: this.t + Math.max(0, ms),
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((x) => x !== w);
        resolve();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  async advanceTo(iso: string): Promise<void> {
    const target = Date.parse(iso);
    for (;;) {
      await settle();
      const due = this.waiters.filter((w) => w.at <= target);
      if (due.length === 0) break;
      const at = Math.min(...due.map((w) => w.at));
      this.t = Math.max(this.t, at);
      const now = this.waiters.filter((w) => w.at === at);
      this.waiters = this.waiters.filter((w) => w.at !== at);
      for (const w of now) w.resolve();
    }
    this.t = Math.max(this.t, target);
    await settle();
  }
}
