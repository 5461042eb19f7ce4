import type { Repository } from './repository.js';
import { AAD, ID_RE, type BlobType } from './format.js';
import type { PackEntry } from './pack.js';

/** Where a blob lives. `pack` strings are shared between entries to keep memory small. */
export interface BlobLocation {
  pack: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

interface IndexFileJson {
  version: 1;
  packs: { id: string; size: number; blobs: [0 | 1, string, number, number, number][] }[];
}

/**
 * The union of a replica's index files, in memory: blob id (hex) → location.
 * ~120 bytes per blob, so a million blobs stay near 120 MiB; the catalogue serves larger scans.
 */
export class MasterIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  readonly packs = new Map<string, number>();
  readonly files: string[] = [];

  get size(): number {
    return this.blobs.size;
  }

  has(id: string): boolean {
    return this.blobs.has(id);
  }

  get(id: string): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  entries(): IterableIterator<[string, BlobLocation]> {
    return this.blobs.entries();
  }

  addPack(packId: string, size: number, entries: PackEntry[]): void {
    this.packs.set(packId, size);
    for (const e of entries) {
      const id = e.id.toString('hex');
      if (!this.blobs.has(id)) this.blobs.set(id, { pack: packId, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength });
    }
  }

  static async load(repo: Repository): Promise<MasterIndex> {
    const idx = new MasterIndex();
    const names: string[] = [];
    for await (const o of repo.storage.list('index/')) names.push(o.name);
    for (const name of names.sort()) {
      const file = await repo.loadObject<IndexFileJson>(AAD.index, name);
      idx.files.push(name);
      for (const p of file.packs) {
        if (!ID_RE.test(p.id)) continue;
        idx.packs.set(p.id, p.size);
        for (const [t, id, offset, length, rawLength] of p.blobs) {
          if (!idx.blobs.has(id)) idx.blobs.set(id, { pack: p.id, type: t === 1 ? 'tree' : 'data', offset, length, rawLength });
        }
      }
    }
    return idx;
  }
}

export function encodeIndex(packs: { id: string; size: number; entries: PackEntry[] }[]): IndexFileJson {
  return {
    version: 1,
    packs: packs.map((p) => ({
      id: p.id,
      size: p.size,
      blobs: p.entries.map((e) => [e.type === 'tree' ? 1 : 0, e.id.toString('hex'), e.offset, e.length, e.rawLength] as [0 | 1, string, number, number, number]),
    })),
  };
}
