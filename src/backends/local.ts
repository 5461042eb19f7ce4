import { constants as fsConstants, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { errnoCode } from '../core/errors.js';
import { randomToken } from '../core/token.js';
import { abortedError, checkName, checkRange, clipRange, throwIfAborted } from './classify.js';
import { checkObjectSize, OBJECT_DIRS, StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage, type StorageErrorKind } from './storage.js';

/**
 * Repository files and directories are the owner's only, as restic makes them: key files and
 * locks name hosts and users, and every object is an offline-guessing target for the key's
 * passphrase. Existing directories keep their modes.
 */
const PRIVATE_FILE = 0o600;
const PRIVATE_DIR = 0o700;

/** Objects whose sizes one listing asks for at once. */
const LIST_STAT_BATCH = 64;

/** Temporary files carry this prefix; `list` never reports them and prune may delete stale ones. */
export const TEMP_PREFIX = '.tmp-';

export interface LocalStorageOptions {
  /** Temp-name generator; injectable so tests can force collisions. */
  token?: () => string;
}

/**
 * A repository in a directory (local disk, NAS mount). Object `a/b/c` is the file `<root>/a/b/c`.
 * Writes are crash-safe: temp file in the target directory, fsync, rename (or link for
 * ifAbsent), fsync of the directory, so a power cut on the NAS leaves either the old state
 * or the complete new object.
 */
export class LocalStorage implements Storage {
  readonly location: string;
  readonly root: string;
  private readonly token: () => string;

  constructor(root: string, opts: LocalStorageOptions = {}) {
    this.root = path.resolve(root);
    this.location = `local:${this.root}`;
    this.token = opts.token ?? (() => randomToken(8));
  }

  /** Creates the root directory and the layout directories (for `triad init`). Idempotent. */
  async createRoot(): Promise<void> {
    try {
      await fsp.mkdir(this.root, { recursive: true, mode: PRIVATE_DIR });
      for (const dir of OBJECT_DIRS) await fsp.mkdir(path.join(this.root, dir), { recursive: true, mode: PRIVATE_DIR });
      await syncDir(this.root);
      await syncDir(path.dirname(this.root));
    } catch (err) {
      throw this.fail(err, 'create', undefined);
    }
  }

  async save(name: string, data: Uint8Array, opts: SaveOptions = {}): Promise<void> {
    checkName(this.location, name);
    const { signal } = opts;
    throwIfAborted(signal, this.location, 'save', name);
    const target = this.filePath(name);
    const dir = path.dirname(target);
    let tmp: string | undefined;
    try {
      tmp = await this.writeTemp(dir, data, signal, name);
      throwIfAborted(signal, this.location, 'save', name);
      if (opts.ifAbsent) await this.linkNoReplace(tmp, target, name);
      else await fsp.rename(tmp, target);
      // After rename/link the temp name is gone (or only an extra link that we remove below).
      if (opts.ifAbsent) await unlinkQuiet(tmp);
      tmp = undefined;
      await syncDir(dir);
    } catch (err) {
      if (tmp !== undefined) await unlinkQuiet(tmp);
      throw this.fail(err, 'save', name);
    }
  }

  async load(name: string, range?: Range, opts: LoadOptions = {}): Promise<Buffer> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'load', name);
    checkRange(this.location, name, range);
    let fh: fsp.FileHandle | undefined;
    try {
      // O_NONBLOCK: opening a FIFO put in place of an object must not wait for a writer.
      fh = await fsp.open(this.filePath(name), fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const st = await fh.stat();
      if (!st.isFile()) throw this.notRegular(name, st);
      const size = st.size;
      if (range === undefined) checkObjectSize(this.location, name, size);
      const { start, end } = clipRange(size, range?.offset ?? 0, range?.length);
      const given = opts.buffer?.(end - start);
      const buf = given?.length === end - start ? given : Buffer.allocUnsafe(end - start);
      let done = 0;
      while (done < buf.length) {
        throwIfAborted(opts.signal, this.location, 'load', name);
        const { bytesRead } = await fh.read(buf, done, Math.min(buf.length - done, 8 << 20), start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    } catch (err) {
      throw await this.failChecked(err, 'load', name);
    } finally {
      await fh?.close();
    }
  }

  async stat(name: string, opts: LoadOptions = {}): Promise<ObjectInfo> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'stat', name);
    try {
      const st = await fsp.stat(this.filePath(name));
      if (!st.isFile()) throw this.notRegular(name, st);
      return { name, size: st.size };
    } catch (err) {
      throw await this.failChecked(err, 'stat', name);
    }
  }

  list(prefix: string, opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    return this.walk(prefix, false, opts.signal);
  }

  listTemporary(opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    return this.walk('', true, opts.signal);
  }

  /** Objects under `prefix`, or (`temporary`) the temp files of unfinished saves instead. */
  private async *walk(prefix: string, temporary: boolean, signal: AbortSignal | undefined): AsyncIterable<ObjectInfo> {
    const opts = { signal };
    throwIfAborted(opts.signal, this.location, 'list');
    // Start the walk at the deepest directory the prefix names completely.
    const slash = prefix.lastIndexOf('/');
    const baseRel = slash >= 0 ? prefix.slice(0, slash) : '';
    if (baseRel !== '') checkName(this.location, baseRel);
    const stack: string[] = [baseRel];
    let first = true;
    while (stack.length > 0) {
      const rel = stack.pop() as string;
      let entries: import('node:fs').Dirent[];
      try {
        entries = await fsp.readdir(rel === '' ? this.root : path.join(this.root, rel), { withFileTypes: true });
      } catch (err) {
        const code = errnoCode(err);
        if ((code === 'ENOENT' || code === 'ENOTDIR') && !(first && !(await this.rootExists()))) {
          first = false;
          continue;
        }
        throw await this.failChecked(err, 'list', undefined);
      }
      first = false;
      const files: string[] = [];
      for (const ent of entries) {
        const childRel = rel === '' ? ent.name : `${rel}/${ent.name}`;
        if (ent.isDirectory()) {
          // Only descend where names below could still match the prefix.
          const asDir = `${childRel}/`;
          if (asDir.startsWith(prefix) || prefix.startsWith(asDir)) stack.push(childRel);
        } else if (childRel.startsWith(prefix) && ent.name.startsWith(TEMP_PREFIX) === temporary) {
          // Anything else in place of an object (a FIFO, a symlink, a device) is listed too, so
          // readers meet it and report it (load refuses what is not a regular file).
          files.push(childRel);
        }
      }
      // Sizes come from stat: a batch at a time, so a directory of thousands of objects costs
      // a few dozen round trips through the thread pool rather than one per object.
      for (let i = 0; i < files.length; i += LIST_STAT_BATCH) {
        throwIfAborted(opts.signal, this.location, 'list');
        const batch = files.slice(i, i + LIST_STAT_BATCH);
        const stats = await Promise.all(batch.map((childRel) => this.listedStat(childRel)));
        for (let j = 0; j < batch.length; j++) {
          const st = stats[j];
          if (st !== undefined && !st.isDirectory()) yield { name: batch[j]!, size: st.size };
        }
      }
    }
  }

  /** A listed entry's stat; undefined when it was removed between readdir and stat (a concurrent prune) or is a dangling symlink. */
  private async listedStat(childRel: string): Promise<import('node:fs').Stats | undefined> {
    try {
      return await fsp.stat(path.join(this.root, childRel));
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return undefined;
      throw this.fail(err, 'list', childRel);
    }
  }

  async remove(name: string, opts: LoadOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'remove', name);
    const file = this.filePath(name);
    try {
      await fsp.unlink(file);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT' || errnoCode(err) === 'ENOTDIR') {
        if (await this.rootExists()) return;
      }
      throw await this.failChecked(err, 'remove', name);
    }
    // Deletions follow a write order too (snapshot, then index, then packs): make each durable.
    try {
      await syncDir(path.dirname(file));
    } catch (err) {
      throw this.fail(err, 'remove', name);
    }
  }

  async capacity(): Promise<{ total: number; free: number } | undefined> {
    try {
      const st = await fsp.statfs(this.root);
      return { total: st.blocks * st.bsize, free: st.bavail * st.bsize };
    } catch (err) {
      throw await this.failChecked(err, 'capacity', undefined);
    }
  }

  async close(): Promise<void> {}

  private notRegular(name: string, st: import('node:fs').Stats): StorageError {
    const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isSocket() ? 'a socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'not a file';
    return new StorageError('invalid', this.location, `${this.location}: ${name} is ${what}, not a regular file: refused unread`, { objectName: name });
  }

  private filePath(name: string): string {
    return path.join(this.root, ...name.split('/'));
  }

  private async rootExists(): Promise<boolean> {
    try {
      return (await fsp.stat(this.root)).isDirectory();
    } catch {
      // Any failure to stat the root (missing, unmounted, permission) means the repository is not there for us.
      return false;
    }
  }

  private async writeTemp(dir: string, data: Uint8Array, signal: AbortSignal | undefined, name: string): Promise<string> {
    for (let attempt = 0; ; attempt++) {
      const tmp = path.join(dir, `${TEMP_PREFIX}${this.token()}`);
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(tmp, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, PRIVATE_FILE);
      } catch (err) {
        const code = errnoCode(err);
        if (code === 'EEXIST' && attempt < 5) continue;
        if (code === 'ENOENT' && attempt === 0) {
          // The parent directory is created on demand, but never the root: a missing root
          // means the repository (or the NAS mount) is not there.
          if (!(await this.rootExists())) throw err;
          const firstCreated = await fsp.mkdir(dir, { recursive: true, mode: PRIVATE_DIR });
          // A new directory is only durable once its own parent is synced: walk up to the root.
          if (firstCreated !== undefined) {
            for (let d = dir; ; d = path.dirname(d)) {
              await syncDir(path.dirname(d));
              if (d === firstCreated || d === this.root) break;
            }
          }
          continue;
        }
        throw err;
      }
      try {
        let off = 0;
        while (off < data.length) {
          if (signal?.aborted) throw abortedError(this.location, 'save', name);
          const { bytesWritten } = await fh.write(data, off, Math.min(data.length - off, 8 << 20));
          off += bytesWritten;
        }
        await fh.sync();
        await fh.close();
      } catch (err) {
        await fh.close().catch(() => undefined);
        await unlinkQuiet(tmp);
        throw err;
      }
      return tmp;
    }
  }

  /** Makes `target` appear atomically, failing with 'exists' if it is already there. */
  private async linkNoReplace(tmp: string, target: string, name: string): Promise<void> {
    try {
      await fsp.link(tmp, target);
      return;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'EEXIST') throw new StorageError('exists', this.location, `${this.location}: ${name} already exists`, { objectName: name });
      // Some SMB/FAT mounts have no hard links: fall back to an existence check, which is
      // racy only between two writers of the same content-named object.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV' && code !== 'EMLINK') throw err;
    }
    try {
      await fsp.lstat(target);
      throw new StorageError('exists', this.location, `${this.location}: ${name} already exists`, { objectName: name });
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
    }
    await fsp.rename(tmp, target);
  }

  /** Like fail(), but tells a missing repository root apart from a missing object. */
  private async failChecked(err: unknown, op: string, name: string | undefined): Promise<StorageError> {
    const code = errnoCode(err);
    if ((code === 'ENOENT' || code === 'ENOTDIR') && !(await this.rootExists())) {
      return new StorageError('no-container', this.location, `${this.location}: repository directory does not exist`, { objectName: name, cause: err });
    }
    return this.fail(err, op, name);
  }

  private fail(err: unknown, op: string, name: string | undefined): StorageError {
    if (err instanceof StorageError) return err;
    const code = errnoCode(err);
    const what = name ? `${op} ${name}` : op;
    let kind: StorageErrorKind = 'other';
    let reason = err instanceof Error ? err.message : String(err);
    switch (code) {
      case 'ENOENT':
      case 'ENOTDIR':
        if (op === 'save') {
          kind = 'no-container';
          reason = 'repository directory does not exist';
        } else {
          kind = 'not-found';
          reason = 'no such object';
        }
        break;
      case 'ENOSPC':
      case 'EDQUOT':
        kind = 'no-space';
        reason = 'no space left on the device (or quota exceeded)';
        break;
      case 'EACCES':
      case 'EPERM':
        kind = 'auth';
        reason = 'permission denied';
        break;
      case 'EROFS':
        reason = 'read-only file system';
        break;
      case 'ESTALE':
      case 'EIO':
      case 'ETIMEDOUT':
      case 'EAGAIN':
      case 'EBUSY':
        kind = 'transient';
        break;
      case 'EHOSTDOWN':
      case 'EHOSTUNREACH':
      case 'ENOTCONN':
        kind = 'unreachable';
        break;
    }
    return new StorageError(kind, this.location, `${this.location}: ${what}: ${reason}`, { objectName: name, cause: err });
  }
}

async function syncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    // Some file systems (and SMB clients) refuse fsync on a directory; the rename is then as
    // durable as that file system can make it.
    const code = errnoCode(err);
    if (code !== 'EINVAL' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EISDIR' && code !== 'EBADF') throw err;
  } finally {
    await fh?.close();
  }
}

async function unlinkQuiet(file: string): Promise<void> {
  try {
    await fsp.unlink(file);
  } catch (err) {
    // Already gone is the goal; anything else leaves a temp file that prune cleans up.
    if (errnoCode(err) !== 'ENOENT') return;
  }
}

/** Opens a directory repository; with `create` the root is created first (`triad init`). */
export async function openLocalStorage(root: string, opts: LocalStorageOptions & { create?: boolean } = {}): Promise<LocalStorage> {
  const storage = new LocalStorage(root, opts);
  if (opts.create) await storage.createRoot();
  return storage;
}
