/** Compared against in steps: memcmp stops at the first non-zero byte, so data costs almost nothing. */
const ZEROS = Buffer.alloc(64 * 1024);

/** True when every byte of `b` is zero (holes of sparse files read as such). */
export function isAllZero(b: Uint8Array): boolean {
  // Most data ends or begins with a non-zero byte: answered without the call into memcmp,
  // whose argument checks cost microseconds, a noticeable share of a restore of small files.
  if (b.length > 0 && (b[0] !== 0 || b[b.length - 1] !== 0)) return false;
  for (let off = 0; off < b.length; off += ZEROS.length) {
    const n = Math.min(ZEROS.length, b.length - off);
    if (ZEROS.compare(b, off, off + n, 0, n) !== 0) return false;
  }
  return true;
}

/** Feeds `n` zero bytes to `update` (a hash over a hole that was skipped). */
export function feedZeros(n: number, update: (b: Uint8Array) => void): void {
  for (let left = n; left > 0; left -= ZEROS.length) update(ZEROS.subarray(0, Math.min(left, ZEROS.length)));
}

/**
 * Something computed from a run of zeros (its keyed id), by length: each length computed once.
 * The holes of sparse files are mostly runs of one length; at most `keep` lengths are kept,
 * the oldest making room.
 */
export class ZeroRuns<T> {
  private readonly byLength = new Map<number, T>();

  constructor(
    private readonly compute: (zeros: Uint8Array) => T,
    private readonly keep = 64,
  ) {}

  of(length: number): T {
    const known = this.byLength.get(length);
    if (known !== undefined) return known;
    const value = this.compute(new Uint8Array(length));
    if (this.byLength.size >= this.keep) this.byLength.delete(this.byLength.keys().next().value!);
    this.byLength.set(length, value);
    return value;
  }
}
