import type { FileMeta } from './file-out.js';

/**
 * One piece of a restored file. The first piece of a file opens it (under a temporary
 * name); `end: 'commit'` sets its metadata and renames it, once the main thread has
 * verified every byte; `end: 'abort'` removes the temporary file.
 */
export interface WriteOp {
  file: number;
  out?: string;
  fresh: boolean;
  overwrite: boolean;
  owner: boolean;
  off: number;
  len: number;
  end?: 'commit' | 'abort';
  meta?: FileMeta;
}

/** Main → writer thread: pieces of one or more files, their bytes in one transferred buffer. */
export interface WriteBatch {
  buf: ArrayBuffer | null;
  /** Bytes of `buf` in use. */
  size: number;
  ops: WriteOp[];
  /** Bytes counted against the thread's window until it answers. */
  cost: number;
}

/** A file committed, or failed (`code`: a TriadError code or an errno code). */
export interface WriteResult {
  file: number;
  ok: boolean;
  code?: string;
  message?: string;
  hint?: string;
}

/** Writer thread → main, one per batch; `buf` is the batch's memory, given back for reuse. */
export interface WriteDone {
  cost: number;
  results: WriteResult[];
  buf: ArrayBuffer | null;
}
