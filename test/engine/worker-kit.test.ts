import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { NumericRecords, SharedRing, WorkerGroup, type Waiting } from '../../src/core/workers/index.js';
import { PackVerifyPool } from '../../src/repo/check/pack-verify-pool.js';

type ToTest = { type: 'echo'; id: number; value: string } | { type: 'hold'; id: number } | { type: 'throw'; message: string } | { type: 'exit'; code: number };
type FromTest = { type: 'echoed'; id: number; value: string };

const closing: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closing.splice(0)) await c();
});

/** A pool of one real thread (test/engine/fixtures/kit-worker.mjs), as the product's pools use the kit. */
function testPool() {
  const group = new WorkerGroup<ToTest, FromTest>({ module: new URL('./fixtures/kit-worker.mjs', import.meta.url), what: 'test worker', youngGenerationMb: 4 });
  closing.push(() => group.close());
  const pending = group.track(new Map<number, Waiting<string>>());
  const heard: Error[] = [];
  group.onFail((err) => heard.push(err));
  group.start(undefined, (m) => {
    pending.get(m.id)?.resolve(m.value);
    pending.delete(m.id);
  });
  let next = 1;
  /** Posts a message that expects an answer; the promise settles with the answer or the group's failure. */
  const ask = (type: 'echo' | 'hold', value = ''): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      pending.set(id, { resolve, reject });
      group.post(0, type === 'echo' ? { type, id, value } : { type, id });
    });
  return { group, ask, heard, pending };
}

const settled = (p: Promise<unknown>) => p.then(() => 'answered', (err: unknown) => err);

describe('WorkerGroup (the worker kit)', () => {
  it('answers through the thread while nothing has failed', async () => {
    const { ask } = testPool();
    expect(await ask('echo', 'hello')).toBe('hello');
  });

  it('latches an error thrown in the thread: pending work and every later post fail with that same error', async () => {
    const { group, ask, heard, pending } = testPool();
    const waiting = settled(ask('hold'));
    group.post(0, { type: 'throw', message: 'worker broke' });
    const err = await waiting;
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('worker broke');
    expect(group.failure).toBe(err);
    expect(heard).toEqual([err]);
    expect(pending.size).toBe(0);
    // Never handed to the failed thread: the post throws the latched error at once.
    expect(() => group.post(0, { type: 'echo', id: 99, value: 'again' })).toThrow(err as Error);
    expect(await settled(ask('echo', 'again'))).toBe(err);
    // The thread's exit after its error is not a second failure.
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toHaveLength(1);
  });

  it('latches an unexpected exit of the thread', async () => {
    const { group, ask, heard } = testPool();
    const waiting = settled(ask('hold'));
    group.post(0, { type: 'exit', code: 3 });
    const err = (await waiting) as Error;
    expect(err.message).toBe('a test worker thread stopped unexpectedly (exit code 3)');
    expect(heard).toEqual([err]);
    expect(await settled(ask('echo', 'after'))).toBe(err);
  });

  it('closes once, however often asked: pending work is cancelled, later posts refused, and the exit is no failure', async () => {
    const { group, ask, heard } = testPool();
    expect(await ask('echo', 'before')).toBe('before');
    const waiting = settled(ask('hold'));
    const first = group.close();
    expect(group.close()).toBe(first);
    await first;
    await group.close();
    const cancelled = (await waiting) as Error;
    expect(cancelled.message).toBe('the test worker threads were closed');
    expect(await settled(ask('echo', 'after'))).toBe(cancelled);
    // The thread exited because it was terminated: nothing was heard as a failure.
    await new Promise((r) => setTimeout(r, 100));
    expect(heard).toEqual([]);
  });

  it('keeps the failure, not "closed", when a failed group is closed', async () => {
    const { group, ask } = testPool();
    const waiting = settled(ask('hold'));
    group.post(0, { type: 'throw', message: 'first failure' });
    const err = await waiting;
    await group.close();
    expect(group.failure).toBe(err);
  });
});

describe('PackVerifyPool', () => {
  it('rejects verify() after a worker failed, with its failure, instead of posting to the dead worker again', async () => {
    // A key of the wrong length: the worker's decipher throws (a fault, not a damaged pack) and the thread dies.
    const pool = new PackVerifyPool({ encrypt: Buffer.alloc(5), mac: Buffer.alloc(32) }, 1);
    closing.push(() => pool.close());
    // A "pack" whose name matches its bytes, with a header length in range: its header gets deciphered.
    const bytes = Buffer.alloc(64, 7);
    bytes.writeUInt32LE(40, 60);
    const name = createHash('sha256').update(bytes).digest('hex');
    const first = await settled(pool.verify(name, Buffer.from(bytes)));
    expect((first as NodeJS.ErrnoException).code).toBe('ERR_CRYPTO_INVALID_KEYLEN');
    const noAnswer = new Promise((r) => setTimeout(() => r('no answer within 3 s'), 3000));
    expect(await Promise.race([settled(pool.verify(name, Buffer.from(bytes))), noAnswer])).toBe(first);
  });
});

describe('SharedRing', () => {
  it('reserves contiguous room, skips the end rather than wrap a record, and frees room only as released', () => {
    const shared = SharedRing.create(100);
    const producer = new SharedRing(shared);
    const consumer = new SharedRing(shared);
    expect(producer.reserve(60)).toBe(0);
    // 40 bytes left at the end, but 50 do not fit before the first 60 are released.
    expect(producer.reserve(50)).toBe(-1);
    expect(producer.reserve(30)).toBe(60);
    const upTo = producer.head;
    consumer.release(60);
    // The 10 bytes at the end are skipped: the record goes to the start.
    expect(producer.reserve(50)).toBe(0);
    expect(producer.reserve(20)).toBe(-1);
    consumer.release(upTo);
    expect(producer.reserve(20)).toBe(50);
  });
});

describe('NumericRecords', () => {
  it('names each field once and lays records out at their stride', () => {
    const r = new NumericRecords(['a', 'b', 'c'] as const);
    const nums = r.alloc(2);
    r.put(nums, 1, { a: 1, b: 2, c: 3 });
    r.set(nums, 0, 'c', 9);
    expect(Array.from(nums)).toEqual([0, 0, 9, 1, 2, 3]);
    expect([r.stride, r.count(nums), r.get(nums, 1, 'b')]).toEqual([3, 2, 2]);
    r.clear(nums, 0);
    expect([r.isNone(nums, 0), r.isNone(nums, 1)]).toEqual([true, false]);
    const grown = r.ensure(nums, 3);
    expect(r.count(grown)).toBeGreaterThanOrEqual(3);
    expect(r.get(grown, 1, 'c')).toBe(3);
  });
});
