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
 * The union of a replica's index files, in memory: blob id → location. Ids and locations sit
 * in typed arrays under an open-addressing table keyed by the id's first bytes (ids are keyed
 * hashes, so evenly spread): about 70 bytes per blob, against 190 for a Map of hex strings to
 * objects, which also gave the collector two objects per blob to trace.
 */
export class MasterIndex {
  readonly packs = new Map<string, number>();
  readonly files: string[] = [];
  private count = 0;
  private ids = Buffer.alloc(0);
  private packOf = new Uint32Array(0);
  // Numbers as an index file states them (a damaged one is caught when the blob is read).
  private offsets = new Float64Array(0);
  private lengths = new Float64Array(0);
  private rawLengths = new Float64Array(0);
  private types = new Uint8Array(0);
  /** Entry number + 1 per slot (0: empty); its size is a power of two, at least twice the entries. */
  private table = new Uint32Array(0);
  private readonly packNames: string[] = [];
  private readonly packNumbers = new Map<string, number>();
  private readonly probe = Buffer.alloc(32);

  get size(): number {
    return this.count;
  }

  has(id: string): boolean {
    return this.find(id) >= 0;
  }

  get(id: string): BlobLocation | undefined {
    const e = this.find(id);
    return e < 0 ? undefined : this.location(e);
  }

  *entries(): IterableIterator<[string, BlobLocation]> {
    for (let e = 0; e < this.count; e++) yield [this.ids.toString('hex', e * 32, e * 32 + 32), this.location(e)];
  }

  addPack(packId: string, size: number, entries: PackEntry[]): void {
    this.packs.set(packId, size);
    for (const e of entries) this.add(e.id, packId, e.type === 'tree' ? 1 : 0, e.offset, e.length, e.rawLength);
  }

  /** Adds a blob unless known: a blob stored twice keeps its first location (either is valid). */
  private add(id: Uint8Array, pack: string, type: 0 | 1, offset: number, length: number, rawLength: number): void {
    if (id.length !== 32) throw new Error(`blob id of ${id.length} bytes`);
    if (2 * (this.count + 1) > this.table.length) this.grow();
    const slot = this.slotOf(id);
    if (this.table[slot] !== 0) return;
    const e = this.count++;
    this.ids.set(id, e * 32);
    let p = this.packNumbers.get(pack);
    if (p === undefined) {
      p = this.packNames.push(pack) - 1;
      this.packNumbers.set(pack, p);
    }
    this.packOf[e] = p;
    this.offsets[e] = offset;
    this.lengths[e] = length;
    this.rawLengths[e] = rawLength;
    this.types[e] = type;
    this.table[slot] = e + 1;
  }

  private find(id: string): number {
    if (this.count === 0 || id.length !== 64 || this.probe.write(id, 'hex') !== 32) return -1;
    return this.table[this.slotOf(this.probe)]! - 1;
  }

  /** The slot holding `id`, or the empty slot where it would go. */
  private slotOf(id: Uint8Array): number {
    const mask = this.table.length - 1;
    for (let slot = (id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24)) & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot]!;
      if (e === 0 || this.ids.compare(id, 0, 32, (e - 1) * 32, e * 32) === 0) return slot;
    }
  }

  private location(e: number): BlobLocation {
    return { pack: this.packNames[this.packOf[e]!]!, type: this.types[e] === 1 ? 'tree' : 'data', offset: this.offsets[e]!, length: this.lengths[e]!, rawLength: this.rawLengths[e]! };
  }

  /** Doubles the room for entries and rebuilds the table. */
  private grow(): void {
    const room = Math.max(1024, this.table.length);
    const widen = <T extends Uint8Array | Uint32Array | Float64Array>(a: T, make: (n: number) => T, per = 1): T => {
      const b = make(room * per);
      b.set(a.subarray(0, this.count * per));
      return b;
    };
    this.ids = widen(this.ids, (n) => Buffer.alloc(n), 32);
    this.packOf = widen(this.packOf, (n) => new Uint32Array(n));
    this.offsets = widen(this.offsets, (n) => new Float64Array(n));
    this.lengths = widen(this.lengths, (n) => new Float64Array(n));
    this.rawLengths = widen(this.rawLengths, (n) => new Float64Array(n));
    this.types = widen(this.types, (n) => new Uint8Array(n));
    this.table = new Uint32Array(room * 2);
    for (let e = 0; e < this.count; e++) this.table[this.slotOf(this.ids.subarray(e * 32, e * 32 + 32))] = e + 1;
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
          // add() copies the id, so the probe buffer serves every blob of every index file.
          if (!ID_RE.test(id)) continue;
          idx.probe.write(id, 'hex');
          idx.add(idx.probe, p.id, t === 1 ? 1 : 0, offset, length, rawLength);
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
