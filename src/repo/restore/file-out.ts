import { closeSync, fchmodSync, fchownSync, fstatSync, ftruncateSync, lchownSync, lstatSync, openSync, renameSync, symlinkSync, unlinkSync, writeSync, constants as fsc } from 'node:fs';
import { isAllZero } from '../../core/zeros.js';
import { randomToken } from '../../core/token.js';
import { join } from 'node:path';
import { TriadError, fsError } from '../../core/errors.js';
import { fsPath } from '../../core/names.js';
import { setEntryTimes, setFileTimes } from './precise-times.js';
import type { NodeTime } from '../model/index.js';

/**
 * Writing one restored file: under a temporary name beside its final name, metadata set
 * through the descriptor, then renamed into place. Used by the restore's writer threads
 * and by restore tests on the main thread.
 */
export interface TempFile {
  fd: number;
  tmp: string;
  out: string;
  /** Where the next bytes go, and where the last bytes written end: pieces of zeros are skipped (a hole) unless `dense`. */
  pos: number;
  written: number;
  dense: boolean;
}

export interface FileMeta extends NodeTime {
  mode: number;
  uid: number;
  gid: number;
}

// A random tag per thread plus a counter: unguessable, unique, and one CSPRNG call per run.
const TMP_TAG = randomToken(6);
let tmpSeq = 0;

/** Which metadata calls a commit still has to make: those that would change something. */
export interface CommitPlan {
  chmod: boolean;
  chown: boolean;
}

/** A CommitPlan and the permission bits to create the temporary file with. */
export interface CreatePlan extends CommitPlan {
  createMode: number;
}

/**
 * What open(2) gives a new file in a directory: the permission bits it keeps of those asked
 * for (the umask or a default ACL takes some away) and the owner and group (a set-group-ID
 * directory gives its own group). Directories a restore creates below one inherit its
 * default ACL and set-group-ID bit, so one probe answers for all of them.
 */
export interface CreatedAs {
  perm: number;
  uid: number;
  gid: number;
}

/** Creates and removes an empty probe file in `dir`; undefined when that fails (nothing is then skipped). */
export function probeCreation(dir: string): CreatedAs | undefined {
  const probe = join(dir, `.triad-probe-${TMP_TAG}-${(tmpSeq++).toString(36)}`);
  let fd = -1;
  try {
    fd = openSync(probe, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o777);
    const st = fstatSync(fd);
    return { perm: st.mode & 0o777, uid: st.uid, gid: st.gid };
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) {
      closeSync(fd);
      try {
        unlinkSync(probe);
      } catch {
        /* already gone */
      }
    }
  }
}

/**
 * Creating the file with its final permission bits, and leaving out a chown that would give
 * it the owner it already has, saves two metadata calls per file, which a restore of many
 * small files feels (bench/RESULTS.md, "Restore: file creation"). `as`: how files come out in the
 * file's directory, when known.
 */
export function createPlan(meta: FileMeta, owner: boolean, as?: CreatedAs): CreatePlan {
  const perm = meta.mode & 0o7777;
  // Set-ID and sticky bits are never given at creation (and a chown would clear them).
  const exact = as !== undefined && (perm & 0o7000) === 0 && (perm & ~as.perm) === 0;
  const sameOwner = as !== undefined && as.uid === meta.uid && as.gid === meta.gid;
  return { createMode: exact ? perm : 0o600, chmod: !exact, chown: owner && !sameOwner };
}

/**
 * `fresh`: the directory was created by this restore (or found empty), so nothing can be in the way.
 * `dense`: write pieces of zeros too (by default they are left as holes).
 */
export function openTemp(out: string, fresh: boolean, overwrite: boolean, createMode = 0o600, dense = false): TempFile {
  if (!fresh) replaceable(out, overwrite);
  const tmp = `${out}.triad-tmp-${TMP_TAG}-${(tmpSeq++).toString(36)}`;
  try {
    return { fd: openSync(fsPath(tmp), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, createMode), tmp, out, pos: 0, written: 0, dense };
  } catch (err) {
    throw fsError(err, tmp);
  }
}

/** Writes the next piece of the file; a piece of zeros only moves on (the file system then allocates nothing for it). */
export function writeTemp(t: TempFile, data: Uint8Array): void {
  if (!t.dense && isAllZero(data)) {
    t.pos += data.length;
    return;
  }
  try {
    for (let done = 0; done < data.length; ) done += writeSync(t.fd, data, done, data.length - done, t.pos + done);
  } catch (err) {
    throw fsError(err, t.out);
  }
  t.pos += data.length;
  t.written = t.pos;
}

/** Metadata through the descriptor (no path lookups; chown before chmod, as chown clears set-id bits), then rename. */
export function commitTemp(t: TempFile, meta: FileMeta, plan: CommitPlan): void {
  try {
    // Zeros at the end were skipped: the size they make.
    if (t.pos > t.written) ftruncateSync(t.fd, t.pos);
    if (plan.chown) tryChown(() => fchownSync(t.fd, meta.uid, meta.gid));
    if (plan.chmod) fchmodSync(t.fd, meta.mode);
    setFileTimes(t.fd, meta);
    closeSync(t.fd);
    t.fd = -1;
    renameSync(fsPath(t.tmp), fsPath(t.out));
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
    unlinkSync(fsPath(t.tmp));
  } catch {
    /* already gone */
  }
}

export interface LinkOptions {
  /** The directory was created by this restore, so nothing can be in the way. */
  fresh: boolean;
  overwrite: boolean;
  owner: boolean;
}

/** What a restored symlink is made of (the fields of its tree node). */
export interface LinkMeta extends NodeTime {
  target?: string;
  uid: number;
  gid: number;
}

/** Creates a symlink with its owner (when `owner`) and mtime; never follows one in its place. */
export function makeSymlink(out: string, link: LinkMeta, opts: LinkOptions): void {
  if (!opts.fresh) replaceable(out, opts.overwrite);
  symlinkSync(fsPath(link.target ?? ''), fsPath(out));
  if (opts.owner) tryChown(() => lchownSync(fsPath(out), link.uid, link.gid));
  setEntryTimes(out, link);
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
  const st = lstatSync(fsPath(path), { throwIfNoEntry: false });
  if (!st) return;
  if (!overwrite) throw new TriadError('E_RESTORE_TARGET', `${path} already exists`, { hint: 'restore into an empty directory, or pass --overwrite' });
  if (st.isDirectory()) throw new TriadError('E_RESTORE_TARGET', `${path} is a directory; the snapshot has a file there`);
  unlinkSync(fsPath(path));
}
