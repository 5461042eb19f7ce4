import { TriadError } from '../../core/errors.js';
import { repairPacksHint } from '../../core/describe.js';
import { IntegrityFailure } from '../crypto/index.js';
import { packObjectName, type BlobType } from '../format.js';
import type { MasterIndex } from '../index/index.js';
import { decodeBlobWith, ReusingBlobDecoder, type Repository } from '../repository.js';
import { MemoryPool } from '../../core/memory-pool.js';
import { decodeTree, type Tree } from '../model/index.js';
import { PlannedReads, planRanges, type BlobSpan, type RangeTuning } from './read-plan.js';

/** A blob that could not be read back intact; restore and check report these per file. */
export class BlobError extends TriadError {
  constructor(
    readonly blobId: string,
    readonly pack: string | undefined,
    reason: string,
    target: string,
  ) {
    super('E_INTEGRITY', pack ? `blob ${blobId.slice(0, 12)} in pack ${pack.slice(0, 12)} on target '${target}': ${reason}` : `blob ${blobId.slice(0, 12)} on target '${target}': ${reason}`, {
      hint: `restore from another target with --target; ${repairPacksHint(target)}`,
    });
  }
}

/** Ranges at least this long are read into the reader's pooled memory. */
const POOLED_RANGE = 2 * 1024 * 1024;

/**
 * Decoded trees kept, counted in nodes (a decoded node holds its name, ids and figures: a few
 * hundred bytes): a walk larger than this reads a tree again only if it comes back to it. A
 * bound in trees would hold 100 times more memory for directories of 100 files than of one.
 */
const TREE_CACHE_NODES = 65_536;

/**
 * How a reader fetches: whole packs through a small LRU (a command that reads most blobs of
 * the packs it touches: check, prune), or byte ranges of packs (a command that reads parts:
 * restore, restore-test, dump, ls, copy), planned ahead with `plan` where it knows what it
 * will read.
 */
export type ReadMode = { packs: number } | { ranges: RangeTuning };

/**
 * Reads blobs. In packs mode through a small LRU of whole packs: consecutive blobs mostly come
 * from a pack already in memory, and a pack evicted hands its memory to the next pack loaded
 * (see MemoryPool). In ranges mode each blob's bytes alone, or the byte ranges of a plan.
 */
export class BlobReader {
  private readonly cache = new Map<string, Buffer>();
  /**
   * Pack buffers a decode is reading: not handed back when evicted meanwhile. With
   * concurrent readers (prune, check) an eviction can fall between a pack's arrival and its
   * decode; no test reproduced that order, so this guards the rule rather than a seen failure.
   */
  private readonly pinned = new Map<Buffer, number>();
  /** Two buffers wait at most: the cache itself holds the packs in use. */
  private readonly memory = new MemoryPool(2);
  private readonly trees = new Map<string, Tree>();
  private treeNodes = 0;
  private reusing: ReusingBlobDecoder | undefined;
  private planned: PlannedReads | undefined;
  private treeBlobs: Map<string, BlobSpan[]> | undefined;
  bytesFetched = 0;
  /** Packs fetched a second time because the first copy failed verification (a garbled transfer is noise, not damage). */
  readonly reReads: { pack: string; reason: string }[] = [];
  /** Pack buffers that are themselves a second read: a failure in one is damage. */
  private readonly secondReads = new WeakSet<Buffer>();
  /** In ranges mode, blobs whose first copy failed: their next read is a request of its own, and the last. */
  private readonly reReadBlobs = new Set<string>();
  /** Called for each pack read again. */
  onReRead?: (r: { pack: string; reason: string }) => void;
  /** Load requests made to the storage for packs. */
  requests = 0;

  constructor(
    readonly repo: Repository,
    readonly index: MasterIndex,
    readonly mode: ReadMode = { packs: 4 },
  ) {}

  /**
   * Announces the blobs about to be read, in the order they will be read (repeats included).
   * In ranges mode their packs' needed bytes are then fetched as merged ranges, a bounded
   * distance ahead, each byte at most once; blobs outside the plan are still read, one by one.
   * Replaces the previous plan. Whole-pack mode ignores it.
   */
  plan(ids: Iterable<string>, tuning?: Partial<RangeTuning>): void {
    if (!('ranges' in this.mode)) return;
    const index = this.index;
    // Read lazily: the plan takes its uses a batch at a time, as the reads reach them.
    const uses = function* (): Generator<BlobSpan> {
      for (const id of ids) {
        const loc = index.get(id);
        if (loc) yield { id, pack: loc.pack, offset: loc.offset, length: loc.length };
      }
    };
    // Large ranges' memory is lent by the pool and handed back once read, as whole packs are in
    // packs mode; small ones take ordinary buffers (the pool lends in 4 MiB steps).
    const fetch = (pack: string, offset: number, length: number) => this.fetchRange(pack, offset, length, length >= POOLED_RANGE ? (n) => this.memory.take(n) : undefined);
    this.planned = new PlannedReads(uses(), fetch, { ...this.mode.ranges, ...tuning }, (bytes) => this.memory.giveBack(bytes.buffer));
  }

  /** The reader will not read these blobs of the plan after all (the file they belong to failed). */
  forgo(ids: Iterable<string>): void {
    if (this.planned) for (const id of ids) this.planned.forgo(id);
  }

  /**
   * Reads these trees ahead, as merged byte ranges of their packs, `concurrency` requests in
   * flight. Returns their stored (sealed) bytes, and those of every other whole tree the
   * fetched ranges hold (a walk's later levels, read here once rather than fetched again):
   * sealed trees take a fraction of the memory of decoded ones (see `sealedTree`). A tree whose
   * range fails here is left out: read again when asked for, it fails then with its error.
   * Packs mode reads nothing ahead.
   */
  async prefetchTrees(ids: readonly string[], have: (id: string) => boolean = () => false): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    if (!('ranges' in this.mode)) return found;
    const spans: BlobSpan[] = [];
    for (const id of new Set(ids)) {
      const loc = have(id) ? undefined : this.index.get(id);
      if (loc) spans.push({ id, pack: loc.pack, offset: loc.offset, length: loc.length });
    }
    // The gaps between a walk's trees are mostly trees it reads later (decoded below), not waste.
    const ranges = planRanges(spans, this.mode.ranges.gap, undefined, Infinity);
    let next = 0;
    const worker = async () => {
      for (let r = ranges[next++]; r; r = ranges[next++]) {
        const bytes = await this.fetchRange(r.pack, r.offset, r.length).catch(() => undefined);
        if (bytes) this.copyTreesIn(r.pack, r.offset, bytes, have, found);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.mode.ranges.concurrency, ranges.length) }, worker));
    return found;
  }

  /** Copies out every whole tree blob of `pack` inside `bytes` (fetched from `offset`) not had yet. */
  private copyTreesIn(pack: string, offset: number, bytes: Buffer, have: (id: string) => boolean, into: Map<string, Buffer>): void {
    for (const t of this.treeBlobsOf(pack)) {
      const start = t.offset - offset;
      if (start < 0 || start + t.length > bytes.length || have(t.id) || into.has(t.id)) continue;
      into.set(t.id, Buffer.from(bytes.subarray(start, start + t.length)));
    }
  }

  /** A tree from its stored bytes (as prefetchTrees returns them); throws when they do not decrypt or decode. */
  sealedTree(id: string, sealed: Buffer): Tree {
    return decodeTree(decodeBlobWith(this.repo.key, 'tree', Buffer.from(id, 'hex'), sealed), id);
  }

  /** The tree blobs of a pack, from the index (listed once per reader: packs hold trees or data). */
  private treeBlobsOf(pack: string): readonly BlobSpan[] {
    if (!this.treeBlobs) {
      this.treeBlobs = new Map();
      for (const [id, loc] of this.index.entries()) {
        if (loc.type !== 'tree') continue;
        const list = this.treeBlobs.get(loc.pack);
        const span = { id, pack: loc.pack, offset: loc.offset, length: loc.length };
        if (list) list.push(span);
        else this.treeBlobs.set(loc.pack, [span]);
      }
    }
    return this.treeBlobs.get(pack) ?? [];
  }

  async blob(id: string, type: BlobType = 'data'): Promise<Buffer> {
    return this.decode(id, type, decodeBlobWith);
  }

  /**
   * A data blob decoded into buffers that the next call of this method reuses, for a caller
   * that writes or copies each blob before asking for the next: a restore makes no garbage
   * the size of the data it restores. `into` may offer a place to decompress it to (the
   * result is then there), called once the blob is loaded. `verify` false: the caller
   * checks the content against its id (see ReusingBlobDecoder.decode).
   */
  async transientBlob(id: string, into?: (size: number) => Buffer | undefined, verify = true): Promise<Buffer> {
    const r = (this.reusing ??= new ReusingBlobDecoder());
    return this.decode(id, 'data', (key, type, bid, sealed) => r.decode(key, type, bid, sealed, into, verify));
  }

  private async decode(id: string, type: BlobType, decodeFn: typeof decodeBlobWith): Promise<Buffer> {
    for (;;) {
      const { sealed, pack, bytes, second } = await this.sealed(id);
      try {
        return decodeFn(this.repo.key, type, Buffer.from(id, 'hex'), sealed);
      } catch (err) {
        if (!(err instanceof IntegrityFailure)) throw err;
        if (second) throw new BlobError(id, pack, err.message, this.repo.target);
        // The next read of this blob is its second: in packs mode a fresh load of the pack (this
        // copy is no longer served), in ranges mode a request for the blob alone.
        if (bytes && this.cache.get(pack) === bytes) this.cache.delete(pack);
        this.reReadBlobs.add(id);
        this.noteReRead(pack, `blob ${id.slice(0, 12)}: ${err.message}`);
      } finally {
        if (bytes) this.unpin(bytes);
      }
    }
  }

  private noteReRead(pack: string, reason: string): void {
    const r = { pack, reason };
    this.reReads.push(r);
    this.onReRead?.(r);
  }

  /**
   * A blob as stored (still encrypted), and in packs mode its pack's buffer, pinned: the caller
   * unpins it. `second`: this copy is a second read, so a failure in it is damage.
   */
  private async sealed(id: string): Promise<{ sealed: Buffer; pack: string; bytes?: Buffer; second: boolean }> {
    const loc = this.index.get(id);
    if (!loc) throw new BlobError(id, undefined, 'not in any index (missing pack or index)', this.repo.target);
    try {
      if ('ranges' in this.mode) {
        const sealed = await this.sealedRange(id, loc, this.reReadBlobs.has(id));
        // Read again already (after a failed decode, or a short answer): a failure now is damage.
        return { sealed, pack: loc.pack, second: this.reReadBlobs.has(id) };
      }
      const bytes = await this.pack(loc.pack, loc.offset + loc.length);
      const sealed = bytes.subarray(loc.offset, loc.offset + loc.length);
      if (sealed.length !== loc.length) {
        this.unpin(bytes);
        throw new IntegrityFailure('pack is truncated');
      }
      return { sealed, pack: loc.pack, bytes, second: this.secondReads.has(bytes) };
    } catch (err) {
      if (err instanceof IntegrityFailure) throw new BlobError(id, loc.pack, err.message, this.repo.target);
      if (err instanceof TriadError) throw err;
      if (err && typeof err === 'object' && (err as { kind?: string }).kind === 'not-found') throw new BlobError(id, loc.pack, 'pack file is missing', this.repo.target);
      throw err;
    }
  }

  /**
   * The blob's bytes from the plan, else by a request of its own (always for a second read).
   * A short answer is read once more before it counts as a truncated pack.
   */
  private async sealedRange(id: string, loc: { pack: string; offset: number; length: number }, second: boolean): Promise<Buffer> {
    const truncated = (got: number): string => `pack is truncated (${got} bytes, expected at least ${loc.offset + loc.length})`;
    const served = second ? undefined : await this.planned?.take(id);
    if (served && 'error' in served) throw served.error;
    if (served && !served.truncated) return served.sealed;
    if (served?.truncated) {
      this.reReadBlobs.add(id);
      this.noteReRead(loc.pack, truncated(served.got));
    }
    let bytes = await this.fetchRange(loc.pack, loc.offset, loc.length);
    if (bytes.length !== loc.length && !this.reReadBlobs.has(id)) {
      this.reReadBlobs.add(id);
      this.noteReRead(loc.pack, truncated(loc.offset + bytes.length));
      bytes = await this.fetchRange(loc.pack, loc.offset, loc.length);
    }
    if (bytes.length !== loc.length) throw new IntegrityFailure(truncated(loc.offset + bytes.length));
    return bytes;
  }

  private async fetchRange(pack: string, offset: number, length: number, buffer?: (n: number) => Buffer): Promise<Buffer> {
    this.requests++;
    const bytes = await this.repo.storage.load(packObjectName(pack), { offset, length }, buffer ? { buffer } : undefined);
    this.bytesFetched += bytes.length;
    return bytes;
  }

  async tree(id: string): Promise<Tree> {
    const hit = this.trees.get(id);
    if (hit) return hit;
    const t = decodeTree(await this.blob(id, 'tree'), id);
    this.cacheTree(id, t);
    return t;
  }

  private cacheTree(id: string, t: Tree): void {
    if (this.treeNodes + t.nodes.length > TREE_CACHE_NODES) {
      this.trees.clear();
      this.treeNodes = 0;
    }
    this.trees.set(id, t);
    this.treeNodes += t.nodes.length;
  }

  /** The pack's bytes, pinned (pinned before this returns, so no other load can reuse them first). */
  private async pack(packId: string, needed: number): Promise<Buffer> {
    const hit = this.cache.get(packId);
    if (hit) {
      this.cache.delete(packId);
      this.cache.set(packId, hit);
      return this.pin(hit);
    }
    const secondRead = this.reReads.some((r) => r.pack === packId);
    let bytes = await this.load(packId, secondRead);
    if (bytes.length < needed && !secondRead) {
      this.noteReRead(packId, `pack is truncated (${bytes.length} bytes, expected at least ${needed})`);
      bytes = await this.load(packId, true);
    }
    if (bytes.length < needed) throw new IntegrityFailure(`pack is truncated (${bytes.length} bytes, expected at least ${needed})`);
    this.cache.set(packId, bytes);
    while (this.cache.size > ('packs' in this.mode ? this.mode.packs : 0)) {
      const [oldest, old] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      if (!this.pinned.has(old)) this.memory.giveBack(old.buffer);
    }
    return this.pin(bytes);
  }

  private async load(packId: string, secondRead: boolean): Promise<Buffer> {
    this.requests++;
    const bytes = await this.repo.storage.load(packObjectName(packId), undefined, { buffer: (n) => this.memory.take(n) });
    this.bytesFetched += bytes.length;
    if (secondRead) this.secondReads.add(bytes);
    return bytes;
  }

  private pin(bytes: Buffer): Buffer {
    this.pinned.set(bytes, (this.pinned.get(bytes) ?? 0) + 1);
    return bytes;
  }

  private unpin(bytes: Buffer): void {
    const n = this.pinned.get(bytes) ?? 0;
    if (n <= 1) this.pinned.delete(bytes);
    else this.pinned.set(bytes, n - 1);
  }
}
