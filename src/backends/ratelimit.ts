import { systemClock, type Clock } from '../core/clock.js';
import { abortedError } from './classify.js';
import { sleep } from '../core/clock.js';
import type { LoadOptions, ObjectInfo, Range, SaveOptions, Storage } from './storage.js';

export interface UploadLimitOptions {
  /** Average upload rate in bytes per second (> 0). */
  bytesPerSecond: number;
  /** Bytes that may go out without waiting after an idle period (default: one second's worth). */
  burstBytes?: number;
  clock?: Clock;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Token bucket shared by every save through this wrapper (so concurrent uploads share one
 * budget). Implemented as a virtual schedule: each save reserves its bytes at once, in call
 * order, and waits until the schedule allows them. Pacing is per object: the average rate
 * is bounded, but one object still leaves at line speed once its turn comes.
 */
export class RateLimitedStorage implements Storage {
  readonly location: string;
  private readonly rate: number;
  private readonly burstMs: number;
  private readonly clock: Clock;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Monotonic time (ms) at which all reserved bytes will have been "paid for". */
  private paidUntil = -Infinity;

  constructor(
    readonly inner: Storage,
    opts: UploadLimitOptions,
  ) {
    if (!(opts.bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be > 0');
    this.location = inner.location;
    this.rate = opts.bytesPerSecond / 1000;
    this.burstMs = (opts.burstBytes ?? opts.bytesPerSecond) / this.rate;
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? sleep;
    if (inner.capacity) this.capacity = () => (inner.capacity as () => Promise<{ total: number; free: number } | undefined>)();
    if (inner.serverTime) this.serverTime = (opts?: LoadOptions) => (inner.serverTime as (o?: LoadOptions) => Promise<Date | undefined>)(opts);
    if (inner.listTemporary) this.listTemporary = (opts?: LoadOptions) => (inner.listTemporary as (o?: LoadOptions) => AsyncIterable<ObjectInfo>)(opts);
  }

  capacity?: () => Promise<{ total: number; free: number } | undefined>;
  serverTime?: (opts?: LoadOptions) => Promise<Date | undefined>;
  listTemporary?: (opts?: LoadOptions) => AsyncIterable<ObjectInfo>;

  /** Reserves `bytes` and returns how long the caller must wait before sending them. */
  reserve(bytes: number): number {
    const now = this.clock.monotonic();
    // GCRA: bytes are paid for in order at `rate`; a save may start up to burstMs before its bytes are paid.
    this.paidUntil = Math.max(this.paidUntil, now) + bytes / this.rate;
    return Math.max(0, this.paidUntil - this.burstMs - now);
  }

  async save(name: string, data: Uint8Array, opts?: SaveOptions): Promise<void> {
    const wait = this.reserve(data.length);
    if (wait > 0) {
      try {
        await this.sleep(wait, opts?.signal);
      } catch {
        throw abortedError(this.location, 'save', name);
      }
    }
    return this.inner.save(name, data, opts);
  }

  load(name: string, range?: Range, opts?: LoadOptions): Promise<Buffer> {
    return this.inner.load(name, range, opts);
  }

  stat(name: string, opts?: LoadOptions): Promise<ObjectInfo> {
    return this.inner.stat(name, opts);
  }

  list(prefix: string, opts?: LoadOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, opts);
  }

  remove(name: string, opts?: LoadOptions): Promise<void> {
    return this.inner.remove(name, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

export function withUploadLimit(inner: Storage, opts: UploadLimitOptions): RateLimitedStorage {
  return new RateLimitedStorage(inner, opts);
}
