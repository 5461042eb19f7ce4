import { mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPlan, probeCreation } from '../../src/repo/file-out.js';
import { FileWriterPool } from '../../src/repo/file-writer-pool.js';
import type { WriteResult } from '../../src/repo/file-writer-protocol.js';
import { bytes } from '../helpers/tree.js';
import { scratchDir } from '../helpers/triad.js';

const MiB = 1024 * 1024;
const meta = { mode: 0o640, uid: 0, gid: 0, mtime: Date.UTC(2030, 0, 1) };
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Writes `files` per directory through the pool, each file in pieces, and returns what the pool reported. */
async function writeTree(pool: FileWriterPool, root: string, dirCount: number, files: number, pieceSize: number, pieces: number) {
  const expected = new Map<string, Buffer>();
  // Files created with their final mode where the umask allows (no chmod), as a restore does.
  const creates = probeCreation(root);
  for (let d = 0; d < dirCount; d++) {
    const dir = join(root, `d${d}`);
    mkdirSync(dir);
    for (let f = 0; f < files; f++) {
      const out = join(dir, `f${f}`);
      const content = bytes(d * 1000 + f, pieceSize * pieces);
      expected.set(out, content);
      const file = pool.begin(out, d, { fresh: true, overwrite: false, plan: createPlan(meta, false, creates) });
      // The pool copies each piece at once: the same buffer is overwritten for the next one.
      const scratch = Buffer.alloc(pieceSize);
      for (let p = 0; p < pieces; p++) {
        content.copy(scratch, 0, p * pieceSize, (p + 1) * pieceSize);
        await pool.write(file, scratch);
      }
      pool.commit(file, meta);
    }
    pool.endDir(d);
  }
  await pool.drain();
  return { expected };
}

/** Runs writeTree through a fresh pool (at most two threads) and returns what it reported. */
async function throughPool(addWriterAfterMs: number, dirCount: number, files: number, pieceSize: number, pieces: number) {
  const root = scratchDir();
  dirs.push(root);
  const done: WriteResult[] = [];
  const pool = new FileWriterPool((_f, r) => done.push(r), 2, addWriterAfterMs);
  try {
    const { expected } = await writeTree(pool, root, dirCount, files, pieceSize, pieces);
    return { root, done, expected, writers: pool.writers };
  } finally {
    await pool.close();
  }
}

describe('FileWriterPool', () => {
  it('writes every file whole with its mode and mtime, from one writer thread when it keeps up', async () => {
    const { done, expected, writers } = await throughPool(60_000, 3, 4, 64 * 1024, 3);
    expect(done).toHaveLength(12);
    expect(done.every((r) => r.ok)).toBe(true);
    for (const [out, content] of expected) {
      expect(readFileSync(out).equals(content)).toBe(true);
      expect(statSync(out).mode & 0o777).toBe(0o640);
      expect(statSync(out).mtimeMs).toBe(Date.UTC(2030, 0, 1));
    }
    expect(writers).toBe(1);
  });

  it('adds a second writer thread once the main thread has waited for a full window, and still writes every file whole', async () => {
    // No patience: the first full window (4 MiB) adds the second thread.
    const { root, done, expected, writers } = await throughPool(0, 6, 3, MiB, 2);
    expect(writers).toBe(2);
    expect(done).toHaveLength(18);
    expect(done.filter((r) => !r.ok)).toEqual([]);
    for (const [out, content] of expected) expect(readFileSync(out).equals(content)).toBe(true);
    // Every file was renamed into place: no temporary names left behind.
    for (let d = 0; d < 6; d++) expect(readdirSync(join(root, `d${d}`)).sort()).toEqual(['f0', 'f1', 'f2']);
  });

  it('splits a piece larger than a chunk of the shared ring over several batches, and reuses the ring for more data than it holds', async () => {
    // Two files of three 2.5 MiB pieces each: 15 MiB through a 5 MiB ring, pieces starting mid-chunk.
    const { done, expected, writers } = await throughPool(60_000, 1, 2, 2.5 * MiB + 3, 3);
    expect(writers).toBe(1);
    expect(done.filter((r) => !r.ok)).toEqual([]);
    expect(done).toHaveLength(2);
    for (const [out, content] of expected) expect(readFileSync(out).equals(content)).toBe(true);
  });
});
