import { availableParallelism } from 'node:os';
import { asError } from '../../core/errors.js';
import { SharedRing, WorkerGroup } from '../../core/workers/index.js';
import { encodeJobs, ITEM_RECORD, type FileDone, type FileJob, type FileWorkerInit, type FromWorker, type ToWorker } from './reader.protocol.js';
import { KnownSet } from '../index/index.js';
import { OVERHEAD } from '../crypto/index.js';
import type { Repository } from '../repository.js';
import type { MultiTargetWriter } from './writer.js';

/** Jobs handed to one worker ahead of its current one, so it never waits for the walk; refilled in groups of REFILL. */
const PREFETCH = 32;
const REFILL = 8;
/** Files the walk may queue before it waits (each is only a path and a size). */
const QUEUE_MAX = 256;
/**
 * Each worker's ring (see reader.worker.ts) holds the largest sealed blob (the largest chunk
 * stored as is) and 1 MiB more. Larger rings, so that the worker's window rather than the
 * ring paces it, only raised peak RSS: a first backup of the bench corpus peaked at
 * 321-350 MiB with 20 MiB rings, 292-320 MiB with 12 MiB ones, and 296-306 MiB with 9 MiB
 * ones (against 304-324 MiB with 12 MiB in alternating runs), at the same speed.
 */
const RING_SLACK = 1024 * 1024;
/** Bytes of files waiting per worker running beyond which another is started (see grow). */
const GROW_BYTES = 4 * 1024 * 1024;
/**
 * How long in all the walk may wait for a full queue before another worker is started (see
 * grow): the first worker's start alone makes it wait a few hundred ms.
 */
const GROW_AFTER_WAIT_MS = 1000;

interface PendingJob {
  job: FileJob;
  resolve(d: FileDone): void;
  reject(err: unknown): void;
  /** A chunk was skipped as known but the writer does not have it: read the file again, sealing all. */
  redo: boolean;
  content: string[];
}

interface Slot {
  thread: number;
  /** The worker has the known set (in its init, or sent since). */
  knows: boolean;
  /** The memory the worker seals blobs into; this thread releases it (see reader.worker.ts). */
  ring: SharedRing;
  running: Set<number>;
  chain: Promise<void>;
}

/**
 * The backup's file workers: the walk hands over paths, the workers read, chunk and seal,
 * and their blobs go through the writer in the order each file produced them. The first
 * failure (a worker's, the writer's, an abort) fails every file pending and every later one.
 */
export class FilePool {
  private readonly group = new WorkerGroup<ToWorker, FromWorker>({ module: 'repo/backup/reader.worker', what: 'backup worker', youngGenerationMb: 12 });
  private readonly slots: Slot[] = [];
  /** Files not handed to a worker yet, and those a worker has. */
  private readonly queue = this.group.track<PendingJob[]>([]);
  private readonly jobs = this.group.track(new Map<number, PendingJob>());
  private readonly roomWaiters: (() => void)[] = [];
  private knownSet: KnownSet | undefined;
  private init: Omit<FileWorkerInit, 'ring'> | undefined;
  /** Bytes of the files handed over and not finished (queued or at a worker). */
  private outstandingBytes = 0;
  /** How long the walk has waited for room in the queue, in ms. */
  private walkWaited = 0;
  private nextJob = 1;

  constructor(
    private readonly repo: Repository,
    private readonly writer: MultiTargetWriter,
    private readonly opts: { workers?: number; signal?: AbortSignal } = {},
  ) {
    opts.signal?.addEventListener('abort', () => this.group.fail(opts.signal!.reason), { once: true });
    this.group.onFail(() => {
      for (const w of this.roomWaiters.splice(0)) w();
    });
  }

  /**
   * Built on first use, from the index as it is then: only for a file that may have more than
   * one chunk. A file up to the chunker's smallest cut is one chunk, which is sealed and, if
   * the repository has it already, dropped by the writer; a backup of small changed files
   * then needs no known set (16-32 MiB and a pass over every index entry at a million blobs).
   */
  private get known(): KnownSet {
    return (this.knownSet ??= knownSetOf(this.writer));
  }

  /** Sends the known set to a worker about to get `jobs`, when one of them may have more than one chunk. */
  private knownFor(slot: Slot, jobs: FileJob[]): void {
    if (slot.knows || this.writer.dryRun || !jobs.some((j) => j.size > this.repo.config.chunker.min)) return;
    slot.knows = true;
    this.group.post(slot.thread, { type: 'known', buffer: this.known.buffer });
  }

  /**
   * One more worker, up to the limit: the first with the first file to read (a backup where
   * nothing changed needs none), each next one once the files handed out and waiting hold more
   * than GROW_BYTES per worker running, or (`walkWaits`) once the walk has waited for a full
   * queue GROW_AFTER_WAIT_MS in all. A few small changed files are thus read by one thread,
   * not by threads that each cost more CPU to start. Waiting adds workers only while a core is
   * left to the walk: in a tree of small files the walk on the main thread takes about as much
   * CPU as the reading, and on two cores a second worker made a million small files slower and
   * ~30 MiB larger (bench/RESULTS.md); large files leave the main thread idle, so bytes piling
   * up add workers up to one per core.
   */
  private grow(walkWaits = false): void {
    const n = this.slots.length;
    if (n >= (this.opts.workers ?? defaultWorkers(walkWaits ? 1 : 0))) return;
    if (n > 0 && this.outstandingBytes <= n * GROW_BYTES && !walkWaits) return;
    const init = (this.init ??= {
      encKey: this.repo.key.encrypt,
      macKey: this.repo.key.mac,
      gearSeed: this.repo.config.chunker.seed,
      chunker: { min: this.repo.config.chunker.min, avg: this.repo.config.chunker.avg, max: this.repo.config.chunker.max },
      compression: this.writer.compressionMode,
      seal: !this.writer.dryRun,
    });
    // The largest chunk stored as is: its method byte, then the sealed box's nonce and tag.
    const maxSealed = init.chunker.max + 1 + OVERHEAD;
    const ring = SharedRing.create(init.seal ? maxSealed + RING_SLACK : 0);
    const known = this.knownSet?.buffer;
    const slot: Slot = { thread: -1, knows: known !== undefined, ring: new SharedRing(ring), running: new Set(), chain: Promise.resolve() };
    slot.thread = this.group.start({ ...init, ring, known } satisfies FileWorkerInit, (m) => {
      slot.chain = slot.chain.then(() => this.handle(slot, m)).catch((err) => this.group.fail(err));
    });
    this.slots.push(slot);
  }

  /** Worker threads started so far. */
  get threads(): number {
    return this.group.size;
  }

  /** Resolves once the queue has room; the walk awaits it before handing over a file. */
  async room(): Promise<void> {
    if (this.queue.length >= QUEUE_MAX && !this.group.failure) {
      const t0 = performance.now();
      while (this.queue.length >= QUEUE_MAX && !this.group.failure) await new Promise<void>((r) => this.roomWaiters.push(r));
      this.walkWaited += performance.now() - t0;
      if (this.walkWaited >= GROW_AFTER_WAIT_MS && !this.group.failure) this.grow(true);
    }
    if (this.group.failure) throw this.group.failure;
  }

  /** Reads, chunks and stores one file; rejects with the errno-carrying error of a failed read. */
  file(path: string, size: number, mtimeMs: number): Promise<FileDone> {
    if (this.group.failure) return Promise.reject(this.group.failure);
    return new Promise<FileDone>((resolve, reject) => {
      const job: FileJob = { job: this.nextJob++, path, size, mtimeMs, sealAll: false };
      this.outstandingBytes += size;
      const done = (): void => {
        this.outstandingBytes -= size;
      };
      this.queue.push({
        job,
        resolve: (d) => (done(), resolve(d)),
        reject: (err) => (done(), reject(asError(err))),
        redo: false,
        content: [],
      });
      this.grow();
      this.pump();
    });
  }

  close(): Promise<void> {
    return this.group.close();
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (!this.queue.length) break;
      if (slot.running.size > PREFETCH - REFILL) continue;
      const jobs: FileJob[] = [];
      while (this.queue.length && slot.running.size < PREFETCH) {
        const p = this.queue.shift()!;
        this.jobs.set(p.job.job, p);
        slot.running.add(p.job.job);
        jobs.push(p.job);
      }
      this.knownFor(slot, jobs);
      this.group.post(slot.thread, encodeJobs(jobs));
    }
    while (this.roomWaiters.length && this.queue.length < QUEUE_MAX) this.roomWaiters.shift()!();
  }

  private async handle(slot: Slot, m: FromWorker): Promise<void> {
    try {
      await this.store(slot, m);
    } finally {
      slot.ring.release(m.upTo);
      if (!this.group.failure) this.group.post(slot.thread, { type: 'ack', bytes: m.cost });
    }
    for (const end of m.ends) {
      const p = this.jobs.get(end.job);
      if (!p) continue;
      this.jobs.delete(end.job);
      slot.running.delete(end.job);
      if (!end.ok) {
        p.reject(Object.assign(new Error(end.message), { code: end.code }));
      } else if (p.redo) {
        p.redo = false;
        p.content = [];
        p.job = { ...p.job, sealAll: true };
        this.queue.unshift(p);
      } else {
        p.resolve({ content: p.content, hash: end.hash, bytesRead: end.bytesRead, changed: end.changed });
      }
    }
    this.pump();
  }

  /** Copies the message's new blobs into packs (the ring's bytes are the worker's again once acknowledged). */
  private async store(slot: Slot, m: FromWorker): Promise<void> {
    const ids = Buffer.from(m.ids.buffer, m.ids.byteOffset, m.ids.length);
    const r = ITEM_RECORD;
    for (let i = 0; i < r.count(m.nums); i++) {
      const p = this.jobs.get(r.get(m.nums, i, 'job'));
      const raw = r.get(m.nums, i, 'raw');
      const off = r.get(m.nums, i, 'at');
      const id = ids.toString('hex', i * 32, i * 32 + 32);
      p?.content.push(id);
      if (off < 0) {
        if (this.writer.dryRun) await this.writer.addSealed('data', id, undefined, raw);
        else if (p && !this.writer.known(id)) p.redo = true;
        continue;
      }
      const sealed = slot.ring.data.subarray(off, off + r.get(m.nums, i, 'length'));
      if (await this.writer.addSealed('data', id, sealed, raw)) this.knownSet?.add(id);
    }
  }
}

/** One worker per core, at most 4, but `reserved` cores left to the main thread. */
function defaultWorkers(reserved: number): number {
  return Math.max(1, Math.min(4, availableParallelism() - reserved));
}

/** Ids every live target holds now: a worker need not seal those. */
function knownSetOf(writer: MultiTargetWriter): KnownSet {
  const [first, ...others] = writer.live;
  const set = KnownSet.create(first ? first.index.size : 0);
  if (!first) return set;
  for (const [id] of first.index.entries()) if (others.every((s) => s.index.has(id))) set.add(id);
  return set;
}
