/**
 * The in-memory index keeps blob ids and locations in typed arrays under an open-addressing
 * table. Every blob added must be found with its own location, through every growth of the
 * table, and nothing else may be found.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MasterIndex } from '../../src/repo/index/index-store.js';
import type { PackEntry } from '../../src/repo/blob/pack.js';

function pack(n: number, from: number): PackEntry[] {
  return Array.from({ length: n }, (_, i) => ({ id: randomBytes(32), type: i % 7 === 0 ? 'tree' : 'data', offset: (from + i) * 1000, length: 900 + i, rawLength: 5_000_000_000 + from + i }));
}

describe('MasterIndex', () => {
  it('finds every blob with its location through many growths, in insertion order', () => {
    const idx = new MasterIndex();
    const added: { pack: string; entries: PackEntry[] }[] = [];
    let n = 0;
    // 50,000 blobs: the table grows from 2,048 slots to 131,072.
    for (let p = 0; p < 50; p++) {
      const id = randomBytes(32).toString('hex');
      const entries = pack(1000, n);
      n += entries.length;
      idx.addPack(id, 4_000_000 + p, entries);
      added.push({ pack: id, entries });
    }
    expect(idx.size).toBe(50_000);
    expect(idx.packs.size).toBe(50);
    for (const { pack: packId, entries } of added) {
      expect(idx.packs.get(packId)).toBeGreaterThanOrEqual(4_000_000);
      for (const e of entries) {
        const hex = e.id.toString('hex');
        expect(idx.has(hex)).toBe(true);
        expect(idx.get(hex)).toEqual({ pack: packId, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength });
      }
    }
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
    const packs = Array.from({ length: 6 }, (_, p) => ({ id: `pack${p}`, entries: pack(700, p * 700) }));
    for (const p of packs) idx.addPack(p.id, 1000 + p.entries.length, p.entries);
    idx.dropPacks(new Set(['pack1', 'pack4', 'not-indexed']));
    expect(idx.size).toBe(4 * 700);
    expect([...idx.packs.keys()]).toEqual(['pack0', 'pack2', 'pack3', 'pack5']);
    for (const p of packs) {
      const dropped = p.id === 'pack1' || p.id === 'pack4';
      for (const e of p.entries) {
        const hex = e.id.toString('hex');
        expect(idx.has(hex)).toBe(!dropped);
        if (!dropped) expect(idx.get(hex)).toEqual({ pack: p.id, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength });
      }
    }
    // A dropped blob can be added again, in another pack.
    const again = packs[1]!.entries[3]!;
    idx.addPack('pack6', 1, [again]);
    expect(idx.get(again.id.toString('hex'))?.pack).toBe('pack6');
  });
});
