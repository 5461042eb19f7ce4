import { packObjectName } from '../format.js';
import { encodeIndex, listPacks, loadIndexFile, MasterIndex, saveIndexFile, type DamagedIndexFile, type RawEntry, type StoredPack } from './index-store.js';
import { isTriadError } from '../../core/errors.js';
import { parsePackHeader, type PackEntry } from '../blob/index.js';
import type { Repository } from '../repository.js';

/* The index files as stored: read raw (prune and repair need the files, not only the merged
 * index), written in bounded batches, and rebuilt from the packs' own headers. */

/** Every index file of the replica, read as stored (prune and repair need the files, not only the merged index). */
export async function loadRawIndex(repo: Repository, signal?: AbortSignal): Promise<{ files: { name: string; size: number }[]; packs: Map<string, { size: number; entries: RawEntry[] }> }> {
  const files: { name: string; size: number }[] = [];
  for await (const o of repo.storage.list('index/', { signal })) files.push({ name: o.name, size: o.size });
  files.sort((a, b) => (a.name < b.name ? -1 : 1));
  const packs = new Map<string, { size: number; entries: RawEntry[] }>();
  for (const f of files) {
    const file = await loadIndexFile(repo, f.name);
    for (const p of file.packs) {
      if (packs.has(p.id)) continue;
      packs.set(p.id, { size: p.size, entries: p.blobs });
    }
  }
  return { files, packs };
}

export function toPackEntry(e: RawEntry): PackEntry {
  return { type: e[0] === 1 ? 'tree' : 'data', id: Buffer.from(e[1], 'hex'), offset: e[2], length: e[3], rawLength: e[4] };
}

/**
 * Index files hold at most this many blobs each, so no object grows without bound and no
 * reader or writer holds more than one such file's entries at once: parsing one costs about
 * 200 bytes a blob for a moment (its JSON text and arrays), whatever the repository's size.
 */
export const MAX_BLOBS_PER_INDEX = 50_000;

/** Index files naming `packs`, at most MAX_BLOBS_PER_INDEX blobs each; their names and total size. */
export async function writeIndexFiles(repo: Repository, packs: { id: string; size: number; entries: PackEntry[] }[]): Promise<{ names: string[]; bytes: number }> {
  const out = { names: [] as string[], bytes: 0 };
  let batch: typeof packs = [];
  let blobs = 0;
  const writeBatch = async () => {
    if (batch.length === 0) return;
    const saved = await saveIndexFile(repo, encodeIndex(batch));
    out.names.push(saved.name);
    out.bytes += saved.bytes;
    batch = [];
    blobs = 0;
  };
  for (const p of packs) {
    if (blobs + p.entries.length > MAX_BLOBS_PER_INDEX) await writeBatch();
    batch.push(p);
    blobs += p.entries.length;
  }
  await writeBatch();
  return out;
}

/** The entries of a stored pack, from its header (one ranged read for most packs). */
export async function readPackHeader(repo: Repository, packId: string, size: number, signal?: AbortSignal): Promise<PackEntry[]> {
  const probe = Math.min(size, 64 * 1024);
  let tail = await repo.storage.load(packObjectName(packId), { offset: size - probe, length: probe }, { signal });
  if (tail.length >= 4) {
    const hlen = tail.readUInt32LE(tail.length - 4);
    if (hlen + 4 > tail.length && hlen + 4 <= size) tail = await repo.storage.load(packObjectName(packId), { offset: size - hlen - 4, length: hlen + 4 }, { signal });
  }
  return parsePackHeader(repo.key.encrypt, tail, size);
}

/** The index of a replica, with the damaged index files it had to route around. */
export interface RoutedIndex {
  index: MasterIndex;
  damaged: DamagedIndexFile[];
  /** Packs no readable index file names, indexed from their own headers instead. */
  packsFromHeaders: number;
  /** Packs whose header could not be read either: their blobs are in no index. */
  damagedPacks: { pack: string; reason: string }[];
}

/**
 * The replica's index for reading, routed around damaged index files: each is reported, and
 * when there is any, every pack no readable index file names is indexed from its own header
 * (one listing of data/, then one ranged read of at most 64 KiB per such pack; a second read
 * for a header larger than that). Without damage it costs what MasterIndex.load costs.
 */
export async function loadIndexRoutingAround(repo: Repository, opts: { listed?: readonly StoredPack[]; signal?: AbortSignal } = {}): Promise<RoutedIndex> {
  const damaged: DamagedIndexFile[] = [];
  const index = await MasterIndex.load(repo, { onDamaged: (d) => damaged.push(d) });
  const routed: RoutedIndex = { index, damaged, packsFromHeaders: 0, damagedPacks: [] };
  if (damaged.length === 0) return routed;
  for (const p of opts.listed ?? (await listPacks(repo, opts.signal))) {
    if (index.packs.has(p.id)) continue;
    opts.signal?.throwIfAborted();
    try {
      index.addPack(p.id, p.size, await readPackHeader(repo, p.id, p.size, opts.signal));
      routed.packsFromHeaders++;
    } catch (err) {
      if (!isTriadError(err, 'E_INTEGRITY')) throw err;
      routed.damagedPacks.push({ pack: p.id, reason: err.message });
    }
  }
  return routed;
}

