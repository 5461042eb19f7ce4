import { TriadError } from '../core/errors.js';
import type { Connection } from './connection.js';
import type { FileInput, FileQuery, FileRow, FileType } from './types.js';
import { hexBuf } from './values.js';

const FILE_TYPES: ReadonlySet<string> = new Set<FileType>(['file', 'dir', 'symlink']);

/** Columns in FILE_COLUMNS order: file reads use raw arrays, building objects in JS is about twice as fast. */
type FileDbRow = [path: string, type: FileType, size: number, mode: number, mtime: number, hash: Buffer | null, chunks: number];

const FILE_COLUMNS = 'path, type, size, mode, mtime, hash, chunks';

function toFileRow(r: FileDbRow): FileRow {
  const hash = r[5];
  return { path: r[0], type: r[1], size: r[2], mode: r[3], mtime: r[4], hash: hash === null ? null : hash.toString('hex'), chunks: r[6] };
}

export function addFiles(c: Connection, snapshotId: string, rows: Iterable<FileInput>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const { seq } = c.snapshotKey(snapshotId);
      const insert = c.stmt(`INSERT OR REPLACE INTO files (snap, ${FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
      let n = 0;
      for (const f of rows) {
        if (!FILE_TYPES.has(f.type)) throw new TriadError('E_CATALOG', `invalid file type ${JSON.stringify(f.type)} for ${f.path}`);
        const hash = f.hash === null || f.hash === undefined ? null : hexBuf(f.hash, `content hash of ${f.path}`);
        insert.run(seq, f.path, f.type, f.size, f.mode, f.mtime, hash, f.chunks ?? 0);
        n++;
      }
      return n;
    })(),
  );
}

export function listFiles(c: Connection, snapshotId: string, q: FileQuery = {}): FileRow[] {
  const { seq } = c.snapshotKey(snapshotId);
  const { where, params } = fileFilter(seq, q);
  const rows = c.rawStmt(`SELECT ${FILE_COLUMNS} FROM files WHERE ${where} ORDER BY path LIMIT ? OFFSET ?`).all(
    ...params,
    q.limit ?? -1,
    q.offset ?? 0,
  ) as FileDbRow[];
  return rows.map(toFileRow);
}

export function countFiles(c: Connection, snapshotId: string, q: Omit<FileQuery, 'limit' | 'offset'> = {}): number {
  const { seq } = c.snapshotKey(snapshotId);
  const { where, params } = fileFilter(seq, q);
  return c.stmt(`SELECT count(*) FROM files WHERE ${where}`).pluck().get(...params) as number;
}

export function fileByPath(c: Connection, snapshotId: string, path: string): FileRow | undefined {
  const { seq } = c.snapshotKey(snapshotId);
  const row = c.rawStmt(`SELECT ${FILE_COLUMNS} FROM files WHERE snap = ? AND path = ?`).get(seq, path) as FileDbRow | undefined;
  return row === undefined ? undefined : toFileRow(row);
}

export function* iterateFiles(c: Connection, snapshotId: string, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'> = {}): Generator<FileRow, void, undefined> {
  const { seq } = c.snapshotKey(snapshotId);
  const { where, params } = fileFilter(seq, q);
  // A fresh statement, not the cached one: a cached statement cannot serve two open
  // iterations (or a query inside the loop) at once.
  const stmt = c.db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE ${where} ORDER BY path`).raw();
  for (const row of stmt.iterate(...params)) yield toFileRow(row as FileDbRow);
}

function fileFilter(seq: number, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'>): { where: string; params: unknown[] } {
  let where = 'snap = ?';
  const params: unknown[] = [seq];
  if (q.type !== undefined) {
    where += ' AND type = ?';
    params.push(q.type);
  }
  if (q.minSize !== undefined) {
    where += ' AND size >= ?';
    params.push(q.minSize);
  }
  if (q.maxSize !== undefined) {
    where += ' AND size <= ?';
    params.push(q.maxSize);
  }
  return { where, params };
}
