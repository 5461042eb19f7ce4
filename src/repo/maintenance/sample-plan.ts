import type { Random } from '../../core/random.js';

/**
 * Pure planning of a restore-test sample (DESIGN.md §5): which snapshots, then which files.
 * Given the same candidates in the same order and a generator with the same seed, the
 * result is the same, so a sample can be reproduced from its printed seed.
 */

export type SnapshotSelector = { kind: 'default' } | { kind: 'latest' } | { kind: 'random'; count: number } | { kind: 'all' };

/**
 * Picks snapshots from `sorted` (oldest first). 'default' is the latest plus one random
 * older one (when there is one). Returns newest first.
 */
export function selectSnapshots<T>(sorted: readonly T[], sel: SnapshotSelector, random: Random): T[] {
  if (sorted.length === 0) return [];
  const latest = sorted[sorted.length - 1]!;
  switch (sel.kind) {
    case 'latest':
      return [latest];
    case 'all':
      return [...sorted].reverse();
    case 'default': {
      if (sorted.length === 1) return [latest];
      return [latest, sorted[random.int(sorted.length - 1)]!];
    }
    case 'random': {
      const pool = sorted.map((_, i) => i);
      const picked: number[] = [];
      while (picked.length < sel.count && pool.length > 0) picked.push(pool.splice(random.int(pool.length), 1)[0]!);
      return picked.sort((a, b) => b - a).map((i) => sorted[i]!);
    }
  }
}

export interface SampleCandidate {
  path: string;
  size: number;
}

/** At most this many candidates are kept per size class while streaming a listing. */
export const RESERVOIR_PER_CLASS = 5000;

/**
 * Streams a snapshot's file listing with bounded memory: one uniform reservoir per size
 * class (⌊log2 size⌋, empty files apart), so large and small files are both represented
 * however skewed the distribution is.
 */
export class FileSampler<T extends SampleCandidate> {
  private readonly classes = new Map<number, { seen: number; kept: T[] }>();
  offered = 0;
  offeredBytes = 0;

  constructor(
    private readonly random: Random,
    private readonly perClass = RESERVOIR_PER_CLASS,
  ) {}

  offer(c: T): void {
    this.offered++;
    this.offeredBytes += c.size;
    const k = sizeClass(c.size);
    let cls = this.classes.get(k);
    if (!cls) this.classes.set(k, (cls = { seen: 0, kept: [] }));
    if (cls.kept.length < this.perClass) cls.kept.push(c);
    else {
      const j = this.random.int(cls.seen + 1);
      if (j < this.perClass) cls.kept[j] = c;
    }
    cls.seen++;
  }

  /**
   * Takes files round-robin over the size classes, alternating largest and smallest class
   * (starting at a random pair of classes), one random file per class per round, until `maxFiles` are taken or nothing else fits in
   * `maxBytes`. A file larger than the remaining byte budget is left out.
   */
  pick(limit: { maxFiles: number; maxBytes: number }): T[] {
    const keys = [...this.classes.keys()].sort((a, b) => a - b);
    const order: number[] = [];
    for (let lo = 0, hi = keys.length - 1; lo <= hi; ) {
      order.push(keys[hi--]!);
      if (lo <= hi) order.push(keys[lo++]!);
    }
    // `order` is pairs (a class of the upper half, one of the lower half). The rotation starts
    // at a random pair, so the first two picks still cover a large and a small file.
    const start = 2 * this.random.int(Math.max(1, Math.floor(order.length / 2)));
    const pools = [...order.slice(start), ...order.slice(0, start)].map((k) => [...this.classes.get(k)!.kept]);
    const out: T[] = [];
    let bytes = 0;
    while (out.length < limit.maxFiles && pools.some((p) => p.length > 0)) {
      for (const pool of pools) {
        if (out.length >= limit.maxFiles) break;
        while (pool.length > 0) {
          const c = pool.splice(this.random.int(pool.length), 1)[0]!;
          if (bytes + c.size > limit.maxBytes) continue;
          out.push(c);
          bytes += c.size;
          break;
        }
      }
    }
    return out;
  }
}

export function sizeClass(size: number): number {
  return size <= 0 ? -1 : Math.floor(Math.log2(size));
}
