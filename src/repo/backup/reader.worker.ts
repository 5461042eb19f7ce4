/**
 * Worker thread of the backup: opens, reads, chunks, names, compresses and encrypts files,
 * so every core does the per-byte work while the main thread walks and writes packs.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { chunkBuffer, makeGear, nextCut } from '../blob/index.js';
import { frameParts } from '../blob/index.js';
import { sealParts, sealedLength } from '../crypto/index.js';
import { blobAad } from '../format.js';
import { KnownSet } from '../index/index.js';
import { SharedRing } from '../../core/workers/index.js';
import { fsPath } from '../../core/names.js';
import { ZeroRuns, isAllZero } from '../../core/zeros.js';
import { decodeJobs, ITEM_RECORD, type FileEnd, type FileJob, type FileWorkerInit, type FromWorker, type ToWorker } from './reader.protocol.js';

const init = workerData as FileWorkerInit;
const encKey = Buffer.from(init.encKey);
const macKey = Buffer.from(init.macKey);
const gear = makeGear(Buffer.from(init.gearSeed, 'base64'), init.chunker);
/** Until the pool sends it, nothing counts as known: every chunk is sealed (see FilePool.knownFor). */
let known = init.known ? KnownSet.attach(init.known) : undefined;
const port = parentPort!;

/** Files up to this size are read in one call; larger ones stream through a fixed buffer. */
const SMALL_FILE = 8 * 1024 * 1024;
/** Sealed bytes a worker may have sent before the main thread has taken them. */
const WINDOW = 8 * 1024 * 1024;
/** Blobs go out once about this many bytes, or this many files, are ready (or nothing is queued). */
const BATCH_BYTES = 2 * 1024 * 1024;
const BATCH_FILES = 16;
/** Message cost of an item without bytes, so many tiny files are throttled too. */
const ITEM_COST = 256;

let unacked = 0;
/** Waiting for the main thread's next acknowledgement: for room in the window or in the ring. */
const ackWaiters: (() => void)[] = [];

/** Blobs are sealed into memory shared with the main thread (this thread produces, the main thread releases). */
const ring = new SharedRing(init.ring);

function nextAck(): Promise<void> {
  return new Promise<void>((r) => ackWaiters.push(r));
}

const queue: FileJob[] = [];
let busy = false;
let streamBuf: Buffer | undefined;
// One read buffer for every small file: a fresh allocation per file fragmented the heap
// (the chunks are sealed, i.e. copied, before the next file is read).
let smallBuf: Buffer | undefined;

port.on('message', (m: ToWorker) => {
  if (m.type === 'ack') {
    unacked -= m.bytes;
    for (const w of ackWaiters.splice(0)) w();
    return;
  }
  if (m.type === 'known') {
    known = KnownSet.attach(m.buffer);
    return;
  }
  for (const j of decodeJobs(m)) queue.push(j);
  if (!busy) void drain();
});

async function drain(): Promise<void> {
  busy = true;
  const batch = new Batch();
  while (queue.length) {
    const job = queue.shift()!;
    try {
      const { hash, bytesRead, changed } = await processFile(job, batch);
      batch.end({ job: job.job, ok: true, hash, bytesRead, changed });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      // Blobs already cut from a file that then failed stay unreferenced until a prune.
      batch.end({ job: job.job, ok: false, code: e.code, message: e.message ?? String(err) });
    }
    if (batch.size >= BATCH_BYTES || batch.files >= BATCH_FILES || queue.length === 0) {
      await send(batch.take());
      // Let queued messages in (new jobs, acks): the work above never yields to the event loop.
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  busy = false;
}

async function send(msg: FromWorker): Promise<void> {
  unacked += msg.cost;
  port.postMessage(msg);
  while (unacked >= WINDOW) await nextAck();
}

class Batch {
  private ids: Buffer[] = [];
  private nums = ITEM_RECORD.alloc(64);
  private items = 0;
  private ends: FileEnd[] = [];
  size = 0;

  get files(): number {
    return this.ends.length;
  }

  get empty(): boolean {
    return this.items === 0 && this.ends.length === 0;
  }

  /** A chunk, sealed at `at` in the ring (`length` bytes), or not sealed (`at` -1). */
  add(job: number, id: Buffer, raw: number, at = -1, length = 0): void {
    this.ids.push(id);
    const i = this.items++;
    const nums = (this.nums = ITEM_RECORD.ensure(this.nums, this.items));
    ITEM_RECORD.set(nums, i, 'job', job);
    ITEM_RECORD.set(nums, i, 'raw', raw);
    ITEM_RECORD.set(nums, i, 'at', at);
    ITEM_RECORD.set(nums, i, 'length', length);
    this.size += length;
  }

  end(e: FileEnd): void {
    this.ends.push(e);
  }

  take(): FromWorker {
    const items = this.items;
    const nums = this.nums.slice(0, items * ITEM_RECORD.stride);
    const out: FromWorker = { type: 'blobs', ids: Buffer.concat(this.ids), nums, ends: this.ends, cost: this.size + (items + this.ends.length) * ITEM_COST, upTo: ring.head };
    this.ids = [];
    this.items = 0;
    this.ends = [];
    this.size = 0;
    return out;
  }
}

/**
 * Chunks of zeros (the holes of sparse files) by length: their ids, and whether this thread
 * sealed one already (the main thread then has it before it meets the next: it takes this
 * thread's messages in order). A hole costs neither a hash nor a seal per chunk.
 */
const zeroChunks = new ZeroRuns((zeros) => ({ id: createHmac('sha256', macKey).update(zeros).digest(), sealed: false }));

/** Names, and unless known seals, one chunk; returns its id (the first chunk's is a one-chunk file's hash). */
async function addChunk(batch: Batch, job: FileJob, chunk: Uint8Array): Promise<Buffer> {
  const zero = chunk.length > 0 && isAllZero(chunk) ? zeroChunks.of(chunk.length) : undefined;
  const id = zero ? zero.id : createHmac('sha256', macKey).update(chunk).digest();
  if (!init.seal || (!job.sealAll && (known?.has(id) || zero?.sealed))) {
    batch.add(job.job, id, chunk.length);
    return id;
  }
  const parts = frameParts(chunk, init.compression);
  const length = sealedLength(parts);
  let at: number;
  while ((at = ring.reserve(length)) < 0) {
    // The ring is full: what this batch sealed goes to the main thread, which frees it.
    if (!batch.empty) await send(batch.take());
    else await nextAck();
  }
  sealParts(encKey, parts, blobAad('data', id), ring.data.subarray(at, at + length));
  batch.add(job.job, id, chunk.length, at, length);
  if (zero) zero.sealed = true;
  return id;
}

type FileSummary = { hash: string; bytesRead: number; changed: boolean };

/** The keyed hash of no bytes: an empty file's content hash. */
const EMPTY_HASH = createHmac('sha256', macKey).digest();

async function processFile(job: FileJob, batch: Batch): Promise<FileSummary> {
  const { size } = job;
  const fd = openSync(fsPath(job.path), 'r');
  try {
    if (size > SMALL_FILE) return await streamFile(fd, job, batch);
    const buf = (smallBuf ??= Buffer.allocUnsafeSlow(SMALL_FILE + 1)).subarray(0, size + 1);
    let n = 0;
    for (;;) {
      const r = readSync(fd, buf, n, buf.length - n, null);
      if (r === 0) break;
      n += r;
      // One byte more than lstat said: the file grew while we read it; stream it instead.
      if (n === buf.length) return await streamFile(fd, job, batch);
    }
    let first: Buffer | undefined;
    // Files up to the minimum chunk size are one chunk, whose id is the keyed content hash.
    const whole = n > gear.params.min ? createHmac('sha256', macKey) : undefined;
    for (const chunk of chunkBuffer(gear, buf.subarray(0, n))) {
      whole?.update(chunk);
      const id = await addChunk(batch, job, chunk);
      first ??= id;
    }
    const hash = whole ? whole.digest('hex') : (first ?? EMPTY_HASH).toString('hex');
    return { hash, bytesRead: n, changed: n !== size };
  } finally {
    closeSync(fd);
  }
}

async function streamFile(fd: number, job: FileJob, batch: Batch): Promise<FileSummary> {
  const { size } = job;
  // Room for the largest chunk and 1 MiB more: every refill reads at least 1 MiB, and the
  // cut after the largest chunk is always found. Twice the largest chunk was 7 MiB more RSS
  // per worker for the same speed.
  const buf = (streamBuf ??= Buffer.allocUnsafe(gear.params.max + 1024 * 1024));
  const whole = createHmac('sha256', macKey);
  let start = 0;
  let end = 0;
  let eof = false;
  let pos = 0;
  for (;;) {
    while (!eof && end < buf.length) {
      const r = readSync(fd, buf, end, buf.length - end, pos);
      if (r === 0) eof = true;
      end += r;
      pos += r;
    }
    for (;;) {
      if (start === end) break;
      const cut = nextCut(gear, buf, start, end, eof);
      if (cut < 0) break;
      const chunk = buf.subarray(start, start + cut);
      whole.update(chunk);
      await addChunk(batch, job, chunk);
      start += cut;
      if (batch.size >= BATCH_BYTES) await send(batch.take());
    }
    if (eof && start === end) break;
    buf.copy(buf, 0, start, end);
    end -= start;
    start = 0;
  }
  const after = fstatSync(fd);
  const changed = after.size !== size || after.mtimeMs !== job.mtimeMs || pos !== size;
  // The hash of exactly the bytes stored (none, if the file was emptied while streaming).
  return { hash: whole.digest('hex'), bytesRead: pos, changed };
}
