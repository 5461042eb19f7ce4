import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCatalog } from '../../src/catalog/index.js';
import type { Catalog, FileInput } from '../../src/catalog/index.js';
import { TriadError } from '../../src/core/errors.js';
import { hex, tempDir, thrown } from './helpers.js';

const N = 100_000;
const snapId = hex('big');
let tmp: ReturnType<typeof tempDir>;
let cat: Catalog;

// Cheap distinct hashes: a real hash per row would dominate the timing printed below.
const contentHash = (i: number): string => i.toString(16).padStart(8, '0').repeat(8);

// Every 10th entry a directory, every 50th a symlink; sizes spread so filters select known counts.
function* generate(): Generator<FileInput> {
  for (let i = 0; i < N; i++) {
    const path = `/srv/data/d${String(i % 1000).padStart(4, '0')}/f${String(i).padStart(6, '0')}`;
    if (i % 50 === 0) yield { path, type: 'symlink', size: 12, mode: 0o777, mtime: 1_700_000_000_000 + i, chunks: 0 };
    else if (i % 10 === 0) yield { path, type: 'dir', size: 0, mode: 0o755, mtime: 1_700_000_000_000 + i, hash: null, chunks: 0 };
    else yield { path, type: 'file', size: i, mode: 0o644, mtime: 1_700_000_000_000 + i, hash: contentHash(i), chunks: 1 + (i % 3) };
  }
}
const FILES = N - N / 10; // 90,000 regular files
const SYMLINKS = N / 50;

beforeAll(() => {
  tmp = tempDir();
  cat = openCatalog(join(tmp.dir, 'catalog.db'));
  cat.upsertSnapshot({ id: snapId, policy: 'p', host: 'h', paths: ['/srv/data'], time: '2025-01-01T00:00:00Z', tree: hex('t') });
});
afterAll(() => {
  cat.close();
  tmp.cleanup();
});

describe('file entries', () => {
  it(`inserts ${N} rows in one transaction and iterates them back in path order`, () => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    expect(cat.addFiles(snapId, generate())).toBe(N);
    const cpu = process.cpuUsage(cpu0);
    const t1 = performance.now();
    let n = 0;
    let prev = '';
    let ordered = true;
    let files = 0;
    for (const f of cat.iterateFiles(snapId)) {
      if (f.path <= prev) ordered = false;
      prev = f.path;
      if (f.type === 'file') files++;
      n++;
    }
    const t2 = performance.now();
    // CPU time too: wall time on a shared machine says more about the neighbours than about SQLite.
    const insertCpu = (cpu.user + cpu.system) / 1000;
    console.log(`catalogue: ${N} file rows inserted in ${(t1 - t0).toFixed(0)} ms (${insertCpu.toFixed(0)} ms CPU), iterated in ${(t2 - t1).toFixed(0)} ms`);
    expect(n).toBe(N);
    expect(ordered).toBe(true);
    expect(files).toBe(FILES);
    expect(cat.countFiles(snapId)).toBe(N);
    expect(cat.countFiles(snapId, { type: 'file' })).toBe(FILES);
    expect(cat.countFiles(snapId, { type: 'symlink' })).toBe(SYMLINKS);
  });

  it('reads a sample row back exactly, hash included', () => {
    const i = 12_345;
    const path = `/srv/data/d0345/f012345`;
    expect(cat.fileByPath(snapId, path)).toEqual({
      path,
      type: 'file',
      size: i,
      mode: 0o644,
      mtime: 1_700_000_000_000 + i,
      hash: contentHash(i),
      chunks: 1 + (i % 3),
    });
    expect(cat.fileByPath(snapId, '/srv/data/d0000/f000000')).toMatchObject({ type: 'symlink', hash: null });
    expect(cat.fileByPath(snapId, '/nope')).toBeUndefined();
  });

  it('filters and pages for restore-test sampling', () => {
    // Regular files with size >= 99,000: i in [99000, 99999] minus multiples of 10.
    expect(cat.countFiles(snapId, { type: 'file', minSize: 99_000 })).toBe(900);
    const page1 = cat.listFiles(snapId, { type: 'file', minSize: 99_000, limit: 100 });
    const page2 = cat.listFiles(snapId, { type: 'file', minSize: 99_000, limit: 100, offset: 100 });
    expect(page1).toHaveLength(100);
    expect(page2).toHaveLength(100);
    expect(page1[99]!.path < page2[0]!.path).toBe(true);
    expect(page1.every((f) => f.type === 'file' && f.size >= 99_000 && f.hash !== null)).toBe(true);
    expect(cat.countFiles(snapId, { type: 'file', maxSize: 10 })).toBe(9);
  });

  it('allows reads while iterating and nested iterations', () => {
    const it1 = cat.iterateFiles(snapId, { type: 'file' });
    const first = it1.next().value!;
    const it2 = cat.iterateFiles(snapId, { type: 'symlink' });
    const inner = it2.next().value!;
    expect(cat.fileByPath(snapId, first.path)).toEqual(first);
    expect(inner.type).toBe('symlink');
    // Writes wait until every open iteration is closed.
    it2.return(undefined);
    it1.return(undefined);
    expect(cat.addFiles(snapId, [])).toBe(0);
  });

  it('re-adding the same entries replaces instead of duplicating', () => {
    const row: FileInput = { path: '/srv/data/d0001/f000001', type: 'file', size: 7, mode: 0o600, mtime: 5, hash: hex('new'), chunks: 2 };
    expect(cat.addFiles(snapId, [row])).toBe(1);
    expect(cat.countFiles(snapId)).toBe(N);
    expect(cat.fileByPath(snapId, row.path)).toMatchObject({ size: 7, hash: hex('new') });
  });

  it('rolls back the whole batch on a bad row', () => {
    const rows: FileInput[] = [
      { path: '/srv/new/ok', type: 'file', size: 1, mode: 0o644, mtime: 1, hash: hex('ok'), chunks: 1 },
      { path: '/srv/new/bad', type: 'file', size: 1, mode: 0o644, mtime: 1, hash: 'not-a-hash', chunks: 1 },
    ];
    expect((thrown(() => cat.addFiles(snapId, rows)) as TriadError).code).toBe('E_CATALOG');
    expect(cat.fileByPath(snapId, '/srv/new/ok')).toBeUndefined();
    expect(cat.countFiles(snapId)).toBe(N);
  });

  it('refuses entries for a snapshot it does not know', () => {
    const err = thrown(() => cat.addFiles(hex('unknown'), [])) as TriadError;
    expect(err.code).toBe('E_SNAPSHOT_NOT_FOUND');
    expect(() => [...cat.iterateFiles(hex('unknown'))]).toThrow(TriadError);
  });
});
