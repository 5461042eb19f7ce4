import type { CommitPlan, FileMeta, LinkMeta, LinkOptions } from './file-out.js';

/**
 * One piece of a restored file. The first piece of a file opens it (under a temporary
 * name) and alone carries `open`; `end: 'commit'` (with `meta`) checks the whole-content
 * hash, sets its metadata and renames it, and may come with the last piece; `end: 'abort'`
 * removes the temporary file.
 *
 * An op with `mkdir` or `symlink` creates that entry instead (`file` then only names the
 * op in its result). Directories are numbered (lanes); an entry in a directory whose
 * creation failed on this thread is skipped without a result: its directory's failure
 * was reported.
 */
export interface WriteOp {
  file: number;
  open?: OpenSpec;
  off: number;
  len: number;
  end?: 'commit' | 'abort';
  meta?: FileMeta & CommitPlan;
  /** On the op with a blob's last bytes: its id, which the thread checks them against. */
  blob?: string;
  mkdir?: MkdirSpec;
  symlink?: SymlinkSpec;
}

/** How to create a file's temporary name (see openTemp); `lane`: its directory. */
export interface OpenSpec {
  out: string;
  lane: number;
  /** A file of several blobs: the keyed hash its whole content must have, checked before commit. */
  whole?: string;
  fresh: boolean;
  overwrite: boolean;
  createMode: number;
}

/** A directory to create (mode 0700 until the restore sets its own); `parent`: the lane it is in. */
export interface MkdirSpec {
  out: string;
  lane: number;
  parent: number;
}

/** A symlink to create in directory `lane` (see makeSymlink). */
export interface SymlinkSpec extends LinkOptions, LinkMeta {
  out: string;
  lane: number;
}

/**
 * Main → writer thread: pieces of one or more files. Their bytes are in one chunk of the
 * ring the thread shares with the main thread (`workerData.ring`, chunks of
 * `workerData.chunkBytes`), which is the thread's until it answers. `workerData.mac` is
 * the repository's MAC key, for checking blobs against their ids.
 */
export interface WriteBatch {
  /** The chunk holding the batch's bytes (-1: the batch has none). */
  chunk: number;
  /** Bytes of the chunk in use. */
  size: number;
  ops: WriteOp[];
}

/** A file committed, or failed (`code`: a TriadError code or an errno code). */
export interface WriteResult {
  file: number;
  ok: boolean;
  /** A blob whose content did not match its id. */
  blob?: string;
  code?: string;
  message?: string;
  hint?: string;
}

/** Writer thread → main, one per batch; `chunk` is the batch's chunk, given back. */
export interface WriteDone {
  chunk: number;
  results: WriteResult[];
}
