import { createHash } from 'node:crypto';
import { TriadError } from '../../core/errors.js';
import type { CompressionMode } from '../blob/index.js';
import { AAD, packObjectName, PACK_TARGET_SIZE, type BlobType } from '../format.js';
import { encodeIndex, MAX_BLOBS_PER_INDEX, unindexPacks, type MasterIndex } from '../index/index.js';
import { PackBuilder, type PackEntry } from '../blob/index.js';
import { MemoryPool } from '../../core/memory-pool.js';
import type { Repository } from '../repository.js';


/** One target taking part in a run. All sessions are replicas of one repository. */
export interface TargetSession {
  name: string;
  repo: Repository;
  index: MasterIndex;
  /** Set when the target failed; it takes no further writes in this run. */
  failed?: unknown;
  bytesWritten: number;
  packsWritten: number;
  /**
   * Packs the index names but the target lacks (lost, or cut short): left out of `index`, so
   * their blobs are stored again; their index entries are removed once this run's packs are indexed.
   */
  absentPacks?: ReadonlySet<string>;
}

export interface WrittenPack {
  id: string;
  size: number;
  entries: PackEntry[];
}

/**
 * Writes new blobs once, into packs sent to every live target. A target that fails is
 * dropped from the run without stopping the others (DESIGN.md §2 "Replicas").
 */
export class MultiTargetWriter {
  /** Memory of stored packs, for the next ones. */
  private readonly memory = new MemoryPool(3);
  private readonly data = new PackBuilder(this.memory);
  private readonly tree = new PackBuilder(this.memory);
  private readonly pending = new Set<string>();
  private readonly inflight: Promise<void>[] = [];
  /** Packs stored but not yet named by an index file of this run, and how many blobs they hold. */
  private unindexed: WrittenPack[] = [];
  private unindexedBlobs = 0;
  packsWritten = 0;
  blobsAdded = 0;
  rawAdded = 0;
  packedAdded = 0;

  constructor(
    readonly sessions: TargetSession[],
    private readonly compression: CompressionMode,
    private readonly opts: {
      packSize?: number;
      dryRun?: boolean;
      /**
       * An index file is written every this many packs, or sooner once the packs waiting hold
       * MAX_BLOBS_PER_INDEX blobs (a pack of small files holds tens of thousands): memory stays
       * flat in the number of files, and an interrupted run keeps its work.
       */
      indexEvery?: number;
      /** Called once packs are named by an index on the live targets (the catalogue records them). */
      onIndexed?: (packs: WrittenPack[], targets: TargetSession[]) => void;
      maxInflight?: number;
      signal?: AbortSignal;
      onTargetFailed?: (s: TargetSession, err: unknown) => void;
    } = {},
  ) {}

  get live(): TargetSession[] {
    return this.sessions.filter((s) => s.failed === undefined);
  }

  /** True when every live target already holds the blob (or it is queued in this run). */
  known(id: string): boolean {
    if (this.pending.has(id)) return true;
    const live = this.live;
    return live.length > 0 && live.every((s) => s.index.has(id));
  }

  async add(type: BlobType, id: Buffer, plaintext: Uint8Array): Promise<boolean> {
    const hex = id.toString('hex');
    if (this.known(hex)) return false;
    return this.addSealed(type, hex, this.opts.dryRun ? undefined : this.firstLive().repo.encodeBlob(type, id, plaintext, this.compression), plaintext.length);
  }

  /** Adds a blob sealed elsewhere (a file worker); `sealed` may be missing only on a dry run. */
  async addSealed(type: BlobType, id: string, sealed: Buffer | undefined, rawLength: number): Promise<boolean> {
    if (this.known(id)) return false;
    this.pending.add(id);
    this.blobsAdded++;
    this.rawAdded += rawLength;
    if (this.opts.dryRun) return true;
    if (!sealed) throw new Error(`internal error: new blob ${id.slice(0, 12)} arrived without its sealed bytes`);
    this.place(type, Buffer.from(id, 'hex'), sealed, rawLength);
    // Bounded memory: at most maxInflight closed packs wait for their uploads.
    while (this.inflight.length >= (this.opts.maxInflight ?? 2)) await this.inflight.shift();
    return true;
  }

  get dryRun(): boolean {
    return !!this.opts.dryRun;
  }

  get compressionMode(): CompressionMode {
    return this.compression;
  }

  private place(type: BlobType, id: Buffer, sealed: Buffer, raw: number): void {
    const builder = type === 'tree' ? this.tree : this.data;
    builder.add(type, id, sealed, raw);
    this.packedAdded += sealed.length;
    if (builder.length >= (this.opts.packSize ?? PACK_TARGET_SIZE)) this.startFlush(builder);
  }

  private startFlush(builder: PackBuilder): void {
    if (builder.count === 0) return;
    this.opts.signal?.throwIfAborted();
    const { id, bytes, entries } = builder.finish(this.firstLive().repo.key.encrypt);
    const pack: WrittenPack = { id, size: bytes.length, entries };
    const job = this.saveEverywhere(packObjectName(id), bytes).then(async () => {
      // Every target has stored the pack, or failed it: nothing reads the bytes any more.
      this.memory.giveBack(bytes.buffer);
      this.packsWritten++;
      for (const s of this.live) {
        s.packsWritten++;
        s.index.addPack(pack.id, pack.size, pack.entries);
      }
      for (const e of pack.entries) this.pending.delete(e.id.toString('hex'));
      this.unindexed.push(pack);
      this.unindexedBlobs += pack.entries.length;
      if (this.unindexed.length >= (this.opts.indexEvery ?? 32) || this.unindexedBlobs >= MAX_BLOBS_PER_INDEX) await this.writeIndex();
    });
    job.catch(() => undefined);
    this.inflight.push(job);
  }

  /** Saves one object on every live target concurrently; failures drop that target. */
  async saveEverywhere(name: string, bytes: Buffer): Promise<void> {
    await this.onEveryLive(async (s) => {
      await s.repo.storage.save(name, bytes, { signal: this.opts.signal });
      s.bytesWritten += bytes.length;
    });
  }

  /** Runs `step` on every live target concurrently; a target whose step fails is dropped from the run. */
  async onEveryLive(step: (s: TargetSession) => Promise<void>): Promise<void> {
    const live = this.live;
    if (live.length === 0) throw this.allFailed();
    await Promise.all(
      live.map(async (s) => {
        try {
          await step(s);
        } catch (err) {
          if (this.opts.signal?.aborted) throw err;
          this.drop(s, err);
        }
      }),
    );
    if (this.live.length === 0) throw this.allFailed();
  }

  /** Leaves a target out of the rest of the run (its first failure is the one reported). */
  drop(s: TargetSession, err: unknown): void {
    if (s.failed !== undefined) return;
    s.failed = err;
    this.opts.onTargetFailed?.(s, err);
  }

  private firstLive(): TargetSession {
    const s = this.live[0];
    if (!s) throw this.allFailed();
    return s;
  }

  private allFailed(): unknown {
    const first = this.sessions.find((s) => s.failed !== undefined)?.failed;
    if (this.sessions.length === 1) return first;
    return new TriadError('E_TARGET_FAILED', `every target failed: ${this.sessions.map((s) => s.name).join(', ')}`, { cause: first });
  }

  /**
   * Flushes open packs, then writes the index naming them (DESIGN.md §2 write order), then
   * removes the absent packs from each target's index files: only then may a snapshot be
   * saved, as a blob stored again must not be looked up in the pack that is gone.
   */
  async finishData(): Promise<void> {
    this.startFlush(this.data);
    this.startFlush(this.tree);
    while (this.inflight.length) await this.inflight.shift();
    await this.writeIndex();
    await this.onEveryLive(async (s) => {
      if (s.absentPacks?.size) await unindexPacks(s.repo, s.index, s.absentPacks, this.opts.signal);
    });
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    this.unindexedBlobs = 0;
    const repo = this.live[0]?.repo;
    if (!repo) throw this.allFailed();
    const { sealed } = repo.sealObject(AAD.index, encodeIndex(packs));
    const name = `index/${createHash('sha256').update(sealed).digest('hex')}`;
    await this.saveEverywhere(name, sealed);
    this.opts.onIndexed?.(packs, this.live);
  }
}
