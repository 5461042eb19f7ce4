import { describe, expect, it } from 'vitest';
import { FaultyStorage } from '../../src/backends/faulty.js';
import { MemoryStorage } from '../../src/backends/memory.js';
import { RateLimitedStorage, withUploadLimit } from '../../src/backends/ratelimit.js';
import { redact } from '../../src/backends/classify.js';
import { isRetryable, RetryStorage, withRetry } from '../../src/backends/retry.js';
import { StorageError, type Storage, type StorageErrorKind } from '../../src/backends/storage.js';
import type { Clock } from '../../src/core/clock.js';
import { collect, expectKind } from './contract.js';

/** A clock that only moves when the injected sleep is called. */
function fakeTime(): { clock: Clock; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; sleeps: number[]; now: () => number } {
  let t = 0;
  const sleeps: number[] = [];
  return {
    clock: { now: () => new Date(Date.UTC(2026, 0, 1) + t), monotonic: () => t },
    sleep: async (ms, signal) => {
      if (signal?.aborted) throw new Error('aborted');
      sleeps.push(ms);
      t += ms;
    },
    sleeps,
    now: () => t,
  };
}

const _conformsRetry: Storage = new RetryStorage(new MemoryStorage());
const _conformsLimit: Storage = new RateLimitedStorage(new MemoryStorage(), { bytesPerSecond: 1 });
const _conformsFaulty: Storage = new FaultyStorage(new MemoryStorage());

describe('RetryStorage', () => {
  it('retries transient and unreachable faults with growing, jittered, capped delays, then succeeds', async () => {
    const ft = fakeTime();
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'save', kind: 'transient', times: 4 });
    const log: [string, string, StorageErrorKind, number][] = [];
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep, random: () => 0.999, baseDelayMs: 100, maxDelayMs: 500, maxAttempts: 6, onRetry: (op, name, err, d) => log.push([op, name, err.kind, d]) });
    await s.save('data/aa/p', Buffer.from('x'));
    expect(faulty.calls.save).toBe(5);
    // Full jitter: uniform below min(cap, base·2^n); random()≈1 shows the envelope.
    expect(ft.sleeps).toEqual([99, 199, 399, 499]);
    expect(log.map((l) => l.slice(0, 3))).toEqual(Array(4).fill(['save', 'data/aa/p', 'transient']));
    expect(_conformsRetry.location).toBe('memory:');
  });

  it('draws each delay from the random source (full jitter, down to zero)', async () => {
    const ft = fakeTime();
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'load', kind: 'unreachable', times: 2 });
    await faulty.inner.save('config', Buffer.from('c'));
    const draws = [0, 0.5];
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep, random: () => draws.shift() ?? 0, baseDelayMs: 1000 });
    expect((await s.load('config')).toString()).toBe('c');
    expect(ft.sleeps).toEqual([0, 1000]);
  });

  it.each(['auth', 'no-container', 'not-found', 'exists', 'no-space', 'other'] as StorageErrorKind[])("fails at once on a permanent '%s' error", async (kind) => {
    const ft = fakeTime();
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'stat', kind, times: Infinity });
    let retried = 0;
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep, onRetry: () => retried++ });
    await expectKind(s.stat('config'), kind);
    expect(faulty.calls.stat).toBe(1);
    expect(retried).toBe(0);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const ft = fakeTime();
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'remove', kind: 'transient', times: Infinity });
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep, maxAttempts: 3, random: () => 0.5 });
    await expectKind(s.remove('x'), 'transient');
    expect(faulty.calls.remove).toBe(3);
  });

  it('never starts an attempt past maxElapsedMs', async () => {
    const ft = fakeTime();
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'save', kind: 'unreachable', times: Infinity });
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep, maxAttempts: 1000, baseDelayMs: 1000, maxDelayMs: 5000, maxElapsedMs: 20_000, random: () => 0.99 });
    await expectKind(s.save('x', Buffer.from('x')), 'unreachable');
    expect(ft.now()).toBeLessThanOrEqual(20_000);
    expect(ft.now()).toBeGreaterThan(10_000);
    expect(faulty.calls.save).toBeLessThan(12);
  });

  it('bounds real elapsed time with the default sleep', async () => {
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'load', kind: 'transient', times: Infinity });
    // Unbounded, 1000 attempts at ~15 ms average would take ~15 s; the budget is 150 ms.
    const s = withRetry(faulty, { baseDelayMs: 20, maxDelayMs: 40, maxElapsedMs: 150, maxAttempts: 1000 });
    const t0 = performance.now();
    await expectKind(s.load('x'), 'transient');
    const took = performance.now() - t0;
    expect(took).toBeLessThan(3000);
    expect(faulty.calls.load).toBeGreaterThanOrEqual(2);
  });

  it("stops retrying when the caller aborts during a backoff, with kind 'aborted'", async () => {
    const faulty = new FaultyStorage(new MemoryStorage()).fail({ op: 'save', kind: 'transient', times: Infinity });
    const ac = new AbortController();
    const s = withRetry(faulty, { baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 0.9, onRetry: () => setTimeout(() => ac.abort(), 10) });
    const t0 = performance.now();
    await expectKind(s.save('x', Buffer.from('x'), { signal: ac.signal }), 'aborted');
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(faulty.calls.save).toBe(1);
  });

  it('restarts a failed listing without repeating names already yielded', async () => {
    const mem = new MemoryStorage();
    for (let i = 0; i < 5; i++) await mem.save(`index/${i}`, Buffer.from('x'));
    const faulty = new FaultyStorage(mem).fail({ op: 'list', kind: 'transient', afterItems: 3 });
    const ft = fakeTime();
    const s = withRetry(faulty, { clock: ft.clock, sleep: ft.sleep });
    const names = (await collect(s.list('index/'))).map((o) => o.name).sort();
    expect(names).toEqual(['index/0', 'index/1', 'index/2', 'index/3', 'index/4']);
    expect(faulty.calls.list).toBe(2);
  });

  it('classifies raw SDK-shaped errors that escaped a backend', () => {
    expect(isRetryable({ name: 'SlowDown', $metadata: { httpStatusCode: 503 } })).toBe(true);
    expect(isRetryable({ name: 'X', $metadata: { httpStatusCode: 429 } })).toBe(true);
    expect(isRetryable({ name: 'X', statusCode: 502 })).toBe(true);
    expect(isRetryable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isRetryable(new Error('fetch failed', { cause: Object.assign(new Error('t'), { code: 'ETIMEDOUT' }) }))).toBe(true);
    expect(isRetryable({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } })).toBe(false);
    expect(isRetryable({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } })).toBe(false);
    expect(isRetryable(new StorageError('auth', 'x', 'x'))).toBe(false);
    expect(isRetryable(new StorageError('unreachable', 'x', 'x'))).toBe(true);
  });
});

describe('RateLimitedStorage', () => {
  it('holds the average upload rate to bytesPerSecond after the burst allowance', async () => {
    const ft = fakeTime();
    const s = withUploadLimit(new MemoryStorage(), { bytesPerSecond: 1000, burstBytes: 1000, clock: ft.clock, sleep: ft.sleep });
    for (let i = 0; i < 6; i++) await s.save(`data/aa/${i}`, Buffer.alloc(500));
    // 3000 bytes at 1000 B/s with 1000 B of burst: the last save may start at 2 s, not before.
    expect(ft.now()).toBe(2000);
    expect(ft.sleeps.length).toBe(4);
    expect(_conformsLimit.location).toBe('memory:');
  });

  it('shares one budget between concurrent saves', async () => {
    const ft = fakeTime();
    const s = withUploadLimit(new MemoryStorage(), { bytesPerSecond: 100, burstBytes: 0, clock: ft.clock, sleep: async (ms) => void ft.sleeps.push(ms) });
    await Promise.all([s.save('a', Buffer.alloc(100)), s.save('b', Buffer.alloc(100)), s.save('c', Buffer.alloc(100))]);
    expect(ft.sleeps.sort((a, b) => a - b)).toEqual([1000, 2000, 3000]);
  });

  it('passes reads through unthrottled', async () => {
    const ft = fakeTime();
    const mem = new MemoryStorage();
    await mem.save('config', Buffer.alloc(10_000));
    const s = withUploadLimit(mem, { bytesPerSecond: 1, clock: ft.clock, sleep: ft.sleep });
    expect((await s.load('config')).length).toBe(10_000);
    expect(ft.sleeps).toEqual([]);
  });

  it('rejects a non-positive rate', () => {
    expect(() => withUploadLimit(new MemoryStorage(), { bytesPerSecond: 0 })).toThrow(RangeError);
  });
});

describe('FaultyStorage', () => {
  it('fails exactly the Nth matching call', async () => {
    const f = new FaultyStorage(new MemoryStorage()).fail({ op: 'save', kind: 'no-space', nth: 2, match: (n) => n.startsWith('data/') });
    await f.save('data/aa/1', Buffer.from('1'));
    await f.save('index/1', Buffer.from('i'));
    await expectKind(f.save('data/aa/2', Buffer.from('2')), 'no-space');
    await f.save('data/aa/3', Buffer.from('3'));
    await expectKind(f.inner.stat('data/aa/2'), 'not-found');
    expect(f.calls.save).toBe(4);
  });

  it("can fail a save after it landed (reply lost)", async () => {
    const f = new FaultyStorage(new MemoryStorage()).fail({ op: 'save', kind: 'transient', when: 'after' });
    await expectKind(f.save('snapshots/s', Buffer.from('s')), 'transient');
    expect((await f.inner.load('snapshots/s')).toString()).toBe('s');
  });

  it('truncates and corrupts loaded bytes of matching objects only', async () => {
    const f = new FaultyStorage(new MemoryStorage());
    await f.save('data/aa/p', Buffer.from('0123456789'));
    await f.save('index/i', Buffer.from('0123456789'));
    f.corrupt({ match: (n) => n.startsWith('data/'), mode: 'truncate', bytes: 4 });
    expect((await f.load('data/aa/p')).toString()).toBe('012345');
    expect((await f.load('index/i')).toString()).toBe('0123456789');
    f.heal().corrupt({ match: () => true, mode: 'flip', at: 0 });
    const flipped = await f.load('index/i');
    expect(flipped[0]).toBe('0'.charCodeAt(0) ^ 0xff);
    expect(flipped.subarray(1).toString()).toBe('123456789');
    expect(_conformsFaulty.location).toBe('memory:');
  });
});

describe('redact', () => {
  it('removes SAS signatures, account keys, auth headers and URL passwords', () => {
    const text = redact(
      'GET https://a.blob.core.windows.net/c/b?sv=2024-01-01&sig=SECRET1%3D&se=2026 AccountKey=SECRET2==; Authorization: AWS4-HMAC-SHA256 SECRET3 http://user:SECRET4@host/x X-Amz-Signature=SECRET5',
    );
    for (const secret of ['SECRET1', 'SECRET2', 'SECRET3', 'SECRET4', 'SECRET5']) expect(text).not.toContain(secret);
    expect(text).toContain('a.blob.core.windows.net');
  });
});
