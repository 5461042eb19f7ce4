import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { BLOB_RECORD, BLOB_TYPE_CODES, FILE_TYPE_CODES, PACK_RECORD, ROW_RECORD, type FromRowStage, type RowStageInit, type ToRowStage } from './row-stage.protocol.js';

/**
 * The catalogue's row thread during a backup: its own connection to the catalogue, a
 * temporary table that collects the file rows while the walk runs, and one INSERT … SELECT
 * that files them under the snapshot once the main thread knows its id. Packs and blobs go
 * straight to their tables as the writer indexes them.
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
db.exec('CREATE TEMP TABLE staged_files (path TEXT NOT NULL, type TEXT NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL, mtime INTEGER NOT NULL, hash BLOB, chunks INTEGER NOT NULL)');
const insert = db.prepare('INSERT INTO temp.staged_files VALUES (?, ?, ?, ?, ?, ?, ?)');
const moveUnderSnapshot = db.prepare(
  'INSERT OR REPLACE INTO files (snap, path, type, size, mode, mtime, hash, chunks) SELECT ?, path, type, size, mode, mtime, hash, chunks FROM temp.staged_files ORDER BY rowid',
);

const addRows = db.transaction((m: Extract<ToRowStage, { type: 'rows' }>) => {
  const paths = m.paths.split('\u0000');
  const hashes = Buffer.from(m.hashes.buffer, m.hashes.byteOffset, m.hashes.byteLength);
  for (let i = 0; i < paths.length; i++) {
    const hash = m.hashed[i] ? hashes.subarray(i * 32, i * 32 + 32) : null;
    const r = ROW_RECORD;
    insert.run(paths[i], FILE_TYPE_CODES[m.types[i]!], r.get(m.nums, i, 'size'), r.get(m.nums, i, 'mode'), r.get(m.nums, i, 'mtime'), hash, r.get(m.nums, i, 'chunks'));
  }
});

const insertPack = db.prepare('INSERT OR IGNORE INTO packs (target, id, size, blobs, type) VALUES (?, ?, ?, ?, ?)');
// A blob stored twice (after an interrupted backup) keeps its first location; either copy is valid.
const insertBlob = db.prepare('INSERT OR IGNORE INTO blobs (target, id, pack, type, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)');

const addPacks = db.transaction((m: Extract<ToRowStage, { type: 'packs' }>) => {
  const packIds = Buffer.from(m.packIds.buffer, m.packIds.byteOffset, m.packIds.byteLength);
  const blobIds = Buffer.from(m.blobIds.buffer, m.blobIds.byteOffset, m.blobIds.byteLength);
  const packId = (i: number) => packIds.subarray(i * 32, i * 32 + 32);
  const p = PACK_RECORD;
  for (let i = 0; i < p.count(m.packNums); i++) insertPack.run(m.target, packId(i), p.get(m.packNums, i, 'size'), p.get(m.packNums, i, 'blobs'), BLOB_TYPE_CODES[p.get(m.packNums, i, 'type')]);
  const b = BLOB_RECORD;
  for (let i = 0; i < b.count(m.blobNums); i++) {
    insertBlob.run(m.target, blobIds.subarray(i * 32, i * 32 + 32), packId(b.get(m.blobNums, i, 'pack')), BLOB_TYPE_CODES[b.get(m.blobNums, i, 'type')], b.get(m.blobNums, i, 'length'), b.get(m.blobNums, i, 'rawLength'));
  }
});

const commit = db.transaction((snap: number): number => moveUnderSnapshot.run(snap).changes);

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
