import { checkName, checkRange, clipRange, throwIfAborted } from './classify.js';
import { checkObjectSize, StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage } from './storage.js';

/**
 * An in-memory Storage for engine unit tests. It honours the same contract as the real
 * backends (copies on save and load, ifAbsent, ranges, abort, not-found kinds), so a test
 * that passes here exercises the engine, not this map.
 */
export class MemoryStorage implements Storage {
  readonly location: string;
  private readonly objects = new Map<string, Buffer>();
  private closed = false;

  constructor(opts: { location?: string } = {}) {
    this.location = opts.location ?? 'memory:';
  }

  async save(name: string, data: Uint8Array, opts: SaveOptions = {}): Promise<void> {
    await answerLater();
    this.check(name, 'save', opts.signal);
    if (opts.ifAbsent && this.objects.has(name)) {
      throw new StorageError('exists', this.location, `${this.location}: ${name} already exists`, { objectName: name });
    }
    this.objects.set(name, Buffer.from(data));
  }

  async load(name: string, range?: Range, opts: LoadOptions = {}): Promise<Buffer> {
    await answerLater();
    this.check(name, 'load', opts.signal);
    checkRange(this.location, name, range);
    const buf = this.get(name);
    if (range === undefined) checkObjectSize(this.location, name, buf.length);
    const { start, end } = clipRange(buf.length, range?.offset ?? 0, range?.length);
    return Buffer.from(buf.subarray(start, end));
  }

  async stat(name: string, opts: LoadOptions = {}): Promise<ObjectInfo> {
    await answerLater();
    this.check(name, 'stat', opts.signal);
    return { name, size: this.get(name).length };
  }

  async *list(prefix: string, opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    await answerLater();
    throwIfAborted(opts.signal, this.location, 'list');
    // Snapshot the keys so concurrent saves/removes do not disturb the iteration.
    const names = [...this.objects.keys()].filter((n) => n.startsWith(prefix));
    for (const name of names) {
      throwIfAborted(opts.signal, this.location, 'list');
      const buf = this.objects.get(name);
      if (buf) yield { name, size: buf.length };
    }
  }

  async remove(name: string, opts: LoadOptions = {}): Promise<void> {
    await answerLater();
    this.check(name, 'remove', opts.signal);
    this.objects.delete(name);
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }

  /** Number of stored objects (for assertions). */
  get size(): number {
    return this.objects.size;
  }

  private get(name: string): Buffer {
    const buf = this.objects.get(name);
    if (!buf) throw new StorageError('not-found', this.location, `${this.location}: ${name}: no such object`, { objectName: name });
    return buf;
  }

  private check(name: string, op: string, signal: AbortSignal | undefined): void {
    if (this.closed) throw new StorageError('other', this.location, `${this.location}: storage is closed`, { objectName: name });
    checkName(this.location, name);
    throwIfAborted(signal, this.location, op, name);
  }
}

/** Like a real store, answer in a later microtask: code that forgets an await fails here too. */
function answerLater(): Promise<void> {
  return Promise.resolve();
}
