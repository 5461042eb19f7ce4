/** Bytes before the ring's data: one 32-bit word, how far the consumer has released (modulo 2^32). */
const HEADER = 8;
const RELEASED = 0;

/**
 * Memory two threads share as a ring of bytes, so that bulk data crosses between them
 * without a new buffer per message: a buffer per batch, transferred, was new memory for
 * both threads each time (slow to fill, and external memory V8 frees only with full
 * collections). The producer reserves contiguous room, fills it and says where (in a
 * message); once the consumer is done with it, everything up to a position is released, in
 * order: the backup's main thread releases what its reader threads sealed, the restore's
 * main thread what a writer thread has answered. The released position lives in the shared
 * memory (Atomics), so the producer sees the room whichever thread released it.
 *
 * Positions count bytes from the start (never wrapped); an offset in the ring is the
 * position modulo its size. A reservation never wraps around the end: the rest is skipped.
 * Each side builds its own SharedRing over the same SharedArrayBuffer (see create()).
 */
export class SharedRing {
  /** The ring's data; a reservation at `offset` is data[offset, offset + n). */
  readonly data: Buffer;
  private readonly control: Uint32Array;
  private position = 0;

  /** Shared memory for a ring of `bytes` bytes, to hand to the other thread (e.g. in workerData). */
  static create(bytes: number): SharedArrayBuffer {
    return new SharedArrayBuffer(HEADER + bytes);
  }

  constructor(shared: SharedArrayBuffer) {
    this.control = new Uint32Array(shared, 0, 1);
    this.data = Buffer.from(shared, HEADER);
  }

  get size(): number {
    return this.data.length;
  }

  /** Producer: the position after the last reservation (what releasing it all takes). */
  get head(): number {
    return this.position;
  }

  /** Producer: the offset of `n` contiguous free bytes, or -1 until the consumer releases more. */
  reserve(n: number): number {
    const size = this.data.length;
    let h = this.position;
    const at = h % size;
    if (at + n > size) h += size - at;
    // Positions differ by at most the ring's size, so their low 32 bits tell the bytes in use.
    const inUse = ((h >>> 0) - Atomics.load(this.control, RELEASED)) >>> 0;
    if (inUse + n > size) return -1;
    this.position = h + n;
    return h % size;
  }

  /** Every byte before `position` (the producer's head after them) may be used again. */
  release(position: number): void {
    Atomics.store(this.control, RELEASED, position >>> 0);
  }
}
