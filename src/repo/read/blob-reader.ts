import { TriadError } from '../../core/errors.js';
import { repairPacksHint } from '../../core/describe.js';
import { IntegrityFailure } from '../crypto/index.js';
import { packObjectName, type BlobType } from '../format.js';
import type { MasterIndex } from '../index/index.js';
import { decodeBlobWith, ReusingBlobDecoder, type Repository } from '../repository.js';
import { MemoryPool } from '../../core/memory-pool.js';
import { decodeTree, type Tree } from '../model/index.js';

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

/**
 * Reads blobs through a small LRU of whole packs: restores walk files in the order they
 * were packed, so consecutive blobs mostly come from a pack already in memory. A pack
 * evicted from the LRU hands its memory to the next pack loaded (see MemoryPool).
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
  private reusing: ReusingBlobDecoder | undefined;
  bytesFetched = 0;
  /** Packs fetched a second time because the first copy failed verification (a garbled transfer is noise, not damage). */
  readonly reReads: { pack: string; reason: string }[] = [];
  /** Pack buffers that are themselves a second read: a failure in one is damage. */
  private readonly secondReads = new WeakSet<Buffer>();
  /** Called for each pack read again. */
  onReRead?: (r: { pack: string; reason: string }) => void;

  constructor(
    readonly repo: Repository,
    readonly index: MasterIndex,
    private readonly maxPacks = 4,
  ) {}

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
      const { sealed, pack, bytes } = await this.sealed(id);
      try {
        return decodeFn(this.repo.key, type, Buffer.from(id, 'hex'), sealed);
      } catch (err) {
        if (!(err instanceof IntegrityFailure)) throw err;
        if (this.secondReads.has(bytes)) throw new BlobError(id, pack, err.message, this.repo.target);
        // The next load of this pack is its second read; this copy is no longer served.
        if (this.cache.get(pack) === bytes) this.cache.delete(pack);
        this.noteReRead(pack, `blob ${id.slice(0, 12)}: ${err.message}`);
      } finally {
        this.unpin(bytes);
      }
    }
  }

  private noteReRead(pack: string, reason: string): void {
    const r = { pack, reason };
    this.reReads.push(r);
    this.onReRead?.(r);
  }

  /** A blob as stored (still encrypted), and its pack's buffer, pinned: the caller unpins it. */
  private async sealed(id: string): Promise<{ sealed: Buffer; pack: string; bytes: Buffer }> {
    const loc = this.index.get(id);
    if (!loc) throw new BlobError(id, undefined, 'not in any index (missing pack or index)', this.repo.target);
    try {
      const bytes = await this.pack(loc.pack, loc.offset + loc.length);
      const sealed = bytes.subarray(loc.offset, loc.offset + loc.length);
      if (sealed.length !== loc.length) {
        this.unpin(bytes);
        throw new IntegrityFailure('pack is truncated');
      }
      return { sealed, pack: loc.pack, bytes };
    } catch (err) {
      if (err instanceof IntegrityFailure) throw new BlobError(id, loc.pack, err.message, this.repo.target);
      if (err instanceof TriadError) throw err;
      if (err && typeof err === 'object' && (err as { kind?: string }).kind === 'not-found') {
        throw new BlobError(id, loc.pack, 'pack file is missing', this.repo.target);
      }
      throw err;
    }
  }

  async tree(id: string): Promise<Tree> {
    const hit = this.trees.get(id);
    if (hit) return hit;
    const t = decodeTree(await this.blob(id, 'tree'), id);
    if (this.trees.size > 2048) this.trees.clear();
    this.trees.set(id, t);
    return t;
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
    while (this.cache.size > this.maxPacks) {
      const [oldest, old] = this.cache.entries().next().value!;
      this.cache.delete(oldest);
      if (!this.pinned.has(old)) this.memory.giveBack(old.buffer);
    }
    return this.pin(bytes);
  }

  private async load(packId: string, secondRead: boolean): Promise<Buffer> {
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
