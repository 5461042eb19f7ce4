import { existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openLocalStorage } from '../../src/backends/local.js';
import { fixedClock } from '../../src/core/clock.js';
import { chunkBuffer } from '../../src/repo/blob/chunker.js';
import { FilePool } from '../../src/repo/backup/reader-pool.js';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import type { KnownSet } from '../../src/repo/index/known-set.js';
import { Repository } from '../../src/repo/repository.js';
import { MultiTargetWriter } from '../../src/repo/backup/writer.js';
import { bytes } from '../helpers/tree.js';
import { PASS, scratchDir } from '../helpers/triad.js';
import { TEST_KDF_COST } from '../helpers/kdf.js';

const MiB = 1024 * 1024;

/** A fresh local repository in `dir` (fast key derivation), reopened as a backup would. */
async function newRepo(dir: string): Promise<Repository> {
  const created = await Repository.create('nas', await openLocalStorage(dir, { create: true }), PASS.TEST_PASSPHRASE, {
    clock: fixedClock('2030-01-01T00:00:00Z'),
    host: 'test',
    kdf: TEST_KDF_COST,
  });
  await created.storage.close();
  return Repository.open('nas', await openLocalStorage(dir), PASS.TEST_PASSPHRASE);
}

async function writerFor(repo: Repository, opts: { dryRun?: boolean } = {}): Promise<MultiTargetWriter> {
  const session = { name: 'nas', repo, index: await MasterIndex.load(repo), bytesWritten: 0, packsWritten: 0 };
  return new MultiTargetWriter([session], 'auto', opts);
}

/** The chunk ids the main thread's own chunker gives for `data`. */
function expectedIds(repo: Repository, data: Buffer): string[] {
  return [...chunkBuffer(repo.gear, data)].map((c) => repo.blobId(c).toString('hex'));
}

/** Files of the repository's data/ directory (pack files), recursively. */
function packFiles(repoDir: string): string[] {
  const dir = join(repoDir, 'data');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true }).filter((e) => e.isFile()).map((e) => e.name);
}

describe('FilePool', () => {
  const work = scratchDir();
  const src = join(work, 'src');
  const files: Record<string, Buffer> = {};
  const pools: FilePool[] = [];
  let n = 0;

  /** A new repository in its own directory, so each test's writer starts from an empty index. */
  async function setup(opts: { dryRun?: boolean; defaultWorkers?: boolean } = {}): Promise<{ repo: Repository; repoDir: string; writer: MultiTargetWriter; pool: FilePool }> {
    const repoDir = join(work, `repo-${++n}`);
    const repo = await newRepo(repoDir);
    const writer = await writerFor(repo, opts);
    const pool = new FilePool(repo, writer, opts.defaultWorkers ? {} : { workers: 2 });
    pools.push(pool);
    return { repo, repoDir, writer, pool };
  }

  async function fileOf(pool: FilePool, name: string, size?: number) {
    const p = join(src, name);
    const st = statSync(p);
    return pool.file(p, size ?? st.size, st.mtimeMs);
  }

  beforeAll(() => {
    mkdirSync(src, { recursive: true });
    const block = bytes(21, MiB);
    files['empty.txt'] = Buffer.alloc(0);
    files['small.txt'] = bytes(22, 5000, true);
    files['tiny.txt'] = Buffer.from('x');
    files['three.bin'] = bytes(23, 3 * MiB);
    files['repeat.bin'] = Buffer.concat(Array.from({ length: 20 }, () => block));
    // No content-defined cut in zeros: every chunk but the last is of the largest size.
    files['zeros.bin'] = Buffer.alloc(30 * MiB + 123);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
  });

  afterEach(async () => {
    await Promise.all(pools.splice(0).map((p) => p.close()));
  });

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('reads a few small files on one thread, and starts the second once the files waiting hold megabytes', async () => {
    const { pool } = await setup();
    expect(pool.threads).toBe(0);
    await Promise.all(['small.txt', 'tiny.txt', 'empty.txt'].map((name) => fileOf(pool, name)));
    expect(pool.threads).toBe(1);
    await Promise.all(['zeros.bin', 'repeat.bin', 'three.bin'].map((name) => fileOf(pool, name)));
    expect(pool.threads).toBe(2);
  });

  it('by default keeps a core for the walk while the files are small, and reads large ones on every core', async () => {
    const cores = availableParallelism();
    const { repo, pool } = await setup({ defaultWorkers: true });
    const many = join(work, 'many');
    mkdirSync(many, { recursive: true });
    const small = Array.from({ length: 1500 }, (_, i) => bytes(1000 + i, 100 + (i % 50)));
    small.forEach((data, i) => writeFileSync(join(many, `f${i}`), data));
    // As the walk hands them over: it waits for room in the queue, so the queue fills up.
    const results = [];
    for (const [i, data] of small.entries()) {
      await pool.room();
      results.push(pool.file(join(many, `f${i}`), data.length, 0));
    }
    for (const [i, r] of (await Promise.all(results)).entries()) expect(r.hash, `f${i}`).toBe(repo.blobId(small[i]!).toString('hex'));
    expect(pool.threads).toBeGreaterThanOrEqual(1);
    expect(pool.threads).toBeLessThanOrEqual(Math.max(1, Math.min(4, cores - 1)));
    // 53 MiB handed over at once: more than GROW_BYTES per thread, up to one thread per core.
    await Promise.all(['zeros.bin', 'repeat.bin', 'three.bin'].map((name) => fileOf(pool, name)));
    expect(pool.threads).toBe(Math.max(1, Math.min(4, cores)));
  });

  it('chunks, names and stores files: ids, hash, sizes, and each distinct chunk once', async () => {
    const { repo, writer, pool } = await setup();
    const names = ['empty.txt', 'small.txt', 'tiny.txt', 'three.bin', 'repeat.bin'];
    const results = await Promise.all(names.map((name) => fileOf(pool, name)));
    const all = new Set<string>();
    for (const [i, name] of names.entries()) {
      const data = files[name]!;
      const r = results[i]!;
      expect(r.bytesRead, name).toBe(data.length);
      expect(r.changed, name).toBe(false);
      // The keyed hash of the whole content, whatever the number of chunks.
      expect(r.hash, name).toBe(repo.blobId(data).toString('hex'));
      expect(r.content, name).toEqual(expectedIds(repo, data));
      for (const id of r.content) all.add(id);
    }
    // Small files are one chunk named by their content; the empty file has none.
    expect(results[0]!.content).toEqual([]);
    expect(results[0]!.hash).toBe(repo.blobId(Buffer.alloc(0)).toString('hex'));
    expect(results[1]!.content).toEqual([repo.blobId(files['small.txt']!).toString('hex')]);
    expect(results[1]!.hash).toBe(results[1]!.content[0]);
    expect(results[2]!.content).toEqual([repo.blobId(Buffer.from('x')).toString('hex')]);
    // The big files are several chunks, and the repeated block makes chunks repeat.
    expect(results[3]!.content.length).toBeGreaterThan(1);
    const repeat = results[4]!.content;
    expect(repeat.length).toBeGreaterThan(1);
    expect(new Set(repeat).size).toBeLessThan(repeat.length);

    await writer.finishData();
    for (const id of all) expect(writer.known(id), id).toBe(true);
    expect(writer.blobsAdded).toBe(all.size);
    // Every distinct chunk's plaintext counted once.
    const rawByID = new Map<string, number>();
    for (const name of names) for (const c of chunkBuffer(repo.gear, files[name]!)) rawByID.set(repo.blobId(c).toString('hex'), c.length);
    expect(writer.rawAdded).toBe([...rawByID.values()].reduce((a, b) => a + b, 0));
    // And it is on storage: a freshly loaded index names every id.
    const index = await MasterIndex.load(repo);
    for (const id of all) expect(index.has(id), id).toBe(true);
    expect(index.size).toBe(all.size);
  });

  it('streams a large file through a buffer of the largest chunk and 1 MiB more, cutting where a whole read would', async () => {
    const { repo, pool } = await setup();
    const data = files['zeros.bin']!;
    const r = await fileOf(pool, 'zeros.bin');
    const chunks = [...chunkBuffer(repo.gear, data)];
    expect(chunks.slice(0, -1).every((c) => c.length === repo.gear.params.max)).toBe(true);
    expect(chunks.length).toBe(Math.ceil(data.length / repo.gear.params.max));
    expect(r.content).toEqual(expectedIds(repo, data));
    expect(r.bytesRead).toBe(data.length);
    expect(r.hash).toBe(repo.blobId(data).toString('hex'));
  });

  it('reading the same files again stores nothing new', async () => {
    const { repo, repoDir, writer: first, pool: firstPool } = await setup();
    const a = await fileOf(firstPool, 'three.bin');
    await first.finishData();
    expect(first.blobsAdded).toBe(a.content.length);
    const packs = packFiles(repoDir).length;
    expect(packs).toBeGreaterThan(0);

    // A writer and pool opened on the now-populated index: the known set covers every chunk.
    const second = await writerFor(repo);
    const secondPool = new FilePool(repo, second, { workers: 2 });
    pools.push(secondPool);
    const known = (secondPool as unknown as { known: KnownSet }).known;
    for (const id of a.content) expect(known.has(Buffer.from(id, 'hex'))).toBe(true);
    const b = await fileOf(secondPool, 'three.bin');
    expect(b.content).toEqual(a.content);
    expect(b.hash).toBe(a.hash);
    await second.finishData();
    expect(second.blobsAdded).toBe(0);
    expect(packFiles(repoDir).length).toBe(packs);
  });

  it('builds the known set only for a file that may have more than one chunk, and then seals no known chunk', async () => {
    const { repo, writer: first, pool: firstPool } = await setup();
    const a = await fileOf(firstPool, 'three.bin');
    await first.finishData();
    const second = await writerFor(repo);
    const pool = new FilePool(repo, second, { workers: 1 });
    pools.push(pool);
    const knownSet = () => (pool as unknown as { knownSet: KnownSet | undefined }).knownSet;
    // Small files (each one chunk, below the smallest cut): no known set is built.
    await Promise.all(['small.txt', 'tiny.txt'].map((name) => fileOf(pool, name)));
    expect(knownSet()).toBeUndefined();
    // three.bin may have several chunks: the worker gets the set first and skips every chunk stored above.
    const sealed = vi.spyOn(second, 'addSealed');
    const b = await fileOf(pool, 'three.bin');
    expect(knownSet()).toBeDefined();
    expect(b.content).toEqual(a.content);
    expect(sealed).not.toHaveBeenCalled();
    await second.finishData();
    expect(second.blobsAdded).toBe(2);
  });

  it('stores a blob the known set falsely names (8-byte prefix collision)', async () => {
    const { repo, writer, pool } = await setup();
    const id = repo.blobId(files['small.txt']!);
    const hex = id.toString('hex');
    expect(writer.known(hex)).toBe(false);
    (pool as unknown as { known: KnownSet }).known.add(id);
    // White-box: the pool re-queues a file (at the front) only on a false "known"; seeing it
    // proves the worker honoured the hint and the fallback path is what stored the blob.
    const requeue = vi.spyOn((pool as unknown as { queue: unknown[] }).queue, 'unshift');

    const r = await fileOf(pool, 'small.txt');
    expect(requeue).toHaveBeenCalledTimes(1);
    expect(r.content).toEqual([hex]);
    expect(r.hash).toBe(hex);
    expect(r.bytesRead).toBe(files['small.txt']!.length);
    expect(r.changed).toBe(false);

    await writer.finishData();
    expect(writer.known(hex)).toBe(true);
    expect(writer.blobsAdded).toBe(1);
    expect(writer.rawAdded).toBe(files['small.txt']!.length);
    const index = await MasterIndex.load(repo);
    expect(index.has(hex)).toBe(true);
  });

  it('stores a falsely known chunk in the middle of a multi-chunk file, content listed once', async () => {
    const { repo, writer, pool } = await setup();
    const expected = expectedIds(repo, files['three.bin']!);
    expect(expected.length).toBeGreaterThan(1);
    const victim = expected[1]!;
    // A different id with the same first 8 bytes: exactly what a real prefix collision looks like.
    const collider = Buffer.concat([Buffer.from(victim, 'hex').subarray(0, 8), Buffer.alloc(24, 0xab)]);
    (pool as unknown as { known: KnownSet }).known.add(collider);
    const requeue = vi.spyOn((pool as unknown as { queue: unknown[] }).queue, 'unshift');

    const [r, s] = await Promise.all([fileOf(pool, 'three.bin'), fileOf(pool, 'small.txt')]);
    expect(r.content).toEqual(expected);
    expect(r.hash).toBe(repo.blobId(files['three.bin']!).toString('hex'));
    expect(s.content).toEqual([repo.blobId(files['small.txt']!).toString('hex')]);
    expect(requeue).toHaveBeenCalledTimes(1);

    await writer.finishData();
    const distinct = new Set([...expected, ...s.content]);
    for (const id of distinct) expect(writer.known(id), id).toBe(true);
    expect(writer.blobsAdded).toBe(distinct.size);
    const index = await MasterIndex.load(repo);
    for (const id of distinct) expect(index.has(id), id).toBe(true);
  });

  it('reports changed when the file is not the size the walk saw', async () => {
    const { repo, pool } = await setup();
    const data = files['small.txt']!;
    const shorter = await fileOf(pool, 'small.txt', 100);
    expect(shorter.changed).toBe(true);
    expect(shorter.bytesRead).toBe(data.length);
    expect(shorter.hash).toBe(repo.blobId(data).toString('hex'));
    expect(shorter.content).toEqual([repo.blobId(data).toString('hex')]);

    const longer = await fileOf(pool, 'small.txt', data.length + 10);
    expect(longer.changed).toBe(true);
    expect(longer.bytesRead).toBe(data.length);

    const exact = await fileOf(pool, 'small.txt');
    expect(exact.changed).toBe(false);
  });

  it('rejects with ENOENT for a missing file, and keeps working afterwards', async () => {
    const { repo, pool } = await setup();
    await expect(pool.file(join(src, 'no-such-file'), 10, 0)).rejects.toMatchObject({ code: 'ENOENT' });
    const r = await fileOf(pool, 'tiny.txt');
    expect(r.content).toEqual([repo.blobId(Buffer.from('x')).toString('hex')]);
  });

  it('a dry run names the same chunks and writes no packs', async () => {
    const { repo, repoDir, writer, pool } = await setup({ dryRun: true });
    const names = ['small.txt', 'three.bin'];
    const results = await Promise.all(names.map((name) => fileOf(pool, name)));
    const all = new Set<string>();
    for (const [i, name] of names.entries()) {
      expect(results[i]!.content, name).toEqual(expectedIds(repo, files[name]!));
      expect(results[i]!.hash, name).toBe(repo.blobId(files[name]!).toString('hex'));
      expect(results[i]!.bytesRead, name).toBe(files[name]!.length);
      for (const id of results[i]!.content) all.add(id);
    }
    await writer.finishData();
    expect(writer.blobsAdded).toBe(all.size);
    expect(packFiles(repoDir)).toEqual([]);
    expect(existsSync(join(repoDir, 'index')) ? readdirSync(join(repoDir, 'index')) : []).toEqual([]);
    expect((await MasterIndex.load(repo)).size).toBe(0);
  });
});
