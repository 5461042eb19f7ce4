import { toCatalogPath } from './values.js';
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { createStage, fileStaged, stageStatement } from './file-sets.js';
import { PackStore } from './pack-store.js';
import { PACK_RECORD, ROW_RECORD, type FromRowStage, type RowStageInit, type ToRowStage } from './row-stage.protocol.js';

/**
 * The catalogue's row thread during a backup: its own connection to the catalogue, a
 * temporary table that collects the file rows while the walk runs, and the statements that
 * file them as versions under the snapshot once the main thread knows its id (file-sets.ts).
 * Packs go straight to their table as the writer indexes them.
 */
const { file, busyMs } = workerData as RowStageInit;
const port = parentPort!;
const db = new Database(file, { fileMustExist: true, timeout: busyMs });
db.pragma('foreign_keys = ON');
db.pragma('synchronous = NORMAL');
// On disk, not in memory: a backup of millions of files must not hold them all. The rows
// arrive nearly in path order, so small page caches serve (each MiB of cache is RSS of the backup).
db.pragma('temp_store = FILE');
db.pragma('cache_size = -4096');
db.pragma('temp.cache_size = -2048');
createStage(db);
const stage = stageStatement(db);

const addRows = db.transaction((m: Extract<ToRowStage, { type: 'rows' }>) => {
  const paths = m.paths.split('\u0000');
  const hashes = Buffer.from(m.hashes.buffer, m.hashes.byteOffset, m.hashes.byteLength);
  for (let i = 0; i < paths.length; i++) {
    const hash = m.hashed[i] ? hashes.subarray(i * 32, i * 32 + 32) : null;
    const r = ROW_RECORD;
    stage.run(toCatalogPath(paths[i]!), m.types[i]!, r.get(m.nums, i, 'size'), r.get(m.nums, i, 'mode'), r.get(m.nums, i, 'mtime'), hash, r.get(m.nums, i, 'chunks'));
  }
});

const packs = new PackStore((sql) => db.prepare(sql));

const addPacks = db.transaction((m: Extract<ToRowStage, { type: 'packs' }>) => {
  const packIds = Buffer.from(m.packIds.buffer, m.packIds.byteOffset, m.packIds.byteLength);
  const p = PACK_RECORD;
  for (let i = 0; i < p.count(m.packNums); i++) {
    const get = (field: 'size' | 'blobs' | 'type' | 'blobBytes' | 'rawBytes') => p.get(m.packNums, i, field);
    packs.addPack(m.target, { id: packIds.subarray(i * 32, i * 32 + 32), size: get('size'), blobs: get('blobs'), type: get('type'), blobBytes: get('blobBytes'), rawBytes: get('rawBytes') });
  }
});

const commit = db.transaction((snap: number): number => fileStaged(db, snap));

function reply(r: FromRowStage): void {
  port.postMessage(r);
}

port.on('message', (m: ToRowStage) => {
  try {
    if (m.type === 'rows') addRows(m);
    else if (m.type === 'packs') addPacks(m);
    else if (m.type === 'settle') reply({ type: 'settled' });
    else reply({ type: 'committed', rows: commit(m.snap) });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    reply({ type: 'failed', code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err) });
  }
});
