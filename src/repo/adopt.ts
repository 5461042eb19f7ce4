import { AAD, ID_RE, packObjectName } from './format.js';
import { encodeIndex, type MasterIndex } from './index-store.js';
import { HEADER_PROBE, parsePackHeader, type PackEntry } from './pack.js';
import type { Repository } from './repository.js';

/**
 * Finds packs that arrived on a target but were never indexed (the run that wrote them was
 * interrupted before its index), reads their headers and indexes them, so the next backup
 * reuses them instead of uploading the same data again. Damaged or foreign packs are skipped.
 */
export async function adoptUnindexedPacks(repo: Repository, index: MasterIndex, signal?: AbortSignal): Promise<{ adopted: number; skipped: string[] }> {
  const found: { id: string; size: number; entries: PackEntry[] }[] = [];
  const skipped: string[] = [];
  for await (const o of repo.storage.list('data/', { signal })) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (!ID_RE.test(id) || index.packs.has(id)) continue;
    try {
      const offset = Math.max(0, o.size - HEADER_PROBE);
      let tail = await repo.storage.load(packObjectName(id), { offset }, { signal });
      const headerLen = tail.length >= 4 ? tail.readUInt32LE(tail.length - 4) : 0;
      if (headerLen + 4 > tail.length && offset > 0) tail = await repo.storage.load(packObjectName(id), undefined, { signal });
      found.push({ id, size: o.size, entries: parsePackHeader(repo.key.encrypt, tail, o.size) });
    } catch {
      skipped.push(id);
    }
  }
  if (found.length === 0) return { adopted: 0, skipped };
  const { sealed } = repo.sealObject(AAD.index, encodeIndex(found));
  await repo.saveHashed('index', sealed);
  for (const p of found) index.addPack(p.id, p.size, p.entries);
  return { adopted: found.length, skipped };
}
