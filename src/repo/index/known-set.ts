/**
 * A hint, shared with the file workers, of which blob ids every live target already holds,
 * so a worker does not compress and encrypt a chunk the writer would drop. Open addressing
 * on the first 8 bytes of the id in a SharedArrayBuffer. Only a hint: the writer's index is
 * the authority, and a chunk skipped on a false "known" (an 8-byte prefix collision) is
 * sent again with sealing forced.
 */
export class KnownSet {
  private readonly slots: BigUint64Array;
  private readonly mask: number;
  private count = 0;

  private constructor(readonly buffer: SharedArrayBuffer) {
    this.slots = new BigUint64Array(buffer);
    this.mask = this.slots.length - 1;
  }

  /**
   * Room for `expected` ids at most three quarters full; never below 2^16 slots (512 KiB).
   * Half full, a repository just past 2^20 blobs took 32 MiB here instead of 16; a lookup
   * compares 8-byte keys side by side, so the longer probes at 3/4 cost little.
   */
  static create(expected: number): KnownSet {
    let n = 1 << 16;
    while (n * 3 < expected * 4) n *= 2;
    return new KnownSet(new SharedArrayBuffer(n * 8));
  }

  static attach(buffer: SharedArrayBuffer): KnownSet {
    return new KnownSet(buffer);
  }

  /** Adds an id (32-byte Buffer or 64-char hex); past three quarters full it stops adding. */
  add(id: Buffer | string): void {
    if (this.count * 4 >= this.slots.length * 3) return;
    const key = keyOf(id);
    let i = Number(key & BigInt(this.mask));
    for (;;) {
      const v = Atomics.load(this.slots, i);
      if (v === key) return;
      if (v === 0n) {
        // A racing writer can only be this same thread (workers only read).
        Atomics.store(this.slots, i, key);
        this.count++;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  has(id: Buffer): boolean {
    const key = keyOf(id);
    let i = Number(key & BigInt(this.mask));
    for (;;) {
      const v = Atomics.load(this.slots, i);
      if (v === key) return true;
      if (v === 0n) return false;
      i = (i + 1) & this.mask;
    }
  }
}

function keyOf(id: Buffer | string): bigint {
  const k = typeof id === 'string' ? BigInt(`0x${id.slice(0, 16)}`) : id.readBigUInt64BE(0);
  // 0 marks an empty slot.
  return k === 0n ? 1n : k;
}
