import type { ChunkerParams } from '../blob/index.js';
import type { CompressionMode } from '../blob/index.js';
import { NumericRecords } from '../../core/workers/index.js';

/** What a file worker needs to chunk, name and seal blobs exactly as the main thread would. */
export interface FileWorkerInit {
  encKey: Uint8Array;
  macKey: Uint8Array;
  gearSeed: string;
  chunker: ChunkerParams;
  compression: CompressionMode;
  /** The known set (see KnownSet), when the pool has built it by this worker's start; else a `known` message brings it. */
  known?: SharedArrayBuffer;
  /** False on a dry run: ids and sizes only, nothing compressed or encrypted. */
  seal: boolean;
  /**
   * A SharedRing this worker seals blobs into (it produces), and the main thread copies them
   * into packs and releases them (it consumes).
   */
  ring: SharedArrayBuffer;
}

export interface FileJob {
  job: number;
  path: string;
  size: number;
  mtimeMs: number;
  /** Seal every chunk, even those the known set names (after a false "known"). */
  sealAll: boolean;
}

/** A job's numbers; `sealAll` is 1 or 0. */
export const JOB_RECORD = new NumericRecords(['job', 'size', 'mtimeMs', 'sealAll'] as const);

/**
 * Main → worker. Jobs travel in groups, flattened into one string and JOB_RECORDs: cloning
 * thousands of small objects cost more than reading the files they name. `ack`: the main
 * thread has taken a message of `bytes` cost (see FromWorker), and released its blobs in the ring.
 * `known`: the known set, sent before the first job that may have more than one chunk.
 */
export type ToWorker = { type: 'jobs'; paths: string; nums: Float64Array } | { type: 'ack'; bytes: number } | { type: 'known'; buffer: SharedArrayBuffer };

export function encodeJobs(jobs: FileJob[]): Extract<ToWorker, { type: 'jobs' }> {
  const nums = JOB_RECORD.alloc(jobs.length);
  const r = JOB_RECORD;
  jobs.forEach((j, i) => {
    r.set(nums, i, 'job', j.job);
    r.set(nums, i, 'size', j.size);
    r.set(nums, i, 'mtimeMs', j.mtimeMs);
    r.set(nums, i, 'sealAll', j.sealAll ? 1 : 0);
  });
  return { type: 'jobs', paths: jobs.map((j) => j.path).join('\0'), nums };
}

export function decodeJobs(m: Extract<ToWorker, { type: 'jobs' }>): FileJob[] {
  const r = JOB_RECORD;
  return m.paths.split('\0').map((path, i) => ({ job: r.get(m.nums, i, 'job'), path, size: r.get(m.nums, i, 'size'), mtimeMs: r.get(m.nums, i, 'mtimeMs'), sealAll: r.get(m.nums, i, 'sealAll') === 1 }));
}

export interface FileDone {
  content: string[];
  hash: string;
  bytesRead: number;
  /** The size or mtime moved while reading, or fewer/more bytes than lstat said. */
  changed: boolean;
}

/** How a file ended: read (its content hash) or failed (the errno code and message of the failed read). */
export type FileEnd = { job: number; ok: true; hash: string; bytesRead: number; changed: boolean } | { job: number; ok: false; code: string | undefined; message: string };

/**
 * A chunk's numbers: its job, plaintext length, and where its sealed bytes are in the
 * worker's ring (`at` -1: not sealed, the worker found it in the known set).
 */
export const ITEM_RECORD = new NumericRecords(['job', 'raw', 'at', 'length'] as const);

/**
 * Worker → main: the chunks of one or more files, in the order they were cut, and the
 * files that ended with them. Every chunk of a file is listed (its content list is the
 * sequence of its items), in or before the message that ends the file. Chunk i's id is
 * ids[32i, 32i+32), its numbers ITEM_RECORD i of `nums`.
 */
export interface Blobs {
  type: 'blobs';
  ids: Uint8Array;
  nums: Float64Array;
  ends: FileEnd[];
  /** Counted against the worker's window until the main thread acknowledges it. */
  cost: number;
  /** Releasing the ring up to here frees the message's sealed bytes (SharedRing.head after them). */
  upTo: number;
}

export type FromWorker = Blobs;
