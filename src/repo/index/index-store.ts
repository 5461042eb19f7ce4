import { isObjectDamage, type Repository } from '../repository.js';
import { isNotFound } from '../../backends/storage.js';
import { AAD, ID_RE, packObjectName, type BlobType } from '../format.js';
import type { PackEntry } from '../blob/index.js';
import { IntegrityFailure } from '../crypto/index.js';

/** An index file that exists but cannot be used (undecryptable, malformed, not a regular object). */
export interface DamagedIndexFile {
  /** Object name, `index/<id>`. */
  name: string;
  reason: string;
}

/** Where a blob lives. `pack` strings are shared between entries to keep memory small. */
export interface BlobLocation {
  pack: string;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

/** An index entry as the file stores it: [tree?, blob id, offset, length, raw length]. */
export type RawEntry = [0 | 1, string, number, number, number];

/** An index file's plaintext (docs/FORMAT.md §9). */
export interface IndexFileJson {
  version: 1;
  packs: { id: string; size: number; blobs: RawEntry[] }[];
}

/**
 * An index file's plaintext, checked: the shape of docs/FORMAT.md §9, whole non-negative
 * numbers, and every blob inside its pack's stated size, so no reader trusts a length or an
 * offset the file cannot back. Throws IntegrityFailure (E_INTEGRITY) naming what is wrong.
 */
export function decodeIndexFile(value: unknown): IndexFileJson {
  if (!isRecord(value) || value.version !== 1 || !Array.isArray(value.packs)) throw new IntegrityFailure('not an index file (no version 1 pack list)');
  for (const p of value.packs as unknown[]) {
    if (!isRecord(p) || typeof p.id !== 'string' || !ID_RE.test(p.id) || !isCount(p.size) || !Array.isArray(p.blobs)) throw new IntegrityFailure('a pack entry lacks its id, size or blob list');
    for (const b of p.blobs as unknown[]) {
      if (!isRawEntry(b) || b[2] + b[3] > p.size) throw new IntegrityFailure(`a blob entry of pack ${p.id.slice(0, 12)} is malformed or lies outside the pack`);
    }
  }
  return value as unknown as IndexFileJson;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}

function isRawEntry(b: unknown): b is RawEntry {
  return Array.isArray(b) && b.length === 5 && (b[0] === 0 || b[0] === 1) && typeof b[1] === 'string' && ID_RE.test(b[1]) && isU32(b[2]) && isU32(b[3]) && isU32(b[4]);
}

/** Offsets and lengths inside a pack fit 32 bits (packs are a few MiB): the master index keeps them so. */
function isU32(v: unknown): v is number {
  return isCount(v) && v <= 0xffff_ffff;
}

/** Loads, opens and checks one index file; any damage is an E_INTEGRITY error naming it. */
export async function loadIndexFile(repo: Repository, name: string): Promise<IndexFileJson> {
  return repo.decodeObject(AAD.index, await repo.storage.load(name), name, decodeIndexFile);
}

/** Entries per segment of the index's arrays (2^16): the arrays grow a segment at a time. */
const SEGMENT_BITS = 16;
const SEGMENT = 1 << SEGMENT_BITS;
const IN_SEGMENT = SEGMENT - 1;

/** A fixed-size slice of the index's entries: ids and locations in typed arrays. */
class Segment {
  readonly ids = Buffer.alloc(SEGMENT * 32);
  readonly packOf = new Uint32Array(SEGMENT);
  // Offsets and lengths inside a pack: decodeIndexFile refuses any that does not fit 32 bits.
  readonly offsets = new Uint32Array(SEGMENT);
  readonly lengths = new Uint32Array(SEGMENT);
  readonly rawLengths = new Uint32Array(SEGMENT);
  readonly types = new Uint8Array(SEGMENT);
}

/**
 * The union of a replica's index files, in memory: blob id → location. Ids and locations sit
 * in typed arrays under an open-addressing table keyed by the id's first bytes (ids are keyed
 * hashes, so evenly spread): 57 to 65 bytes per blob, against 190 for a Map of hex strings to
 * objects, which also gave the collector two objects per blob to trace. The arrays come in
 * segments of 65,536 entries, so growing never copies them (a doubling array held room for
 * twice the entries, and three times as much during its copy); only the table is rebuilt.
 */
export class MasterIndex {
  readonly packs = new Map<string, number>();
  readonly files: string[] = [];
  private count = 0;
  private readonly segments: Segment[] = [];
  /**
   * Entry number + 1 per slot (0: empty); its size is a power of two, at most three quarters
   * full (half full, a repository just past 2^20 blobs took 16 MiB here instead of 8). A probe
   * compares the id's first four bytes before the whole id, so the longer runs cost little.
   */
  private table = new Uint32Array(0);
  private readonly packNames: string[] = [];
  private readonly packNumbers = new Map<string, number>();
  /** Numbers in `files` of the index files naming each pack (loaded packs only). */
  private readonly filesOfPack = new Map<string, number[]>();
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
    for (let e = 0; e < this.count; e++) {
      const at = (e & IN_SEGMENT) * 32;
      yield [this.segmentOf(e).ids.toString('hex', at, at + 32), this.location(e)];
    }
  }

  addPack(packId: string, size: number, entries: PackEntry[]): void {
    this.packs.set(packId, size);
    for (const e of entries) this.add(e.id, packId, e.type === 'tree' ? 1 : 0, e.offset, e.length, e.rawLength);
  }

  /**
   * Forgets the packs given and every blob located in them, so these blobs count as not
   * stored. A blob another pack also holds is forgotten too (the index keeps one location).
   */
  dropPacks(gone: ReadonlySet<string>): void {
    const numbers = new Set<number>();
    for (const id of gone) {
      const p = this.packNumbers.get(id);
      if (p !== undefined) numbers.add(p);
      this.packs.delete(id);
    }
    let kept = 0;
    for (let e = 0; e < this.count; e++) {
      if (numbers.has(this.segmentOf(e).packOf[e & IN_SEGMENT]!)) continue;
      if (kept !== e) this.moveEntry(e, kept);
      kept++;
    }
    this.count = kept;
    this.segments.length = Math.ceil(kept / SEGMENT);
    this.rebuildTable(this.table.length);
  }

  /** The index files (loaded ones) that name any of `packs`. */
  filesNaming(packs: Iterable<string>): string[] {
    const numbers = new Set<number>();
    for (const p of packs) for (const f of this.filesOfPack.get(p) ?? []) numbers.add(f);
    return [...numbers].sort((a, b) => a - b).map((f) => this.files[f]!);
  }

  private segmentOf(e: number): Segment {
    return this.segments[e >>> SEGMENT_BITS]!;
  }

  private moveEntry(from: number, to: number): void {
    const a = this.segmentOf(from);
    const b = this.segmentOf(to);
    const i = from & IN_SEGMENT;
    const j = to & IN_SEGMENT;
    a.ids.copy(b.ids, j * 32, i * 32, i * 32 + 32);
    b.packOf[j] = a.packOf[i]!;
    b.offsets[j] = a.offsets[i]!;
    b.lengths[j] = a.lengths[i]!;
    b.rawLengths[j] = a.rawLengths[i]!;
    b.types[j] = a.types[i]!;
  }

  /** Adds a blob unless known: a blob stored twice keeps its first location (either is valid). */
  private add(id: Uint8Array, pack: string, type: 0 | 1, offset: number, length: number, rawLength: number): void {
    if (id.length !== 32) throw new Error(`blob id of ${id.length} bytes`);
    if (4 * (this.count + 1) > 3 * this.table.length) this.rebuildTable(Math.max(2048, this.table.length * 2));
    const slot = this.slotOf(id);
    if (this.table[slot] !== 0) return;
    const e = this.count++;
    if (e >>> SEGMENT_BITS === this.segments.length) this.segments.push(new Segment());
    const seg = this.segmentOf(e);
    const i = e & IN_SEGMENT;
    seg.ids.set(id, i * 32);
    let p = this.packNumbers.get(pack);
    if (p === undefined) {
      p = this.packNames.push(pack) - 1;
      this.packNumbers.set(pack, p);
    }
    seg.packOf[i] = p;
    seg.offsets[i] = offset;
    seg.lengths[i] = length;
    seg.rawLengths[i] = rawLength;
    seg.types[i] = type;
    this.table[slot] = e + 1;
  }

  private find(id: string): number {
    if (this.count === 0 || id.length !== 64 || this.probe.write(id, 'hex') !== 32) return -1;
    return this.table[this.slotOf(this.probe)]! - 1;
  }

  /** The slot holding `id`, or the empty slot where it would go. */
  private slotOf(id: Uint8Array): number {
    const mask = this.table.length - 1;
    const head = id[0]! | (id[1]! << 8) | (id[2]! << 16) | (id[3]! << 24);
    for (let slot = head & mask; ; slot = (slot + 1) & mask) {
      const e = this.table[slot]!;
      if (e === 0) return slot;
      const at = ((e - 1) & IN_SEGMENT) * 32;
      const ids = this.segmentOf(e - 1).ids;
      if ((ids[at]! | (ids[at + 1]! << 8) | (ids[at + 2]! << 16) | (ids[at + 3]! << 24)) !== head) continue;
      if (ids.compare(id, 0, 32, at, at + 32) === 0) return slot;
    }
  }

  private location(e: number): BlobLocation {
    const seg = this.segmentOf(e);
    const i = e & IN_SEGMENT;
    return { pack: this.packNames[seg.packOf[i]!]!, type: seg.types[i] === 1 ? 'tree' : 'data', offset: seg.offsets[i]!, length: seg.lengths[i]!, rawLength: seg.rawLengths[i]! };
  }

  /** Replaces the table by one of `slots` slots (a power of two) holding every entry. */
  private rebuildTable(slots: number): void {
    this.table = new Uint32Array(slots);
    for (let e = 0; e < this.count; e++) {
      const at = (e & IN_SEGMENT) * 32;
      this.table[this.slotOf(this.segmentOf(e).ids.subarray(at, at + 32))] = e + 1;
    }
  }

  /**
   * Loads every index file. A damaged one throws unless `onDamaged` is given: then it is
   * reported there and left out (its packs are then in no index; see loadIndexRoutingAround).
   * A file that vanishes between the listing and its load was replaced by a compaction (prune,
   * repair index), which writes its new files before removing the old: `index/` is listed
   * again and the files not seen yet are loaded.
   */
  static async load(repo: Repository, opts: { onDamaged?(f: DamagedIndexFile): void } = {}): Promise<MasterIndex> {
    const idx = new MasterIndex();
    const onDamaged = opts.onDamaged ? (f: DamagedIndexFile) => opts.onDamaged?.(f) : undefined;
    const seen = new Set<string>();
    for (let pass = 0; ; pass++) {
      const names: string[] = [];
      for await (const o of repo.storage.list('index/')) if (!seen.has(o.name)) names.push(o.name);
      let vanished = false;
      for (const name of names.sort()) {
        seen.add(name);
        const file = await idx.loadFile(repo, name, onDamaged);
        if (file === 'vanished') vanished = true;
      }
      if (!vanished || pass >= MAX_INDEX_RELISTS) return idx;
    }
  }

  /** Loads one index file into the index; 'vanished' when it no longer exists. */
  private async loadFile(repo: Repository, name: string, onDamaged?: (f: DamagedIndexFile) => void): Promise<'loaded' | 'vanished' | 'damaged'> {
    let file: IndexFileJson;
    try {
      file = await loadIndexFile(repo, name);
    } catch (err) {
      if (isNotFound(err)) return 'vanished';
      if (!onDamaged || !isObjectDamage(err)) throw err;
      onDamaged({ name, reason: err instanceof Error ? err.message : String(err) });
      return 'damaged';
    }
    const fileNo = this.files.push(name) - 1;
    for (const p of file.packs) {
      this.packs.set(p.id, p.size);
      const naming = this.filesOfPack.get(p.id);
      if (naming) naming.push(fileNo);
      else this.filesOfPack.set(p.id, [fileNo]);
      for (const [t, id, offset, length, rawLength] of p.blobs) {
        // add() copies the id, so the probe buffer serves every blob of every index file.
        this.probe.write(id, 'hex');
        this.add(this.probe, p.id, t === 1 ? 1 : 0, offset, length, rawLength);
      }
    }
    return 'loaded';
  }
}

/** Listings of index/ after files vanished under a load, before the index is taken as it is. */
const MAX_INDEX_RELISTS = 3;

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

export interface StoredPack {
  id: string;
  size: number;
}

/** The pack objects under `data/` with their sizes: one listing (other objects there are ignored). */
export async function listPacks(repo: Repository, signal?: AbortSignal): Promise<StoredPack[]> {
  const stored: StoredPack[] = [];
  for await (const o of repo.storage.list('data/', { signal })) {
    const id = o.name.slice(o.name.lastIndexOf('/') + 1);
    if (ID_RE.test(id) && o.name === packObjectName(id)) stored.push({ id, size: o.size });
  }
  return stored;
}

export interface AbsentPack {
  pack: string;
  /** Size the index records. */
  indexed: number;
  /** Size of the object found; undefined when there is none. */
  stored?: number;
}

/** Packs the index names that the listing lacks or shows at another size (lost or truncated). */
export function absentPacks(index: MasterIndex, stored: readonly StoredPack[]): AbsentPack[] {
  const sizes = new Map(stored.map((p) => [p.id, p.size]));
  const absent: AbsentPack[] = [];
  for (const [pack, indexed] of index.packs) {
    const size = sizes.get(pack);
    if (size !== indexed) absent.push({ pack, indexed, ...(size !== undefined ? { stored: size } : {}) });
  }
  return absent;
}

/** Seals and stores one index file under the hash of its bytes; its object name and size. */
export async function saveIndexFile(repo: Repository, file: IndexFileJson): Promise<{ name: string; bytes: number }> {
  const { sealed } = repo.sealObject(AAD.index, file);
  return { name: `index/${await repo.saveHashed('index', sealed)}`, bytes: sealed.length };
}

/**
 * Replaces each index file naming one of `packs` with one naming only its other packs, so
 * the index no longer points at them (a blob stored again elsewhere is then read from
 * there). The replacement is written before the old file is removed: every other pack stays
 * indexed throughout, and a crash in between leaves only the same packs named twice.
 */
export async function unindexPacks(repo: Repository, index: MasterIndex, packs: ReadonlySet<string>, signal?: AbortSignal): Promise<{ written: string[]; removed: string[] }> {
  const done = { written: [] as string[], removed: [] as string[] };
  for (const name of index.filesNaming(packs)) {
    const file = await loadIndexFile(repo, name);
    const rest = file.packs.filter((p) => !packs.has(p.id));
    if (rest.length > 0) {
      done.written.push((await saveIndexFile(repo, { version: 1, packs: rest })).name);
    }
    await repo.storage.remove(name, { signal });
    done.removed.push(name);
  }
  return done;
}
