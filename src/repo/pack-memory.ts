/** Pack buffers are allocated in multiples of this, so one pack's memory fits most others. */
const STEP = 4 * 1024 * 1024;

/**
 * Memory for whole packs, handed back when a pack is no longer read and lent to the next one
 * loaded (through LoadOptions.buffer; local targets use it). Fresh memory is slow on this VM,
 * and every new pack buffer was also external memory that V8 ran full collections to free: a
 * bench restore took 10.0 s and 15.0 CPU-s with a new buffer per pack, 8.6 s and 12.9 CPU-s
 * with this (medians of four alternating runs).
 */
export class PackMemory {
  private readonly spare: ArrayBuffer[] = [];
  /** Memory this pool lent: only that is taken back (a backend's own buffers can share theirs). */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  /** `keep`: at most this many buffers wait to be lent again. */
  constructor(private readonly keep: number) {}

  /** A buffer of exactly `length` bytes, in memory handed back earlier if any is large enough. */
  take(length: number): Buffer {
    const i = this.spare.findIndex((b) => b.byteLength >= length);
    const mem = i >= 0 ? this.spare.splice(i, 1)[0]! : (Buffer.allocUnsafeSlow(Math.ceil(length / STEP) * STEP).buffer as ArrayBuffer);
    this.lent.add(mem);
    return Buffer.from(mem, 0, length);
  }

  /**
   * Nothing reads `mem` any more; kept for a later take() if this pool lent it. `returned`:
   * memory this pool lent that went to another thread and came back (a new object, so the
   * caller vouches for it).
   */
  giveBack(mem: ArrayBufferLike, returned = false): void {
    if (!(returned || this.lent.has(mem)) || this.spare.length >= this.keep) return;
    this.lent.add(mem);
    this.spare.push(mem as ArrayBuffer);
  }

  /** Whether `mem` was lent by this pool (so it may be moved to another thread and back). */
  owns(mem: ArrayBufferLike): boolean {
    return this.lent.has(mem);
  }
}
