import { createHash } from 'node:crypto';
import { open, seal, IntegrityFailure } from '../crypto/index.js';
import { AAD, BLOB_TYPE_CODE, BLOB_TYPE_NAME, type BlobType } from '../format.js';
import { MemoryPool } from '../../core/memory-pool.js';

/**
 * Pack layout: sealedBlob_1 || … || sealedBlob_n || sealedHeader || uint32le(len(sealedHeader)).
 * The header sits at the end so a pack can be written as a stream; each header entry is
 * type(1) id(32) length(4) rawLength(4), offsets follow from the order.
 */
export interface PackEntry {
  type: BlobType;
  id: Buffer;
  offset: number;
  length: number;
  rawLength: number;
}

const ENTRY_SIZE = 1 + 32 + 4 + 4;

/**
 * Builds a pack in memory taken from a MemoryPool: each sealed blob is copied in as it is
 * added (so the buffer it came in can be reused at once), and the caller hands the memory
 * back once the pack is stored.
 */
export class PackBuilder {
  private mem: Buffer = Buffer.alloc(0);
  private entries: PackEntry[] = [];
  private size = 0;

  constructor(private readonly memory = new MemoryPool(0)) {}

  get length(): number {
    return this.size;
  }

  get count(): number {
    return this.entries.length;
  }

  add(type: BlobType, id: Buffer, sealed: Uint8Array, rawLength: number): void {
    this.entries.push({ type, id, offset: this.size, length: sealed.length, rawLength });
    this.room(sealed.length).set(sealed);
    this.size += sealed.length;
  }

  /**
   * Closes the pack: returns its bytes, its id (sha256 of the bytes) and its entries. The
   * bytes live in memory of the builder's MemoryPool: hand `bytes.buffer` back when stored.
   */
  finish(encKey: Buffer): { id: string; bytes: Buffer; entries: PackEntry[] } {
    const header = Buffer.alloc(this.entries.length * ENTRY_SIZE);
    this.entries.forEach((e, i) => {
      const o = i * ENTRY_SIZE;
      header[o] = BLOB_TYPE_CODE[e.type];
      e.id.copy(header, o + 1);
      header.writeUInt32LE(e.length, o + 33);
      header.writeUInt32LE(e.rawLength, o + 37);
    });
    const sealedHeader = seal(encKey, header, AAD.packHeader);
    this.room(sealedHeader.length + 4);
    sealedHeader.copy(this.mem, this.size);
    this.mem.writeUInt32LE(sealedHeader.length, this.size + sealedHeader.length);
    const bytes = this.mem.subarray(0, this.size + sealedHeader.length + 4);
    const entries = this.entries;
    this.mem = Buffer.alloc(0);
    this.entries = [];
    this.size = 0;
    return { id: createHash('sha256').update(bytes).digest('hex'), bytes, entries };
  }

  /** The next `n` bytes of the pack's memory, grown (by at least 4 MiB) if needed. */
  private room(n: number): Buffer {
    if (this.size + n > this.mem.length) {
      const grown = this.memory.take(Math.max(this.size + n, this.mem.length + 4 * 1024 * 1024));
      this.mem.copy(grown, 0, 0, this.size);
      if (this.mem.length) this.memory.giveBack(this.mem.buffer);
      this.mem = grown;
    }
    return this.mem.subarray(this.size, this.size + n);
  }
}

/** Reads the header of a whole pack (or of its tail, given the full pack size). */
export function parsePackHeader(encKey: Buffer, tail: Buffer, packSize: number): PackEntry[] {
  if (tail.length < 4) throw new IntegrityFailure('pack too short (truncated)');
  const hlen = tail.readUInt32LE(tail.length - 4);
  if (hlen + 4 > tail.length || hlen + 4 > packSize) throw new IntegrityFailure('pack header length out of range (truncated pack)');
  const header = open(encKey, tail.subarray(tail.length - 4 - hlen, tail.length - 4), AAD.packHeader);
  if (header.length % ENTRY_SIZE !== 0) throw new IntegrityFailure('pack header has a partial entry');
  const entries: PackEntry[] = [];
  let offset = 0;
  for (let o = 0; o < header.length; o += ENTRY_SIZE) {
    const type = BLOB_TYPE_NAME[header[o]!];
    if (!type) throw new IntegrityFailure(`unknown blob type ${header[o]}`);
    const length = header.readUInt32LE(o + 33);
    entries.push({ type, id: Buffer.from(header.subarray(o + 1, o + 33)), offset, length, rawLength: header.readUInt32LE(o + 37) });
    offset += length;
  }
  if (offset + hlen + 4 !== packSize) throw new IntegrityFailure('pack size does not match its header');
  return entries;
}

/** How many tail bytes to fetch to read a header in one request (most headers are small). */
export const HEADER_PROBE = 64 * 1024;
