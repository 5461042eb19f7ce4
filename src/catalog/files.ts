import { TriadError } from '../core/errors.js';
import type { Connection } from './connection.js';
import { createStage, fileStaged, IN_SET, stageStatement } from './file-sets.js';
import { FILE_TYPE_CODES } from './row-stage.protocol.js';
import type { FileInput, FileQuery, FileRow } from './types.js';
import { fromCatalogPath, hexBuf, toCatalogPath } from './values.js';

/** Columns in FILE_COLUMNS order: file reads use raw arrays, building objects in JS is about twice as fast. */
type FileDbRow = [path: string, type: number, size: number, mode: number, mtime: number, hash: Buffer | null, chunks: number];

const FILE_COLUMNS = 'v.path, v.type, v.size, v.mode, v.mtime, v.hash, v.chunks';

function toFileRow(r: FileDbRow): FileRow {
  const hash = r[5];
  return { path: fromCatalogPath(r[0]), type: FILE_TYPE_CODES[r[1]]!, size: r[2], mode: r[3], mtime: r[4], hash: hash === null ? null : hash.toString('hex'), chunks: r[6] };
}

export function fileTypeCode(f: Pick<FileInput, 'type' | 'path'>): number {
  const code = FILE_TYPE_CODES.indexOf(f.type);
  if (code < 0) throw new TriadError('E_CATALOG', `invalid file type ${JSON.stringify(f.type)} for ${f.path}`);
  return code;
}

export function addFiles(c: Connection, snapshotId: string, rows: Iterable<FileInput>): number {
  return c.write(() =>
    c.db.transaction(() => {
      const { seq } = c.snapshotKey(snapshotId);
      createStage(c.db);
      const stage = stageStatement(c.db);
      let n = 0;
      for (const f of rows) {
        const hash = f.hash === null || f.hash === undefined ? null : hexBuf(f.hash, `content hash of ${f.path}`);
        stage.run(toCatalogPath(f.path), fileTypeCode(f), f.size, f.mode, f.mtime, hash, f.chunks ?? 0);
        n++;
      }
      fileStaged(c.db, seq);
      return n;
    })(),
  );
}

/** The lineage and file set that hold a snapshot's entries; undefined while it holds none. */
function fileSetOf(c: Connection, snapshotId: string): { l: number; m: number } | undefined {
  const { seq } = c.snapshotKey(snapshotId);
  const r = c.stmt('SELECT lineage AS l, fileset AS m FROM snapshots WHERE seq = ?').get(seq) as { l: number; m: number | null };
  return r.m === null ? undefined : { l: r.l, m: r.m };
}

export function listFiles(c: Connection, snapshotId: string, q: FileQuery = {}): FileRow[] {
  const set = fileSetOf(c, snapshotId);
  if (set === undefined) return [];
  const { where, params } = fileFilter(q);
  const rows = c.rawStmt(`SELECT ${FILE_COLUMNS} FROM file_versions v WHERE ${where} ORDER BY v.path LIMIT :limit OFFSET :offset`).all({
    ...set,
    ...params,
    limit: q.limit ?? -1,
    offset: q.offset ?? 0,
  }) as FileDbRow[];
  return rows.map(toFileRow);
}

export function countFiles(c: Connection, snapshotId: string, q: Omit<FileQuery, 'limit' | 'offset'> = {}): number {
  if (q.type === undefined && q.minSize === undefined && q.maxSize === undefined) {
    return c.stmt('SELECT entries FROM snapshots WHERE seq = ?').pluck().get(c.snapshotKey(snapshotId).seq) as number;
  }
  const set = fileSetOf(c, snapshotId);
  if (set === undefined) return 0;
  const { where, params } = fileFilter(q);
  return c.stmt(`SELECT count(*) FROM file_versions v WHERE ${where}`).pluck().get({ ...set, ...params }) as number;
}

export function fileByPath(c: Connection, snapshotId: string, path: string): FileRow | undefined {
  const set = fileSetOf(c, snapshotId);
  if (set === undefined) return undefined;
  const { where } = fileFilter({});
  const row = c.rawStmt(`SELECT ${FILE_COLUMNS} FROM file_versions v WHERE ${where} AND v.path = :path`).get({ ...set, path: toCatalogPath(path) }) as FileDbRow | undefined;
  return row === undefined ? undefined : toFileRow(row);
}

export function* iterateFiles(c: Connection, snapshotId: string, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'> = {}): Generator<FileRow, void, undefined> {
  const set = fileSetOf(c, snapshotId);
  if (set === undefined) return;
  const { where, params } = fileFilter(q);
  // A fresh statement, not the cached one: a cached statement cannot serve two open
  // iterations (or a query inside the loop) at once.
  const stmt = c.db.prepare(`SELECT ${FILE_COLUMNS} FROM file_versions v WHERE ${where} ORDER BY v.path`).raw();
  for (const row of stmt.iterate({ ...set, ...params })) yield toFileRow(row as FileDbRow);
}

/** The versions in file set :m of lineage :l, narrowed by the query. */
function fileFilter(q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'>): { where: string; params: Record<string, unknown> } {
  let where = IN_SET;
  const params: Record<string, unknown> = {};
  if (q.type !== undefined) {
    where += ' AND v.type = :type';
    params.type = FILE_TYPE_CODES.indexOf(q.type);
  }
  if (q.minSize !== undefined) {
    where += ' AND v.size >= :minSize';
    params.minSize = q.minSize;
  }
  if (q.maxSize !== undefined) {
    where += ' AND v.size <= :maxSize';
    params.maxSize = q.maxSize;
  }
  return { where, params };
}
