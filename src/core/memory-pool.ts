/**
 * Large buffers handed back when nothing reads them any more and lent again: whole packs
 * (loaded through LoadOptions.buffer, which local targets use, or built by PackBuilder).
 * Memory the kernel has just given is slow to fill, and every new large buffer is also
 * external memory that V8 runs full collections to free: reusing pack memory made restores
 * faster and cheaper in CPU than a new buffer per pack (bench/RESULTS.md, "Pack memory").
 */
export class MemoryPool {
  private readonly spare: ArrayBuffer[] = [];
  /** Memory this pool lent: only that is taken back (a backend's own buffers can share theirs). */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  /**
   * `keep`: at most this many buffers wait to be lent again. `step`: memory is allocated in
   * multiples of it, so one buffer handed back fits most later requests.
   */
  constructor(
    private readonly keep: number,
    private readonly step = 4 * 1024 * 1024,
  ) {}

  /** A buffer of exactly `length` bytes, in memory handed back earlier if any is large enough. */
  take(length: number): Buffer {
    // The smallest that fits: larger ones stay for larger packs.
    let i = -1;
    for (let k = 0; k < this.spare.length; k++) {
      const n = this.spare[k]!.byteLength;
      if (n >= length && (i < 0 || n < this.spare[i]!.byteLength)) i = k;
    }
    const mem = i >= 0 ? this.spare.splice(i, 1)[0]! : (Buffer.allocUnsafeSlow(Math.ceil(length / this.step) * this.step).buffer);
    this.lent.add(mem);
    return Buffer.from(mem, 0, length);
  }

  /**
   * Nothing reads `mem` any more; kept for a later take() if this pool lent it. `returned`:
   * memory this pool lent that went to another thread and came back (a new object, so the
   * caller vouches for it).
   */
  giveBack(mem: ArrayBufferLike, returned = false): void {
    if (!(returned || this.lent.has(mem))) return;
    if (this.spare.length >= this.keep) {
      // Full: a larger buffer replaces the smallest, as it serves whatever that one would.
      // Dropping larger ones instead made a restore whose packs the pack cache keeps evicting
      // allocate many times more memory afresh (bench/RESULTS.md, "Pack memory").
      let s = -1;
      for (let k = 0; k < this.spare.length; k++) if (s < 0 || this.spare[k]!.byteLength < this.spare[s]!.byteLength) s = k;
      if (s < 0 || this.spare[s]!.byteLength >= mem.byteLength) return;
      this.spare.splice(s, 1);
    }
    this.lent.add(mem);
    this.spare.push(mem as ArrayBuffer);
  }

  /** Whether `mem` was lent by this pool (so it may be moved to another thread and back). */
  owns(mem: ArrayBufferLike): boolean {
    return this.lent.has(mem);
  }
}
