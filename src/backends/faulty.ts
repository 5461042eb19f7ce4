import type { StorageOp } from './retry.js';
import { StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage, type StorageErrorKind } from './storage.js';

export interface FaultRule {
  op: StorageOp;
  kind: StorageErrorKind;
  /** First matching call (1-based, counted per op over matching names) that fails; default 1. */
  nth?: number;
  /** How many consecutive matching calls fail from `nth` on; default 1, Infinity for "always". */
  times?: number;
  /** Only calls whose object name (or list prefix) passes this test count. */
  match?: (name: string) => boolean;
  /** For save: 'after' performs the save and then fails, like a reply lost on the way back. */
  when?: 'before' | 'after';
  /** For list: items yielded before the failure (default 0). */
  afterItems?: number;
}

export interface CorruptionRule {
  match: (name: string) => boolean;
  /** 'truncate' drops the last `bytes` (default half the object); 'flip' inverts one byte at `at` (default middle). */
  mode: 'truncate' | 'flip';
  bytes?: number;
  at?: number;
}

/**
 * Test wrapper that injects failures no emulator produces on demand: the Nth call of a method
 * failing with a given kind, a save that lands but reports failure, truncated or corrupted
 * loads. Counts every call so tests can assert how often the inner storage was reached.
 */
export class FaultyStorage implements Storage {
  readonly location: string;
  readonly calls: Record<StorageOp, number> = { save: 0, load: 0, stat: 0, list: 0, remove: 0 };
  private readonly rules: (FaultRule & { seen: number })[] = [];
  private readonly corruptions: CorruptionRule[] = [];

  constructor(readonly inner: Storage) {
    if (inner.listTemporary) this.listTemporary = (opts?: LoadOptions) => (inner.listTemporary as (o?: LoadOptions) => AsyncIterable<ObjectInfo>)(opts);
    this.location = inner.location;
  }

  fail(rule: FaultRule): this {
    this.rules.push({ ...rule, seen: 0 });
    return this;
  }

  corrupt(rule: CorruptionRule): this {
    this.corruptions.push(rule);
    return this;
  }

  /** Removes every fault and corruption rule. */
  heal(): this {
    this.rules.length = 0;
    this.corruptions.length = 0;
    return this;
  }

  listTemporary?: (opts?: LoadOptions) => AsyncIterable<ObjectInfo>;

  async save(name: string, data: Uint8Array, opts?: SaveOptions): Promise<void> {
    this.calls.save++;
    const rule = this.trip('save', name);
    if (rule && rule.when !== 'after') throw this.error(rule, 'save', name);
    await this.inner.save(name, data, opts);
    if (rule) throw this.error(rule, 'save', name);
  }

  async load(name: string, range?: Range, opts?: LoadOptions): Promise<Buffer> {
    this.calls.load++;
    const rule = this.trip('load', name);
    if (rule) throw this.error(rule, 'load', name);
    const buf = await this.inner.load(name, range, opts);
    const c = this.corruptions.find((r) => r.match(name));
    if (!c || buf.length === 0) return buf;
    if (c.mode === 'truncate') return buf.subarray(0, Math.max(0, buf.length - (c.bytes ?? Math.ceil(buf.length / 2))));
    const out = Buffer.from(buf);
    const at = Math.min(out.length - 1, c.at ?? out.length >> 1);
    out[at] = (out[at] as number) ^ 0xff;
    return out;
  }

  async stat(name: string, opts?: LoadOptions): Promise<ObjectInfo> {
    this.calls.stat++;
    const rule = this.trip('stat', name);
    if (rule) throw this.error(rule, 'stat', name);
    return this.inner.stat(name, opts);
  }

  async *list(prefix: string, opts?: LoadOptions): AsyncIterable<ObjectInfo> {
    this.calls.list++;
    const rule = this.trip('list', prefix);
    let n = 0;
    if (rule && (rule.afterItems ?? 0) === 0) throw this.error(rule, 'list', prefix);
    for await (const info of this.inner.list(prefix, opts)) {
      yield info;
      n++;
      if (rule && n >= (rule.afterItems ?? 0)) throw this.error(rule, 'list', prefix);
    }
  }

  async remove(name: string, opts?: LoadOptions): Promise<void> {
    this.calls.remove++;
    const rule = this.trip('remove', name);
    if (rule) throw this.error(rule, 'remove', name);
    return this.inner.remove(name, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private trip(op: StorageOp, name: string): FaultRule | undefined {
    for (const rule of this.rules) {
      if (rule.op !== op || (rule.match && !rule.match(name))) continue;
      rule.seen++;
      const first = rule.nth ?? 1;
      const times = rule.times ?? 1;
      if (rule.seen >= first && rule.seen < first + times) return rule;
    }
    return undefined;
  }

  private error(rule: FaultRule, op: StorageOp, name: string): StorageError {
    return new StorageError(rule.kind, this.location, `${this.location}: injected ${rule.kind} fault in ${op} ${name}`, { objectName: name });
  }
}
