import { describe, expect, it } from 'vitest';
import { MemoryStorage } from '../../src/backends/memory.js';
import { PlannedReads, planRanges, type BlobSpan } from '../../src/repo/read/read-plan.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Blobs laid out back to back in one pack, with `gaps[i]` unneeded bytes before blob i. */
function layout(pack: string, sizes: number[], gaps: number[] = []): BlobSpan[] {
  let at = 0;
  return sizes.map((length, i) => {
    at += gaps[i] ?? 0;
    const b = { id: `${pack}-${i}`, pack, offset: at, length };
    at += length;
    return b;
  });
}

describe('planRanges', () => {
  it('merges adjacent blobs and gaps up to the threshold, and splits beyond it', () => {
    const blobs = layout('p', [10 * KiB, 10 * KiB, 10 * KiB, 10 * KiB], [0, 0, 4 * KiB, 100 * KiB]);
    const ranges = planRanges(blobs, 8 * KiB);
    expect(ranges.map((r) => [r.offset, r.length, r.blobs.length])).toEqual([
      [0, 34 * KiB, 3],
      [134 * KiB, 10 * KiB, 1],
    ]);
  });

  it('does not merge a gap that would make more than a quarter of the range unneeded', () => {
    // 2 KiB of gap for 8 KiB needed: a quarter, merged; 3 KiB: split.
    expect(planRanges(layout('p', [4 * KiB, 4 * KiB], [0, 2 * KiB]), 64 * KiB)).toHaveLength(1);
    expect(planRanges(layout('p', [4 * KiB, 4 * KiB], [0, 3 * KiB]), 64 * KiB)).toHaveLength(2);
  });

  it('orders ranges by first use, plans a repeated blob once, and keeps packs apart', () => {
    const a = layout('a', [MiB, MiB]);
    const b = layout('b', [MiB]);
    const ranges = planRanges([b[0]!, a[1]!, a[0]!, b[0]!], MiB);
    expect(ranges.map((r) => [r.pack, r.blobs.map((x) => x.id)])).toEqual([
      ['b', ['b-0']],
      ['a', ['a-0', 'a-1']],
    ]);
  });

  it('splits blobs of one pack whose uses lie further apart than the window', () => {
    const a = layout('a', [MiB, MiB]);
    const filler = layout('f', Array<number>(8).fill(MiB), Array<number>(8).fill(MiB));
    // a-0 first, eight MiB of other reads, then a-1: with a 4 MiB window a-1 is fetched on its own, later.
    const ranges = planRanges([a[0]!, ...filler, a[1]!], 0, 4 * MiB);
    const ofA = ranges.filter((r) => r.pack === 'a');
    expect(ofA.map((r) => r.blobs.map((x) => x.id))).toEqual([['a-0'], ['a-1']]);
  });
});

describe('PlannedReads', () => {
  /** A pack in the memory backend, and a fetch that counts requests in flight. */
  async function packStore(sizes: number[]) {
    const storage = new MemoryStorage();
    const blobs = layout('p', sizes);
    const total = blobs.reduce((n, b) => n + b.length, 0);
    const bytes = Buffer.alloc(total);
    for (let i = 0; i < total; i++) bytes[i] = i % 251;
    await storage.save('data/p', bytes);
    const stats = { inFlight: 0, maxInFlight: 0, requests: 0, bytes: 0 };
    const fetch = async (pack: string, offset: number, length: number) => {
      stats.requests++;
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      try {
        const b = await storage.load(`data/${pack}`, { offset, length });
        stats.bytes += b.length;
        return b;
      } finally {
        stats.inFlight--;
      }
    };
    return { blobs, bytes, fetch, stats };
  }

  it('serves every use with the bytes the index names, fetching each byte once with at most N requests in flight', async () => {
    // Uneven sizes, read out of pack order: ranges split at the 4 MiB range cap and where the read order jumps.
    const { blobs, bytes, fetch, stats } = await packStore(Array.from({ length: 60 }, (_, i) => (i % 3 === 0 ? 3 * MiB : 200 * KiB)));
    const uses = [...blobs.slice(30), ...blobs.slice(0, 30), blobs[5]!];
    const plan = new PlannedReads(uses, fetch, { gap: 0, concurrency: 3 });
    expect(plan.ranges).toBeGreaterThan(2);
    for (const u of uses) {
      const served = await plan.take(u.id);
      expect(served && 'sealed' in served ? served.sealed.equals(bytes.subarray(u.offset, u.offset + u.length)) : served).toBe(true);
    }
    expect(stats.bytes).toBe(bytes.length);
    expect(stats.maxInFlight).toBeGreaterThan(1);
    expect(stats.maxInFlight).toBeLessThanOrEqual(3);
    expect(await plan.take(blobs[0]!.id)).toBeUndefined();
  });

  it('reports a short pack as truncated for the blobs beyond its end, and a failed request for its blobs', async () => {
    const { blobs, fetch } = await packStore([KiB, KiB, KiB]);
    const short = (pack: string, offset: number, length: number) => fetch(pack, offset, length).then((b) => b.subarray(0, KiB + 10));
    const plan = new PlannedReads(blobs, short, { gap: 0, concurrency: 1 });
    expect(await plan.take(blobs[0]!.id)).toMatchObject({ pack: 'p' });
    expect(await plan.take(blobs[1]!.id)).toEqual({ pack: 'p', truncated: true, got: KiB + 10 });
    const failing = new PlannedReads(blobs, () => Promise.reject(new Error('gone')), { gap: 0, concurrency: 1 });
    expect(await failing.take(blobs[2]!.id)).toEqual({ pack: 'p', error: new Error('gone') });
  });

  it('keeps copies of the blobs read again soonest, and fetches a later repeat again when room runs out', async () => {
    const { blobs, bytes, fetch, stats } = await packStore([20 * MiB, MiB, 14 * MiB]);
    const [a, gap, b] = blobs as [BlobSpan, BlobSpan, BlobSpan];
    // Both repeats do not fit in the 32 MiB kept: b, read again first, is kept; a is fetched again.
    const uses = [a, b, b, a];
    const plan = new PlannedReads(uses, fetch, { gap: 0, concurrency: 1 });
    for (const u of uses) {
      const served = await plan.take(u.id);
      const got = served && 'sealed' in served ? served.sealed : await fetch('p', u.offset, u.length);
      expect(got.equals(bytes.subarray(u.offset, u.offset + u.length))).toBe(true);
    }
    expect(stats.bytes).toBe(2 * a.length + b.length);
    expect(gap.length).toBe(MiB);
  });

  it("hands a range's memory back only when the blob after its last one is asked for", async () => {
    const { blobs, fetch } = await packStore([MiB, MiB, MiB]);
    const back: Buffer[] = [];
    const plan = new PlannedReads([blobs[0]!, blobs[2]!], fetch, { gap: 0, concurrency: 1 }, (b) => back.push(b));
    const first = await plan.take(blobs[0]!.id);
    // Served and still being read by the caller: not handed back yet.
    expect(back).toHaveLength(0);
    await plan.take(blobs[2]!.id);
    expect(back).toHaveLength(1);
    expect(first && 'sealed' in first && back[0]!.buffer === first.sealed.buffer).toBe(true);
  });

  it('never fetches a range whose blobs were all forgone before it started', async () => {
    const { blobs, fetch, stats } = await packStore([MiB, MiB, MiB]);
    // Two ranges (a gap of one unneeded blob); one request in flight: the second waits.
    const plan = new PlannedReads([blobs[0]!, blobs[2]!], fetch, { gap: 0, concurrency: 1 });
    expect(plan.ranges).toBe(2);
    plan.forgo(blobs[2]!.id);
    await plan.take(blobs[0]!.id);
    await new Promise((r) => setTimeout(r, 20));
    expect(stats.requests).toBe(1);
    expect(await plan.take(blobs[2]!.id)).toBeUndefined();
  });
  it('plans a long read order a batch at a time, a bounded distance ahead of the reader', async () => {
    // 4 GiB of uses in 64 KiB blobs: planned whole, the plan would hold all 65,536.
    const blobs = layout('p', Array<number>(65536).fill(64 * KiB));
    let pulled = 0;
    const uses = function* () {
      for (const b of blobs) {
        pulled++;
        yield b;
      }
    };
    const fetch = (_pack: string, _offset: number, length: number) => Promise.resolve(Buffer.alloc(length));
    const plan = new PlannedReads(uses(), fetch, { gap: 0, concurrency: 4 });
    const ahead = pulled;
    expect(ahead).toBeGreaterThan(0);
    // At most the planned distance (48 MiB) and one batch (16 MiB) of 64 KiB blobs.
    expect(ahead).toBeLessThanOrEqual(1024);
    for (const b of blobs.slice(0, 2000)) expect(await plan.take(b.id)).toMatchObject({ pack: 'p' });
    expect(pulled - 2000).toBeLessThanOrEqual(1024);
    expect(pulled).toBeGreaterThan(2000);
  });
});
