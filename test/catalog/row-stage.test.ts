import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { FileInput } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { catalogPerTest, hex, thrown } from './helpers.js';

// Rows staged on the catalogue's own thread while a backup walks, filed under the snapshot at the end.
const N = 10_000; // more than two of the stage's batches
const snapId = hex('staged');
const db = catalogPerTest();

function row(i: number): FileInput {
  const path = `src/d${i % 37}/f ${i} ü`;
  if (i % 10 === 0) return { path, type: 'dir', size: 0, mode: 0o755, mtime: 1_700_000_000_000 + i, chunks: 0 };
  if (i % 25 === 0) return { path, type: 'symlink', size: 0, mode: 0o777, mtime: 1_700_000_000_000 + i, chunks: 0 };
  return { path, type: 'file', size: i * 3, mode: 0o640, mtime: 1_700_000_000_000 + i + 0.5, hash: hex(`content ${i}`), chunks: 1 + (i % 4) };
}

describe.each([
  ['on the row thread', false],
  ['on the main thread (a small tree)', true],
])('staged file rows %s', (_where, inline) => {
  it('files every staged row under the snapshot, as addFiles would have', async () => {
    const stage = db.cat.stageRows({ inline });
    try {
      for (let i = 0; i < N; i++) stage.push(row(i));
      db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
      expect(await stage.commit(snapId)).toBe(N);
    } finally {
      await stage.close();
    }
    const got = new Map(db.cat.listFiles(snapId, { limit: N + 1 }).map((f) => [f.path, f]));
    expect(got.size).toBe(N);
    for (const i of [0, 1, 25, 4095, 4096, 4097, 9999]) {
      const want = row(i);
      expect(got.get(want.path)).toMatchObject({ type: want.type, size: want.size, mode: want.mode, mtime: want.mtime, hash: want.hash ?? null, chunks: want.chunks });
    }
  });

  it('records packs with the sums of their blobs, for the target named', async () => {
    const stage = db.cat.stageRows({ inline });
    const packs = [0, 1].map((p) => ({
      id: hex(`pack ${p}`),
      size: 4096 + p,
      entries: [0, 1, 2].map((b) => ({ type: p === 0 ? ('data' as const) : ('tree' as const), id: Buffer.from(hex(`blob ${p}.${b}`), 'hex'), length: 100 + b, rawLength: 300 + b })),
    }));
    try {
      stage.addPacks('p', 'nas', packs);
      stage.push(row(1));
      db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
      // Commit answers after every earlier batch is in.
      expect(await stage.commit(snapId)).toBe(1);
    } finally {
      await stage.close();
    }
    // Three blobs of 100..102 stored and 300..302 plain bytes in each pack.
    expect(db.cat.storageStats('p', 'nas')).toEqual({ packs: 2, pack_bytes: 8193, blobs: 6, blob_bytes: 606, raw_bytes: 1806 });
    expect(db.cat.storageStats('p', 'usb')).toEqual({ packs: 0, pack_bytes: 0, blobs: 0, blob_bytes: 0, raw_bytes: 0 });
    const raw = new Database(db.file, { readonly: true });
    try {
      const rows = raw.prepare('SELECT hex(id) AS id, size, blobs, type, blob_bytes, raw_bytes FROM packs ORDER BY size').all();
      // Types are stored as codes: 0 data, 1 tree.
      expect(rows).toEqual(packs.map((p, i) => ({ id: p.id.toUpperCase(), size: p.size, blobs: 3, type: i, blob_bytes: 303, raw_bytes: 903 })));
    } finally {
      raw.close();
    }
  });

  it('rejects a row it cannot record, at once', async () => {
    const stage = db.cat.stageRows({ inline });
    try {
      const badType = thrown(() => stage.push({ ...row(1), type: 'socket' as FileInput['type'] }));
      expect(badType).toBeInstanceOf(TriadError);
      expect((badType as TriadError).message).toMatch(/invalid file type "socket" for src\/d1\/f 1 ü/);
      const badHash = thrown(() => stage.push({ ...row(1), hash: 'xyz' }));
      expect((badHash as TriadError).message).toMatch(/invalid content hash of src\/d1\/f 1 ü/);
      expect(stage.count).toBe(0);
    } finally {
      await stage.close();
    }
  });

  it('names a snapshot the catalogue does not hold', async () => {
    const stage = db.cat.stageRows({ inline });
    try {
      stage.push(row(1));
      await expect(stage.commit(hex('absent'))).rejects.toMatchObject({ code: 'E_SNAPSHOT_NOT_FOUND' });
    } finally {
      await stage.close();
    }
  });

  it('settles: once answered, everything sent before is written and the thread holds no lock', async () => {
    const stage = db.cat.stageRows({ inline });
    // ~100,000 blob rows: the thread is still inserting them well after they are sent.
    const packs = Array.from({ length: 50 }, (_, p) => ({
      id: hex(`pack ${p}`),
      size: 1,
      entries: Array.from({ length: 2000 }, (_, b) => ({ type: 'data' as const, id: Buffer.from(hex(`blob ${p}.${b}`), 'hex'), length: 1, rawLength: 1 })),
    }));
    const other = new Database(db.file, { timeout: 0 });
    try {
      stage.addPacks('p', 'nas', packs);
      for (let i = 0; i < 10; i++) stage.push(row(i));
      await stage.settle();
      // A writer that does not wait at all gets the lock: the thread is idle.
      other.exec('BEGIN IMMEDIATE');
      other.exec('ROLLBACK');
      expect(other.prepare('SELECT sum(blobs) FROM packs').pluck().get()).toBe(100_000);
      db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
      expect(await stage.commit(snapId)).toBe(10);
    } finally {
      other.close();
      await stage.close();
    }
  });

  it('reports a catalogue held by another writer in the catalogue words, and files nothing', async () => {
    const stage = db.cat.stageRows({ busyMs: 100, inline });
    const other = new Database(db.file, { timeout: 100 });
    try {
      for (let i = 0; i < 10; i++) stage.push(row(i));
      db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
      other.exec('BEGIN IMMEDIATE');
      const err = await stage.commit(snapId).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(TriadError);
      expect((err as TriadError).code).toBe('E_CATALOG');
      expect((err as TriadError).message).toContain(`the catalogue ${db.file} is locked by another process`);
    } finally {
      other.exec('ROLLBACK');
      other.close();
      await stage.close();
    }
    expect(db.cat.listFiles(snapId)).toEqual([]);
  });
});
