import { IntegrityFailure } from '../crypto/index.js';
import { listPacks, loadRawIndex, MasterIndex, readPackHeader, writeIndexFiles, type RawEntry, type StoredPack } from '../index/index.js';
import type { PackEntry } from '../blob/index.js';
import type { Repository } from '../repository.js';

export interface RepairIndexResult {
  target: string;
  packsRead: number;
  packsIndexed: number;
  /** Packs that were in no index before and are now. */
  packsAdded: string[];
  /** Packs whose header could not be read (damaged or truncated): left out of the index. */
  damaged: { pack: string; reason: string }[];
  indexFilesWritten: string[];
  indexFilesRemoved: string[];
}

/**
 * Rebuilds the index of a replica by reading every pack's header (`full`), or only indexes
 * the packs no index names (`onlyUnindexed`: cheap, used after an interrupted backup so its
 * packs are not uploaded again). The new index files are written before the old ones are
 * removed. Caller holds the exclusive lock for `full`; `onlyUnindexed` only adds an index
 * file and is safe under a shared lock.
 */
export async function repairIndex(
  repo: Repository,
  opts: { onlyUnindexed?: boolean; signal?: AbortSignal; onProgress?(p: { done: number; total: number }): void; /** With onlyUnindexed: the loaded index, used instead of reading the files, and extended. */ index?: MasterIndex; /** The caller's listing of data/, instead of listing it again. */ listed?: readonly StoredPack[] } = {},
): Promise<RepairIndexResult> {
  const signal = opts.signal;
  // A loaded index stands in for the index files only when adding: a full repair must know the files it replaces.
  const given = opts.onlyUnindexed ? opts.index : undefined;
  const result: RepairIndexResult = { target: repo.target, packsRead: 0, packsIndexed: 0, packsAdded: [], damaged: [], indexFilesWritten: [], indexFilesRemoved: [] };
  const oldFiles: string[] = [];
  const known = new Map<string, { size: number; entries: RawEntry[] }>();
  let raw: Awaited<ReturnType<typeof loadRawIndex>> | undefined;
  try {
    // An index the caller already loaded is not read a second time.
    if (!given) raw = await loadRawIndex(repo, signal);
  } catch (err) {
    if (opts.onlyUnindexed) throw err;
    // A damaged index file is exactly what a full repair replaces.
    for await (const o of repo.storage.list('index/', { signal })) oldFiles.push(o.name);
  }
  if (raw) {
    for (const f of raw.files) oldFiles.push(f.name);
    for (const [id, p] of raw.packs) known.set(id, p);
  }
  const stored = [...(opts.listed ?? (await listPacks(repo, signal)))];
  stored.sort((a, b) => (a.id < b.id ? -1 : 1));
  const indexed = (id: string) => known.has(id) || !!given?.packs.has(id);
  const todo = opts.onlyUnindexed ? stored.filter((p) => !indexed(p.id)) : stored;
  const packs: { id: string; size: number; entries: PackEntry[] }[] = [];
  for (const p of todo) {
    signal?.throwIfAborted();
    result.packsRead++;
    try {
      const entries = await readPackHeader(repo, p.id, p.size, signal);
      packs.push({ id: p.id, size: p.size, entries });
      if (!indexed(p.id)) result.packsAdded.push(p.id);
    } catch (err) {
      if (!(err instanceof IntegrityFailure)) throw err;
      result.damaged.push({ pack: p.id, reason: err.message });
    }
    opts.onProgress?.({ done: result.packsRead, total: todo.length });
  }
  result.packsIndexed = packs.length;
  if (packs.length === 0 && opts.onlyUnindexed) return result;
  result.indexFilesWritten.push(...(await writeIndexFiles(repo, packs)).names);
  if (given) for (const p of packs) given.addPack(p.id, p.size, p.entries);
  if (!opts.onlyUnindexed) {
    for (const name of oldFiles) {
      if (result.indexFilesWritten.includes(name)) continue;
      await repo.storage.remove(name, { signal });
      result.indexFilesRemoved.push(name);
    }
  }
  return result;
}

