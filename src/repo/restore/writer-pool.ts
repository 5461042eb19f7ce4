import { SharedRing, WorkerGroup } from '../../core/workers/index.js';
import type { CommitPlan, CreatePlan, FileMeta, LinkMeta, LinkOptions } from './file-out.js';
import type { FromWriter, OpenSpec, PieceOp, ToWriter, WriteOp, WriteResult, WriterInit } from './writer.protocol.js';

/** A batch goes out when its chunk of the ring is full, or at this many ops. */
const CHUNK_BYTES = 1024 * 1024;
const BATCH_OPS = 64;
/**
 * Chunks in each writer thread's ring: one being filled and up to four with the thread (a
 * 4 MiB window; the restore waits beyond it).
 */
const RING_CHUNKS = 5;
/** The main thread waits this long in all for writers before another thread is added. */
const ADD_WRITER_AFTER_MS = 1000;

interface Slot {
  thread: number;
  /**
   * Memory shared with the thread, taken in chunks: a batch's bytes are copied into the
   * chunk the main thread holds, and the chunk is released when the thread answers the batch.
   * Transferring a buffer per batch instead (and taking it back) made every batch new
   * external memory, which V8 answered with full collections: the ring about halved them
   * (bench/RESULTS.md, "Restore: writer ring").
   */
  ring: SharedRing;
  /** Where the chunk being filled is in the ring (-1: none free, the next piece waits), and the ring's head after it. */
  chunk: number;
  chunkEnd: number;
  ops: WriteOp[];
  size: number;
  /** Batches sent and answered since the start (a thread answers in order). */
  batches: number;
  answered: number;
  waiters: (() => void)[];
}

interface OpenFile {
  slot: Slot;
  /** Until the first op has gone: how the thread creates the file. */
  open: OpenSpec | undefined;
  plan: CommitPlan;
}

/**
 * The restore's writer threads. The main thread reads, decrypts and decompresses; each
 * file's pieces go, in order, to one writer thread, which creates it under a temporary name,
 * checks the pieces against their blob ids and the file's hash, and renames it when told the
 * file is complete.
 *
 * It starts with one thread and adds another (up to `maxWriters`) once the main thread has
 * waited a second in all for full windows: file creation then holds the restore back. On
 * ext4 that happens when the kernel is slow to find free inodes, after many deletions, and a
 * second thread then shortens the restore. When creation keeps up (the main thread waits
 * well under a second in all), its decoding is the limit, and a second thread from the start
 * only competed with it for the CPU (bench/RESULTS.md, "Restore: second writer thread").
 *
 * After a thread's failure, write() and drain() throw it, and no op is sent (see WorkerGroup).
 */
export class FileWriterPool {
  private readonly group = new WorkerGroup<ToWriter, FromWriter>({ module: 'repo/restore/writer.worker', what: 'restore writer', youngGenerationMb: 8 });
  private readonly slots: Slot[] = [];
  private readonly files = new Map<number, OpenFile>();
  /** Which thread each directory's files go to. */
  private readonly dirSlots = new Map<number, Slot>();
  /** Directories a thread creates: which one, and in which of its batches. */
  private readonly made = new Map<number, { slot: Slot; batch: number }>();
  /** The directory each mkdir op (by its number) creates, and those that failed. */
  private readonly mkdirs = new Map<number, number>();
  private readonly failedLanes = new Set<number>();
  private nextFile = 1;
  /** How long the main thread has waited for a full window, in ms. */
  private waited = 0;

  private readonly maxWriters: number;
  private readonly addWriterAfterMs: number;
  private readonly mac: Buffer | undefined;

  /** `mac`: the repository's MAC key, with which the threads check pieces given a blob id. */
  constructor(
    private readonly onResult: (file: number, r: WriteResult) => void,
    opts: { mac?: Buffer; maxWriters?: number; addWriterAfterMs?: number } = {},
  ) {
    this.maxWriters = opts.maxWriters ?? defaultWriters();
    this.addWriterAfterMs = opts.addWriterAfterMs ?? ADD_WRITER_AFTER_MS;
    this.mac = opts.mac;
    this.group.onFail(() => {
      for (const s of this.slots) this.wake(s);
    });
    this.addWriter();
  }

  /** How many writer threads are running. */
  get writers(): number {
    return this.slots.length;
  }

  private addWriter(): void {
    const shared = SharedRing.create(RING_CHUNKS * CHUNK_BYTES);
    const slot: Slot = { thread: -1, ring: new SharedRing(shared), chunk: -1, chunkEnd: 0, ops: [], size: 0, batches: 0, answered: 0, waiters: [] };
    takeChunk(slot);
    slot.thread = this.group.start({ ring: shared, mac: this.mac } satisfies WriterInit, (m) => {
      slot.answered++;
      if (m.release >= 0) slot.ring.release(m.release);
      if (slot.chunk < 0) takeChunk(slot);
      for (const r of m.results) {
        const lane = this.mkdirs.get(r.file);
        if (lane !== undefined && !r.ok) this.failedLanes.add(lane);
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
  begin(out: string, dir: number, opts: { fresh: boolean; overwrite: boolean; plan: CreatePlan; whole?: string; dense?: boolean }): number {
    const file = this.nextFile++;
    const { plan } = opts;
    const open: OpenSpec = { out, lane: dir, fresh: opts.fresh, overwrite: opts.overwrite, createMode: plan.createMode };
    if (opts.whole) open.whole = opts.whole;
    if (opts.dense) open.dense = true;
    this.files.set(file, { slot: this.laneSlot(dir), open, plan: { chmod: plan.chmod, chown: plan.chown } });
    return file;
  }

  /**
   * Has a thread create directory `dir` (numbered like begin's) in directory `parent`; its
   * entries then go to the same thread. Returns the number its failure is reported under.
   * The parent must be a directory this restore made (through makeDir or itself), so that
   * nothing can be in the way. mkdir on the main thread cost the restore noticeable time
   * (bench/RESULTS.md, "Restore: directories on writer threads"), and the main thread's
   * decoding is what the restore waits for.
   */
  makeDir(out: string, dir: number, parent: number): number {
    const id = this.nextFile++;
    let slot = this.leastBusy();
    // The parent may not exist yet: only the thread making it, or one that has made it, can go on in it.
    const p = this.made.get(parent);
    if (p && p.slot !== slot && (p.slot.answered < p.batch || this.failedLanes.has(parent))) slot = p.slot;
    this.dirSlots.set(dir, slot);
    this.made.set(dir, { slot, batch: slot.batches + 1 });
    this.mkdirs.set(id, dir);
    this.enqueue(slot, { type: 'mkdir', file: id, out, lane: dir, parent });
    return id;
  }

  /** Has a thread create a symlink in directory `dir`; returns the number its outcome is reported under. */
  symlink(out: string, dir: number, link: LinkMeta, opts: LinkOptions): number {
    const id = this.nextFile++;
    const slot = this.laneSlot(dir);
    // Only these fields: a tree node would be cloned to the thread whole.
    this.enqueue(slot, { type: 'symlink', file: id, out, lane: dir, target: link.target, uid: link.uid, gid: link.gid, mtime: link.mtime, mtimeNs: link.mtimeNs, fresh: opts.fresh, overwrite: opts.overwrite, owner: opts.owner });
    return id;
  }

  /** Which thread (0, 1, …) a directory's entries go to, while it is being restored. */
  threadOf(dir: number): number | undefined {
    const slot = this.dirSlots.get(dir);
    return slot ? this.slots.indexOf(slot) : undefined;
  }

  /** The directory's entries were all begun: forget its thread. */
  endDir(dir: number): void {
    this.dirSlots.delete(dir);
    this.made.delete(dir);
  }

  /** The thread a directory's entries go to: the least busy when its first one came. */
  private laneSlot(dir: number): Slot {
    let slot = this.dirSlots.get(dir);
    if (!slot) {
      slot = this.leastBusy();
      this.dirSlots.set(dir, slot);
    }
    return slot;
  }

  private leastBusy(): Slot {
    return this.slots.reduce((a, b) => (busy(b) < busy(a) ? b : a));
  }

  /**
   * `data` is copied before the promise settles; it waits for room in the thread's ring.
   * `blob`: `data` ends a blob with that id (hex), which the thread checks it against.
   */
  async write(file: number, data: Uint8Array, blob?: string): Promise<void> {
    for (let done = 0; ; ) {
      // Gone: the writer already reported this file failed; the rest of it is moot.
      const f = this.files.get(file);
      if (!f) return;
      const s = f.slot;
      if (s.chunk < 0) {
        await this.room(s);
        if (this.group.failure) throw this.group.failure;
        continue;
      }
      const len = Math.min(data.length - done, CHUNK_BYTES - s.size);
      s.ring.data.set(data.subarray(done, done + len), s.chunk + s.size);
      done += len;
      const last = done >= data.length;
      this.push(f, file, len, last ? blob : undefined, undefined);
      if (last) return;
    }
  }

  /**
   * Room for the next `n` bytes of `file` in its thread's ring, to decode them into rather
   * than copy them there: valid until anything else is written; hand it over with wrote().
   * Undefined when the chunk being filled has less room left (write() then copies).
   */
  reserve(file: number, n: number): Buffer | undefined {
    const f = this.files.get(file);
    if (!f || this.group.failure) return undefined;
    const s = f.slot;
    if (s.chunk < 0 || CHUNK_BYTES - s.size < n) return undefined;
    const at = s.chunk + s.size;
    return s.ring.data.subarray(at, at + n);
  }

  /** The first `n` bytes that reserve() gave now hold the file's next piece (`blob`: as for write). */
  wrote(file: number, n: number, blob?: string): void {
    const f = this.files.get(file);
    if (f) this.push(f, file, n, blob, undefined);
  }

  /** The file is complete: the thread checks its hash, sets metadata and renames it. The outcome arrives through onResult. */
  commit(file: number, meta: FileMeta): void {
    const f = this.files.get(file);
    if (!f) return;
    // Only these fields: a tree node (content ids, hash, name) would be cloned to the thread whole.
    const m = { mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: meta.mtime, mtimeNs: meta.mtimeNs, chmod: f.plan.chmod, chown: f.plan.chown };
    // Most files are one piece: its op, still waiting in the batch, takes the commit too.
    const last = f.slot.ops.at(-1);
    if (last?.type === 'piece' && last.file === file && !last.commit) {
      last.commit = m;
      return;
    }
    this.push(f, file, 0, undefined, m);
  }

  /** The file could not be read: remove the temporary file (no result follows). */
  abort(file: number): void {
    const f = this.files.get(file);
    if (!f) return;
    this.files.delete(file);
    if (!f.open) this.enqueue(f.slot, { type: 'abort', file });
  }

  /** Sends what is batched and waits until every piece is written. */
  async drain(): Promise<void> {
    for (const s of this.slots) this.flush(s);
    for (const s of this.slots) while (inFlight(s) > 0 && !this.group.failure) await new Promise<void>((r) => s.waiters.push(r));
    if (this.group.failure) throw this.group.failure;
  }

  close(): Promise<void> {
    return this.group.close();
  }

  /**
   * Adds a piece to the thread's batch: `len` bytes already copied into its chunk (none: a
   * commit). Options are set only when present: each one present is cloned to the thread.
   */
  private push(f: OpenFile, file: number, len: number, blob: string | undefined, commit: PieceOp['commit']): void {
    // Assigned, not spread: a spread is slow in Node 20 on a per-op path
    // (bench/RESULTS.md, "Object spreads").
    const op: PieceOp = { type: 'piece', file, off: f.slot.size, len };
    if (blob) op.blob = blob;
    if (commit) op.commit = commit;
    if (f.open) op.open = f.open;
    this.enqueue(f.slot, op);
    f.open = undefined;
  }

  private enqueue(s: Slot, op: WriteOp): void {
    if (this.group.failure) throw this.group.failure;
    s.ops.push(op);
    if (op.type === 'piece') s.size += op.len;
    if (s.size >= CHUNK_BYTES || s.ops.length >= BATCH_OPS) this.flush(s);
  }

  /** Sends the batch; its chunk goes with it when it holds bytes (a batch of ends only keeps it). */
  private flush(s: Slot): void {
    if (!s.ops.length) return;
    const withBytes = s.size > 0;
    s.batches++;
    this.group.post(s.thread, { type: 'write', at: withBytes ? s.chunk : -1, size: s.size, release: s.chunkEnd, ops: s.ops });
    if (withBytes) takeChunk(s);
    s.ops = [];
    s.size = 0;
  }

  /** Waits until the thread gives a chunk back. */
  private async room(s: Slot): Promise<void> {
    const t0 = performance.now();
    while (s.chunk < 0 && !this.group.failure) await new Promise<void>((r) => s.waiters.push(r));
    this.waited += performance.now() - t0;
    if (this.waited >= this.addWriterAfterMs && this.slots.length < this.maxWriters && !this.group.failure) this.addWriter();
  }

  private wake(s: Slot): void {
    for (const w of s.waiters.splice(0)) w();
  }
}

/** The next chunk of the thread's ring to fill, once the thread has released one (chunk -1 until then). */
function takeChunk(s: Slot): void {
  s.chunk = s.ring.reserve(CHUNK_BYTES);
  if (s.chunk >= 0) s.chunkEnd = s.ring.head;
}

/** How much a thread has to do: what it holds and what waits for it. */
function busy(s: Slot): number {
  return inFlight(s) * CHUNK_BYTES + s.size;
}

/** Batches sent to the thread and not yet answered. */
function inFlight(s: Slot): number {
  return s.batches - s.answered;
}

/** At most two writer threads (see FileWriterPool) unless the caller sets another limit. */
function defaultWriters(): number {
  return 2;
}
