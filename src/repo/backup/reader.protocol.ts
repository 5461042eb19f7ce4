import type { ChunkerParams } from '../blob/index.js';
import type { CompressionMode } from '../blob/index.js';

/** What a file worker needs to chunk, name and seal blobs exactly as the main thread would. */
export interface FileWorkerInit {
  encKey: Uint8Array;
  macKey: Uint8Array;
  gearSeed: string;
  chunker: ChunkerParams;
  compression: CompressionMode;
  known: SharedArrayBuffer;
  /** False on a dry run: ids and sizes only, nothing compressed or encrypted. */
  seal: boolean;
  /**
   * Memory this worker shares with the main thread: it seals blobs into it, and the main
   * thread copies them into packs and acknowledges. Used as a ring, in order.
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

/**
 * Main → worker. Jobs travel in groups, flattened into one string and one number array:
 * cloning thousands of small objects cost more than reading the files they name.
 */
export type ToWorker = { t: 'jobs'; paths: string; nums: Float64Array } | { t: 'ack'; bytes: number; upTo: number };

const JOB_NUMS = 4;

export function encodeJobs(jobs: FileJob[]): Extract<ToWorker, { t: 'jobs' }> {
  const nums = new Float64Array(jobs.length * JOB_NUMS);
  jobs.forEach((j, i) => nums.set([j.job, j.size, j.mtimeMs, j.sealAll ? 1 : 0], i * JOB_NUMS));
  return { t: 'jobs', paths: jobs.map((j) => j.path).join('\0'), nums };
}

export function decodeJobs(m: Extract<ToWorker, { t: 'jobs' }>): FileJob[] {
  const paths = m.paths.split('\0');
  return paths.map((path, i) => {
    const o = i * JOB_NUMS;
    return { job: m.nums[o]!, path, size: m.nums[o + 1]!, mtimeMs: m.nums[o + 2]!, sealAll: m.nums[o + 3] === 1 };
  });
}

export interface FileDone {
  content: string[];
  hash: string;
  bytesRead: number;
  /** The size or mtime moved while reading, or fewer/more bytes than lstat said. */
  changed: boolean;
}

export type FileEnd = { job: number; ok: true; hash: string; bytesRead: number; changed: boolean } | { job: number; ok: false; code?: string; message: string };

/**
 * Worker → main: the chunks of one or more files, in the order they were cut, and the
 * files that ended with them. Every chunk of a file is listed (its content list is the
 * sequence of its items), in or before the message that ends the file. Per chunk i:
 * ids[32i, 32i+32) is its id and nums[4i..4i+3] = job, plaintext length, offset of its
 * sealed bytes in the worker's ring (-1: not sealed, the worker found it in the known set),
 * length.
 */
export interface FromWorker {
  ids: Uint8Array;
  nums: Float64Array;
  ends: FileEnd[];
  /** Counted against the worker's window until the main thread acknowledges it. */
  cost: number;
  /** Acknowledging the message frees the ring up to here (a position counted from the start, not wrapped). */
  upTo: number;
}

export const ITEM_NUMS = 4;
