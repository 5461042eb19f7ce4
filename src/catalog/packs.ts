import type { Connection } from './connection.js';
import type { BlobRow, PackRow, StorageStats, WrittenPackRecord } from './types.js';
import { hexBuf } from './values.js';

export function recordPacks(c: Connection, policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
  addPacks(c, policy, target, packs.map((p) => ({ id: p.id, size: p.size, blobs: p.entries.length, type: p.entries[0]?.type ?? 'data' })));
  addBlobs(c, policy, target, packs.flatMap((p) => p.entries.map((e) => ({ id: Buffer.from(e.id.buffer, e.id.byteOffset, e.id.byteLength).toString('hex'), pack: p.id, type: e.type, length: e.length, raw_length: e.rawLength }))));
}

export function addPacks(c: Connection, policy: string, target: string, rows: Iterable<PackRow>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, true)!;
      // Packs are named by their content, so a pack seen again is the same pack.
      const insert = c.stmt('INSERT OR IGNORE INTO packs (target, id, size, blobs, type) VALUES (?, ?, ?, ?, ?)');
      let n = 0;
      for (const p of rows) n += insert.run(tid, hexBuf(p.id, 'pack id'), p.size, p.blobs, p.type).changes;
      return n;
    })(),
  );
}

export function addBlobs(c: Connection, policy: string, target: string, rows: Iterable<BlobRow>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, true)!;
      // A blob stored twice (after an interrupted backup) keeps its first location; either copy is valid.
      const insert = c.stmt('INSERT OR IGNORE INTO blobs (target, id, pack, type, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)');
      let n = 0;
      for (const b of rows) {
        n += insert.run(tid, hexBuf(b.id, 'blob id'), hexBuf(b.pack, 'pack id'), b.type, b.length, b.raw_length).changes;
      }
      return n;
    })(),
  );
}

export function hasBlob(c: Connection, policy: string, target: string, id: string): boolean {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return false;
  return c.stmt('SELECT 1 FROM blobs WHERE target = ? AND id = ?').get(tid, hexBuf(id, 'blob id')) !== undefined;
}

export function getBlob(c: Connection, policy: string, target: string, id: string): BlobRow | undefined {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return undefined;
  const r = c.stmt('SELECT id, pack, type, length, raw_length FROM blobs WHERE target = ? AND id = ?').get(tid, hexBuf(id, 'blob id')) as
    | { id: Buffer; pack: Buffer; type: BlobRow['type']; length: number; raw_length: number }
    | undefined;
  return r === undefined ? undefined : { ...r, id: r.id.toString('hex'), pack: r.pack.toString('hex') };
}

export function removePacks(c: Connection, policy: string, target: string, ids: Iterable<string>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, false);
      if (tid === undefined) return 0;
      const dropBlobs = c.stmt('DELETE FROM blobs WHERE target = ? AND pack = ?');
      const dropPack = c.stmt('DELETE FROM packs WHERE target = ? AND id = ?');
      let n = 0;
      for (const id of ids) {
        const key = hexBuf(id, 'pack id');
        dropBlobs.run(tid, key);
        n += dropPack.run(tid, key).changes;
      }
      return n;
    })(),
  );
}

export function storedBytes(c: Connection, policy: string, target: string): number {
  return storageStats(c, policy, target).pack_bytes;
}

export function* iteratePackIds(c: Connection, policy: string, target: string): Generator<string, void, undefined> {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return;
  const stmt = c.db.prepare('SELECT id FROM packs WHERE target = ? ORDER BY id').pluck();
  for (const id of stmt.iterate(tid)) yield (id as Buffer).toString('hex');
}

export function storageStats(c: Connection, policy: string, target: string): StorageStats {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return { packs: 0, pack_bytes: 0, blobs: 0, blob_bytes: 0, raw_bytes: 0 };
  const p = c.stmt('SELECT count(*) AS packs, coalesce(sum(size), 0) AS pack_bytes FROM packs WHERE target = ?').get(tid) as {
    packs: number;
    pack_bytes: number;
  };
  const b = c.stmt(
    'SELECT count(*) AS blobs, coalesce(sum(length), 0) AS blob_bytes, coalesce(sum(raw_length), 0) AS raw_bytes FROM blobs WHERE target = ?',
  ).get(tid) as { blobs: number; blob_bytes: number; raw_bytes: number };
  return { ...p, ...b };
}
