import type { CommitPlan, FileMeta, LinkMeta, LinkOptions } from './file-out.js';

/**
 * One op of a writer thread, in order. A `piece` is bytes of a file: the first piece of a
 * file opens it (under a temporary name) and alone carries `open`; a piece with `commit`
 * (which may be the last piece with bytes, or have none) checks the whole-content hash, sets
 * the file's metadata and renames it; `blob`, on the piece with a blob's last bytes, is that
 * blob's id, which the thread checks them against. `abort` removes a file's temporary file.
 * `mkdir` and `symlink` create that entry (`file` then only names the op in its result).
 * Directories are numbered (lanes); an entry in a directory whose creation failed on this
 * thread is skipped without a result: its directory's failure was reported.
 *
 * A piece's options are absent, not undefined, when unset: each property present is cloned
 * to the thread, for every file of a restore.
 */
export type WriteOp = PieceOp | { type: 'abort'; file: number } | ({ type: 'mkdir'; file: number } & MkdirSpec) | ({ type: 'symlink'; file: number } & SymlinkSpec);

export interface PieceOp {
  type: 'piece';
  file: number;
  /** The piece is the batch's bytes [off, off + len). */
  off: number;
  len: number;
  open?: OpenSpec;
  blob?: string;
  commit?: FileMeta & CommitPlan;
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
  /** Write pieces of zeros too (restore --no-sparse); absent: they are left as holes. */
  dense?: true;
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
 * Main → writer thread: ops of one or more files. Their bytes are at `at` in the SharedRing
 * the thread shares with the main thread (`workerData.ring`; -1: the batch has none), and
 * are the thread's until it answers: the main thread then releases the ring up to
 * `release`. It waits for the answer, rather than the thread releasing as soon as it is
 * done, because how long it waits for a full ring is what adds a second writer thread.
 */
export interface WriteBatch {
  type: 'write';
  at: number;
  /** Bytes of the batch. */
  size: number;
  release: number;
  ops: WriteOp[];
}

export type ToWriter = WriteBatch;

/** What a writer thread needs: its ring and the MAC key to check blobs with. */
export interface WriterInit {
  ring: SharedArrayBuffer;
  mac: Uint8Array | undefined;
}

/** A file or entry created, or failed (`code`: a TriadError code or an errno code; `blob`: a blob whose content did not match its id). */
export type WriteResult = { file: number; ok: true } | { file: number; ok: false; code: string | undefined; message: string; hint?: string; blob?: string };

/** Writer thread → main, one per batch: the outcomes, and the batch's `release` (-1: it had no bytes). */
export type FromWriter = { type: 'done'; release: number; results: WriteResult[] };
