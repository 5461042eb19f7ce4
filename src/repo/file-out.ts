import { closeSync, fchmodSync, fchownSync, futimesSync, lstatSync, openSync, renameSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { TriadError, fsError } from '../core/errors.js';

/**
 * Writing one restored file: under a temporary name beside its final name, metadata set
 * through the descriptor, then renamed into place. Used by the restore's writer threads
 * and by restore tests on the main thread.
 */
export interface TempFile {
  fd: number;
  tmp: string;
  out: string;
}

export interface FileMeta {
  mode: number;
  uid: number;
  gid: number;
  /** ms since the epoch */
  mtime: number;
}

// A random tag per thread plus a counter: unguessable, unique, and one CSPRNG call per run.
const TMP_TAG = randomBytes(6).toString('hex');
let tmpSeq = 0;

/** `fresh`: the directory was created by this restore (or found empty), so nothing can be in the way. */
export function openTemp(out: string, fresh: boolean, overwrite: boolean): TempFile {
  if (!fresh) replaceable(out, overwrite);
  const tmp = `${out}.triad-tmp-${TMP_TAG}-${(tmpSeq++).toString(36)}`;
  try {
    return { fd: openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600), tmp, out };
  } catch (err) {
    throw fsError(err, tmp);
  }
}

export function writeTemp(t: TempFile, data: Uint8Array): void {
  try {
    for (let done = 0; done < data.length; ) done += writeSync(t.fd, data, done, data.length - done);
  } catch (err) {
    throw fsError(err, t.out);
  }
}

/** Metadata through the descriptor (no path lookups; chown before chmod, as chown clears set-id bits), then rename. */
export function commitTemp(t: TempFile, meta: FileMeta, owner: boolean): void {
  try {
    if (owner) tryChown(() => fchownSync(t.fd, meta.uid, meta.gid));
    fchmodSync(t.fd, meta.mode);
    futimesSync(t.fd, meta.mtime / 1000, meta.mtime / 1000);
    closeSync(t.fd);
    t.fd = -1;
    renameSync(t.tmp, t.out);
  } catch (err) {
    discardTemp(t);
    throw fsError(err, t.out);
  }
}

export function discardTemp(t: TempFile): void {
  if (t.fd >= 0) {
    try {
      closeSync(t.fd);
    } catch {
      /* already closed */
    }
    t.fd = -1;
  }
  try {
    unlinkSync(t.tmp);
  } catch {
    /* already gone */
  }
}

export function tryChown(fn: () => void): void {
  try {
    fn();
  } catch {
    // Ownership is best effort: only root may give files away.
  }
}

/** An existing entry is replaced only with --overwrite, and never followed if it is a symlink. */
export function replaceable(path: string, overwrite: boolean): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!overwrite) throw new TriadError('E_RESTORE_TARGET', `${path} already exists`, { hint: 'restore into an empty directory, or pass --overwrite' });
  if (st.isDirectory()) throw new TriadError('E_RESTORE_TARGET', `${path} is a directory; the snapshot has a file there`);
  unlinkSync(path);
}
