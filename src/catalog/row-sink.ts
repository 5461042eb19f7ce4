import Database from 'better-sqlite3';
import { createStage, fileStaged, stageStatement } from './file-sets.js';
import { PackStore } from './pack-store.js';
import { PACK_RECORD, ROW_RECORD, type FromRowStage, type ToRowStage } from './row-stage.protocol.js';
import { toCatalogPath } from './values.js';

/**
 * Where a backup's catalogue rows are written (see RowStage): its own connection to the
 * catalogue, a temporary table that collects the file rows while the walk runs, and the
 * statements that file them as versions under the snapshot once its id is known
 * (file-sets.ts). Packs go straight to their table as the writer indexes them. It runs on the
 * row thread, or on the main thread for a small tree.
 */
export class RowSink {
  private readonly db: Database.Database;
  private readonly addRows: (m: Extract<ToRowStage, { type: 'rows' }>) => void;
  private readonly addPacks: (m: Extract<ToRowStage, { type: 'packs' }>) => void;
  private readonly commit: (snap: number) => number;

  constructor(file: string, busyMs: number) {
    const db = (this.db = new Database(file, { fileMustExist: true, timeout: busyMs }));
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    // On disk, not in memory: a backup of millions of files must not hold them all. The rows
    // arrive nearly in path order, so small page caches serve (each MiB of cache is RSS of the backup).
    db.pragma('temp_store = FILE');
    db.pragma('cache_size = -4096');
    db.pragma('temp.cache_size = -2048');
    createStage(db);
    const stage = stageStatement(db);
    this.addRows = db.transaction((m: Extract<ToRowStage, { type: 'rows' }>) => {
      const paths = m.paths.split('\u0000');
      const hashes = Buffer.from(m.hashes.buffer, m.hashes.byteOffset, m.hashes.byteLength);
      for (let i = 0; i < paths.length; i++) {
        const hash = m.hashed[i] ? hashes.subarray(i * 32, i * 32 + 32) : null;
        const r = ROW_RECORD;
        stage.run(toCatalogPath(paths[i]!), m.types[i]!, r.get(m.nums, i, 'size'), r.get(m.nums, i, 'mode'), r.get(m.nums, i, 'mtime'), hash, r.get(m.nums, i, 'chunks'));
      }
    });
    const packs = new PackStore((sql) => db.prepare(sql));
    this.addPacks = db.transaction((m: Extract<ToRowStage, { type: 'packs' }>) => {
      const packIds = Buffer.from(m.packIds.buffer, m.packIds.byteOffset, m.packIds.byteLength);
      const p = PACK_RECORD;
      for (let i = 0; i < p.count(m.packNums); i++) {
        const get = (field: 'size' | 'blobs' | 'type' | 'blobBytes' | 'rawBytes') => p.get(m.packNums, i, field);
        packs.addPack(m.target, { id: packIds.subarray(i * 32, i * 32 + 32), size: get('size'), blobs: get('blobs'), type: get('type'), blobBytes: get('blobBytes'), rawBytes: get('rawBytes') });
      }
    });
    this.commit = db.transaction((snap: number): number => fileStaged(db, snap));
  }

  /** Does what `m` asks; the answer the main thread waits for, if it waits for one. A database error is thrown. */
  handle(m: ToRowStage): FromRowStage | undefined {
    if (m.type === 'rows') this.addRows(m);
    else if (m.type === 'packs') this.addPacks(m);
    else if (m.type === 'settle') return { type: 'settled' };
    else return { type: 'committed', rows: this.commit(m.snap) };
    return undefined;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
