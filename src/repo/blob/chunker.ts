import { createHmac } from 'node:crypto';
import { isAllZero } from '../../core/zeros.js';

/**
 * Content-defined chunking (FastCDC with normalised chunking, gear rolling hash).
 * The gear table is derived from a per-repository secret so chunk boundaries reveal
 * nothing about the content to someone who sees only chunk sizes.
 */
export interface ChunkerParams {
  min: number;
  avg: number;
  max: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { min: 512 * 1024, avg: 1024 * 1024, max: 8 * 1024 * 1024 };

export interface Gear {
  table: Uint32Array;
  maskS: number;
  maskL: number;
  params: ChunkerParams;
  /** Where a window of `max` zero bytes is cut (found once, on first need). */
  zeroCut?: number;
}

/** Spreads `bits` one-bits over a 32-bit mask (spread masks cut more evenly than low-bit masks). */
function spreadMask(bits: number): number {
  let mask = 0;
  const step = 32 / bits;
  for (let i = 0; i < bits; i++) mask |= 1 << Math.min(31, Math.floor(i * step));
  return mask >>> 0;
}

export function makeGear(seed: Buffer, params: ChunkerParams = DEFAULT_CHUNKER): Gear {
  const table = new Uint32Array(256);
  let block = Buffer.alloc(0);
  for (let i = 0; i < 256; i++) {
    if (i % 8 === 0) block = createHmac('sha256', seed).update(`gear:${i / 8}`).digest();
    table[i] = block.readUInt32LE((i % 8) * 4);
  }
  const bits = Math.round(Math.log2(params.avg));
  return { table, maskS: spreadMask(bits + 2), maskL: spreadMask(bits - 2), params };
}

/**
 * Length of the next chunk in buf[start, end), or -1 when more data is needed to decide
 * (fewer than `max` bytes available and not at the end of the stream).
 */
export function nextCut(gear: Gear, buf: Uint8Array, start: number, end: number, eof: boolean): number {
  const { min, avg, max } = gear.params;
  const avail = end - start;
  if (avail <= min) return eof ? avail : -1;
  if (avail < max && !eof) {
    // Need max bytes before a cut can be ruled out; unless a cut appears earlier, ask for more.
    const found = scan(gear, buf, start, end, min, avg, avail);
    return found > 0 ? found : -1;
  }
  const limit = Math.min(avail, max);
  // A hole of a sparse file: the scan reads only [min, limit) of the window, so a window of
  // zeros is cut where any other is, found without hashing byte by byte.
  if (limit === max && isAllZero(buf.subarray(start + min, start + max))) return zeroCut(gear);
  const found = scan(gear, buf, start, start + limit, min, avg, limit);
  return found > 0 ? found : limit;
}

function zeroCut(gear: Gear): number {
  if (gear.zeroCut === undefined) {
    const { min, avg, max } = gear.params;
    const found = scan(gear, new Uint8Array(max), 0, max, min, avg, max);
    gear.zeroCut = found > 0 ? found : max;
  }
  return gear.zeroCut;
}

function scan(gear: Gear, buf: Uint8Array, start: number, end: number, min: number, avg: number, limit: number): number {
  const table = gear.table;
  const maskS = gear.maskS;
  const maskL = gear.maskL;
  let h = 0;
  let i = start + min;
  const normal = Math.min(start + avg, end);
  for (; i < normal; i++) {
    h = ((h << 1) + table[buf[i]!]!) | 0;
    if ((h & maskS) === 0) return i - start + 1;
  }
  const stop = Math.min(start + limit, end);
  for (; i < stop; i++) {
    h = ((h << 1) + table[buf[i]!]!) | 0;
    if ((h & maskL) === 0) return i - start + 1;
  }
  return -1;
}

/** Splits a whole in-memory buffer (used by tests and for buffers already read). */
export function* chunkBuffer(gear: Gear, buf: Uint8Array): Generator<Uint8Array> {
  let pos = 0;
  while (pos < buf.length) {
    const n = nextCut(gear, buf, pos, buf.length, true);
    yield buf.subarray(pos, pos + n);
    pos += n;
  }
}
