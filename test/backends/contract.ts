/**
 * The Storage contract (src/backends/storage.ts), run by every backend's test file against a
 * real store. Each run gets a fresh storage (for object stores: a fresh prefix in the bucket).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StorageError, type ObjectInfo, type Storage, type StorageErrorKind } from '../../src/backends/storage.js';

export interface ContractOptions {
  /** A fresh, empty storage. */
  make: () => Promise<Storage>;
  /** Whether the store enforces `ifAbsent` (fauxqs and the GCS emulator do not). */
  enforcesIfAbsent: boolean;
  /** Whether an abort issued right after the call starts can still interrupt it (false for memory). */
  abortsInFlight?: boolean;
  /** Objects for the pagination test (default 1001: one more than a page on every store). */
  paginationCount?: number;
  /** Kind expected from a load on a storage whose bucket/container/root is missing. */
  missingContainer?: { make: () => Promise<Storage>; kind: StorageErrorKind };
  /** A storage pointing at a closed port (or otherwise unreachable). */
  unreachable?: () => Promise<Storage>;
  /** A storage with wrong credentials, where the store checks them. */
  wrongCredentials?: () => Promise<Storage>;
}

export async function expectKind(p: Promise<unknown>, kind: StorageErrorKind): Promise<StorageError> {
  let caught: unknown;
  try {
    await p;
  } catch (err) {
    caught = err;
  }
  expect(caught, `expected a StorageError of kind ${kind}`).toBeInstanceOf(StorageError);
  expect((caught as StorageError).kind).toBe(kind);
  return caught as StorageError;
}

export async function collect(it: AsyncIterable<ObjectInfo>): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  for await (const info of it) out.push(info);
  return out;
}

async function inBatches<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++] as T;
        await fn(item);
      }
    }),
  );
}

export function describeStorageContract(label: string, opts: ContractOptions): void {
  describe(`Storage contract: ${label}`, () => {
    let s: Storage;
    beforeAll(async () => {
      s = await opts.make();
    });
    afterAll(async () => {
      await s?.close();
    });

    it('round-trips bytes, including an empty object, and reports sizes with stat', async () => {
      const data = randomBytes(100_003);
      await s.save('data/ab/roundtrip', data);
      expect((await s.load('data/ab/roundtrip')).equals(data)).toBe(true);
      expect(await s.stat('data/ab/roundtrip')).toEqual({ name: 'data/ab/roundtrip', size: data.length });
      await s.save('config', new Uint8Array(0));
      expect((await s.load('config')).length).toBe(0);
      expect((await s.stat('config')).size).toBe(0);
    });

    it('loads byte ranges, clipping at the end of the object', async () => {
      const data = randomBytes(4096);
      await s.save('data/cd/ranged', data);
      expect((await s.load('data/cd/ranged', { offset: 100, length: 50 })).equals(data.subarray(100, 150))).toBe(true);
      expect((await s.load('data/cd/ranged', { offset: 0, length: 1 })).equals(data.subarray(0, 1))).toBe(true);
      expect((await s.load('data/cd/ranged', { offset: 4000 })).equals(data.subarray(4000))).toBe(true);
      expect((await s.load('data/cd/ranged', { offset: 4090, length: 100 })).equals(data.subarray(4090))).toBe(true);
      expect((await s.load('data/cd/ranged', { offset: 10, length: 0 })).length).toBe(0);
      expect((await s.load('data/cd/ranged', { offset: 5000, length: 10 })).length).toBe(0);
      await expectKind(s.load('data/cd/ranged', { offset: -1, length: 2 }), 'other');
    });

    it("refuses a whole-object load above its kind's size cap with 'invalid', naming it; ranges and packs are not capped", async () => {
      const big = Buffer.alloc(1024 * 1024 + 1, 7);
      await s.save('keys/oversized', big);
      const e = await expectKind(s.load('keys/oversized'), 'invalid');
      expect(e.objectName).toBe('keys/oversized');
      expect(e.message).toContain(`keys/oversized has ${big.length} bytes`);
      expect((await s.load('keys/oversized', { offset: 0, length: 10 })).equals(big.subarray(0, 10))).toBe(true);
      await s.save('data/ee/large', big);
      expect((await s.load('data/ee/large')).length).toBe(big.length);
      await s.remove('keys/oversized');
      await s.remove('data/ee/large');
    });

    it("classifies a missing object as 'not-found' for load, ranged load and stat", async () => {
      const e = await expectKind(s.load('snapshots/absent'), 'not-found');
      expect(e.objectName).toBe('snapshots/absent');
      expect(e.message).toContain('snapshots/absent');
      await expectKind(s.load('snapshots/absent', { offset: 1, length: 2 }), 'not-found');
      await expectKind(s.stat('snapshots/absent'), 'not-found');
    });

    it('lists by prefix, recursively, with sizes and without temporary files', async () => {
      await s.save('snapshots/s1', Buffer.from('one'));
      await s.save('snapshots/s2', Buffer.from('three'));
      await s.save('index/i1', Buffer.from('x'));
      await s.save('journal/j1', Buffer.from('yy'));
      await s.save('data/ef/p1', Buffer.from('pack-1'));
      await s.save('data/ef/p2', Buffer.from('pack-22'));
      const snaps = (await collect(s.list('snapshots/'))).sort((a, b) => a.name.localeCompare(b.name));
      expect(snaps.map(({ name, size }) => ({ name, size }))).toEqual([
        { name: 'snapshots/s1', size: 3 },
        { name: 'snapshots/s2', size: 5 },
      ]);
      // Object stores list when they wrote each object (lock ages are judged by it): just now.
      for (const o of snaps) {
        if (s.serverTime === undefined) expect(o.modified).toBeUndefined();
        else expect(Math.abs(o.modified!.getTime() - Date.now()), o.name).toBeLessThan(10 * 60_000);
      }
      const ef = (await collect(s.list('data/ef'))).map((o) => o.name).sort();
      expect(ef).toEqual(['data/ef/p1', 'data/ef/p2']);
      const data = (await collect(s.list('data/'))).map((o) => o.name);
      expect(data).toContain('data/ab/roundtrip');
      expect(data).toContain('data/ef/p2');
      expect(data.every((n) => n.startsWith('data/'))).toBe(true);
      const all = (await collect(s.list(''))).map((o) => o.name);
      expect(all).toContain('index/i1');
      expect(all).toContain('config');
      expect(all.some((n) => n.includes('.tmp-'))).toBe(false);
      expect(await collect(s.list('nothing-here/'))).toEqual([]);
    });

    it(`lists beyond one page (${opts.paginationCount ?? 1001} objects)`, async () => {
      const n = opts.paginationCount ?? 1001;
      const names = Array.from({ length: n }, (_, i) => `locks/${String(i).padStart(5, '0')}`);
      await inBatches(names, 32, (name) => s.save(name, Buffer.from(name.slice(-2))));
      const listed = await collect(s.list('locks/'));
      expect(listed.length).toBe(n);
      expect(new Set(listed.map((o) => o.name)).size).toBe(n);
      expect(listed.every((o) => o.size === 2)).toBe(true);
    });

    it('removes objects; removing an absent object is not an error', async () => {
      await s.save('keys/k1', Buffer.from('key'));
      await s.remove('keys/k1');
      await expectKind(s.stat('keys/k1'), 'not-found');
      expect((await collect(s.list('keys/'))).map((o) => o.name)).not.toContain('keys/k1');
      await s.remove('keys/k1');
      await s.remove('keys/never-existed');
    });

    it('replaces an object on a plain save', async () => {
      await s.save('index/over', Buffer.from('first version'));
      await s.save('index/over', Buffer.from('second'));
      expect((await s.load('index/over')).toString()).toBe('second');
      expect((await s.stat('index/over')).size).toBe(6);
    });

    it('creates with ifAbsent when the object is absent', async () => {
      await s.save('keys/fresh', Buffer.from('new'), { ifAbsent: true });
      expect((await s.load('keys/fresh')).toString()).toBe('new');
    });

    if (opts.enforcesIfAbsent) {
      it("refuses an ifAbsent save over an existing object with 'exists', keeping the original", async () => {
        await s.save('locks/exclusive', Buffer.from('holder-1'));
        await expectKind(s.save('locks/exclusive', Buffer.from('holder-2'), { ifAbsent: true }), 'exists');
        expect((await s.load('locks/exclusive')).toString()).toBe('holder-1');
      });
    }

    it('rejects object names that escape the repository', async () => {
      for (const bad of ['../x', '/abs', 'a//b', 'a/./b', '']) {
        await expectKind(s.save(bad, Buffer.from('x')), 'other');
      }
    });

    it("fails every operation with 'aborted' when the signal is already aborted", async () => {
      const ac = new AbortController();
      ac.abort();
      const signal = ac.signal;
      await expectKind(s.save('data/ab/aborted', Buffer.from('x'), { signal }), 'aborted');
      await expectKind(s.load('data/ab/roundtrip', undefined, { signal }), 'aborted');
      await expectKind(s.stat('data/ab/roundtrip', { signal }), 'aborted');
      await expectKind(collect(s.list('data/', { signal })), 'aborted');
      await expectKind(s.remove('data/ab/roundtrip', { signal }), 'aborted');
      await expectKind(s.stat('data/ab/aborted'), 'not-found');
      expect((await s.stat('data/ab/roundtrip')).size).toBe(100_003);
    });

    if (opts.abortsInFlight) {
      it('aborts a save in flight, leaving no partial object', async () => {
        const data = randomBytes(8 * 1024 * 1024);
        const ac = new AbortController();
        const p = s.save('data/ab/inflight', data, { signal: ac.signal });
        ac.abort();
        await expectKind(p, 'aborted');
        // Atomicity: the object is either absent or complete, never a prefix.
        try {
          const info = await s.stat('data/ab/inflight');
          expect(info.size).toBe(data.length);
        } catch (err) {
          expect((err as StorageError).kind).toBe('not-found');
        }
        const temp = (await collect(s.list('data/ab/'))).filter((o) => o.name.includes('tmp'));
        expect(temp).toEqual([]);
      });
    }

    if (opts.missingContainer) {
      const mc = opts.missingContainer;
      it(`classifies a missing bucket/container/root as '${mc.kind}'`, async () => {
        const missing = await mc.make();
        try {
          await expectKind(missing.load('config'), mc.kind);
          await expectKind(collect(missing.list('snapshots/')), mc.kind);
        } finally {
          await missing.close();
        }
      });
    }

    if (opts.unreachable) {
      const make = opts.unreachable;
      it("classifies a closed port as 'unreachable' (transient for retry)", async () => {
        const dead = await make();
        try {
          const e = await expectKind(dead.load('config'), 'unreachable');
          expect(e.transient).toBe(true);
          expect(e.message).toContain(dead.location);
          expect(e.message).toContain('config');
          await expectKind(dead.save('config', Buffer.from('x')), 'unreachable');
          await expectKind(collect(dead.list('')), 'unreachable');
        } finally {
          await dead.close();
        }
      });
    }

    if (opts.wrongCredentials) {
      const make = opts.wrongCredentials;
      it("classifies rejected credentials as 'auth', without secrets in the message", async () => {
        const bad = await make();
        try {
          const e = await expectKind(bad.save('config', Buffer.from('x')), 'auth');
          expect(e.transient).toBe(false);
          expect(e.message).not.toMatch(/wrong-secret|AccountKey=|sig=/);
          await expectKind(bad.load('config'), 'auth');
        } finally {
          await bad.close();
        }
      });
    }
  });
}
