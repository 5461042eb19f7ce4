import type Database from 'better-sqlite3';

type Prepare = (sql: string) => Database.Statement<unknown[], unknown>;

/**
 * Writes pack and blob rows (see docs/CATALOG.md): a pack's row and its blobs' rows once,
 * whatever the number of targets holding it, and one small presence row per target and
 * pack. Shared by the row thread (backups) and the main connection; the caller holds the
 * transaction.
 */
export class PackStore {
  private readonly upsertPack: Database.Statement<unknown[], unknown>;
  private readonly placeholder: Database.Statement<unknown[], unknown>;
  private readonly presence: Database.Statement<unknown[], unknown>;
  private readonly blob: Database.Statement<unknown[], unknown>;
  private readonly sums: Database.Statement<unknown[], unknown>;

  constructor(prepare: Prepare) {
    this.upsertPack = prepare(
      'INSERT INTO packs (id, size, blobs, type) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET size = excluded.size, blobs = excluded.blobs, type = excluded.type RETURNING n',
    ).pluck();
    // The index may name a pack before the catalogue has listed it: a row with its sizes unknown until then.
    this.placeholder = prepare('INSERT INTO packs (id, size, blobs, type) VALUES (?, 0, 0, ?) ON CONFLICT (id) DO UPDATE SET id = id RETURNING n').pluck();
    this.presence = prepare('INSERT OR IGNORE INTO pack_targets (target, pack) VALUES (?, ?)');
    // A blob stored twice in one pack is one row; in two packs (an interrupted backup, a repack on one target), a row in each.
    this.blob = prepare('INSERT OR IGNORE INTO blobs (pack, id, type, length, raw_length) VALUES (?, ?, ?, ?, ?)');
    this.sums = prepare('UPDATE packs SET blob_bytes = blob_bytes + ?, raw_bytes = raw_bytes + ? WHERE n = ?');
  }

  /** Records a pack on a target; `added` is 1 when the target did not hold it yet. */
  addPack(target: number, id: Buffer, size: number, blobs: number, type: number): { n: number; added: number } {
    const n = this.upsertPack.get(id, size, blobs, type) as number;
    return { n, added: this.presence.run(target, n).changes };
  }

  /** The row number of the pack a blob names on a target, recording it there if needed. */
  packOf(target: number, id: Buffer, type: number): number {
    const n = this.placeholder.get(id, type) as number;
    this.presence.run(target, n);
    return n;
  }

  /** Records blobs of packs (by row number); returns how many rows are new. */
  addBlobs(blobs: Iterable<{ pack: number; id: Buffer; type: number; length: number; rawLength: number }>): number {
    const perPack = new Map<number, { bytes: number; raw: number }>();
    let added = 0;
    for (const b of blobs) {
      if (this.blob.run(b.pack, b.id, b.type, b.length, b.rawLength).changes === 0) continue;
      added++;
      const sum = perPack.get(b.pack) ?? { bytes: 0, raw: 0 };
      sum.bytes += b.length;
      sum.raw += b.rawLength;
      perPack.set(b.pack, sum);
    }
    for (const [n, s] of perPack) this.sums.run(s.bytes, s.raw, n);
    return added;
  }
}
