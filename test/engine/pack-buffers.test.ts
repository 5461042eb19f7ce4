/**
 * BlobReader lends an evicted pack's memory to the next pack it loads. On a real local
 * repository with one pack per file and room for a single pack in the cache, every blob must
 * still decode to its file's bytes, read in order, backwards, and many at once.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBackup } from '../../src/app/backup.js';
import { initRepositories } from '../../src/app/init.js';
import { openForRead, pickSnapshot, type ReadSession } from '../../src/app/read.js';
import { systemClock } from '../../src/core/clock.js';
import { TEST_KDF } from '../helpers/kdf.js';
import { seededRandom } from '../../src/core/random.js';
import { BlobReader } from '../../src/repo/read/blob-reader.js';
import { MemoryPool } from '../../src/core/memory-pool.js';
import { PackBuilder, parsePackHeader } from '../../src/repo/blob/pack.js';
import { keyedHash, newMasterKey, sealParts } from '../../src/repo/crypto/crypto.js';
import { decodeBlobWith } from '../../src/repo/repository.js';
import { frameParts } from '../../src/repo/blob/compress.js';
import { blobAad } from '../../src/repo/format.js';
import { bytes } from '../helpers/tree.js';
import { PASS, scratchDir, writeLocalPolicy } from '../helpers/triad.js';

const FILES = 8;
/** Sizes differ, so packs of several sizes take turns in the same memory. */
const sizeOf = (i: number) => 150 * 1024 + i * 37 * 1024;

describe('pack memory reused across evictions', () => {
  const work = scratchDir();
  const ctx = { env: PASS, cwd: work, clock: systemClock, kdf: TEST_KDF };
  let session: ReadSession;
  /** Blob id → the bytes it must decode to. */
  const expected = new Map<string, Buffer>();

  beforeAll(async () => {
    const src = join(work, 'src');
    mkdirSync(src);
    // Random content, one blob per file; packs of at most 128 KiB hold one file each.
    for (let i = 0; i < FILES; i++) writeFileSync(join(src, `f${i}.bin`), bytes(200 + i, sizeOf(i)));
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas') } }, rule: 'none' });
    await initRepositories(ctx, { policyFile: policy });
    expect((await runBackup(ctx, { policyFile: policy, packSize: 128 * 1024 })).exitCode).toBe(0);
    session = await openForRead(ctx, policy);
    const root = await session.reader.tree(pickSnapshot(session, 'latest').tree);
    const dir = await session.reader.tree(root.nodes[0]!.subtree!);
    for (const n of dir.nodes) {
      expect(n.content).toHaveLength(1);
      expected.set(n.content![0]!, bytes(200 + Number(n.name.slice(1, -4)), n.size));
    }
    expect(expected.size).toBe(FILES);
  });
  afterAll(async () => {
    await session?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('decodes every blob right, in order, backwards and concurrently, with fewer buffers than loads', async () => {
    const reader = new BlobReader(session.reader.repo, session.reader.index, { packs: 1 });
    const storage = reader.repo.storage;
    const load = storage.load.bind(storage);
    const memories = new Set<ArrayBufferLike>();
    let loads = 0;
    storage.load = async (name, range, opts) => {
      const b = await load(name, range, opts);
      if (name.startsWith('data/')) {
        loads++;
        memories.add(b.buffer);
      }
      return b;
    };
    try {
      const ids = [...expected.keys()];
      const rnd = seededRandom(7);
      const shuffled = [...ids, ...ids, ...ids].sort(() => rnd.next() - 0.5);
      for (const order of [ids, [...ids].reverse(), shuffled]) {
        for (const id of order) expect((await reader.blob(id)).equals(expected.get(id)!), id.slice(0, 8)).toBe(true);
        // Transient blobs are overwritten by the next call: compare each before asking for more.
        for (const id of order) expect((await reader.transientBlob(id)).equals(expected.get(id)!), id.slice(0, 8)).toBe(true);
      }
      // Many decodes in flight at once: a pack being read must not lend its memory to another.
      const all = await Promise.all(shuffled.map(async (id) => (await reader.blob(id)).equals(expected.get(id)!)));
      expect(all.every(Boolean)).toBe(true);
      expect(loads).toBeGreaterThan(4 * FILES);
      expect(memories.size).toBeLessThan(loads / 4);
    } finally {
      storage.load = load;
    }
  });
});

describe('MemoryPool', () => {
  it('lends handed-back memory to a pack that fits, keeps only what it lent, and at most `keep` buffers', () => {
    const m = new MemoryPool(1);
    const a = m.take(5 * 1024 * 1024);
    expect(a.length).toBe(5 * 1024 * 1024);
    expect(m.owns(a.buffer)).toBe(true);
    m.giveBack(a.buffer);
    const b = m.take(3 * 1024 * 1024);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(3 * 1024 * 1024);
    // Too large for what was handed back: new memory.
    m.giveBack(b.buffer);
    const c = m.take(9 * 1024 * 1024);
    expect(c.buffer).not.toBe(a.buffer);
    // A buffer it did not lend is never lent out.
    const foreign = Buffer.alloc(16 * 1024 * 1024);
    const m2 = new MemoryPool(2);
    m2.giveBack(foreign.buffer);
    expect(m2.take(1024).buffer).not.toBe(foreign.buffer);
    // Memory that went to another thread and came back is a new object: taken back only when vouched for.
    const moved = new ArrayBuffer(4 * 1024 * 1024);
    m2.giveBack(moved, true);
    expect(m2.take(2 * 1024 * 1024).buffer).toBe(moved);
    // At most `keep` buffers wait.
    const x = m.take(1024);
    const y = m.take(1024);
    m.giveBack(x.buffer);
    m.giveBack(y.buffer);
    const firstBack = m.take(1024).buffer;
    expect([x.buffer, y.buffer]).toContain(firstBack);
    expect(m.take(1024).buffer).not.toBe(x.buffer === firstBack ? y.buffer : x.buffer);
  });

  it('keeps the larger buffers when full, and lends the smallest that fits', () => {
    const MiB = 1024 * 1024;
    const m = new MemoryPool(2);
    const small = [m.take(MiB), m.take(2 * MiB)].map((b) => b.buffer);
    const big = m.take(5 * MiB).buffer;
    expect(small.map((b) => b.byteLength)).toEqual([4 * MiB, 4 * MiB]);
    expect(big.byteLength).toBe(8 * MiB);
    for (const b of small) m.giveBack(b);
    // Full of 4 MiB buffers: the 8 MiB one takes the place of one of them.
    m.giveBack(big);
    expect(m.take(MiB).buffer).not.toBe(big);
    expect(m.take(6 * MiB).buffer).toBe(big);
    // A smaller buffer does not push out a larger one.
    const again = new MemoryPool(1);
    const large = again.take(5 * MiB).buffer;
    const little = again.take(MiB).buffer;
    again.giveBack(large);
    again.giveBack(little);
    expect(again.take(MiB).buffer).toBe(large);
  });
});

describe('PackBuilder', () => {
  it('builds readable packs in memory handed back by stored ones, growing past its first buffer', () => {
    const key = newMasterKey();
    const memory = new MemoryPool(2);
    const builder = new PackBuilder(memory);
    const blob = (seed: number, n: number) => {
      const plain = bytes(seed, n);
      const id = keyedHash(key.mac, plain);
      return { plain, id, sealed: sealParts(key.encrypt, frameParts(plain, 'off'), blobAad('data', id)) };
    };
    let previous: ArrayBufferLike | undefined;
    for (let p = 0; p < 3; p++) {
      // 3 MiB, then 2.5 MiB more: past the 4 MiB the pack's memory starts with.
      const blobs = [blob(p * 10 + 1, 3 * 1024 * 1024), blob(p * 10 + 2, 2.5 * 1024 * 1024), blob(p * 10 + 3, 100)];
      for (const b of blobs) builder.add('data', b.id, b.sealed, b.plain.length);
      const { bytes: pack, entries } = builder.finish(key.encrypt);
      // The second pack is built in the memory the first was handed back in.
      if (previous) expect(pack.buffer).toBe(previous);
      const parsed = parsePackHeader(key.encrypt, pack, pack.length);
      expect(parsed.map((e) => e.id.toString('hex'))).toEqual(entries.map((e) => e.id.toString('hex')));
      for (const [i, e] of parsed.entries()) expect(decodeBlobWith(key, 'data', e.id, pack.subarray(e.offset, e.offset + e.length)).equals(blobs[i]!.plain)).toBe(true);
      memory.giveBack(pack.buffer);
      previous = pack.buffer;
    }
  });
});
