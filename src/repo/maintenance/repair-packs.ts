import { TriadError } from '../../core/errors.js';
import { isNotFound } from '../../backends/storage.js';
import { IntegrityFailure } from '../crypto/index.js';
import { PACK_TARGET_SIZE, packObjectName, type BlobType } from '../format.js';
import { MasterIndex, repairIndexHint, unindexPacks, writeIndexFiles, type BlobLocation } from '../index/index.js';
import { PackBuilder, type PackEntry } from '../blob/index.js';
import { BlobReader } from '../read/index.js';
import { decodeTree, loadSnapshots, type Snapshot, type Tree } from '../model/index.js';
import { isObjectDamage, type Repository } from '../repository.js';

/**
 * `repair packs`: replaces damaged, truncated or missing packs of one replica. Every blob the
 * index places in such a pack is kept when its sealed bytes there still open and match its id,
 * else fetched (by blob id, which every replica shares) from another replica where it opens
 * and matches; the blobs go into new packs. Then, in the write order of docs/FORMAT.md §15:
 * new packs → an index file naming them → each index file naming a damaged pack replaced by
 * one naming its other packs → the damaged packs removed. A crash at any point leaves extra
 * packs or blobs indexed twice, never a blob that is readable before and not after. The
 * caller holds the exclusive lock on the replica and shared locks on the sources.
 */

/** A pack to repair, and why (check's finding, or the user's `--pack`). */
export interface PackToRepair {
  pack: string;
  reason: string;
}

/** Another replica of the same repository, to fetch blobs from; its index is loaded only when needed. */
export interface BlobSource {
  name: string;
  repo: Repository;
  index(): Promise<MasterIndex>;
}

export interface RepairedPack {
  pack: string;
  reason: string;
  /** Blobs the index places in it. */
  blobs: number;
  /** Blobs read intact from the pack itself. */
  kept: number;
  /** Blobs fetched intact from other targets, by target. */
  fetched: Record<string, number>;
  /** Blobs no target holds intact. */
  lost: number;
}

export interface LostBlob {
  id: string;
  type: BlobType;
  pack: string;
}

/** A file (or a directory whose listing is lost) of a snapshot that needs a lost blob. */
export interface LostFile {
  snapshot: string;
  policy: string;
  path: string;
  /** `listing`: the directory's own tree blob is lost, so nothing below it can be restored from here. */
  what: 'file' | 'listing';
}

export interface RepairPacksResult {
  target: string;
  dryRun: boolean;
  packs: RepairedPack[];
  lost: LostBlob[];
  /** Files of snapshots that need a lost blob (only computed when something is lost). */
  lostFiles: LostFile[];
  packsWritten: { id: string; size: number; entries: PackEntry[] }[];
  indexFilesWritten: string[];
  indexFilesRemoved: string[];
  packsRemoved: string[];
  /** Bytes read from the damaged packs and from other targets. */
  bytesRead: number;
}

export interface RepairPacksOptions {
  sources: readonly BlobSource[];
  dryRun?: boolean;
  /** Target size of the new packs (default PACK_TARGET_SIZE). */
  packSize?: number;
  signal?: AbortSignal;
  onProgress?(p: { done: number; total: number }): void;
}

/** The replica's index; a damaged index file must be rebuilt first, since it hides which blobs a pack held. */
export async function loadIndexForRepair(repo: Repository): Promise<MasterIndex> {
  try {
    return await MasterIndex.load(repo);
  } catch (err) {
    if (!isObjectDamage(err)) throw err;
    throw new TriadError('E_INTEGRITY', `target '${repo.target}': an index file is damaged (${(err as Error).message}), so which blobs the damaged packs held is not known`, { hint: `${repairIndexHint(repo.target)}, then repair the packs again` });
  }
}

export async function repairPacks(repo: Repository, index: MasterIndex, damaged: readonly PackToRepair[], opts: RepairPacksOptions): Promise<RepairPacksResult> {
  const signal = opts.signal;
  const result: RepairPacksResult = { target: repo.target, dryRun: !!opts.dryRun, packs: [], lost: [], lostFiles: [], packsWritten: [], indexFilesWritten: [], indexFilesRemoved: [], packsRemoved: [], bytesRead: 0 };
  const todo = [...damaged].sort((a, b) => (a.pack < b.pack ? -1 : 1));
  const entries = entriesOf(index, new Set(todo.map((d) => d.pack)));
  const builders: Record<BlobType, PackBuilder> = { data: new PackBuilder(), tree: new PackBuilder() };
  const flush = async (b: PackBuilder) => {
    if (b.count === 0) return;
    const { id, bytes, entries: written } = b.finish(repo.key.encrypt);
    await repo.storage.save(packObjectName(id), bytes, { signal });
    result.packsWritten.push({ id, size: bytes.length, entries: written });
  };
  const fetcher = new SourceFetcher(repo, opts.sources, signal);

  // 1. Recovered blobs into new packs, one damaged pack at a time (memory: that pack and two being built).
  for (const [n, d] of todo.entries()) {
    signal?.throwIfAborted();
    const own = entries.get(d.pack) ?? [];
    const rec: RepairedPack = { pack: d.pack, reason: d.reason, blobs: own.length, kept: 0, fetched: {}, lost: 0 };
    const bytes = own.length > 0 ? await loadDamaged(repo, d.pack, signal) : undefined;
    result.bytesRead += bytes?.length ?? 0;
    for (const [id, loc] of own) {
      const idBuf = Buffer.from(id, 'hex');
      let sealed = bytes && intact(repo, loc.type, idBuf, bytes.subarray(loc.offset, loc.offset + loc.length)) ? bytes.subarray(loc.offset, loc.offset + loc.length) : undefined;
      if (sealed) rec.kept++;
      else {
        const got = await fetcher.fetch(id, loc.type);
        if (got) {
          sealed = got.sealed;
          rec.fetched[got.from] = (rec.fetched[got.from] ?? 0) + 1;
        }
      }
      if (!sealed) {
        rec.lost++;
        result.lost.push({ id, type: loc.type, pack: d.pack });
        continue;
      }
      if (opts.dryRun) continue;
      const b = builders[loc.type];
      b.add(loc.type, idBuf, Buffer.from(sealed), loc.rawLength);
      if (b.length >= (opts.packSize ?? PACK_TARGET_SIZE)) await flush(b);
    }
    result.packs.push(rec);
    opts.onProgress?.({ done: n + 1, total: todo.length });
  }
  result.bytesRead += fetcher.bytesRead;
  if (opts.dryRun) return result;
  await flush(builders.data);
  await flush(builders.tree);

  // 2. An index file naming the new packs: from here on every recovered blob is readable twice over.
  if (result.packsWritten.length > 0) result.indexFilesWritten.push(...(await writeIndexFiles(repo, result.packsWritten)).names);
  // 3. The index files naming a damaged pack, replaced by ones naming their other packs.
  const gone = new Set(todo.map((d) => d.pack));
  const unindexed = await unindexPacks(repo, index, gone, signal);
  result.indexFilesWritten.push(...unindexed.written);
  result.indexFilesRemoved.push(...unindexed.removed);
  // 4. Only now the damaged packs: no index names them any more. Their lost blobs were unusable
  //    there; out of the index they count as not stored, so a backup stores them again.
  for (const d of todo) {
    signal?.throwIfAborted();
    try {
      await repo.storage.remove(packObjectName(d.pack), { signal });
      result.packsRemoved.push(d.pack);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  return result;
}

/** The index's entries located in each of `packs` (one pass over the index). */
function entriesOf(index: MasterIndex, packs: ReadonlySet<string>): Map<string, [string, BlobLocation][]> {
  const out = new Map<string, [string, BlobLocation][]>();
  for (const [id, loc] of index.entries()) {
    if (!packs.has(loc.pack)) continue;
    const list = out.get(loc.pack);
    if (list) list.push([id, loc]);
    else out.set(loc.pack, [[id, loc]]);
  }
  for (const list of out.values()) list.sort((a, b) => a[1].offset - b[1].offset);
  return out;
}

/** The damaged pack's bytes, or undefined when it is gone or cannot be read at all. */
async function loadDamaged(repo: Repository, pack: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  try {
    return await repo.storage.load(packObjectName(pack), undefined, { signal });
  } catch (err) {
    if (isNotFound(err) || isObjectDamage(err)) return undefined;
    throw err;
  }
}

/** Whether sealed bytes open as the blob `id` of `type` and match it. */
function intact(repo: Repository, type: BlobType, id: Buffer, sealed: Uint8Array): boolean {
  try {
    repo.decodeBlob(type, id, sealed);
    return true;
  } catch (err) {
    if (err instanceof IntegrityFailure) return false;
    throw err;
  }
}

/** Fetches a blob's sealed bytes from the first other replica where they are intact (one ranged read each). */
class SourceFetcher {
  bytesRead = 0;
  private readonly indexes = new Map<string, Promise<MasterIndex | undefined>>();

  constructor(
    private readonly repo: Repository,
    private readonly sources: readonly BlobSource[],
    private readonly signal?: AbortSignal,
  ) {}

  async fetch(id: string, type: BlobType): Promise<{ sealed: Buffer; from: string } | undefined> {
    for (const s of this.sources) {
      const index = await this.indexOf(s);
      const loc = index?.get(id);
      if (!loc || loc.type !== type) continue;
      let sealed: Buffer;
      try {
        sealed = await s.repo.storage.load(packObjectName(loc.pack), { offset: loc.offset, length: loc.length }, { signal: this.signal });
      } catch (err) {
        if (isNotFound(err) || isObjectDamage(err)) continue;
        throw err;
      }
      this.bytesRead += sealed.length;
      // Replicas share the master key: a blob sealed there opens here.
      if (sealed.length === loc.length && intact(this.repo, type, Buffer.from(id, 'hex'), sealed)) return { sealed, from: s.name };
    }
    return undefined;
  }

  /** A source whose index cannot be read gives nothing (its own check reports why). */
  private indexOf(s: BlobSource): Promise<MasterIndex | undefined> {
    let p = this.indexes.get(s.name);
    if (!p) {
      p = s.index().catch((err: unknown) => {
        if (isObjectDamage(err)) return undefined;
        throw err;
      });
      this.indexes.set(s.name, p);
    }
    return p;
  }
}

/**
 * The files (and directory listings) of every snapshot on the replica that need one of `lost`:
 * one walk of all trees, each tree read once; a tree is read from the replica, else from the
 * first source that has it.
 */
export async function filesNeeding(repo: Repository, index: MasterIndex, sources: readonly BlobSource[], lost: ReadonlySet<string>, signal?: AbortSignal): Promise<LostFile[]> {
  const readers: BlobReader[] = [new BlobReader(repo, index)];
  for (const s of sources) {
    try {
      readers.push(new BlobReader(s.repo, await s.index()));
    } catch (err) {
      if (!isObjectDamage(err)) throw err;
    }
  }
  const readTree = async (id: string): Promise<Tree | undefined> => {
    for (const r of readers) {
      try {
        if (r.index.has(id)) return decodeTree(await r.blob(id, 'tree'), id);
      } catch (err) {
        if (!isObjectDamage(err)) throw err;
      }
    }
    return undefined;
  };
  const out: LostFile[] = [];
  /** Trees with nothing lost below them: snapshots share most trees, so each is walked once. */
  const whole = new Set<string>();
  const visit = async (s: Snapshot, treeId: string, path: string): Promise<boolean> => {
    if (whole.has(treeId)) return false;
    signal?.throwIfAborted();
    const tree = lost.has(treeId) ? undefined : await readTree(treeId);
    if (!tree) {
      out.push({ snapshot: s.id, policy: s.policy, path: path || '/', what: 'listing' });
      return true;
    }
    let hit = false;
    for (const node of tree.nodes) {
      const p = path ? `${path}/${node.name}` : node.name;
      if (node.content?.some((c) => lost.has(c))) {
        out.push({ snapshot: s.id, policy: s.policy, path: p, what: 'file' });
        hit = true;
      }
      if (node.type === 'dir' && node.subtree && (await visit(s, node.subtree, p))) hit = true;
    }
    if (!hit) whole.add(treeId);
    return hit;
  };
  for (const s of await loadSnapshots(repo, { signal })) await visit(s, s.tree, '');
  return out;
}
