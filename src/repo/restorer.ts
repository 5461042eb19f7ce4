import { chmodSync, chownSync, lchownSync, lstatSync, lutimesSync, mkdirSync, readdirSync, rmdirSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import picomatch from 'picomatch';
import { TriadError, errnoCode, fsError, type ErrorCode } from '../core/errors.js';
import { BlobError, type BlobReader } from './blob-reader.js';
import { ContentCheck } from './content-check.js';
import { commitTemp, createPlan, discardTemp, openTemp, probeCreation, replaceable, tryChown, writeTemp, type CreatedAs } from './file-out.js';
import { FileWriterPool } from './file-writer-pool.js';
import type { WriteResult } from './file-writer-protocol.js';
import { isSafeName, type TreeNode } from './tree.js';

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
  const rootCreates = probeCreation(opts.to);
  const dirTimes: { path: string; node: TreeNode }[] = [];
  // Files handed to the writer threads, until their outcome comes back.
  const pending = new Map<number, { rel: string; out: string; bytes: number }>();
  let fatal: unknown;
  const failed = (rel: string, err: unknown) => {
    if (err instanceof TriadError && err.code === 'E_NO_SPACE') fatal ??= err;
    const f: RestoreFailure = { path: rel, reason: err instanceof Error ? err.message : String(err) };
    if (err instanceof BlobError) {
      f.blob = err.blobId;
      f.pack = err.pack;
    }
    result.failures.push(f);
    opts.onFileError?.(rel, err);
  };
  const pool = new FileWriterPool((file, r) => {
    const p = pending.get(file);
    if (!p) return;
    pending.delete(file);
    if (!r.ok) return failed(p.rel, writeError(r, p.out));
    result.files++;
    result.bytes += p.bytes;
    opts.onProgress?.({ files: result.files, bytes: result.bytes, path: p.rel });
  });

  // With --include, a matching directory brings everything below it; other directories are
  // entered and kept only when something inside them matches.
  // `fresh`: a directory this restore created (or found empty), so no entry can be in the way.
  // `creates`: how files come out in it, known for the root and the directories made below it.
  let dirs = 0;
  const visit = async (tree: string, relPrefix: string, outDir: string, included: boolean, fresh: boolean, creates: CreatedAs | undefined): Promise<boolean> => {
    let wroteSomething = false;
    const lane = dirs++;
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
          const any = node.subtree ? await visit(node.subtree, rel, out, here, !existed, existed ? undefined : creates) : false;
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
          await sendFile(reader, pool, pending, node, out, rel, opts, fresh, creates, lane);
          wroteSomething = true;
        }
      } catch (err) {
        if (err instanceof TriadError && err.code === 'E_UNSAFE_PATH') throw err;
        if ((err as Error).name === 'AbortError') throw err;
        if (err instanceof TriadError && err.code === 'E_NO_SPACE') throw err;
        failed(rel, err);
      }
      if (fatal) throw fatal;
    }
    pool.endDir(lane);
    return wroteSomething;
  };
  try {
    await visit(treeId, rootPrefix, opts.to, false, rootFresh, rootCreates);
    await pool.drain();
  } finally {
    await pool.close();
  }
  if (fatal) throw fatal;
  // Directory metadata last: writing children changes a directory's mtime.
  for (const { path, node } of dirTimes.reverse()) {
    if (opts.owner) tryChown(() => chownSync(path, node.uid, node.gid));
    chmodSync(path, node.mode);
    utimesSync(path, node.mtime / 1000, node.mtime / 1000);
  }
  return result;
}

/**
 * Reads and verifies one file node on this thread and has a writer thread write it: pieces
 * as they are verified, then commit (rename) once size and whole-content hash match.
 */
async function sendFile(reader: BlobReader, pool: FileWriterPool, pending: Map<number, { rel: string; out: string; bytes: number }>, node: TreeNode, out: string, rel: string, opts: RestoreOptions, fresh: boolean, creates: CreatedAs | undefined, lane: number): Promise<void> {
  const file = pool.begin(out, lane, { fresh, overwrite: opts.overwrite, plan: createPlan(node, opts.owner, creates) });
  // Registered before any piece is sent: the writer may report the file failed (a full
  // disk) while later pieces are still on their way.
  pending.set(file, { rel, out, bytes: node.size });
  try {
    await readVerified(reader, node, rel, (data) => pool.write(file, data));
    pool.commit(file, node);
  } catch (err) {
    const unreported = pending.delete(file);
    pool.abort(file);
    // A file the writer already reported failed is not reported twice.
    if (unreported || !(err instanceof TriadError) || err.code === 'E_NO_SPACE') throw err;
  }
}

/**
 * Feeds a file's content to `write` blob by blob; throws unless its size and whole-content
 * hash match the node. `write` must be done with a blob's bytes when it returns (or its
 * promise settles): the next blob is decoded into the same buffer.
 */
async function readVerified(reader: BlobReader, node: TreeNode, rel: string, write: (data: Buffer) => unknown): Promise<number> {
  const check = new ContentCheck(reader.repo.key.mac, { blobs: node.content?.length ?? 0, size: node.size, hash: node.hash }, rel);
  for (const id of node.content ?? []) {
    const data = await reader.transientBlob(id);
    check.add(id, data);
    await write(data);
  }
  return check.finish();
}

/** Restores one file node to `out` on this thread (restore tests time files one by one). */
export async function restoreFile(reader: BlobReader, node: TreeNode, out: string, rel: string, opts: RestoreOptions, result: RestoreResult, fresh = false): Promise<void> {
  const t = openTemp(out, fresh, opts.overwrite);
  try {
    result.bytes += await readVerified(reader, node, rel, (data) => writeTemp(t, data));
  } catch (err) {
    discardTemp(t);
    throw err;
  }
  commitTemp(t, node, createPlan(node, opts.owner));
}

/** The error a writer thread reported, as the TriadError the main thread would have thrown. */
function writeError(r: WriteResult, out: string): TriadError {
  if (r.code?.startsWith('E_')) return new TriadError(r.code as ErrorCode, r.message ?? 'write failed', { hint: r.hint });
  return fsError(Object.assign(new Error(r.message ?? 'write failed'), { code: r.code }), out);
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

