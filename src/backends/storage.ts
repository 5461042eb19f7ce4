/**
 * The one narrow interface every target implements (local path, S3, Azure, GCS, memory).
 *
 * Names are repository-relative object names with '/' separators, e.g. `config`,
 * `keys/<id>`, `data/ab/<pack id>`; a backend maps them under its own root or prefix.
 *
 * Guarantees a backend must give:
 * - `save` is atomic: a reader sees either no object or the whole object, never a part
 *   (local: temp file + fsync + rename + fsync dir; object stores: single upload with an
 *   integrity checksum).
 * - read-after-write: after `save` resolves, `load`/`stat`/`list` see the object.
 * - errors are StorageError with a kind, so callers can tell a missing object from an
 *   unreachable store and a transient fault (worth a retry) from a permanent one.
 */
export interface ObjectInfo {
  /** Repository-relative name. */
  name: string;
  size: number;
  /** When the store last wrote it, by the store's own clock (object stores' listings; absent elsewhere). */
  modified?: Date;
}

export interface Range {
  offset: number;
  /** Number of bytes; omitted means to the end of the object. */
  length?: number;
}

export interface SaveOptions {
  signal?: AbortSignal;
  /** Fail with kind 'exists' instead of replacing an existing object (where the store enforces it). */
  ifAbsent?: boolean;
}

export interface LoadOptions {
  signal?: AbortSignal;
  /**
   * Where to put the bytes: given their length, returns a buffer of exactly that length. Lets
   * a reader reuse its memory (see BlobReader); a backend that cannot use it ignores it.
   */
  buffer?(length: number): Buffer;
}

export interface Storage {
  /** Human-readable location without secrets, e.g. `local:/mnt/nas/triad` or `s3://bucket/prefix/`. */
  readonly location: string;
  save(name: string, data: Uint8Array, opts?: SaveOptions): Promise<void>;
  /** Whole object, or the given byte range of it. */
  load(name: string, range?: Range, opts?: LoadOptions): Promise<Buffer>;
  /** Throws StorageError kind 'not-found' when absent. */
  stat(name: string, opts?: LoadOptions): Promise<ObjectInfo>;
  /** Every object whose name starts with `prefix` (e.g. `snapshots/`), in any order. */
  list(prefix: string, opts?: LoadOptions): AsyncIterable<ObjectInfo>;
  /** Removing an absent object is not an error. */
  remove(name: string, opts?: LoadOptions): Promise<void>;
  /**
   * Temporary files that saves left behind (a process killed mid-write), on media that have
   * them (local directories; object stores upload whole objects). Names are repository-relative
   * and may be given to `remove`. `list` never reports them.
   */
  listTemporary?(opts?: LoadOptions): AsyncIterable<ObjectInfo>;
  /** Space information where the medium has it (local file systems). */
  capacity?(): Promise<{ total: number; free: number } | undefined>;
  /** The store's own clock (the HTTP `Date` of an answer from its endpoint), on media that have one (object stores). */
  serverTime?(opts?: LoadOptions): Promise<Date | undefined>;
  close(): Promise<void>;
}

export type StorageErrorKind =
  | 'not-found' // the object does not exist
  | 'exists' // ifAbsent save of an existing object
  | 'unreachable' // network down, DNS, connection refused, missing mount point
  | 'auth' // credentials rejected or missing permission
  | 'no-container' // bucket / container / repository root missing
  | 'no-space' // disk or quota full
  | 'transient' // throttling, 5xx, reset: worth retrying
  | 'aborted'
  | 'invalid' // not a regular file, or larger than any object of its kind (see objectSizeCap)
  | 'other';

export class StorageError extends Error {
  readonly kind: StorageErrorKind;
  readonly location: string;
  readonly objectName?: string;

  constructor(kind: StorageErrorKind, location: string, message: string, opts: { objectName?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'StorageError';
    this.kind = kind;
    this.location = location;
    this.objectName = opts.objectName;
  }

  get transient(): boolean {
    return this.kind === 'transient' || this.kind === 'unreachable';
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof StorageError && err.kind === 'not-found';
}

/** Repository layout directories (DESIGN.md §2). */
export const OBJECT_DIRS = ['keys', 'data', 'index', 'snapshots', 'journal', 'locks'] as const;

const MiB = 1024 * 1024;
/**
 * Largest whole object of each kind a load accepts (docs/FORMAT.md §2). Each is far above
 * what triad writes (a config, key or lock is under 1 KiB; a snapshot manifest a few KiB; a
 * journal record or an index file at most a few MiB), so only garbage is refused: a huge
 * object in place of a small one is never read into memory. Packs (data/) have no cap.
 */
const SIZE_CAPS: [prefix: string, cap: number][] = [
  ['config', 1 * MiB],
  ['keys/', 1 * MiB],
  ['locks/', 1 * MiB],
  ['snapshots/', 64 * MiB],
  ['journal/', 256 * MiB],
  ['index/', 256 * MiB],
];

/** The size cap of a whole-object load of `name`, or undefined when there is none. */
export function objectSizeCap(name: string): number | undefined {
  for (const [prefix, cap] of SIZE_CAPS) if (name === prefix || (prefix.endsWith('/') && name.startsWith(prefix))) return cap;
  return undefined;
}

/** Throws kind 'invalid' when a whole-object load of `name` would read more than its cap. */
export function checkObjectSize(location: string, name: string, size: number): void {
  const cap = objectSizeCap(name);
  if (cap !== undefined && size > cap) {
    throw new StorageError('invalid', location, `${location}: ${name} has ${size} bytes, more than any ${name.split('/')[0]} object triad writes (at most ${cap}): refused unread`, { objectName: name });
  }
}
