import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { basename, join } from 'node:path';
import { createHmac } from 'node:crypto';
import { TriadError, errnoCode } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { chunkBuffer, nextCut } from './chunker.js';
import { makeExcludeMatcher, type ExcludeMatcher } from './exclude.js';
import type { BlobReader } from './blob-reader.js';
import { encodeTree, type TreeNode } from './tree.js';
import type { MultiTargetWriter } from './writer.js';
import type { SnapshotSummary } from './snapshot.js';
import type { Repository } from './repository.js';

export interface ArchiveSource {
  path: string;
  exclude: string[];
  crossFilesystems: boolean;
}

export type WarningCode = 'unreadable' | 'vanished' | 'changed' | 'special' | 'other-filesystem';

export interface BackupWarning {
  path: string;
  code: WarningCode;
  message: string;
}

/** One row per entry of the snapshot, for the catalogue (restore tests need the hashes). */
export interface FileRecord {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  size: number;
  mode: number;
  mtime: number;
  hash?: string;
  chunks: number;
}

export interface ArchiveEvents {
  onWarning?(w: BackupWarning): void;
  onProgress?(p: { files: number; bytes: number; path: string }): void;
  onFile?(f: FileRecord): void;
}

export interface ArchiveResult {
  rootTree: string;
  summary: SnapshotSummary;
  warnings: BackupWarning[];
  /** True when some entries could not be read: the snapshot is kept, marked partial (exit 3). */
  partial: boolean;
}

/** Files up to this size are read in one call; larger ones stream through a fixed buffer. */
const SMALL_FILE = 8 * 1024 * 1024;

/**
 * Walks the sources once, chunking and writing new blobs through the writer. Reuses the
 * parent snapshot's chunk list for files whose size, mtime, ctime and inode are unchanged.
 */
export class Archiver {
  private readonly summary: SnapshotSummary = {
    files: 0, dirs: 0, bytes: 0, filesNew: 0, filesChanged: 0, filesUnchanged: 0,
    bytesRead: 0, dataAdded: 0, dataAddedPacked: 0, blobsNew: 0, warnings: 0,
  };
  private readonly warnings: BackupWarning[] = [];
  private partial = false;
  private readBuf: Buffer | undefined;
  private readonly repo: Repository;

  constructor(
    private readonly writer: MultiTargetWriter,
    private readonly opts: {
      parent?: { reader: BlobReader; tree: string };
      clock: Clock;
      signal?: AbortSignal;
      events?: ArchiveEvents;
    },
  ) {
    this.repo = writer.live[0]!.repo;
  }

  async run(sources: ArchiveSource[]): Promise<ArchiveResult> {
    const names = new Map<string, string>();
    for (const s of sources) {
      const name = topName(s.path);
      const other = names.get(name);
      if (other) {
        throw new TriadError('E_USAGE', `sources ${other} and ${s.path} have the same name '${name}' at the top of the snapshot`, {
          hint: 'back them up in separate policies, or use a common parent directory as the source',
        });
      }
      names.set(name, s.path);
    }
    const parentRoot = await this.parentTree(this.opts.parent?.tree);
    const nodes: TreeNode[] = [];
    for (const s of sources) {
      let st: Stats;
      try {
        st = lstatSync(s.path);
      } catch (err) {
        throw new TriadError('E_IO', `source ${s.path} cannot be read: ${errnoCode(err) === 'ENOENT' ? 'it does not exist' : (err as Error).message}`, {
          hint: 'check the sources of the policy (and that the file system is mounted)',
          cause: err,
        });
      }
      const name = topName(s.path);
      const ctx: WalkCtx = { exclude: makeExcludeMatcher(s.exclude), rootDev: st.dev, cross: s.crossFilesystems, source: s.path };
      const node = await this.entry(ctx, s.path, name, '', st, parentRoot.get(name));
      if (node) nodes.push(node);
    }
    const rootTree = await this.saveTree(nodes);
    this.summary.dataAdded = this.writer.rawAdded;
    this.summary.dataAddedPacked = this.writer.packedAdded;
    this.summary.blobsNew = this.writer.blobsAdded;
    this.summary.warnings = this.warnings.length;
    return { rootTree, summary: this.summary, warnings: this.warnings, partial: this.partial };
  }

  private async parentTree(id: string | undefined): Promise<Map<string, TreeNode>> {
    const map = new Map<string, TreeNode>();
    if (!id || !this.opts.parent) return map;
    try {
      for (const n of (await this.opts.parent.reader.tree(id)).nodes) map.set(n.name, n);
    } catch {
      // A damaged parent only costs speed: the files are read again.
    }
    return map;
  }

  private warn(path: string, code: WarningCode, message: string, makesPartial: boolean): void {
    const w = { path, code, message };
    this.warnings.push(w);
    if (makesPartial) this.partial = true;
    this.opts.events?.onWarning?.(w);
  }

  private async entry(ctx: WalkCtx, abs: string, name: string, relParent: string, st: Stats, parent: TreeNode | undefined): Promise<TreeNode | undefined> {
    this.opts.signal?.throwIfAborted();
    const rel = relParent ? `${relParent}/${name}` : name;
    const base = { name, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtimeMs };
    if (st.isDirectory()) {
      if (!ctx.cross && st.dev !== ctx.rootDev) {
        this.warn(abs, 'other-filesystem', 'on another file system: skipped (set cross_filesystems: true to include it)', false);
        return undefined;
      }
      const subtree = await this.dir(ctx, abs, rel, parent?.type === 'dir' ? parent.subtree : undefined);
      if (subtree === undefined) return undefined;
      this.summary.dirs++;
      this.opts.events?.onFile?.({ path: rel, type: 'dir', size: 0, mode: base.mode, mtime: base.mtime, chunks: 0 });
      return { ...base, type: 'dir', size: 0, subtree };
    }
    if (st.isSymbolicLink()) {
      let target: string;
      try {
        target = readlinkSync(abs);
      } catch (err) {
        this.warn(abs, errnoCode(err) === 'ENOENT' ? 'vanished' : 'unreadable', (err as Error).message, true);
        return undefined;
      }
      this.summary.files++;
      this.opts.events?.onFile?.({ path: rel, type: 'symlink', size: 0, mode: base.mode, mtime: base.mtime, chunks: 0 });
      return { ...base, type: 'symlink', size: 0, target };
    }
    if (st.isFile()) return this.file(abs, rel, st, base, parent);
    this.warn(abs, 'special', 'socket, FIFO or device: skipped', false);
    return undefined;
  }

  private async dir(ctx: WalkCtx, abs: string, rel: string, parentSubtree: string | undefined): Promise<string | undefined> {
    let names: string[];
    try {
      names = readdirSync(abs);
    } catch (err) {
      const code = errnoCode(err);
      this.warn(abs, code === 'ENOENT' ? 'vanished' : 'unreadable', code === 'ENOENT' ? 'directory vanished during the backup' : (err as Error).message, true);
      return undefined;
    }
    names.sort();
    const parentNodes = await this.parentTree(parentSubtree);
    const nodes: TreeNode[] = [];
    const relInSource = (n: string) => (rel.includes('/') ? rel.slice(rel.indexOf('/') + 1) + '/' : '') + n;
    for (const n of names) {
      const childAbs = join(abs, n);
      let st: Stats;
      try {
        st = lstatSync(childAbs);
      } catch (err) {
        this.warn(childAbs, errnoCode(err) === 'ENOENT' ? 'vanished' : 'unreadable', (err as Error).message, true);
        continue;
      }
      if (ctx.exclude(relInSource(n), st.isDirectory())) continue;
      const node = await this.entry(ctx, childAbs, n, rel, st, parentNodes.get(n));
      if (node) nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private async saveTree(nodes: TreeNode[]): Promise<string> {
    const bytes = encodeTree(nodes);
    const id = this.repo.blobId(bytes);
    await this.writer.add('tree', id, bytes);
    return id.toString('hex');
  }

  private async file(abs: string, rel: string, st: Stats, base: Pick<TreeNode, 'name' | 'mode' | 'uid' | 'gid' | 'mtime'>, parent: TreeNode | undefined): Promise<TreeNode | undefined> {
    const meta = { ...base, type: 'file' as const, size: st.size, ctime: st.ctimeMs, inode: st.ino, dev: st.dev };
    this.summary.files++;
    this.summary.bytes += st.size;
    if (parent && parent.type === 'file' && parent.size === st.size && parent.mtime === st.mtimeMs && parent.ctime === st.ctimeMs && parent.inode === st.ino && parent.content && parent.hash && parent.content.every((c) => this.writer.known(c))) {
      this.summary.filesUnchanged++;
      this.opts.events?.onFile?.({ path: rel, type: 'file', size: st.size, mode: meta.mode, mtime: meta.mtime, hash: parent.hash, chunks: parent.content.length });
      this.opts.events?.onProgress?.({ files: this.summary.files, bytes: this.summary.bytes, path: rel });
      return { ...meta, content: parent.content, hash: parent.hash };
    }
    let content: string[];
    let hash: string;
    try {
      ({ content, hash } = await this.readFile(abs, st));
    } catch (err) {
      if (err instanceof TriadError || (err as Error).name === 'AbortError') throw err;
      const code = errnoCode(err);
      this.summary.files--;
      this.summary.bytes -= st.size;
      this.warn(abs, code === 'ENOENT' ? 'vanished' : 'unreadable', code === 'ENOENT' ? 'file vanished during the backup' : (err as Error).message, true);
      return undefined;
    }
    if (parent) this.summary.filesChanged++;
    else this.summary.filesNew++;
    this.opts.events?.onFile?.({ path: rel, type: 'file', size: st.size, mode: meta.mode, mtime: meta.mtime, hash, chunks: content.length });
    this.opts.events?.onProgress?.({ files: this.summary.files, bytes: this.summary.bytes, path: rel });
    return { ...meta, content, hash };
  }

  private async readFile(abs: string, st: Stats): Promise<{ content: string[]; hash: string }> {
    const fd = openSync(abs, 'r');
    try {
      if (st.size > SMALL_FILE) return await this.streamFile(abs, fd, st);
      const buf = Buffer.allocUnsafe(st.size + 1);
      let n = 0;
      for (;;) {
        const r = readSync(fd, buf, n, buf.length - n, null);
        if (r === 0) break;
        n += r;
        // One byte more than lstat said: the file grew while we read it; stream it instead.
        if (n === buf.length) return await this.streamFile(abs, fd, st);
      }
      this.summary.bytesRead += n;
      if (n !== st.size) this.warn(abs, 'changed', 'file changed while it was being read; the snapshot holds the bytes read', false);
      const content: string[] = [];
      // Files up to the minimum chunk size are one chunk, whose id is the keyed content hash.
      const whole = n > this.repo.gear.params.min ? createHmac('sha256', this.repo.key.mac) : undefined;
      for (const chunk of chunkBuffer(this.repo.gear, buf.subarray(0, n))) {
        const id = this.repo.blobId(chunk);
        whole?.update(chunk);
        await this.writer.add('data', id, chunk);
        content.push(id.toString('hex'));
      }
      return { content, hash: whole ? whole.digest('hex') : content[0] ?? this.repo.blobId(Buffer.alloc(0)).toString('hex') };
    } finally {
      closeSync(fd);
    }
  }

  private async streamFile(abs: string, fd: number, st: Stats): Promise<{ content: string[]; hash: string }> {
    const max = this.repo.gear.params.max;
    const buf = (this.readBuf ??= Buffer.allocUnsafe(2 * max));
    const content: string[] = [];
    const whole = createHmac('sha256', this.repo.key.mac);
    let start = 0;
    let end = 0;
    let eof = false;
    let pos = 0;
    let total = 0;
    for (;;) {
      while (!eof && end < buf.length) {
        const r = readSync(fd, buf, end, buf.length - end, pos);
        if (r === 0) eof = true;
        end += r;
        pos += r;
        this.summary.bytesRead += r;
      }
      for (;;) {
        if (start === end) break;
        const cut = nextCut(this.repo.gear, buf, start, end, eof);
        if (cut < 0) break;
        const chunk = buf.subarray(start, start + cut);
        const id = this.repo.blobId(chunk);
        whole.update(chunk);
        total += cut;
        await this.writer.add('data', id, chunk);
        content.push(id.toString('hex'));
        start += cut;
        this.opts.signal?.throwIfAborted();
      }
      if (eof && start === end) break;
      buf.copy(buf, 0, start, end);
      end -= start;
      start = 0;
    }
    this.checkUnchanged(abs, fd, st, total);
    return { content, hash: content.length === 1 ? content[0]! : whole.digest('hex') };
  }

  private checkUnchanged(abs: string, fd: number, before: Stats, bytes: number): void {
    const after = fstatSync(fd);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || bytes !== before.size) {
      this.warn(abs, 'changed', 'file changed while it was being read; the snapshot holds the bytes read', false);
    }
  }
}

interface WalkCtx {
  exclude: ExcludeMatcher;
  rootDev: number;
  cross: boolean;
  source: string;
}

/** The source's name at the top of the snapshot; `/` has no basename, so it is called `root`. */
function topName(path: string): string {
  return basename(path) || 'root';
}

/**
 * Counts files and bytes the walk will visit (lstat only), so a progress bar can show an ETA.
 * Costs one extra metadata pass; the CLI asks for it only when a person is watching.
 */
export function estimateSources(sources: ArchiveSource[], signal?: AbortSignal): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const s of sources) {
    const exclude = makeExcludeMatcher(s.exclude);
    const walk = (abs: string, rel: string, dev: number) => {
      let names: string[];
      try {
        names = readdirSync(abs);
      } catch {
        return;
      }
      for (const n of names) {
        signal?.throwIfAborted();
        const child = join(abs, n);
        const r = rel ? `${rel}/${n}` : n;
        const st = lstatSync(child, { throwIfNoEntry: false });
        if (!st || exclude(r, st.isDirectory())) continue;
        if (st.isDirectory()) {
          if (s.crossFilesystems || st.dev === dev) walk(child, r, dev);
        } else if (st.isFile()) {
          files++;
          bytes += st.size;
        }
      }
    };
    const st = lstatSync(s.path, { throwIfNoEntry: false });
    if (st?.isDirectory()) walk(s.path, '', st.dev);
    else if (st?.isFile()) {
      files++;
      bytes += st.size;
    }
  }
  return { files, bytes };
}
