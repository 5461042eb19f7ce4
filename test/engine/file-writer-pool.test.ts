import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createPlan, probeCreation } from '../../src/repo/restore/file-out.js';
import { FileWriterPool } from '../../src/repo/restore/writer-pool.js';
import type { WriteResult } from '../../src/repo/restore/writer.protocol.js';
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
  const pool = new FileWriterPool((_f, r) => done.push(r), { maxWriters: 2, addWriterAfterMs });
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

  it('creates directories and symlinks on the threads, a directory before anything in it, across two threads', async () => {
    const root = scratchDir();
    dirs.push(root);
    const done = new Map<number, WriteResult>();
    // No patience: a second thread comes with the first full window, so later directories can go to either.
    const pool = new FileWriterPool((id, r) => done.set(id, r), { maxWriters: 2, addWriterAfterMs: 0 });
    const expected = new Map<string, Buffer>();
    const links: string[] = [];
    let lanes = 1; // lane 0: the root, which exists
    const fill = async (dir: string, lane: number, depth: number) => {
      for (let f = 0; f < 2; f++) {
        const out = join(dir, `f${f}`);
        const content = bytes(lane * 10 + f, MiB + 17);
        expected.set(out, content);
        const file = pool.begin(out, lane, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
        await pool.write(file, content.subarray(0, MiB));
        await pool.write(file, content.subarray(MiB));
        pool.commit(file, meta);
      }
      const link = join(dir, 'link');
      links.push(link);
      pool.symlink(link, lane, { target: 'f0', uid: 0, gid: 0, mtime: Date.UTC(2029, 0, 1) }, { fresh: true, overwrite: false, owner: false });
      if (depth === 0) return;
      for (let d = 0; d < 2; d++) {
        const sub = lanes++;
        const out = join(dir, `d${d}`);
        pool.makeDir(out, sub, lane);
        await fill(out, sub, depth - 1);
        pool.endDir(sub);
      }
    };
    try {
      await fill(root, 0, 3);
      await pool.drain();
      expect(pool.writers).toBe(2);
    } finally {
      await pool.close();
    }
    expect([...done.values()].filter((r) => !r.ok)).toEqual([]);
    expect(expected.size).toBe(30);
    for (const [out, content] of expected) expect(readFileSync(out).equals(content)).toBe(true);
    for (const link of links) {
      expect(readlinkSync(link)).toBe('f0');
      expect(lstatSync(link).mtimeMs).toBe(Date.UTC(2029, 0, 1));
    }
    expect(statSync(join(root, 'd1', 'd0', 'd1')).mode & 0o777).toBe(0o700);
  });

  it('puts a directory on the thread making its parent until that thread has answered for it', async () => {
    const root = scratchDir();
    dirs.push(root);
    const results: WriteResult[] = [];
    const pool = new FileWriterPool((_id, r) => results.push(r), { maxWriters: 2, addWriterAfterMs: 0 });
    const file = (out: string, lane: number) => pool.begin(out, lane, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
    try {
      // 6 MiB through a 4 MiB window: the main thread waits, and a second thread comes.
      const big = file(join(root, 'big'), 0);
      for (let i = 0; i < 6; i++) await pool.write(big, bytes(i, MiB));
      pool.commit(big, meta);
      pool.endDir(0);
      await pool.drain();
      expect(pool.writers).toBe(2);
      // Both idle: the first thread makes P, and 1.5 MiB in P keep it busy (its answer not yet read).
      pool.makeDir(join(root, 'P'), 1, 0);
      expect(pool.threadOf(1)).toBe(0);
      const inP = file(join(root, 'P', 'f'), 1);
      await pool.write(inP, bytes(7, 1.5 * MiB));
      pool.commit(inP, meta);
      // The other thread is less busy, but P may not exist yet: C goes where P is made.
      pool.makeDir(join(root, 'P', 'C'), 2, 1);
      expect(pool.threadOf(2)).toBe(0);
      await pool.drain();
      // Once the first thread has answered for P, a directory in it goes to the less busy thread.
      const more = file(join(root, 'P', 'g'), 1);
      await pool.write(more, bytes(8, 1.5 * MiB));
      pool.commit(more, meta);
      pool.makeDir(join(root, 'P', 'D'), 3, 1);
      expect(pool.threadOf(3)).toBe(1);
      const inD = file(join(root, 'P', 'D', 'h'), 3);
      await pool.write(inD, Buffer.from('deep'));
      pool.commit(inD, meta);
      await pool.drain();
    } finally {
      await pool.close();
    }
    expect(results.filter((r) => !r.ok)).toEqual([]);
    expect(readFileSync(join(root, 'P', 'D', 'h'), 'utf8')).toBe('deep');
    expect(statSync(join(root, 'P', 'C')).isDirectory()).toBe(true);
  });

  it('takes pieces decoded straight into its ring where there is room, and copies the others', async () => {
    const root = scratchDir();
    dirs.push(root);
    const results: WriteResult[] = [];
    const pool = new FileWriterPool((_id, r) => results.push(r), { maxWriters: 1 });
    const content = bytes(3, 3 * MiB);
    const out = join(root, 'f');
    try {
      const file = pool.begin(out, 0, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
      // 700 KiB in place, then 700 KiB no longer fit in the 1 MiB chunk: copied by write().
      const first = pool.reserve(file, 700 * 1024)!;
      content.copy(first, 0, 0, 700 * 1024);
      pool.wrote(file, 700 * 1024);
      expect(pool.reserve(file, 700 * 1024)).toBeUndefined();
      await pool.write(file, content.subarray(700 * 1024, 1400 * 1024));
      // The rest in 400 KiB pieces, each in place where the chunk being filled has room.
      let inPlace = 0;
      for (let at = 1400 * 1024; at < content.length; at += 400 * 1024) {
        const n = Math.min(400 * 1024, content.length - at);
        const room = pool.reserve(file, n);
        if (room) {
          expect(room.length).toBe(n);
          content.copy(room, 0, at, at + n);
          pool.wrote(file, n);
          inPlace++;
        } else await pool.write(file, content.subarray(at, at + n));
      }
      expect(inPlace).toBeGreaterThanOrEqual(2);
      pool.commit(file, meta);
      await pool.drain();
    } finally {
      await pool.close();
    }
    expect(results).toEqual([expect.objectContaining({ ok: true })]);
    expect(readFileSync(out).equals(content)).toBe(true);
  });

  it('checks each blob against its id, and a file of several blobs against its hash, before renaming it', async () => {
    const root = scratchDir();
    dirs.push(root);
    const mac = randomBytes(32);
    const id = (b: Buffer) => createHmac('sha256', mac).update(b).digest('hex');
    // The first blob spans two chunks of the ring: it is checked across its pieces.
    const a = bytes(1, 1.5 * MiB);
    const b = bytes(2, 1000);
    const results = new Map<number, WriteResult>();
    const pool = new FileWriterPool((f, r) => results.set(f, r), { maxWriters: 1, mac });
    const files: Record<string, number> = {};
    try {
      for (const [name, secondId, whole] of [
        ['good', id(b), id(Buffer.concat([a, b]))],
        ['wrong-blob', id(a), id(Buffer.concat([a, b]))],
        ['wrong-whole', id(b), id(a)],
      ] as const) {
        const f = pool.begin(join(root, name), 0, { fresh: true, overwrite: false, plan: createPlan(meta, false), whole });
        files[name] = f;
        await pool.write(f, a, id(a));
        await pool.write(f, b, secondId);
        pool.commit(f, meta);
      }
      await pool.drain();
    } finally {
      await pool.close();
    }
    expect(results.get(files.good!)).toEqual({ file: files.good, ok: true });
    expect(results.get(files['wrong-blob']!)).toEqual(expect.objectContaining({ ok: false, code: 'E_INTEGRITY', blob: id(a) }));
    expect(results.get(files['wrong-whole']!)).toEqual(expect.objectContaining({ ok: false, code: 'E_INTEGRITY', message: expect.stringMatching(/content hash mismatch/) }));
    // Nothing but the good file: no temporary names left behind.
    expect(readdirSync(root)).toEqual(['good']);
    expect(readFileSync(join(root, 'good')).equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('reports a directory it cannot create once, and creates nothing in it or below it (not even through a symlink in its place)', async () => {
    const root = scratchDir();
    dirs.push(root);
    const outside = join(root, 'outside');
    mkdirSync(outside);
    const base = join(root, 'restore');
    mkdirSync(base);
    // What a race could put where the restore was to create a directory.
    symlinkSync(outside, join(base, 'd'));
    const results: [number, WriteResult][] = [];
    const pool = new FileWriterPool((id, r) => results.push([id, r]), { maxWriters: 1 });
    let mkdirId: number;
    try {
      mkdirId = pool.makeDir(join(base, 'd'), 1, 0);
      const file = pool.begin(join(base, 'd', 'f'), 1, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
      await pool.write(file, Buffer.from('pwned'));
      pool.commit(file, meta);
      pool.symlink(join(base, 'd', 'l'), 1, { target: '/etc/passwd', uid: 0, gid: 0, mtime: 0 }, { fresh: true, overwrite: false, owner: false });
      pool.makeDir(join(base, 'd', 'sub'), 2, 1);
      const deep = pool.begin(join(base, 'd', 'sub', 'g'), 2, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
      await pool.write(deep, Buffer.from('pwned'));
      pool.commit(deep, meta);
      // The root's other entries go on.
      const ok = pool.begin(join(base, 'ok'), 0, { fresh: true, overwrite: false, plan: createPlan(meta, false) });
      await pool.write(ok, Buffer.from('fine'));
      pool.commit(ok, meta);
      await pool.drain();
    } finally {
      await pool.close();
    }
    expect(results.filter(([, r]) => !r.ok)).toEqual([[mkdirId, expect.objectContaining({ ok: false, code: 'EEXIST' })]]);
    expect(results.filter(([, r]) => r.ok)).toHaveLength(1);
    expect(readdirSync(outside)).toEqual([]);
    expect(readFileSync(join(base, 'ok'), 'utf8')).toBe('fine');
    expect(existsSync(join(base, 'sub'))).toBe(false);
  });
});
