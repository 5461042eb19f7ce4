import { createRequire } from 'node:module';

/**
 * Blob payload framing before encryption: 1 byte of method, then the payload.
 * 0 = stored, 1 = zstd. Incompressible data is stored as is.
 */
export const STORED = 0;
export const ZSTD = 1;

const require = createRequire(import.meta.url);

let zstd: { compress: (d: Uint8Array) => Buffer; decompress: (d: Uint8Array) => Buffer } | undefined;
let level = 3;

/**
 * Inputs up to this size are compressed with a window of this size. zstd otherwise sets up
 * its tables for the level's 2 MiB window on every call, which on a small file costs more
 * than compressing it: on the bench's source files 236 MB/s instead of 134 MB/s, for
 * byte-for-byte the same compressed size (the window still covers the whole input).
 */
const SMALL_INPUT = 128 * 1024;
const SMALL_WINDOW_LOG = 17;

function lib() {
  if (!zstd) {
    const m = require('zstd-napi') as { Compressor: new () => { setParameters(p: Record<string, number>): void; compress(b: Uint8Array): Buffer }; Decompressor: new () => { decompress(b: Uint8Array): Buffer } };
    const large = new m.Compressor();
    large.setParameters({ compressionLevel: level });
    const small = new m.Compressor();
    small.setParameters({ compressionLevel: level, windowLog: SMALL_WINDOW_LOG });
    const d = new m.Decompressor();
    zstd = { compress: (b) => (b.length <= SMALL_INPUT ? small : large).compress(b), decompress: (b) => d.decompress(b) };
  }
  return zstd;
}

export function setCompressionLevel(l: number): void {
  level = l;
  zstd = undefined;
}

export type CompressionMode = 'auto' | 'off' | 'max';

const METHOD_STORED = Buffer.of(STORED);
const METHOD_ZSTD = Buffer.of(ZSTD);

/** The framed payload as two parts (method byte, data), so sealing needs no copy to join them. */
export function frameParts(data: Uint8Array, mode: CompressionMode): [Buffer, Uint8Array] {
  if (mode !== 'off' && data.length >= 64 && looksCompressible(data)) {
    const z = lib().compress(data);
    // Keep compression only when it saves at least 3 %: decompressing costs time on restore.
    if (z.length < data.length * 0.97) return [METHOD_ZSTD, z];
  }
  return [METHOD_STORED, data];
}

/** Returns the framed payload (method byte + data). */
export function frame(data: Uint8Array, mode: CompressionMode): Buffer {
  return Buffer.concat(frameParts(data, mode));
}

/** Payloads up to this size are decompressed into a reused buffer (chunks are at most 8 MiB). */
const MAX_REUSED = 16 * 1024 * 1024;

interface Binding {
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  getFrameContentSize(frame: Uint8Array): number | null;
}

/**
 * Unframes payloads into one buffer it reuses, so a thread decoding a stream of blobs makes
 * no garbage the size of their content (garbage that waits for a collection and counts as
 * RSS meanwhile). A result is valid only until the next call.
 */
export class ReusingUnframer {
  private scratch = Buffer.alloc(0);
  private readonly binding = require('zstd-napi/binding') as Binding;
  private readonly dctx = new this.binding.DCtx();

  unframe(framed: Uint8Array): Buffer {
    if (framed[0] !== ZSTD) return unframe(framed);
    const body = framed.subarray(1);
    const size = this.binding.getFrameContentSize(body);
    if (size === null || size > MAX_REUSED) return unframe(framed);
    if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 1024 * 1024));
    const n = this.dctx.decompress(this.scratch, body);
    if (n !== size) throw new Error(`zstd frame says ${size} bytes, decompressed to ${n}`);
    return this.scratch.subarray(0, n);
  }
}

export function unframe(framed: Uint8Array): Buffer {
  const method = framed[0];
  const body = Buffer.from(framed.buffer, framed.byteOffset + 1, framed.length - 1);
  if (method === STORED) return body;
  if (method === ZSTD) return lib().decompress(body);
  throw new Error(`unknown compression method ${method}`);
}

/**
 * Cheap test on samples so random or already-compressed data (media, archives) skips the
 * compressor. Four 16 KiB samples spread over the chunk: a chunk can start in random bytes
 * and go on in text, and one sample at the start stored such chunks uncompressed (2.5 % of
 * the bench repository).
 */
const SAMPLES = 4;
const SAMPLE = 16 * 1024;

function looksCompressible(data: Uint8Array): boolean {
  if (data.length <= 128 * 1024) return true;
  for (let k = 0; k < SAMPLES; k++) {
    const start = Math.floor(((data.length - SAMPLE) * k) / (SAMPLES - 1));
    if (lib().compress(data.subarray(start, start + SAMPLE)).length < SAMPLE * 0.95) return true;
  }
  return false;
}
