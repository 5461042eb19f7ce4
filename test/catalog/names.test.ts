import { describe, expect, it } from 'vitest';
import type { FileInput } from '../../src/catalog/index.js';
import { catalogPerTest, hex } from './helpers.js';

// Names that are not UTF-8 reach the catalogue as strings with escaped bytes (lone surrogates,
// core/names.ts), which SQLite's UTF-8 text cannot hold as they are.
const db = catalogPerTest();
const snapId = hex('names');
const PATHS = ['src/x\uDCFF', 'src/x\uDCFE', 'src/x\uFFFD', 'src/x\uFFFD~', 'src/x\uFFFDdcff', 'src/caf\u00e9', 'src/cafe\u0301', 'src/\u{1F600}\uDCC3'];

const row = (path: string, i: number): FileInput => ({ path, type: 'file', size: i, mode: 0o644, mtime: 1_700_000_000_000, hash: hex(path), chunks: 1 });

describe('paths the catalogue keeps losslessly', () => {
  it('names that differ only in bytes that are not UTF-8 stay distinct rows, through the backup\'s row thread, and read back as they were', async () => {
    const stage = db.cat.stageRows();
    try {
      PATHS.forEach((p, i) => stage.push(row(p, i)));
      db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
      expect(await stage.commit(snapId)).toBe(PATHS.length);
    } finally {
      await stage.close();
    }
    const got = db.cat.listFiles(snapId).map((f) => f.path);
    expect([...got].sort()).toEqual([...PATHS].sort());
    PATHS.forEach((p, i) => expect(db.cat.fileByPath(snapId, p)).toMatchObject({ path: p, size: i, hash: hex(p) }));
  });

  it('addFiles keeps them as the row thread does', () => {
    db.cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/src'], time: '2026-01-01T00:00:00Z', tree: hex('t') });
    expect(db.cat.addFiles(snapId, PATHS.map(row))).toBe(PATHS.length);
    expect(db.cat.listFiles(snapId).map((f) => f.path).sort()).toEqual([...PATHS].sort());
  });
});
