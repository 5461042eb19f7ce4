import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { BLOB_TYPE_CODES, FILE_TYPE_CODES, type StageMessage, type StageReply } from './row-stage-protocol.js';

/**
 * The catalogue's row thread during a backup: its own connection to the catalogue, a
 * temporary table that collects the file rows while the walk runs, and one INSERT … SELECT
 * that files them under the snapshot once the main thread knows its id. Packs and blobs go
 * straight to their tables as the writer indexes them.
 */
const { file, busyMs } = workerData as { file: string; busyMs: number };
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

const addRows = db.transaction((m: Extract<StageMessage, { op: 'rows' }>) => {
  const paths = m.paths.split('\u0000');
  const hashes = Buffer.from(m.hashes.buffer, m.hashes.byteOffset, m.hashes.byteLength);
  for (let i = 0; i < paths.length; i++) {
    const hash = m.hashed[i] ? hashes.subarray(i * 32, i * 32 + 32) : null;
    insert.run(paths[i], FILE_TYPE_CODES[m.types[i]!], m.nums[i * 4], m.nums[i * 4 + 1], m.nums[i * 4 + 2], hash, m.nums[i * 4 + 3]);
  }
});

const insertPack = db.prepare('INSERT OR IGNORE INTO packs (target, id, size, blobs, type) VALUES (?, ?, ?, ?, ?)');
// A blob stored twice (after an interrupted backup) keeps its first location; either copy is valid.
const insertBlob = db.prepare('INSERT OR IGNORE INTO blobs (target, id, pack, type, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)');

const addPacks = db.transaction((m: Extract<StageMessage, { op: 'packs' }>) => {
  const packIds = Buffer.from(m.packIds.buffer, m.packIds.byteOffset, m.packIds.byteLength);
  const blobIds = Buffer.from(m.blobIds.buffer, m.blobIds.byteOffset, m.blobIds.byteLength);
  const packs = m.packNums.length / 3;
  const packId = (i: number) => packIds.subarray(i * 32, i * 32 + 32);
  for (let i = 0; i < packs; i++) insertPack.run(m.target, packId(i), m.packNums[i * 3], m.packNums[i * 3 + 1], BLOB_TYPE_CODES[m.packNums[i * 3 + 2]!]);
  for (let i = 0; i < m.blobNums.length / 4; i++) {
    const o = i * 4;
    insertBlob.run(m.target, blobIds.subarray(i * 32, i * 32 + 32), packId(m.blobNums[o]!), BLOB_TYPE_CODES[m.blobNums[o + 1]!], m.blobNums[o + 2], m.blobNums[o + 3]);
  }
});

const commit = db.transaction((snap: number): number => moveUnderSnapshot.run(snap).changes);

function reply(r: StageReply): void {
  port.postMessage(r);
}

port.on('message', (m: StageMessage) => {
  try {
    if (m.op === 'rows') addRows(m);
    else if (m.op === 'packs') addPacks(m);
    else if (m.op === 'settle') reply({ op: 'settled' });
    else reply({ op: 'committed', rows: commit(m.snap) });
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    reply({ op: 'error', code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err) });
  }
});
