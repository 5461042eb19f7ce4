/**
 * The in-memory index keeps blob ids and locations in typed arrays under an open-addressing
 * table. Every blob added must be found with its own location, through every growth of the
 * table, and nothing else may be found.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeIndexFile, MasterIndex, type BlobLocation } from '../../src/repo/index/index-store.js';
import type { PackEntry } from '../../src/repo/blob/pack.js';

function pack(n: number, from: number): PackEntry[] {
  // One random buffer for all ids: a randomBytes call per id took seconds for 150,000.
  const ids = randomBytes(32 * n);
  return Array.from({ length: n }, (_, i) => ({ id: ids.subarray(32 * i, 32 * i + 32), type: i % 7 === 0 ? 'tree' : 'data', offset: (from + i) * 1000, length: 900 + i, rawLength: 4_000_000_000 + from + i }));
}

function sameLocation(got: BlobLocation | undefined, packId: string, e: PackEntry): boolean {
  return got !== undefined && got.pack === packId && got.type === e.type && got.offset === e.offset && got.length === e.length && got.rawLength === e.rawLength;
}

describe('MasterIndex', () => {
  it('finds every blob with its location through many growths, in insertion order', () => {
    const idx = new MasterIndex();
    const added: { pack: string; entries: PackEntry[] }[] = [];
    let n = 0;
    // 150,000 blobs: the table grows from 2,048 slots to 262,144, the entries fill three segments.
    for (let p = 0; p < 150; p++) {
      const id = randomBytes(32).toString('hex');
      const entries = pack(1000, n);
      n += entries.length;
      idx.addPack(id, 4_000_000 + p, entries);
      added.push({ pack: id, entries });
    }
    expect(idx.size).toBe(150_000);
    expect(idx.packs.size).toBe(150);
    // The blobs found elsewhere than added (a deep comparison per blob took seconds).
    const misplaced = added.flatMap(({ pack: packId, entries }) => entries.filter((e) => !sameLocation(idx.get(e.id.toString('hex')), packId, e)));
    expect(misplaced).toEqual([]);
    expect(added.every(({ pack: packId, entries }) => idx.packs.get(packId)! >= 4_000_000 && entries.every((e) => idx.has(e.id.toString('hex'))))).toBe(true);
    const order = [...idx.entries()].map(([id]) => id);
    expect(order).toEqual(added.flatMap((a) => a.entries.map((e) => e.id.toString('hex'))));
  });

  it('keeps the first location of a blob stored twice', () => {
    const idx = new MasterIndex();
    const [a, b] = pack(2, 0);
    idx.addPack('p1', 10, [a!, b!]);
    idx.addPack('p2', 20, [{ ...a!, offset: 77 }]);
    expect(idx.size).toBe(2);
    expect(idx.get(a!.id.toString('hex'))).toMatchObject({ pack: 'p1', offset: a!.offset });
    expect(idx.packs.get('p2')).toBe(20);
  });

  it('finds nothing for unknown, malformed or truncated ids', () => {
    const idx = new MasterIndex();
    expect(idx.has(randomBytes(32).toString('hex'))).toBe(false);
    const entries = pack(3000, 0);
    idx.addPack('p', 1, entries);
    const known = entries[5]!.id.toString('hex');
    expect(idx.has(randomBytes(32).toString('hex'))).toBe(false);
    expect(idx.has(known.slice(0, 62))).toBe(false);
    expect(idx.has(`${known.slice(0, 62)}zz`)).toBe(false);
    expect(idx.get('')).toBeUndefined();
    // Same first four bytes (the table slot), different id: a collision, not a match.
    const twin = Buffer.from(known, 'hex');
    twin[31] ^= 1;
    expect(idx.has(twin.toString('hex'))).toBe(false);
    idx.addPack('q', 2, [{ ...entries[0]!, id: twin }]);
    expect(idx.get(twin.toString('hex'))?.pack).toBe('q');
    expect(idx.get(known)?.pack).toBe('p');
  });

  it('forgets dropped packs and their blobs, and still finds every other blob with its location', () => {
    const idx = new MasterIndex();
    // 30,000 blobs a pack: the kept entries move down across segment boundaries (65,536 entries each).
    const packs = Array.from({ length: 6 }, (_, p) => ({ id: `pack${p}`, entries: pack(30_000, p * 30_000) }));
    for (const p of packs) idx.addPack(p.id, 1000 + p.entries.length, p.entries);
    idx.dropPacks(new Set(['pack1', 'pack4', 'not-indexed']));
    expect(idx.size).toBe(4 * 30_000);
    expect([...idx.packs.keys()]).toEqual(['pack0', 'pack2', 'pack3', 'pack5']);
    const dropped = (p: { id: string }) => p.id === 'pack1' || p.id === 'pack4';
    expect(packs.filter(dropped).flatMap((p) => p.entries.filter((e) => idx.has(e.id.toString('hex'))))).toEqual([]);
    const kept = packs.filter((p) => !dropped(p));
    expect(kept.flatMap((p) => p.entries.filter((e) => !sameLocation(idx.get(e.id.toString('hex')), p.id, e)))).toEqual([]);
    // A dropped blob can be added again, in another pack.
    const again = packs[1]!.entries[3]!;
    idx.addPack('pack6', 1, [again]);
    expect(idx.get(again.id.toString('hex'))?.pack).toBe('pack6');
  });

  it('refuses an index file whose offsets or lengths do not fit 32 bits, as the index keeps them', () => {
    const id = 'a'.repeat(64);
    const file = (entry: unknown[]) => ({ version: 1, packs: [{ id: 'b'.repeat(64), size: 2 ** 40, blobs: [entry] }] });
    expect(decodeIndexFile(file([0, id, 2 ** 32 - 100, 90, 4_000_000_000]))).toBeTruthy();
    for (const bad of [[0, id, 2 ** 32, 10, 10], [0, id, 0, 2 ** 32, 10], [1, id, 0, 10, 2 ** 32]]) {
      expect(() => decodeIndexFile(file(bad))).toThrow(/malformed/);
    }
  });
});
