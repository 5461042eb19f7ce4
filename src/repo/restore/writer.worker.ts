/**
 * Worker thread of the restore: creates directories, symlinks and files whose content the
 * main thread has decrypted, checks that content against the blob ids and whole-content
 * hash, and renames each file into place only when all of it matched. File creation (the
 * kernel's share of a restore) and the content hashing thus run beside the main thread's
 * decryption and decompression.
 */
import { createHmac, type Hmac } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { TriadError, errnoCode } from '../../core/errors.js';
import { fsPath } from '../../core/names.js';
import { commitTemp, discardTemp, makeSymlink, openTemp, writeTemp, type TempFile } from './file-out.js';
import { SharedRing } from '../../core/workers/index.js';
import { ZeroRuns, feedZeros, isAllZero } from '../../core/zeros.js';
import type { FromWriter, PieceOp, ToWriter, WriteOp, WriteResult, WriterInit } from './writer.protocol.js';

const port = parentPort!;
const init = workerData as WriterInit;
const mac = init.mac;
/** The main thread fills it, and releases a batch's bytes when this thread answers the batch. */
const ring = new SharedRing(init.ring);
const NO_BYTES = Buffer.alloc(0);

/** A file being written, with the keyed hashes of its current blob and (for several blobs) of all of it so far. */
interface Writing {
  t: TempFile;
  blob: Hmac | undefined;
  /** Zero bytes the current blob began with, not hashed yet: a blob of zeros only is checked against zeroIds. */
  zeros: number;
  whole: { hash: Hmac; expect: string } | undefined;
}

/** The ids of blobs of zeros by length (the holes of sparse files): each length hashed once, not once a blob. */
const zeroIds = new ZeroRuns((zeros) => keyed().update(zeros).digest('hex'));
const open = new Map<number, Writing>();
/** Files that failed: their later pieces are ignored. */
const failed = new Set<number>();
/** Directories this thread could not create: nothing is created in them. */
const failedLanes = new Set<number>();

port.on('message', (m: ToWriter) => {
  const buf = m.at >= 0 ? ring.data.subarray(m.at, m.at + m.size) : NO_BYTES;
  const results: WriteResult[] = [];
  for (const op of m.ops) {
    if (op.type === 'piece') writeFile(op, buf, results);
    else if (op.type === 'abort') abortFile(op.file);
    else if (op.type === 'mkdir') makeDir(op, results);
    else makeLink(op, results);
  }
  port.postMessage({ type: 'done', release: m.at >= 0 ? m.release : -1, results } satisfies FromWriter);
});

function makeDir(d: Extract<WriteOp, { type: 'mkdir' }>, results: WriteResult[]): void {
  if (failedLanes.has(d.parent)) {
    failedLanes.add(d.lane);
    return;
  }
  try {
    // Never an existing entry: the parent was created by this restore, and it could be a symlink.
    mkdirSync(fsPath(d.out), { mode: 0o700 });
  } catch (err) {
    failedLanes.add(d.lane);
    results.push(failure(d.file, err));
  }
}

function makeLink(l: Extract<WriteOp, { type: 'symlink' }>, results: WriteResult[]): void {
  if (failedLanes.has(l.lane)) return;
  try {
    makeSymlink(l.out, l, l);
    results.push({ file: l.file, ok: true });
  } catch (err) {
    results.push(failure(l.file, err));
  }
}

function abortFile(file: number): void {
  // A file that failed has no temporary file left; its abort only ends it.
  if (failed.delete(file)) return;
  const w = open.get(file);
  open.delete(file);
  if (w) discardTemp(w.t);
}

function writeFile(op: PieceOp, buf: Buffer, results: WriteResult[]): void {
  if (op.open && failedLanes.has(op.open.lane)) failed.add(op.file);
  if (failed.has(op.file)) {
    if (op.commit) failed.delete(op.file);
    return;
  }
  let w = open.get(op.file);
  try {
    if (!w) {
      const o = op.open!;
      w = { t: openTemp(o.out, o.fresh, o.overwrite, o.createMode, o.dense === true), blob: undefined, zeros: 0, whole: o.whole ? { hash: keyed(), expect: o.whole } : undefined };
      open.set(op.file, w);
    }
    if (op.len) {
      const piece = buf.subarray(op.off, op.off + op.len);
      if (mac) hashPiece(w, piece);
      w.whole?.hash.update(piece);
      writeTemp(w.t, piece);
    }
    if (op.blob) {
      const got = w.blob === undefined && w.zeros > 0 ? zeroIds.of(w.zeros) : (w.blob ?? keyed()).digest('hex');
      w.blob = undefined;
      w.zeros = 0;
      if (got !== op.blob) throw new BlobMismatch(op.blob);
    }
    if (op.commit) {
      if (w.whole && w.whole.hash.digest('hex') !== w.whole.expect) throw new TriadError('E_INTEGRITY', `content hash mismatch for ${w.t.out}`);
      open.delete(op.file);
      commitTemp(w.t, op.commit, op.commit);
      results.push({ file: op.file, ok: true });
    }
  } catch (err) {
    if (w) discardTemp(w.t);
    open.delete(op.file);
    if (!op.commit) failed.add(op.file);
    results.push(failure(op.file, err));
  }
}

/** Adds a piece to its blob's hash; zeros the blob begins with are counted, and hashed only once other bytes follow. */
function hashPiece(w: Writing, piece: Uint8Array): void {
  if (w.blob === undefined && isAllZero(piece)) {
    w.zeros += piece.length;
    return;
  }
  if (w.blob === undefined) {
    const blob = (w.blob = keyed());
    feedZeros(w.zeros, (b) => blob.update(b));
    w.zeros = 0;
  }
  w.blob.update(piece);
}

function keyed(): Hmac {
  if (!mac) throw new Error('restore writer: no MAC key to check content with');
  return createHmac('sha256', mac);
}

class BlobMismatch extends Error {
  constructor(readonly blob: string) {
    super('content does not match its id');
  }
}

function failure(file: number, err: unknown): WriteResult {
  if (err instanceof BlobMismatch) return { file, ok: false, code: 'E_INTEGRITY', message: err.message, blob: err.blob };
  return { file, ok: false, code: err instanceof TriadError ? err.code : errnoCode(err), message: err instanceof Error ? err.message : String(err), hint: err instanceof TriadError ? err.hint : undefined };
}
