/**
 * Worker thread of the backup: opens, reads, chunks, names, compresses and encrypts files,
 * so every core does the per-byte work while the main thread walks and writes packs.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { createHmac } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import { chunkBuffer, makeGear, nextCut } from './chunker.js';
import { frameParts } from './compress.js';
import { sealParts } from './crypto.js';
import { blobAad } from './format.js';
import { KnownSet } from './known-set.js';
import { transferable } from '../core/threads.js';
import { decodeJobs, ITEM_NUMS, type FileEnd, type FileJob, type FileWorkerInit, type FromWorker, type ToWorker } from './file-protocol.js';

const init = workerData as FileWorkerInit;
const encKey = Buffer.from(init.encKey);
const macKey = Buffer.from(init.macKey);
const gear = makeGear(Buffer.from(init.gearSeed, 'base64'), init.chunker);
const known = KnownSet.attach(init.known);
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
let wake: (() => void) | undefined;
const queue: FileJob[] = [];
let busy = false;
let streamBuf: Buffer | undefined;
// One read buffer for every small file: a fresh allocation per file fragmented the heap
// (the chunks are sealed, i.e. copied, before the next file is read).
let smallBuf: Buffer | undefined;

port.on('message', (m: ToWorker) => {
  if (m.t === 'ack') {
    unacked -= m.bytes;
    if (wake && unacked < WINDOW) {
      const w = wake;
      wake = undefined;
      w();
    }
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
      batch.end({ job: job.job, ok: true, ...(await processFile(job, batch)) });
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
  port.postMessage(msg, msg.buf ? [msg.buf] : []);
  if (unacked >= WINDOW) await new Promise<void>((r) => (wake = r));
}

class Batch {
  private ids: Buffer[] = [];
  private nums: number[] = [];
  private ends: FileEnd[] = [];
  private parts: Buffer[] = [];
  size = 0;

  get files(): number {
    return this.ends.length;
  }

  add(job: number, id: Buffer, raw: number, sealed?: Buffer): void {
    this.ids.push(id);
    if (sealed) {
      this.nums.push(job, raw, this.size, sealed.length);
      this.parts.push(sealed);
      this.size += sealed.length;
    } else {
      this.nums.push(job, raw, -1, 0);
    }
  }

  end(e: FileEnd): void {
    this.ends.push(e);
  }

  /** The batch as one transferable buffer (no copy crosses the thread boundary). */
  take(): FromWorker {
    const buf = transferable(this.parts, this.size);
    const items = this.nums.length / ITEM_NUMS;
    const out: FromWorker = { buf, ids: Buffer.concat(this.ids), nums: Float64Array.from(this.nums), ends: this.ends, cost: this.size + (items + this.ends.length) * ITEM_COST };
    this.ids = [];
    this.nums = [];
    this.ends = [];
    this.parts = [];
    this.size = 0;
    return out;
  }
}

/** Names, and unless known seals, one chunk; returns its id (the first chunk's is a one-chunk file's hash). */
function addChunk(batch: Batch, job: FileJob, chunk: Uint8Array): Buffer {
  const id = createHmac('sha256', macKey).update(chunk).digest();
  if (!init.seal || (!job.sealAll && known.has(id))) batch.add(job.job, id, chunk.length);
  else batch.add(job.job, id, chunk.length, sealParts(encKey, frameParts(chunk, init.compression), blobAad('data', id)));
  return id;
}

type FileSummary = { hash: string; bytesRead: number; changed: boolean };

async function processFile(job: FileJob, batch: Batch): Promise<FileSummary> {
  const { size } = job;
  const fd = openSync(job.path, 'r');
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
      const id = addChunk(batch, job, chunk);
      first ??= id;
    }
    const hash = whole ? whole.digest('hex') : (first ?? createHmac('sha256', macKey).digest()).toString('hex');
    return { hash, bytesRead: n, changed: n !== size };
  } finally {
    closeSync(fd);
  }
}

async function streamFile(fd: number, job: FileJob, batch: Batch): Promise<FileSummary> {
  const { size } = job;
  const buf = (streamBuf ??= Buffer.allocUnsafe(2 * gear.params.max));
  let first: Buffer | undefined;
  let count = 0;
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
      const id = addChunk(batch, job, chunk);
      first ??= id;
      count++;
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
  return { hash: count === 1 ? first!.toString('hex') : whole.digest('hex'), bytesRead: pos, changed };
}
