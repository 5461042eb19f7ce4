/**
 * Worker thread of the restore: creates directories, symlinks and files whose content the
 * main thread has already decrypted and verified (writing and renaming them), so file
 * creation (the kernel's share of a restore) runs on every core.
 */
import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { TriadError, errnoCode } from '../core/errors.js';
import { commitTemp, discardTemp, makeSymlink, openTemp, writeTemp, type TempFile } from './file-out.js';
import type { WriteBatch, WriteDone, WriteOp, WriteResult } from './file-writer-protocol.js';

const port = parentPort!;
const { ring: shared, chunkBytes } = workerData as { ring: SharedArrayBuffer; chunkBytes: number };
const ring = Buffer.from(shared);
const open = new Map<number, TempFile>();
/** Files that failed: their later pieces are ignored. */
const failed = new Set<number>();
/** Directories this thread could not create: nothing is created in them. */
const failedLanes = new Set<number>();

port.on('message', (m: WriteBatch) => {
  const buf = m.chunk >= 0 ? ring.subarray(m.chunk * chunkBytes, m.chunk * chunkBytes + m.size) : ring.subarray(0, 0);
  const results: WriteResult[] = [];
  for (const op of m.ops) {
    if (op.mkdir) makeDir(op, results);
    else if (op.symlink) makeLink(op, results);
    else writeFile(op, buf, results);
  }
  port.postMessage({ chunk: m.chunk, results } satisfies WriteDone);
});

function makeDir(op: WriteOp, results: WriteResult[]): void {
  const d = op.mkdir!;
  if (failedLanes.has(d.parent)) {
    failedLanes.add(d.lane);
    return;
  }
  try {
    // Never an existing entry: the parent was created by this restore, and it could be a symlink.
    mkdirSync(d.out, { mode: 0o700 });
  } catch (err) {
    failedLanes.add(d.lane);
    results.push(failure(op.file, err));
  }
}

function makeLink(op: WriteOp, results: WriteResult[]): void {
  const l = op.symlink!;
  if (failedLanes.has(l.lane)) return;
  try {
    makeSymlink(l.out, l, l);
    results.push({ file: op.file, ok: true });
  } catch (err) {
    results.push(failure(op.file, err));
  }
}

function writeFile(op: WriteOp, buf: Buffer, results: WriteResult[]): void {
  if (op.open && failedLanes.has(op.open.lane)) failed.add(op.file);
  if (failed.has(op.file)) {
    if (op.end) failed.delete(op.file);
    return;
  }
  let t = open.get(op.file);
  try {
    if (op.end === 'abort') {
      if (t) discardTemp(t);
      open.delete(op.file);
      return;
    }
    if (!t) {
      const o = op.open!;
      t = openTemp(o.out, o.fresh, o.overwrite, o.createMode);
      open.set(op.file, t);
    }
    if (op.len) writeTemp(t, buf.subarray(op.off, op.off + op.len));
    if (op.end === 'commit') {
      open.delete(op.file);
      commitTemp(t, op.meta!, op.meta!);
      results.push({ file: op.file, ok: true });
    }
  } catch (err) {
    if (t) discardTemp(t);
    open.delete(op.file);
    if (!op.end) failed.add(op.file);
    results.push(failure(op.file, err));
  }
}

function failure(file: number, err: unknown): WriteResult {
  return { file, ok: false, code: err instanceof TriadError ? err.code : errnoCode(err), message: err instanceof Error ? err.message : String(err), hint: err instanceof TriadError ? err.hint : undefined };
}
