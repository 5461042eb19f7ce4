import { sleep } from '../core/clock.js';
import { systemClock, type Clock } from '../core/clock.js';
import { freshSeed, seededRandom } from '../core/random.js';
import { abortedError, findSystemCode, networkKind, statusKind, throttleName } from './classify.js';
import { StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage } from './storage.js';

export type StorageOp = 'save' | 'load' | 'stat' | 'list' | 'remove';

export interface RetryOptions {
  /** Attempts in total, including the first (default 6). */
  maxAttempts?: number;
  /** No new attempt starts once this much time has passed since the first (default 60 s). */
  maxElapsedMs?: number;
  /** Cap of the first backoff (default 250 ms); doubles per attempt. */
  baseDelayMs?: number;
  /** Upper bound of one backoff (default 10 s). */
  maxDelayMs?: number;
  clock?: Clock;
  /** Uniform [0, 1) source for full jitter. */
  random?: () => number;
  /** Abortable sleep; injectable so tests need not wait. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each backoff: for logging ("retrying save data/ab/… in 1.2 s: …"). */
  onRetry?: (op: StorageOp, name: string, err: StorageError, delayMs: number) => void;
}

/**
 * True for failures worth another attempt: StorageError kinds 'transient' and 'unreachable',
 * and, for errors that escaped a backend's classification, throttling/5xx/reset/timeouts.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof StorageError) return err.transient;
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: number }; statusCode?: unknown; status?: unknown; code?: unknown };
  if (e.name === 'AbortError') return false;
  if (typeof e.name === 'string' && throttleName(e.name)) return true;
  const status = e.$metadata?.httpStatusCode ?? (typeof e.statusCode === 'number' ? e.statusCode : typeof e.status === 'number' ? e.status : typeof e.code === 'number' ? e.code : undefined);
  const sk = statusKind(status);
  if (sk === 'transient') return true;
  return networkKind(findSystemCode(err)) !== undefined;
}


/**
 * Retries transient failures of any Storage with exponential backoff and full jitter
 * (delay uniform in [0, min(maxDelay, base·2^attempt)]), bounded by attempts and elapsed time.
 * Permanent failures (auth, no-container, not-found, exists, no-space) are rethrown at once.
 * The backends turn their SDKs' own retries off, so this wrapper is the only retry policy.
 *
 * A retried `ifAbsent` save whose first attempt reached the store may report 'exists':
 * callers writing content-named objects treat that as success.
 */
export class RetryStorage implements Storage {
  readonly location: string;
  private readonly maxAttempts: number;
  private readonly maxElapsedMs: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly onRetry?: RetryOptions['onRetry'];

  constructor(
    readonly inner: Storage,
    opts: RetryOptions = {},
  ) {
    this.location = inner.location;
    this.maxAttempts = Math.max(1, opts.maxAttempts ?? 6);
    this.maxElapsedMs = opts.maxElapsedMs ?? 60_000;
    this.baseDelayMs = opts.baseDelayMs ?? 250;
    this.maxDelayMs = opts.maxDelayMs ?? 10_000;
    this.clock = opts.clock ?? systemClock;
    const rng = seededRandom(freshSeed());
    this.random = opts.random ?? (() => rng.next());
    this.sleep = opts.sleep ?? sleep;
    this.onRetry = opts.onRetry;
    if (inner.capacity) this.capacity = () => (inner.capacity as () => Promise<{ total: number; free: number } | undefined>)();
    if (inner.serverTime) this.serverTime = (opts?: LoadOptions) => (inner.serverTime as (o?: LoadOptions) => Promise<Date | undefined>)(opts);
    if (inner.listTemporary) this.listTemporary = (opts?: LoadOptions) => (inner.listTemporary as (o?: LoadOptions) => AsyncIterable<ObjectInfo>)(opts);
  }

  capacity?: () => Promise<{ total: number; free: number } | undefined>;
  serverTime?: (opts?: LoadOptions) => Promise<Date | undefined>;
  listTemporary?: (opts?: LoadOptions) => AsyncIterable<ObjectInfo>;

  save(name: string, data: Uint8Array, opts?: SaveOptions): Promise<void> {
    return this.run('save', name, opts?.signal, () => this.inner.save(name, data, opts));
  }

  load(name: string, range?: Range, opts?: LoadOptions): Promise<Buffer> {
    return this.run('load', name, opts?.signal, () => this.inner.load(name, range, opts));
  }

  stat(name: string, opts?: LoadOptions): Promise<ObjectInfo> {
    return this.run('stat', name, opts?.signal, () => this.inner.stat(name, opts));
  }

  remove(name: string, opts?: LoadOptions): Promise<void> {
    return this.run('remove', name, opts?.signal, () => this.inner.remove(name, opts));
  }

  /** A failed listing restarts from the beginning; names already yielded are not repeated. */
  async *list(prefix: string, opts?: LoadOptions): AsyncIterable<ObjectInfo> {
    const seen = new Set<string>();
    const started = this.clock.monotonic();
    for (let attempt = 1; ; attempt++) {
      try {
        for await (const info of this.inner.list(prefix, opts)) {
          if (seen.has(info.name)) continue;
          seen.add(info.name);
          yield info;
        }
        return;
      } catch (err) {
        await this.backoff('list', prefix, err, attempt, started, opts?.signal);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async run<T>(op: StorageOp, name: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const started = this.clock.monotonic();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        await this.backoff(op, name, err, attempt, started, signal);
      }
    }
  }

  /** Sleeps before the next attempt, or rethrows when the error is permanent or the budget is spent. */
  private async backoff(op: StorageOp, name: string, err: unknown, attempt: number, started: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) throw err instanceof StorageError && err.kind === 'aborted' ? err : abortedError(this.location, op, name);
    if (!isRetryable(err) || attempt >= this.maxAttempts) throw err;
    const cap = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** (attempt - 1));
    const delay = Math.floor(this.random() * cap);
    const elapsed = this.clock.monotonic() - started;
    if (elapsed + delay > this.maxElapsedMs) throw err;
    const serr =
      err instanceof StorageError
        ? err
        : new StorageError('transient', this.location, `${this.location}: ${op} ${name}: ${err instanceof Error ? err.message : String(err)}`, { objectName: name, cause: err });
    this.onRetry?.(op, name, serr, delay);
    try {
      await this.sleep(delay, signal);
    } catch {
      // The only way the sleep fails is the caller's abort.
      throw abortedError(this.location, op, name);
    }
  }
}

export function withRetry(inner: Storage, opts: RetryOptions = {}): RetryStorage {
  return new RetryStorage(inner, opts);
}
