import type { Connection } from './connection.js';
import { PackStore } from './pack-store.js';
import { BLOB_TYPE_CODES } from './row-stage.protocol.js';
import type { BlobType, PackRow, StorageStats, WrittenPackRecord } from './types.js';
import { hexBuf } from './values.js';

export function blobTypeCode(t: BlobType): number {
  return Math.max(0, BLOB_TYPE_CODES.indexOf(t));
}

/** A written pack's row: its blob count and the sums of their lengths. */
export function packRowOf(p: WrittenPackRecord): PackRow {
  let blobBytes = 0;
  let rawBytes = 0;
  for (const e of p.entries) {
    blobBytes += e.length;
    rawBytes += e.rawLength;
  }
  return { id: p.id, size: p.size, blobs: p.entries.length, type: p.entries[0]?.type ?? 'data', blob_bytes: blobBytes, raw_bytes: rawBytes };
}

export function recordPacks(c: Connection, policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
  addPacks(c, policy, target, packs.map(packRowOf));
}

export function addPacks(c: Connection, policy: string, target: string, rows: Iterable<PackRow>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, true)!;
      const packs = new PackStore((sql) => c.stmt(sql));
      let n = 0;
      for (const p of rows) {
        n += packs.addPack(tid, { id: hexBuf(p.id, 'pack id'), size: p.size, blobs: p.blobs, type: blobTypeCode(p.type), blobBytes: p.blob_bytes ?? 0, rawBytes: p.raw_bytes ?? 0 });
      }
      return n;
    })(),
  );
}

export function removePacks(c: Connection, policy: string, target: string, ids: Iterable<string>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, false);
      if (tid === undefined) return 0;
      const find = c.stmt('SELECT n FROM packs WHERE id = ?').pluck();
      const dropPresence = c.stmt('DELETE FROM pack_targets WHERE target = ? AND pack = ?');
      const dropIfHeldNowhere = c.stmt('DELETE FROM packs WHERE n = ? AND NOT EXISTS (SELECT 1 FROM pack_targets WHERE pack = ?)');
      let removed = 0;
      for (const id of ids) {
        const n = find.get(hexBuf(id, 'pack id')) as number | undefined;
        if (n === undefined) continue;
        removed += dropPresence.run(tid, n).changes;
        dropIfHeldNowhere.run(n, n);
      }
      return removed;
    })(),
  );
}

export function storedBytes(c: Connection, policy: string, target: string): number {
  return storageStats(c, policy, target).pack_bytes;
}

export function* iteratePackIds(c: Connection, policy: string, target: string): Generator<string, void, undefined> {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return;
  const stmt = c.db.prepare('SELECT p.id FROM pack_targets t JOIN packs p ON p.n = t.pack WHERE t.target = ? ORDER BY p.id').pluck();
  for (const id of stmt.iterate(tid)) yield (id as Buffer).toString('hex');
}

export function storageStats(c: Connection, policy: string, target: string): StorageStats {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return { packs: 0, pack_bytes: 0, blobs: 0, blob_bytes: 0, raw_bytes: 0 };
  return c.stmt(
    `SELECT count(*) AS packs, coalesce(sum(p.size), 0) AS pack_bytes, coalesce(sum(p.blobs), 0) AS blobs,
       coalesce(sum(p.blob_bytes), 0) AS blob_bytes, coalesce(sum(p.raw_bytes), 0) AS raw_bytes
     FROM pack_targets t JOIN packs p ON p.n = t.pack WHERE t.target = ?`,
  ).get(tid) as StorageStats;
}
