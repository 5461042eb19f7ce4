import { createHmac } from 'node:crypto';
import { chmodSync, chownSync, closeSync, fstatSync, lchownSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, rmSync, rmdirSync, unlinkSync, constants as fsc, type BigIntStats } from 'node:fs';
import { join, sep } from 'node:path';
import picomatch from 'picomatch';
import { TriadError, errnoCode, fsError, type ErrorCode } from '../../core/errors.js';
import { displayPath, fsPath, readNames } from '../../core/names.js';
import { BlobError, HeldTrees, heldContent, type BlobReader } from '../read/index.js';
import { ContentCheck } from '../blob/index.js';
import { commitTemp, createPlan, discardTemp, makeSymlink, openTemp, probeCreation, tryChown, writeTemp, type CreatedAs } from './file-out.js';
import { FileWriterPool } from './writer-pool.js';
import type { WriteResult } from './writer.protocol.js';
import { preciseTimesMissing, setEntryTimes } from './precise-times.js';
import { writeXattrs } from './xattrs.js';
import { LinkFirstNames, isDeviceType, linkGroupOf, isSafeName, isSpecialType, nodeMtimeNs, type TreeNode } from '../model/index.js';
import { makeHardLink, makeSpecial } from './special-files.js';

export interface RestoreOptions {
  /** Directory to restore into; nothing is ever written outside it. */
  to: string;
  include?: string[];
  exclude?: string[];
  /** Restore ownership (only meaningful as root). */
  owner: boolean;
  /** Without `owner`: the user restoring, so entries owned by others are counted (ownership skipped). */
  user?: { uid: number; gid: number };
  /** Replace what differs in the way of an entry; a file with the snapshot's content is left in place. */
  overwrite: boolean;
  /** Remove what the snapshot does not have from the restored directories (with `overwrite`). */
  delete?: boolean;
  signal?: AbortSignal;
  onProgress?(p: { files: number; bytes: number; path: string }): void;
  /** Decides whether to keep going after a file fails (default: keep going). */
  onFileError?(path: string, err: unknown): void;
  /** Told once when the restore cannot be as exact as the snapshot (times only to the microsecond). */
  /** Modification times are restored to the microsecond only; `reason` is why the native helper did not load. */
  onLossyTimes?(reason: string): void;
  /** An extended attribute (or all of an entry's: `attribute` undefined) that could not be set; the entry is restored. */
  onXattrNotSet?(path: string, attribute: string | undefined, reason: string): void;
  /** At most this many threads create the restored files (default 2). */
  writers?: number;
  /** False: write the zeros of files too (default: runs of zeros a blob long are left as holes). */
  sparse?: boolean;
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
  /** FIFOs and device nodes created. */
  specials: number;
  /** Device nodes not created: only root can (the first one's path in `deviceSkipped`). */
  devicesSkipped: number;
  deviceSkipped?: string;
  bytes: number;
  /** Entries left out by `exclude` (a directory counts once). */
  excluded: number;
  /** Files found with the snapshot's content and left in place (`overwrite`): not written, their metadata set. */
  unchanged: number;
  /** Entries the snapshot does not have, removed (`delete`; a directory counts once). */
  deleted: number;
  /** Entries owned by another user than the one restoring, who cannot give them their owner. */
  ownershipSkipped: number;
  /** Extended attributes the restore could not set (warnings, not failures). */
  xattrsNotSet: number;
  failures: RestoreFailure[];
}

/** A directory being restored into. */
interface Dir {
  /** Its number for the writer threads. */
  lane: number;
  rel: string;
  out: string;
  /** Matched by --include (or no --include): everything below is restored. */
  included: boolean;
  /** Created by this restore (or found empty): no entry can be in the way. */
  fresh: boolean;
  /** How files come out in it: known for the root and the directories created below it. */
  creates: CreatedAs | undefined;
  /** Created by a writer thread, which may not have done so yet. */
  made: boolean;
}

/** An entry handed to a writer thread, until its outcome comes back. */
interface Pending {
  kind: 'file' | 'dir' | 'symlink';
  rel: string;
  out: string;
  bytes: number;
  /** Extended attributes to set once the writer has made the entry. */
  xattrs?: Record<string, string>;
}

/**
 * Restores a snapshot tree (or subtree) under `to`. Every byte is verified against its blob id
 * while writing; each file is written under a temporary name and renamed when complete.
 * Path safety does not trust the snapshot: names are single components (checked on decode),
 * and every directory we write into is one we created or checked is a real directory.
 */
export async function restoreTree(reader: BlobReader, treeId: string, rootPrefix: string, opts: RestoreOptions): Promise<RestoreResult> {
  const result = emptyResult();
  const inc = opts.include?.length ? picomatch(opts.include, { dot: true }) : undefined;
  const exc = opts.exclude?.length ? picomatch(opts.exclude, { dot: true }) : undefined;
  ensureRealDir(opts.to);
  const lossyTimes = preciseTimesMissing();
  if (lossyTimes !== undefined) opts.onLossyTimes?.(lossyTimes);
  const rootFresh = readdirSync(opts.to).length === 0;
  const rootCreates = probeCreation(opts.to);
  const dirTimes: { path: string; rel: string; node: TreeNode }[] = [];
  // Directories that existed before this restore, with the names their tree holds (for --delete).
  const existedDirs: { out: string; rel: string; names: Set<string> }[] = [];
  // Entries handed to the writer threads, until their outcome comes back (directories report only a failure).
  const pending = new Map<number, Pending>();
  const failedDirs: string[] = [];
  let fatal: TriadError | undefined;
  const failed = (rel: string, err: unknown) => {
    if (err instanceof TriadError && err.code === 'E_NO_SPACE') fatal ??= err;
    const shown = displayPath(rel);
    const f: RestoreFailure = { path: shown, reason: err instanceof Error ? err.message : String(err) };
    if (err instanceof BlobError) {
      f.blob = err.blobId;
      f.pack = err.pack;
    }
    result.failures.push(f);
    opts.onFileError?.(shown, err);
  };
  const setXattrs = (out: string, rel: string, xattrs: Record<string, string>) => {
    for (const f of writeXattrs(out, xattrs)) {
      result.xattrsNotSet++;
      opts.onXattrNotSet?.(displayPath(rel), f.attribute, f.reason);
    }
  };
  const pool = new FileWriterPool((file, r) => {
    const p = pending.get(file);
    if (!p) return;
    pending.delete(file);
    if (!r.ok) {
      if (p.kind === 'dir') failedDirs.push(p.out);
      // A blob whose content does not match its id: reported like one that would not decrypt.
      if (r.blob) return failed(p.rel, new BlobError(r.blob, reader.index.get(r.blob)?.pack, r.message, reader.repo.target));
      return failed(p.rel, writeError(r, p.out));
    }
    if (p.xattrs) setXattrs(p.out, p.rel, p.xattrs);
    if (p.kind === 'symlink') result.symlinks++;
    if (p.kind !== 'file') return;
    result.files++;
    result.bytes += p.bytes;
    opts.onProgress?.({ files: result.files, bytes: result.bytes, path: p.rel });
  }, { mac: reader.repo.key.mac, maxWriters: opts.writers });

  // The trees first (each read once), then the content the walk below reads, in its order:
  // the reader fetches each pack's needed bytes once, ahead of the walk.
  const notExcluded = (rel: string) => !(exc && exc(rel));
  const trees = await new HeldTrees(reader).load(treeId, notExcluded, rootPrefix);
  const inIncluded = new Set<string>();
  const restored = (rel: string, node: TreeNode): boolean => {
    if (!notExcluded(rel)) return false;
    const parent = rel.slice(0, Math.max(0, rel.lastIndexOf('/')));
    const here = !inc || inc(rel) || inIncluded.has(parent);
    if (node.type === 'dir' && here) inIncluded.add(rel);
    return node.type === 'dir' || (node.type === 'file' && here);
  };
  // With --overwrite, files already holding their content are found before the plan, so
  // their bytes are never fetched.
  const inPlace = new Map<string, FileIdentity | undefined>();
  const outOf = (rel: string) => join(opts.to, rootPrefix ? rel.slice(rootPrefix.length + 1) : rel);
  const foundInPlace = (rel: string, node: TreeNode): FileIdentity | undefined => {
    if (rootFresh || !opts.overwrite || node.type !== 'file' || !isSafeName(node.name)) return undefined;
    if (!inPlace.has(rel)) inPlace.set(rel, sameContentOnDisk(reader.repo.key.mac, node, outOf(rel)));
    return inPlace.get(rel);
  };
  // A file with several names is read for the first one restored; the others become hard links to it.
  const firstNames = new LinkFirstNames();
  const firstName = (rel: string, node: TreeNode) => firstNames.of(rel, node);
  // First names of such files left in place (--overwrite): another name is left only if it is the same file.
  const firstsKept = new Set<string>();
  const planned = (rel: string, node: TreeNode) => restored(rel, node) && firstName(rel, node) === rel && foundInPlace(rel, node) === undefined;
  // Made once the writer threads are done: a link needs its first name in place, and a
  // directory a thread makes exists only then.
  const deferred: { out: string; rel: string; node: TreeNode; fresh: boolean; first?: string }[] = [];
  reader.plan(heldContent(trees, treeId, planned, rootPrefix));

  // With --include, a matching directory brings everything below it; other directories are
  // entered and kept only when something inside them matches.
  let lanes = 0;
  const visit = async (tree: string, dir: Dir): Promise<boolean> => {
    let wroteSomething = false;
    const nodes = (await trees.tree(tree)).nodes;
    if (opts.delete && !dir.fresh && (dir.included || !inc)) existedDirs.push({ out: dir.out, rel: dir.rel, names: new Set(nodes.map((n) => n.name)) });
    for (const node of nodes) {
      opts.signal?.throwIfAborted();
      if (!isSafeName(node.name)) throw new TriadError('E_UNSAFE_PATH', `unsafe name ${JSON.stringify(node.name)} in snapshot`);
      const rel = dir.rel ? `${dir.rel}/${node.name}` : node.name;
      const out = join(dir.out, node.name);
      if (exc && exc(rel)) {
        result.excluded++;
        continue;
      }
      const here = dir.included || !inc || inc(rel);
      if (here && !opts.owner && opts.user && (node.uid !== opts.user.uid || node.gid !== opts.user.gid)) result.ownershipSkipped++;
      try {
        if (here && !dir.fresh && opts.overwrite) {
          const first = node.type === 'file' ? firstName(rel, node) : rel;
          if (first !== rel) {
            // Another name of a file with several: a copy with the same content is not the same
            // file; it stays only when it already is a link to the first name left in place.
            if (firstsKept.has(first) && sameFile(out, outOf(first))) {
              result.unchanged++;
              wroteSomething = true;
              continue;
            }
          } else {
            const found = foundInPlace(rel, node);
            if (found && keptInPlace(node, out, found, opts.owner)) {
              result.unchanged++;
              if (node.xattrs) setXattrs(out, rel, node.xattrs);
              if (linkGroupOf(node) !== undefined) firstsKept.add(rel);
              wroteSomething = true;
              continue;
            }
          }
          clearTheWay(out, node);
        }
        if (node.type === 'dir') {
          const sub: Dir = { lane: lanes++, rel, out, included: here, fresh: true, creates: dir.creates, made: false };
          if (dir.fresh && here) {
            // Nothing can be in the way, and an included directory is kept whatever is inside: a writer thread makes it.
            pending.set(pool.makeDir(out, sub.lane, dir.lane), { kind: 'dir', rel, out, bytes: 0 });
            sub.made = true;
          } else if (makeDir(out)) {
            sub.fresh = false;
            sub.creates = undefined;
          }
          const any = node.subtree ? await visit(node.subtree, sub) : false;
          pool.endDir(sub.lane);
          if (!here && !any) {
            if (sub.fresh) rmdirSync(fsPath(out));
            continue;
          }
          dirTimes.push({ path: out, rel, node });
          wroteSomething = true;
        } else if (!here) {
          continue;
        } else if (node.type === 'symlink') {
          const link = { fresh: dir.fresh, overwrite: opts.overwrite, owner: opts.owner };
          // In a directory a writer thread makes, only that thread knows when it exists.
          if (dir.made) pending.set(pool.symlink(out, dir.lane, node, link), { kind: 'symlink', rel, out, bytes: 0, xattrs: node.xattrs });
          else {
            makeSymlink(out, node, link);
            if (node.xattrs) setXattrs(out, rel, node.xattrs);
            result.symlinks++;
          }
          wroteSomething = true;
        } else if (isSpecialType(node.type)) {
          deferred.push({ out, rel, node, fresh: dir.fresh });
          wroteSomething = true;
        } else {
          const first = firstName(rel, node);
          if (first === rel) await sendFile(reader, pool, pending, node, out, rel, opts, dir);
          else deferred.push({ out, rel, node, fresh: dir.fresh, first });
          wroteSomething = true;
        }
      } catch (err) {
        // A directory that failed is not entered (or not finished): what it would have read is not read.
        if (node.type === 'dir' && node.subtree) reader.forgo(heldContent(trees, node.subtree, planned, rel));
        if (err instanceof TriadError && err.code === 'E_UNSAFE_PATH') throw err;
        if ((err as Error).name === 'AbortError') throw err;
        if (err instanceof TriadError && err.code === 'E_NO_SPACE') throw err;
        failed(rel, err);
      }
      if (fatal) throw fatal;
    }
    return wroteSomething;
  };
  try {
    const root: Dir = { lane: lanes++, rel: rootPrefix, out: opts.to, included: false, fresh: rootFresh, creates: rootCreates, made: false };
    await visit(treeId, root);
    pool.endDir(root.lane);
    await pool.drain();
  } finally {
    await pool.close();
  }
  if (fatal) throw fatal;
  makeDeferred(deferred, result, { overwrite: opts.overwrite, owner: opts.owner, outOf, failed });
  for (const d of existedDirs) result.deleted += deleteUnlisted(d, exc);
  // Directory metadata last: writing children changes a directory's mtime.
  for (const { path, rel, node } of dirTimes.reverse()) {
    if (failedDirs.some((f) => path === f || path.startsWith(`${f}${sep}`))) continue;
    result.dirs++;
    if (opts.owner) tryChown(() => chownSync(fsPath(path), node.uid, node.gid));
    // Before the mode: an access ACL sets the group bits, the mode then sets them as recorded.
    if (node.xattrs) setXattrs(path, rel, node.xattrs);
    chmodSync(fsPath(path), node.mode);
    setEntryTimes(path, node);
  }
  return result;
}

export function emptyResult(): RestoreResult {
  return { files: 0, dirs: 0, symlinks: 0, specials: 0, devicesSkipped: 0, bytes: 0, excluded: 0, unchanged: 0, deleted: 0, ownershipSkipped: 0, xattrsNotSet: 0, failures: [] };
}

/**
 * The hard links (to a first name restored above) and the FIFOs and device nodes of the
 * restore. A device node needs root: as another user it is counted, not made.
 */
function makeDeferred(
  entries: { out: string; rel: string; node: TreeNode; fresh: boolean; first?: string }[],
  result: RestoreResult,
  opts: { overwrite: boolean; owner: boolean; outOf: (rel: string) => string; failed: (rel: string, err: unknown) => void },
): void {
  const failedPaths = new Set(result.failures.map((f) => f.path));
  for (const e of entries) {
    const link = { fresh: e.fresh, overwrite: opts.overwrite, owner: opts.owner };
    try {
      if (e.first !== undefined) {
        if (failedPaths.has(e.first)) throw new TriadError('E_IO', `not restored: it is a hard link to ${e.first}, which could not be restored`);
        makeHardLink(opts.outOf(e.first), e.out, link);
        result.files++;
      } else if (isDeviceType(e.node.type) && !opts.owner) {
        result.devicesSkipped++;
        result.deviceSkipped ??= e.rel;
      } else {
        makeSpecial(e.out, e.node, link);
        result.specials++;
      }
    } catch (err) {
      opts.failed(e.rel, err);
    }
  }
}

/** What identifies a file found in place, so the walk acts on the very file that was checked. */
type FileIdentity = Pick<BigIntStats, 'dev' | 'ino' | 'size' | 'mtimeNs' | 'ctimeNs'>;

/** Bytes read at a time when comparing a file in place with the snapshot. */
const COMPARE_CHUNK = 1 << 20;
const compareBuf = Buffer.alloc(COMPARE_CHUNK);

/**
 * The identity of the regular file at `out` when it holds the node's content (same size, same
 * keyed hash), else undefined. A local read of the file, never a download; synchronous, as
 * the read plan is built from it.
 */
function sameContentOnDisk(mac: Buffer, node: TreeNode, out: string): FileIdentity | undefined {
  if (!node.hash) return undefined;
  let fd: number;
  try {
    fd = openSync(fsPath(out), fsc.O_RDONLY | fsc.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const st = fstatSync(fd, { bigint: true });
    if (!st.isFile() || Number(st.size) !== node.size) return undefined;
    const h = createHmac('sha256', mac);
    for (let n = readSync(fd, compareBuf, 0, COMPARE_CHUNK, null); n > 0; n = readSync(fd, compareBuf, 0, COMPARE_CHUNK, null)) h.update(compareBuf.subarray(0, n));
    return h.digest('hex') === node.hash ? { dev: st.dev, ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs } : undefined;
  } catch {
    // Unreadable: restored as any other file that differs.
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/**
 * Leaves the file found in place when `out` (in a directory the walk checked is real) is still
 * that file, giving it the node's mode, times (and owner) where they differ; false when it
 * changed since, and is then written like any other.
 */
function keptInPlace(node: TreeNode, out: string, found: FileIdentity, owner: boolean): boolean {
  const st = lstatSync(fsPath(out), { throwIfNoEntry: false, bigint: true });
  if (!st?.isFile() || st.dev !== found.dev || st.ino !== found.ino || st.size !== found.size || st.mtimeNs !== found.mtimeNs || st.ctimeNs !== found.ctimeNs) return false;
  if (owner && (Number(st.uid) !== node.uid || Number(st.gid) !== node.gid)) tryChown(() => lchownSync(fsPath(out), node.uid, node.gid));
  if ((Number(st.mode) & 0o7777) !== node.mode) chmodSync(fsPath(out), node.mode);
  if (st.mtimeNs !== nodeMtimeNs(node)) setEntryTimes(out, node);
  return true;
}

/** Whether both paths name one file (one inode): hard links to each other. */
function sameFile(a: string, b: string): boolean {
  const sa = lstatSync(fsPath(a), { throwIfNoEntry: false, bigint: true });
  const sb = lstatSync(fsPath(b), { throwIfNoEntry: false, bigint: true });
  return sa !== undefined && sb !== undefined && sa.isFile() && sa.dev === sb.dev && sa.ino === sb.ino;
}

/**
 * With --overwrite, an entry of another kind in the way is removed: a directory where the
 * snapshot has a file or symlink (with all it holds), a file or symlink where it has a
 * directory. A file in the way of a file is replaced by its writer, atomically.
 */
function clearTheWay(out: string, node: TreeNode): void {
  const st = lstatSync(fsPath(out), { throwIfNoEntry: false });
  if (!st) return;
  try {
    if (node.type !== 'dir' && st.isDirectory()) rmSync(fsPath(out), { recursive: true });
    else if (node.type === 'dir' && !st.isDirectory()) unlinkSync(fsPath(out));
  } catch (err) {
    throw fsError(err, out);
  }
}

/** Removes the entries of an existing directory that its tree does not hold (and --exclude does not protect); returns how many. */
function deleteUnlisted(d: { out: string; rel: string; names: Set<string> }, exc: ((rel: string) => boolean) | undefined): number {
  let removed = 0;
  for (const name of readNames(d.out)) {
    if (d.names.has(name) || exc?.(d.rel ? `${d.rel}/${name}` : name)) continue;
    rmSync(fsPath(join(d.out, name)), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/**
 * Reads one file node on this thread (decrypting authenticates each blob and its id) and
 * has a writer thread write it, checking each blob's content against its id and the whole
 * content against the node's hash; it renames the file once all matched and this thread has
 * checked size and blob count. Hashing on the main thread made it the restore's bottleneck,
 * and moving the hashing to the writer made restores faster
 * (bench/RESULTS.md, "Restore: hashing in the writers").
 */
async function sendFile(reader: BlobReader, pool: FileWriterPool, pending: Map<number, Pending>, node: TreeNode, out: string, rel: string, opts: RestoreOptions, dir: Dir): Promise<void> {
  const whole = (node.content?.length ?? 0) > 1 ? node.hash : undefined;
  const file = pool.begin(out, dir.lane, { fresh: dir.fresh, overwrite: opts.overwrite, plan: createPlan(node, opts.owner, dir.creates), whole, dense: opts.sparse === false });
  // Registered before any piece is sent: the writer may report the file failed (a full
  // disk) while later pieces are still on their way.
  pending.set(file, { kind: 'file', rel, out, bytes: node.size, xattrs: node.xattrs });
  // Blobs are decompressed straight into the writer's ring when they fit (no copy of them).
  let room: Buffer | undefined;
  const into = (size: number) => (room = pool.reserve(file, size));
  const write = (data: Buffer, id: string) => {
    const inPlace = room !== undefined && data.buffer === room.buffer && data.byteOffset === room.byteOffset;
    room = undefined;
    return inPlace ? pool.wrote(file, data.length, id) : pool.write(file, data, id);
  };
  try {
    await readVerified(reader, node, rel, write, { into });
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
 * promise settles): the next blob is decoded into the same buffer. `writer`: a writer
 * thread checks each blob against its id and a file of several blobs against its hash
 * (`into`: see transientBlob).
 */
async function readVerified(reader: BlobReader, node: TreeNode, rel: string, write: (data: Buffer, id: string) => unknown, writer?: { into: (size: number) => Buffer | undefined }): Promise<number> {
  const check = new ContentCheck(reader.repo.key.mac, { blobs: node.content?.length ?? 0, size: node.size, hash: node.hash }, rel, writer !== undefined);
  const content = node.content ?? [];
  let asked = 0;
  try {
    for (const id of content) {
      asked++;
      const data = await reader.transientBlob(id, writer?.into, writer === undefined);
      check.add(id, data);
      await write(data, id);
    }
  } catch (err) {
    // The rest of this file will not be read: its planned bytes need not be kept.
    reader.forgo(content.slice(asked));
    throw err;
  }
  return check.finish();
}

/** Restores one file node to `out` on this thread (restore tests time files one by one). */
export async function restoreFile(reader: BlobReader, node: TreeNode, out: string, rel: string, opts: RestoreOptions, result: RestoreResult, fresh = false): Promise<void> {
  const t = openTemp(out, fresh, opts.overwrite, 0o600, opts.sparse === false);
  try {
    result.bytes += await readVerified(reader, node, rel, (data) => writeTemp(t, data));
  } catch (err) {
    discardTemp(t);
    throw err;
  }
  commitTemp(t, node, createPlan(node, opts.owner));
}

/** The error a writer thread reported, as the TriadError the main thread would have thrown. */
function writeError(r: Extract<WriteResult, { ok: false }>, out: string): TriadError {
  if (r.code?.startsWith('E_')) return new TriadError(r.code as ErrorCode, r.message, { hint: r.hint });
  return fsError(Object.assign(new Error(r.message), { code: r.code }), out);
}

/** Creates `dir` or accepts an existing real directory; refuses a symlink in its place. Returns whether it existed. */
function makeDir(dir: string): boolean {
  try {
    mkdirSync(fsPath(dir), { mode: 0o700 });
    return false;
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(err, dir);
    ensureRealDir(dir);
    return true;
  }
}

function ensureRealDir(dir: string): void {
  const st = lstatSync(fsPath(dir), { throwIfNoEntry: false });
  if (!st) {
    mkdirSync(fsPath(dir), { recursive: true });
    return;
  }
  if (st.isSymbolicLink() || !st.isDirectory()) {
    throw new TriadError('E_UNSAFE_PATH', `${dir} exists and is not a directory (or is a symlink); refusing to restore through it`, {
      hint: 'remove it or restore into an empty directory',
    });
  }
}

