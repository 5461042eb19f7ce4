import type { Connection } from './connection.js';
import { PackStore } from './pack-store.js';
import { BLOB_TYPE_CODES } from './row-stage.protocol.js';
import type { BlobRow, BlobType, PackRow, StorageStats, WrittenPackRecord } from './types.js';
import { hexBuf } from './values.js';

function typeCode(t: BlobType): number {
  return Math.max(0, BLOB_TYPE_CODES.indexOf(t));
}

function store(c: Connection): PackStore {
  return new PackStore((sql) => c.stmt(sql));
}

export function recordPacks(c: Connection, policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
  addPacks(c, policy, target, packs.map((p) => ({ id: p.id, size: p.size, blobs: p.entries.length, type: p.entries[0]?.type ?? 'data' })));
  addBlobs(c, policy, target, packs.flatMap((p) => p.entries.map((e) => ({ id: Buffer.from(e.id.buffer, e.id.byteOffset, e.id.byteLength).toString('hex'), pack: p.id, type: e.type, length: e.length, raw_length: e.rawLength }))));
}

export function addPacks(c: Connection, policy: string, target: string, rows: Iterable<PackRow>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, true)!;
      const packs = store(c);
      let n = 0;
      // Packs are named by their content, so a pack seen again is the same pack.
      for (const p of rows) n += packs.addPack(tid, hexBuf(p.id, 'pack id'), p.size, p.blobs, typeCode(p.type)).added;
      return n;
    })(),
  );
}

export function addBlobs(c: Connection, policy: string, target: string, rows: Iterable<BlobRow>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, true)!;
      const packs = store(c);
      const packNumbers = new Map<string, number>();
      const packOf = (b: BlobRow): number => {
        let n = packNumbers.get(b.pack);
        if (n === undefined) packNumbers.set(b.pack, (n = packs.packOf(tid, hexBuf(b.pack, 'pack id'), typeCode(b.type))));
        return n;
      };
      const blobs = function* () {
        for (const b of rows) yield { pack: packOf(b), id: hexBuf(b.id, 'blob id'), type: typeCode(b.type), length: b.length, rawLength: b.raw_length };
      };
      return packs.addBlobs(blobs());
    })(),
  );
}

/**
 * Where a blob is on a target. Blob rows are keyed by pack, not by blob id (nothing on a
 * backup's path looks a blob up), so this reads every blob row: for diagnostics and tests.
 */
export function getBlob(c: Connection, policy: string, target: string, id: string): BlobRow | undefined {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return undefined;
  const r = c.stmt(
    `SELECT b.id, p.id AS pack, b.type, b.length, b.raw_length FROM blobs b JOIN pack_targets t ON t.pack = b.pack AND t.target = ?
     JOIN packs p ON p.n = b.pack WHERE b.id = ? ORDER BY b.pack LIMIT 1`,
  ).get(tid, hexBuf(id, 'blob id')) as { id: Buffer; pack: Buffer; type: number; length: number; raw_length: number } | undefined;
  return r === undefined ? undefined : { ...r, id: r.id.toString('hex'), pack: r.pack.toString('hex'), type: BLOB_TYPE_CODES[r.type] ?? 'data' };
}

export function hasBlob(c: Connection, policy: string, target: string, id: string): boolean {
  return getBlob(c, policy, target, id) !== undefined;
}

export function removePacks(c: Connection, policy: string, target: string, ids: Iterable<string>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const tid = c.targetId(policy, target, false);
      if (tid === undefined) return 0;
      const find = c.stmt('SELECT n FROM packs WHERE id = ?').pluck();
      const dropPresence = c.stmt('DELETE FROM pack_targets WHERE target = ? AND pack = ?');
      const heldElsewhere = c.stmt('SELECT 1 FROM pack_targets WHERE pack = ? LIMIT 1');
      const dropBlobs = c.stmt('DELETE FROM blobs WHERE pack = ?');
      const dropPack = c.stmt('DELETE FROM packs WHERE n = ?');
      let removed = 0;
      for (const id of ids) {
        const n = find.get(hexBuf(id, 'pack id')) as number | undefined;
        if (n === undefined) continue;
        removed += dropPresence.run(tid, n).changes;
        if (heldElsewhere.get(n) !== undefined) continue;
        dropBlobs.run(n);
        dropPack.run(n);
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
