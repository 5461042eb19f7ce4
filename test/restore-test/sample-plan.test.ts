import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { FileSampler, selectSnapshots } from '../../src/repo/maintenance/sample-plan.js';

const snaps = ['s1', 's2', 's3', 's4', 's5'];

function candidates(): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  // Heavily skewed: 5000 tiny files, 50 medium, 3 huge, 10 empty.
  for (let i = 0; i < 5000; i++) out.push({ path: `small/${i}`, size: 100 + (i % 900) });
  for (let i = 0; i < 50; i++) out.push({ path: `mid/${i}`, size: 1_000_000 + i });
  for (let i = 0; i < 3; i++) out.push({ path: `huge/${i}`, size: 5_000_000_000 + i });
  for (let i = 0; i < 10; i++) out.push({ path: `empty/${i}`, size: 0 });
  return out;
}

function sample(seed: number, limit: { maxFiles: number; maxBytes: number }, perClass?: number) {
  const r = seededRandom(seed);
  const s = new FileSampler<{ path: string; size: number }>(r, perClass);
  for (const c of candidates()) s.offer(c);
  return s.pick(limit);
}

describe('selectSnapshots', () => {
  it('default: the latest and one older one, newest first', () => {
    for (let seed = 0; seed < 20; seed++) {
      const [a, b, ...rest] = selectSnapshots(snaps, { kind: 'default' }, seededRandom(seed));
      expect(a).toBe('s5');
      expect(snaps.slice(0, 4)).toContain(b);
      expect(rest).toEqual([]);
    }
    expect(selectSnapshots(['only'], { kind: 'default' }, seededRandom(1))).toEqual(['only']);
    expect(selectSnapshots([], { kind: 'default' }, seededRandom(1))).toEqual([]);
  });

  it('latest, all and random:N', () => {
    expect(selectSnapshots(snaps, { kind: 'latest' }, seededRandom(1))).toEqual(['s5']);
    expect(selectSnapshots(snaps, { kind: 'all' }, seededRandom(1))).toEqual(['s5', 's4', 's3', 's2', 's1']);
    const three = selectSnapshots(snaps, { kind: 'random', count: 3 }, seededRandom(7));
    expect(new Set(three).size).toBe(3);
    expect([...three].sort().reverse()).toEqual(three);
    expect(selectSnapshots(snaps, { kind: 'random', count: 3 }, seededRandom(7))).toEqual(three);
    expect(selectSnapshots(snaps, { kind: 'random', count: 99 }, seededRandom(7))).toHaveLength(5);
  });
});

describe('FileSampler', () => {
  it('covers large, small and empty files even when small files dominate', () => {
    const picked = sample(1, { maxFiles: 10, maxBytes: Infinity });
    expect(picked).toHaveLength(10);
    expect(picked.some((f) => f.path.startsWith('huge/'))).toBe(true);
    expect(picked.some((f) => f.path.startsWith('mid/'))).toBe(true);
    expect(picked.some((f) => f.path.startsWith('small/'))).toBe(true);
    expect(picked.some((f) => f.path.startsWith('empty/'))).toBe(true);
    expect(new Set(picked.map((f) => f.path)).size).toBe(10);
  });

  it('two picks are one file from the upper and one from the lower half of the size classes', () => {
    // Classes present: empty, 2^6, 2^7 | 2^8 | 2^9, 2^19, 2^32.
    const firsts = new Set<number>();
    for (let seed = 0; seed < 30; seed++) {
      const picked = sample(seed, { maxFiles: 2, maxBytes: Infinity }).map((f) => f.size);
      firsts.add(picked[0]!);
      const [a, b] = [...picked].sort((x, y) => x - y);
      expect(a!).toBeLessThan(256);
      expect(b!).toBeGreaterThanOrEqual(512);
    }
    // The seed decides which pair of classes comes first.
    expect([...firsts].some((s) => s >= 5_000_000_000)).toBe(true);
    expect([...firsts].some((s) => s < 5_000_000_000)).toBe(true);
  });

  it('is reproducible from the seed and varies with it', () => {
    expect(sample(42, { maxFiles: 20, maxBytes: Infinity })).toEqual(sample(42, { maxFiles: 20, maxBytes: Infinity }));
    const variants = new Set([1, 2, 3, 4, 5].map((s) => JSON.stringify(sample(s, { maxFiles: 20, maxBytes: Infinity }))));
    expect(variants.size).toBeGreaterThan(1);
  });

  it('stays within the byte budget and leaves out files that do not fit', () => {
    const picked = sample(3, { maxFiles: Infinity, maxBytes: 10_000_000 });
    const total = picked.reduce((n, f) => n + f.size, 0);
    expect(total).toBeLessThanOrEqual(10_000_000);
    expect(picked.some((f) => f.path.startsWith('huge/'))).toBe(false);
    expect(picked.filter((f) => f.path.startsWith('mid/')).length).toBeGreaterThanOrEqual(9);
  });

  it('keeps bounded memory: at most perClass candidates per size class, still uniform over the stream', () => {
    const r = seededRandom(9);
    const s = new FileSampler<{ path: string; size: number }>(r, 5);
    for (const c of candidates()) s.offer(c);
    expect(s.offered).toBe(5063);
    const all = s.pick({ maxFiles: Infinity, maxBytes: Infinity });
    // Classes: empty, 2^6 … 2^9 (small), 2^19 (mid), 2^32 (huge): each holds at most 5.
    expect(all.length).toBeLessThanOrEqual(5 * 7);
    expect(all.filter((f) => f.path.startsWith('small/')).some((f) => Number(f.path.slice(6)) >= 5)).toBe(true);
  });
});
