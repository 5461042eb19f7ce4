import { chmodSync, chownSync, closeSync, fchmodSync, fchownSync, futimesSync, lchownSync, lstatSync, lutimesSync, mkdirSync, openSync, readdirSync, renameSync, rmdirSync, symlinkSync, unlinkSync, utimesSync, writeSync, constants as fsc } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import picomatch from 'picomatch';
import { TriadError, errnoCode, fsError } from '../core/errors.js';
import { BlobError, type BlobReader } from './blob-reader.js';
import { keyedHash } from './crypto.js';
import { isSafeName, type TreeNode } from './tree.js';
import { createHmac } from 'node:crypto';

export interface RestoreOptions {
  /** Directory to restore into; nothing is ever written outside it. */
  to: string;
  include?: string[];
  exclude?: string[];
  /** Restore ownership (only meaningful as root). */
  owner: boolean;
  overwrite: boolean;
  signal?: AbortSignal;
  onProgress?(p: { files: number; bytes: number; path: string }): void;
  /** Decides whether to keep going after a file fails (default: keep going). */
  onFileError?(path: string, err: unknown): void;
}

export interface RestoreFailure {
  path: string;
  reason: string;
  blob?: string;
  pack?: string;
}

export interface RestoreResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  failures: RestoreFailure[];
}

/**
 * Restores a snapshot tree (or subtree) under `to`. Every byte is verified against its blob id
 * while writing; each file is written under a temporary name and renamed when complete.
 * Path safety does not trust the snapshot: names are single components (checked on decode),
 * and every directory we write into is one we created or checked is a real directory.
 */
export async function restoreTree(reader: BlobReader, treeId: string, rootPrefix: string, opts: RestoreOptions): Promise<RestoreResult> {
  const result: RestoreResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, failures: [] };
  const inc = opts.include?.length ? picomatch(opts.include, { dot: true }) : undefined;
  const exc = opts.exclude?.length ? picomatch(opts.exclude, { dot: true }) : undefined;
  ensureRealDir(opts.to);
  const rootFresh = readdirSync(opts.to).length === 0;
  const dirTimes: { path: string; node: TreeNode }[] = [];

  // With --include, a matching directory brings everything below it; other directories are
  // entered and kept only when something inside them matches.
  // `fresh`: a directory this restore created (or found empty), so no entry can be in the way.
  const visit = async (tree: string, relPrefix: string, outDir: string, included: boolean, fresh: boolean): Promise<boolean> => {
    let wroteSomething = false;
    for (const node of (await reader.tree(tree)).nodes) {
      opts.signal?.throwIfAborted();
      if (!isSafeName(node.name)) throw new TriadError('E_UNSAFE_PATH', `unsafe name ${JSON.stringify(node.name)} in snapshot`);
      const rel = relPrefix ? `${relPrefix}/${node.name}` : node.name;
      const out = join(outDir, node.name);
      if (exc && exc(rel)) continue;
      const here = included || !inc || inc(rel);
      try {
        if (node.type === 'dir') {
          const existed = makeDir(out);
          const any = node.subtree ? await visit(node.subtree, rel, out, here, !existed) : false;
          if (!here && !any) {
            if (!existed) rmdirSync(out);
            continue;
          }
          result.dirs++;
          dirTimes.push({ path: out, node });
          wroteSomething = true;
        } else if (!here) {
          continue;
        } else if (node.type === 'symlink') {
          if (!fresh) replaceable(out, opts.overwrite);
          symlinkSync(node.target ?? '', out);
          if (opts.owner) tryChown(() => lchownSync(out, node.uid, node.gid));
          lutimesSync(out, node.mtime / 1000, node.mtime / 1000);
          result.symlinks++;
          wroteSomething = true;
        } else {
          await restoreFile(reader, node, out, rel, opts, result, fresh);
          result.files++;
          wroteSomething = true;
          opts.onProgress?.({ files: result.files, bytes: result.bytes, path: rel });
        }
      } catch (err) {
        if (err instanceof TriadError && err.code === 'E_UNSAFE_PATH') throw err;
        if ((err as Error).name === 'AbortError') throw err;
        if (err instanceof TriadError && err.code === 'E_NO_SPACE') throw err;
        const f: RestoreFailure = { path: rel, reason: err instanceof Error ? err.message : String(err) };
        if (err instanceof BlobError) {
          f.blob = err.blobId;
          f.pack = err.pack;
        }
        result.failures.push(f);
        opts.onFileError?.(rel, err);
      }
    }
    return wroteSomething;
  };
  await visit(treeId, rootPrefix, opts.to, false, rootFresh);
  // Directory metadata last: writing children changes a directory's mtime.
  for (const { path, node } of dirTimes.reverse()) {
    if (opts.owner) tryChown(() => chownSync(path, node.uid, node.gid));
    chmodSync(path, node.mode);
    utimesSync(path, node.mtime / 1000, node.mtime / 1000);
  }
  return result;
}

/** Restores one file node to `out` (temporary name, verified against its blob ids and whole-content hash, then renamed). */
export async function restoreFile(reader: BlobReader, node: TreeNode, out: string, rel: string, opts: RestoreOptions, result: RestoreResult, fresh = false): Promise<void> {
  if (!fresh) replaceable(out, opts.overwrite);
  const tmp = tempName(out);
  let fd: number;
  try {
    fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw fsError(err, tmp);
  }
  try {
    const content = node.content ?? [];
    const whole = content.length > 1 ? createHmac('sha256', reader.repo.key.mac) : undefined;
    let size = 0;
    for (const id of content) {
      const data = await reader.blob(id);
      whole?.update(data);
      try {
        writeSync(fd, data);
      } catch (err) {
        throw fsError(err, out);
      }
      size += data.length;
      result.bytes += data.length;
    }
    if (size !== node.size) throw new TriadError('E_INTEGRITY', `size mismatch for ${rel}: restored ${size} bytes, snapshot says ${node.size}`);
    const hash = content.length === 1 ? content[0] : content.length === 0 ? keyedHash(reader.repo.key.mac, Buffer.alloc(0)).toString('hex') : whole!.digest('hex');
    if (node.hash && hash !== node.hash) throw new TriadError('E_INTEGRITY', `content hash mismatch for ${rel}`);
    // Through the descriptor: no path lookups, and chown before chmod (chown clears set-id bits).
    if (opts.owner) tryChown(() => fchownSync(fd, node.uid, node.gid));
    fchmodSync(fd, node.mode);
    futimesSync(fd, node.mtime / 1000, node.mtime / 1000);
    closeSync(fd);
    fd = -1;
    renameSync(tmp, out);
  } catch (err) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw err;
  }
}

// A random tag per process plus a counter: unguessable, unique, and one CSPRNG call per run.
const TMP_TAG = randomBytes(6).toString('hex');
let tmpSeq = 0;
function tempName(out: string): string {
  return `${out}.triad-tmp-${TMP_TAG}-${(tmpSeq++).toString(36)}`;
}

/** Creates `dir` or accepts an existing real directory; refuses a symlink in its place. Returns whether it existed. */
function makeDir(dir: string): boolean {
  try {
    mkdirSync(dir, { mode: 0o700 });
    return false;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(err, dir);
    ensureRealDir(dir);
    return true;
  }
}

function ensureRealDir(dir: string): void {
  const st = lstatSync(dir, { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(dir, { recursive: true });
    return;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new TriadError('E_UNSAFE_PATH', `${dir} exists and is not a directory (or is a symlink); refusing to restore through it`, {
      hint: 'remove it or restore into an empty directory',
    });
  }
}

/** An existing entry is replaced only with --overwrite, and never followed if it is a symlink. */
function replaceable(path: string, overwrite: boolean): void {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st) return;
  if (!overwrite) throw new TriadError('E_RESTORE_TARGET', `${path} already exists`, { hint: 'restore into an empty directory, or pass --overwrite' });
  if (st.isDirectory()) throw new TriadError('E_RESTORE_TARGET', `${path} is a directory; the snapshot has a file there`);
  unlinkSync(path);
}

function tryChown(fn: () => void): void {
  try {
    fn();
  } catch {
    // Ownership is best effort: only root may give files away.
  }
}

