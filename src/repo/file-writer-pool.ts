import type { Worker } from 'node:worker_threads';
import type { FileMeta } from './file-out.js';
import type { WriteBatch, WriteDone, WriteOp, WriteResult } from './file-writer-protocol.js';
import { MemoryPool } from '../core/memory-pool.js';
import { startWorker } from '../core/threads.js';

/** A batch goes out at this many bytes or pieces. */
const BATCH_BYTES = 1024 * 1024;
const BATCH_OPS = 64;
/** Bytes sent to one writer thread and not yet written; the restore waits beyond it. */
const WINDOW = 4 * 1024 * 1024;
const OP_COST = 128;
/** The main thread waits this long in all for writers before another thread is added. */
const ADD_WRITER_AFTER_MS = 1000;

/** Batch buffers a thread gave back, kept for reuse: at most this many per thread. */
const SPARE_BATCHES = 16;

interface Slot {
  worker: Worker;
  /**
   * The batch's bytes, copied in as they come: the caller may reuse its buffer at once. The
   * memory goes to the thread with the batch and comes back with its answer, to stage a later
   * batch. A fresh buffer per batch (1 GB over a bench restore) cost more here: four
   * alternating restores each gave a median of 9.25 s, 13.8 CPU-s and 308 MiB peak against
   * 8.96 s, 13.3 CPU-s and 262 MiB with the memory given back.
   */
  stage: Buffer;
  memory: MemoryPool;
  ops: WriteOp[];
  size: number;
  unacked: number;
  waiters: (() => void)[];
}

interface OpenFile {
  slot: Slot;
  out: string;
  fresh: boolean;
  overwrite: boolean;
  owner: boolean;
  started: boolean;
}

/**
 * The restore's writer threads. The main thread reads, decrypts and verifies; each file's
 * pieces go, in order, to one writer thread, which creates it under a temporary name and
 * renames it when told the content was verified.
 *
 * It starts with one thread and adds another (up to `maxWriters`) once the main thread has
 * waited a second in all for full windows: file creation then holds the restore back. On this
 * ext4 that happens when the kernel is slow to find free inodes, after many deletions; a
 * restore of the bench corpus right after deleting the previous one took 17-22 s instead of
 * 27 s. When creation keeps up (the main thread waited 0.3-0.5 s in all), its decoding is the
 * limit, and a second thread from the start only competed with it for the CPU (11.7 and
 * 12.0 s against 10.5 s with one).
 */
export class FileWriterPool {
  private readonly slots: Slot[] = [];
  private readonly files = new Map<number, OpenFile>();
  /** Which thread each directory's files go to. */
  private readonly dirSlots = new Map<number, Slot>();
  private nextFile = 1;
  /** How long the main thread has waited for a full window, in ms. */
  private waited = 0;
  private failure: unknown;
  private closed = false;

  constructor(
    private readonly onResult: (file: number, r: WriteResult) => void,
    private readonly maxWriters = defaultWriters(),
    private readonly addWriterAfterMs = ADD_WRITER_AFTER_MS,
  ) {
    this.addWriter();
  }

  /** How many writer threads are running. */
  get writers(): number {
    return this.slots.length;
  }

  private addWriter(): void {
    const worker = startWorker('repo/file-writer-worker', { what: 'restore writer', youngGenerationMb: 8, closing: () => this.closed, onFail: (err) => this.fail(err) });
    const memory = new MemoryPool(SPARE_BATCHES, BATCH_BYTES);
    const slot: Slot = { worker, stage: memory.take(BATCH_BYTES), memory, ops: [], size: 0, unacked: 0, waiters: [] };
    worker.on('message', (m: WriteDone) => {
      slot.unacked -= m.cost;
      // The batch's memory, back from the thread (so a new object the pool cannot recognise).
      if (m.buf) memory.giveBack(m.buf, true);
      for (const r of m.results) {
        this.files.delete(r.file);
        this.onResult(r.file, r);
      }
      this.wake(slot);
    });
    this.slots.push(slot);
  }

  /**
   * Starts a file; nothing reaches the disk before its first piece. Files of one directory
   * (`dir`: any number naming it) go to one thread, the least busy when the directory's first
   * file came: creating files in the same directory from two threads made the kernel's
   * directory lock the bottleneck.
   */
  begin(out: string, dir: number, opts: { fresh: boolean; overwrite: boolean; owner: boolean }): number {
    const file = this.nextFile++;
    let slot = this.dirSlots.get(dir);
    if (!slot) {
      slot = this.slots.reduce((a, b) => (b.unacked + b.size < a.unacked + a.size ? b : a));
      this.dirSlots.set(dir, slot);
    }
    this.files.set(file, { slot, out, ...opts, started: false });
    return file;
  }

  /** The directory's files were all begun: forget its thread. */
  endDir(dir: number): void {
    this.dirSlots.delete(dir);
  }

  /** `data` is copied before this returns; the promise waits for room in the thread's window. */
  async write(file: number, data: Uint8Array): Promise<void> {
    const f = this.files.get(file);
    // Gone: the writer already reported this file failed; the rest of it is moot.
    if (!f) return;
    this.push(f, file, data);
    await this.room(f.slot);
  }

  /** The content was verified: set metadata and rename. The outcome arrives through onResult. */
  commit(file: number, meta: FileMeta): void {
    const f = this.files.get(file);
    if (f) this.push(f, file, undefined, 'commit', meta);
  }

  /** The content failed verification: remove the temporary file (no result follows). */
  abort(file: number): void {
    const f = this.files.get(file);
    if (!f) return;
    this.files.delete(file);
    if (f.started) this.push(f, file, undefined, 'abort');
  }

  /** Sends what is batched and waits until every piece is written. */
  async drain(): Promise<void> {
    for (const s of this.slots) this.flush(s);
    for (const s of this.slots) while (s.unacked > 0 && this.failure === undefined) await new Promise<void>((r) => s.waiters.push(r));
    if (this.failure !== undefined) throw this.failure;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private push(f: OpenFile, file: number, data: Uint8Array | undefined, end?: WriteOp['end'], meta?: FileMeta): void {
    if (this.failure !== undefined) throw this.failure;
    const s = f.slot;
    const len = data?.length ?? 0;
    if (s.size + len > s.stage.length) {
      this.flush(s);
      if (len > s.stage.length) {
        s.memory.giveBack(s.stage.buffer);
        s.stage = s.memory.take(len);
      }
    }
    s.ops.push({ file, out: f.started ? undefined : f.out, fresh: f.fresh, overwrite: f.overwrite, owner: f.owner, off: s.size, len, end, meta });
    f.started = true;
    if (data && len) {
      s.stage.set(data, s.size);
      s.size += len;
    }
    if (s.size >= BATCH_BYTES || s.ops.length >= BATCH_OPS) this.flush(s);
  }

  private flush(s: Slot): void {
    if (!s.ops.length) return;
    let buf: ArrayBuffer | null = null;
    if (s.size) {
      buf = s.stage.buffer as ArrayBuffer;
      s.stage = s.memory.take(BATCH_BYTES);
    }
    const cost = s.size + s.ops.length * OP_COST;
    const batch: WriteBatch = { buf, size: s.size, ops: s.ops, cost };
    s.unacked += cost;
    s.worker.postMessage(batch, buf ? [buf] : []);
    s.ops = [];
    s.size = 0;
  }

  private async room(s: Slot): Promise<void> {
    if (s.unacked >= WINDOW && this.failure === undefined) {
      const t0 = performance.now();
      while (s.unacked >= WINDOW && this.failure === undefined) await new Promise<void>((r) => s.waiters.push(r));
      this.waited += performance.now() - t0;
      if (this.waited >= this.addWriterAfterMs && this.slots.length < this.maxWriters && !this.closed) this.addWriter();
    }
    if (this.failure !== undefined) throw this.failure;
  }

  private wake(s: Slot): void {
    for (const w of s.waiters.splice(0)) w();
  }

  private fail(err: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = err;
    for (const s of this.slots) this.wake(s);
  }
}

/** At most two writer threads (see FileWriterPool); TRIAD_RESTORE_WRITERS sets another limit. */
function defaultWriters(): number {
  const env = Number(process.env.TRIAD_RESTORE_WRITERS);
  if (Number.isInteger(env) && env >= 1 && env <= 64) return env;
  return 2;
}
