import type Database from 'better-sqlite3';

type Prepare = (sql: string) => Database.Statement<unknown[], unknown>;

/** A pack's row as stored: type is a BLOB_TYPE_CODES index. */
export interface StoredPack {
  id: Buffer;
  size: number;
  blobs: number;
  type: number;
  blobBytes: number;
  rawBytes: number;
}

/**
 * Writes pack rows (see docs/CATALOG.md): a pack's row once, with the sums of its blobs'
 * lengths, whatever the number of targets holding it, and one small presence row per target
 * and pack. Shared by the row thread (backups) and the main connection; the caller holds the
 * transaction.
 */
export class PackStore {
  private readonly upsertPack: Database.Statement<unknown[], unknown>;
  private readonly presence: Database.Statement<unknown[], unknown>;

  constructor(prepare: Prepare) {
    // Packs are named by their content, so a pack seen again is the same pack.
    this.upsertPack = prepare(
      `INSERT INTO packs (id, size, blobs, type, blob_bytes, raw_bytes) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET size = excluded.size, blobs = excluded.blobs, type = excluded.type,
         blob_bytes = excluded.blob_bytes, raw_bytes = excluded.raw_bytes
       RETURNING n`,
    ).pluck();
    this.presence = prepare('INSERT OR IGNORE INTO pack_targets (target, pack) VALUES (?, ?)');
  }

  /** Records a pack on a target; returns 1 when the target did not hold it yet. */
  addPack(target: number, p: StoredPack): number {
    const n = this.upsertPack.get(p.id, p.size, p.blobs, p.type, p.blobBytes, p.rawBytes) as number;
    return this.presence.run(target, n).changes;
  }
}
