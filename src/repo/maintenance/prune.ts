import { createHash } from 'node:crypto';
import { TriadError } from '../../core/errors.js';
import { BlobReader } from '../read/index.js';
import { IntegrityFailure } from '../crypto/index.js';
import { ID_RE, PACK_TARGET_SIZE, packObjectName, type BlobType } from '../format.js';
import { loadRawIndex, MasterIndex, toPackEntry, writeIndexFiles, type RawEntry } from '../index/index.js';
import { readJournal } from '../model/index.js';
import { PackBuilder, type PackEntry } from '../blob/index.js';
import type { Repository } from '../repository.js';
import type { ObjectInfo } from '../../backends/storage.js';
import { loadSnapshots, type DamagedSnapshot } from '../model/index.js';
import { decodeTree } from '../model/index.js';

/**
 * Prune, split as restic does: `planPrune` reads the replica and decides (pure data, shown
 * by --dry-run); `executePrune` carries the plan out in the crash-safe order of
 * docs/FORMAT.md §15: new packs (repacked live blobs) → new index files naming every pack
 * that stays → removal of the old index files → removal of the packs no longer named.
 * A crash at any point leaves only extra packs or extra index entries, never a snapshot
 * whose blobs are gone. The caller must hold the exclusive lock on the replica.
 */
export interface PruneOptions {
  /** Repack a pack when the share of its bytes still used is below this (0..1, default 0.75). */
  repackBelow?: number;
  /** Upper bound on the bytes of packs repacked in one run (default unlimited). */
  maxRepackSize?: number;
  /**
   * Packs no index names (left by an interrupted backup, or being written by a backup that
   * does not hold a lock) are removed only once an earlier prune, at least this long ago
   * (default 1 h), already found them unindexed. 0 removes them at once.
   */
  unindexedGrace?: number;
  now: Date;
  signal?: AbortSignal;
  /** Test hook: smaller packs when repacking. */
  packSize?: number;
  onProgress?(p: { phase: 'repack' | 'remove'; done: number; total: number }): void;
}

export interface PrunePackRef {
  id: string;
  size: number;
}

/** What prune will do on one replica: plain data (--dry-run renders it, --json prints it). */
export interface PrunePlan {
  target: string;
  snapshots: number;
  usedBlobs: number;
  indexFiles: number;
  packs: { total: number; bytes: number };
  /** Indexed packs none of whose blobs is used. */
  remove: PrunePackRef[];
  /** Indexed packs whose used share is low: their live blobs go into new packs. */
  repack: (PrunePackRef & { liveBytes: number; liveBlobs: number })[];
  /** Unindexed packs old enough to remove. */
  removeUnindexed: PrunePackRef[];
  /** Unindexed packs left alone (seen for the first time, or too recently). */
  keepUnindexed: PrunePackRef[];
  /** Temporary files of interrupted saves that an earlier prune saw at least the grace period ago. */
  removeTemporary: ObjectInfo[];
  /** Temporary files seen for the first time, or too recently (a live save may own them). */
  keepTemporary: ObjectInfo[];
  /** Packs an index names that are not stored (or are truncated) and hold nothing used: dropped from the index. */
  dropFromIndex: string[];
  /** Whether new index files replace the old ones. */
  rewriteIndex: boolean;
  /** Estimated bytes freed: removed packs plus the unused part of repacked ones. */
  bytesToFree: number;
  bytesToRepack: number;
}

export interface PruneResult {
  plan: PrunePlan;
  packsRemoved: string[];
  temporaryRemoved: string[];
  packsWritten: { id: string; size: number; entries: PackEntry[] }[];
  indexFilesRemoved: string[];
  indexFilesWritten: string[];
  /** Stored bytes before minus after (packs and index files). */
  bytesFreed: number;
  bytesBefore: number;
  bytesAfter: number;
}

/** Internal state the executor needs beyond the plan. */
export interface PreparedPrune {
  plan: PrunePlan;
  /** Index file names read by the plan (removed once the new ones are stored). */
  oldIndexFiles: { name: string; size: number }[];
  /** Packs that stay, with every entry the index had for them. */
  keep: Map<string, { size: number; entries: RawEntry[] }>;
  /** For each pack to repack: the entries (blobs) to copy. */
  live: Map<string, RawEntry[]>;
  /** Every unindexed pack id seen now (recorded in the prune's journal record). */
  unindexedSeen: string[];
}

/** How long after a prune first saw an unindexed pack or a temporary file it may be removed. */
export const DEFAULT_UNINDEXED_GRACE = 60 * 60_000;

/** Ids of every blob (trees and data) that some snapshot of the replica references. */
export async function usedBlobs(repo: Repository, index: MasterIndex, signal?: AbortSignal): Promise<{ used: Set<string>; snapshots: number }> {
  const damaged: DamagedSnapshot[] = [];
  const snapshots = await loadSnapshots(repo, { onDamaged: (d) => damaged.push(d), signal });
  if (damaged.length) {
    // Without the manifest, the data that snapshot needs cannot be told from garbage.
    throw new TriadError('E_INTEGRITY', `target '${repo.target}': ${damaged.length} snapshot object(s) cannot be read (${damaged[0]!.reason}); prune stopped without changing anything`, {
      hint: `'triad copy -p POLICY --from OTHER --to ${repo.target}' replaces it if another target holds that snapshot; if it is garbage, remove ${damaged.map((d) => d.name).join(', ')} from the target, then prune again`,
    });
  }
  const reader = new BlobReader(repo, index, { packs: 8 });
  const used = new Set<string>();
  const missing: string[] = [];
  const visit = async (treeId: string, where: string): Promise<void> => {
    if (used.has(treeId)) return;
    signal?.throwIfAborted();
    if (!index.has(treeId)) {
      missing.push(`${where}: tree ${treeId.slice(0, 12)}`);
      return;
    }
    used.add(treeId);
    const tree = decodeTree(await reader.blob(treeId, 'tree'), treeId);
    for (const n of tree.nodes) {
      for (const c of n.content ?? []) {
        if (!index.has(c)) missing.push(`${where}/${n.name}: blob ${c.slice(0, 12)}`);
        used.add(c);
      }
      if (n.type === 'dir' && n.subtree) await visit(n.subtree, `${where}/${n.name}`);
    }
  };
  for (const s of snapshots) await visit(s.tree, `snapshot ${s.id.slice(0, 8)}`);
  if (missing.length) {
    throw new TriadError('E_INTEGRITY', `target '${repo.target}': ${missing.length} blob(s) used by snapshots are in no index (e.g. ${missing.slice(0, 3).join('; ')}); prune stopped without changing anything`, {
      hint: `run 'triad repair index -p POLICY --target ${repo.target}' (it rebuilds the index from the packs), then 'triad check'`,
    });
  }
  return { used, snapshots: snapshots.length };
}

/** Reads the replica and decides what to remove and repack. Changes nothing. */
export async function planPrune(repo: Repository, opts: PruneOptions): Promise<PreparedPrune> {
  const repackBelow = opts.repackBelow ?? 0.75;
  const maxRepack = opts.maxRepackSize ?? Number.POSITIVE_INFINITY;
  const grace = opts.unindexedGrace ?? DEFAULT_UNINDEXED_GRACE;
  const { files, packs } = await loadRawIndex(repo, opts.signal);
  const stored = new Map<string, number>();
  for await (const o of repo.storage.list('data/', { signal: opts.signal })) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (ID_RE.test(id) && o.name === packObjectName(id)) stored.set(id, o.size);
  }
  const usable = (p: string) => stored.get(p) === packs.get(p)?.size;

  // Where each blob can be read from: the first usable pack naming it (index file order).
  const index = new MasterIndex();
  const location = new Map<string, string>();
  for (const [pid, p] of packs) {
    if (!usable(pid)) continue;
    index.addPack(pid, p.size, p.entries.map(toPackEntry));
    for (const e of p.entries) if (!location.has(e[1])) location.set(e[1], pid);
  }
  const { used, snapshots } = await usedBlobs(repo, index, opts.signal);

  const liveOf = new Map<string, RawEntry[]>();
  for (const [pid, p] of packs) {
    if (!usable(pid)) continue;
    const live: RawEntry[] = [];
    const seen = new Set<string>();
    for (const e of p.entries) {
      if (used.has(e[1]) && location.get(e[1]) === pid && !seen.has(e[1])) {
        live.push(e);
        seen.add(e[1]);
      }
    }
    liveOf.set(pid, live);
  }

  const plan: PrunePlan = {
    target: repo.target,
    snapshots,
    usedBlobs: used.size,
    indexFiles: files.length,
    packs: { total: stored.size, bytes: [...stored.values()].reduce((a, b) => a + b, 0) },
    remove: [],
    repack: [],
    removeUnindexed: [],
    keepUnindexed: [],
    removeTemporary: [],
    keepTemporary: [],
    dropFromIndex: [],
    rewriteIndex: false,
    bytesToFree: 0,
    bytesToRepack: 0,
  };
  const keep = new Map<string, { size: number; entries: RawEntry[] }>();
  const live = new Map<string, RawEntry[]>();
  const candidates: (PrunePackRef & { liveBytes: number; liveBlobs: number })[] = [];
  for (const [pid, p] of packs) {
    if (!usable(pid)) {
      plan.dropFromIndex.push(pid);
      // A truncated or damaged stored copy that nothing needs goes too.
      if (stored.has(pid)) plan.remove.push({ id: pid, size: stored.get(pid)! });
      continue;
    }
    const l = liveOf.get(pid)!;
    const liveBytes = l.reduce((a, e) => a + e[3], 0);
    if (l.length === 0) plan.remove.push({ id: pid, size: p.size });
    else if (liveBytes < repackBelow * p.size) candidates.push({ id: pid, size: p.size, liveBytes, liveBlobs: l.length });
    else keep.set(pid, p);
  }
  // Most garbage first, within the repack budget.
  candidates.sort((a, b) => b.size - b.liveBytes - (a.size - a.liveBytes) || (a.id < b.id ? -1 : 1));
  for (const c of candidates) {
    if (plan.bytesToRepack + c.size <= maxRepack) {
      plan.repack.push(c);
      plan.bytesToRepack += c.size;
      live.set(c.id, liveOf.get(c.id)!);
    } else keep.set(c.id, packs.get(c.id)!);
  }

  const unindexed = [...stored.keys()].filter((p) => !packs.has(p)).sort();
  const temporary = await listTemporary(repo, opts.signal);
  const sightings = (unindexed.length || temporary.length) && grace > 0 ? await pruneSightings(repo) : NO_SIGHTINGS;
  for (const pid of unindexed) {
    const ref = { id: pid, size: stored.get(pid)! };
    if (seenLongAgo(sightings.packs.get(pid), opts.now, grace)) plan.removeUnindexed.push(ref);
    else plan.keepUnindexed.push(ref);
  }
  for (const t of temporary) (seenLongAgo(sightings.temporary.get(t.name), opts.now, grace) ? plan.removeTemporary : plan.keepTemporary).push(t);

  plan.bytesToFree =
    plan.remove.reduce((a, p) => a + p.size, 0) +
    plan.removeUnindexed.reduce((a, p) => a + p.size, 0) +
    plan.removeTemporary.reduce((a, t) => a + t.size, 0) +
    plan.repack.reduce((a, p) => a + p.size - p.liveBytes, 0);
  plan.rewriteIndex = plan.remove.length + plan.repack.length + plan.dropFromIndex.length > 0 || files.length > 1;
  return { plan, oldIndexFiles: files, keep, live, unindexedSeen: unindexed };
}

interface Sightings {
  /** Unindexed pack id → when a prune first recorded it (journal `unindexedSeen`). */
  packs: Map<string, number>;
  /** Temporary file name → when a prune first recorded it (journal `temporarySeen`). */
  temporary: Map<string, number>;
}

const NO_SIGHTINGS: Sightings = { packs: new Map(), temporary: new Map() };

/**
 * When earlier prunes first recorded each unindexed pack and each temporary file (their
 * journal records). Age is judged by these records, not by file times, so neither the
 * clock of a NAS nor that of another host matters.
 */
export async function pruneSightings(repo: Repository): Promise<Sightings> {
  const out: Sightings = { packs: new Map(), temporary: new Map() };
  const { records } = await readJournal(repo);
  for (const r of records) {
    if (r.kind !== 'prune') continue;
    const t = Date.parse(r.finished);
    if (Number.isNaN(t)) continue;
    noteSightings(out.packs, r.details?.unindexedSeen, t);
    noteSightings(out.temporary, r.details?.temporarySeen, t);
  }
  return out;
}

function noteSightings(into: Map<string, number>, list: unknown, at: number): void {
  if (!Array.isArray(list)) return;
  for (const name of list) if (typeof name === 'string' && (into.get(name) ?? Infinity) > at) into.set(name, at);
}

/** Temporary files of interrupted saves on the replica (none on object stores). */
export async function listTemporary(repo: Repository, signal?: AbortSignal): Promise<ObjectInfo[]> {
  const out: ObjectInfo[] = [];
  if (!repo.storage.listTemporary) return out;
  for await (const t of repo.storage.listTemporary({ signal })) out.push(t);
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * Removes the temporary files an earlier prune recorded at least `grace` ms ago (a save that
 * owns one would have finished long since); returns the removed and the kept ones.
 */
export async function removeStaleTemporary(repo: Repository, opts: { now: Date; grace: number; signal?: AbortSignal }): Promise<{ removed: ObjectInfo[]; kept: ObjectInfo[] }> {
  const temporary = await listTemporary(repo, opts.signal);
  const sightings = temporary.length && opts.grace > 0 ? await pruneSightings(repo) : NO_SIGHTINGS;
  const out = { removed: [] as ObjectInfo[], kept: [] as ObjectInfo[] };
  for (const t of temporary) {
    if (!seenLongAgo(sightings.temporary.get(t.name), opts.now, opts.grace)) {
      out.kept.push(t);
      continue;
    }
    await repo.storage.remove(t.name, { signal: opts.signal });
    out.removed.push(t);
  }
  return out;
}

/** Whether something a prune first recorded at `seen` may go now (grace 0: at once). */
function seenLongAgo(seen: number | undefined, now: Date, grace: number): boolean {
  return grace <= 0 || (seen !== undefined && now.getTime() - seen >= grace);
}



/** Carries a plan out (see the module comment for the order). Idempotent after a crash: plan again and run again. */
export async function executePrune(repo: Repository, prepared: PreparedPrune, opts: PruneOptions): Promise<PruneResult> {
  const { plan } = prepared;
  const signal = opts.signal;
  const packBytesBefore = plan.packs.bytes;
  const indexBytesBefore = prepared.oldIndexFiles.reduce((a, f) => a + f.size, 0);
  const result: PruneResult = { plan, packsRemoved: [], temporaryRemoved: [], packsWritten: [], indexFilesRemoved: [], indexFilesWritten: [], bytesFreed: 0, bytesBefore: packBytesBefore + indexBytesBefore, bytesAfter: 0 };

  // 1. Repack: copy the live sealed blobs as they are (no re-encryption) into new packs.
  const builders: Record<BlobType, PackBuilder> = { data: new PackBuilder(), tree: new PackBuilder() };
  const flush = async (b: PackBuilder) => {
    if (b.count === 0) return;
    const { id, bytes, entries } = b.finish(repo.key.encrypt);
    await repo.storage.save(packObjectName(id), bytes, { signal });
    result.packsWritten.push({ id, size: bytes.length, entries });
  };
  let done = 0;
  for (const ref of plan.repack) {
    signal?.throwIfAborted();
    const bytes = await repo.storage.load(packObjectName(ref.id), undefined, { signal });
    if (createHash('sha256').update(bytes).digest('hex') !== ref.id) {
      throw new TriadError('E_INTEGRITY', `pack ${ref.id.slice(0, 12)} on target '${repo.target}' does not match its name; prune stopped before removing anything`, {
        hint: `run 'triad check -p POLICY --target ${repo.target} --read-data'`,
      });
    }
    for (const e of prepared.live.get(ref.id) ?? []) {
      const type: BlobType = e[0] === 1 ? 'tree' : 'data';
      const id = Buffer.from(e[1], 'hex');
      const sealed = bytes.subarray(e[2], e[2] + e[3]);
      try {
        repo.decodeBlob(type, id, sealed);
      } catch (err) {
        if (!(err instanceof IntegrityFailure)) throw err;
        throw new TriadError('E_INTEGRITY', `blob ${e[1].slice(0, 12)} in pack ${ref.id.slice(0, 12)} on target '${repo.target}' is damaged (${err.message}); prune stopped before removing anything`, {
          hint: `run 'triad check -p POLICY --target ${repo.target} --read-data'`,
        });
      }
      const b = builders[type];
      b.add(type, id, Buffer.from(sealed), e[4]);
      if (b.length >= (opts.packSize ?? PACK_TARGET_SIZE)) await flush(b);
    }
    opts.onProgress?.({ phase: 'repack', done: ++done, total: plan.repack.length });
  }
  await flush(builders.data);
  await flush(builders.tree);

  // 2. New index files naming every pack that stays, then 3. remove the old ones.
  if (plan.rewriteIndex) {
    signal?.throwIfAborted();
    const packs: { id: string; size: number; entries: PackEntry[] }[] = [
      ...[...prepared.keep].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([id, p]) => ({ id, size: p.size, entries: p.entries.map(toPackEntry) })),
      ...result.packsWritten,
    ];
    const written = await writeIndexFiles(repo, packs);
    result.indexFilesWritten.push(...written.names);
    result.bytesAfter += written.bytes;
    for (const f of prepared.oldIndexFiles) {
      if (result.indexFilesWritten.includes(f.name)) continue;
      await repo.storage.remove(f.name, { signal });
      result.indexFilesRemoved.push(f.name);
    }
  } else {
    result.bytesAfter += indexBytesBefore;
  }

  // 4. Only now the packs: no index names them any more.
  const doomed = [...plan.remove, ...plan.repack, ...plan.removeUnindexed];
  done = 0;
  for (const p of doomed) {
    signal?.throwIfAborted();
    await repo.storage.remove(packObjectName(p.id), { signal });
    result.packsRemoved.push(p.id);
    opts.onProgress?.({ phase: 'remove', done: ++done, total: doomed.length });
  }
  // Temporary files are in no index and no listing: their order does not matter.
  for (const t of plan.removeTemporary) {
    signal?.throwIfAborted();
    await repo.storage.remove(t.name, { signal });
    result.temporaryRemoved.push(t.name);
  }
  const removedBytes = doomed.reduce((a, p) => a + p.size, 0);
  const written = result.packsWritten.reduce((a, p) => a + p.size, 0);
  result.bytesAfter += packBytesBefore - removedBytes + written;
  result.bytesFreed = result.bytesBefore - result.bytesAfter;
  return result;
}

// ---- repair index ----------------------------------------------------------------------
