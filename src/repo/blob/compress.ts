import { createRequire } from 'node:module';
import { IntegrityFailure } from '../crypto/index.js';

/**
 * Blob payload framing before encryption: 1 byte of method, then the payload.
 * 0 = stored, 1 = zstd. Incompressible data is stored as is.
 */
export const STORED = 0;
export const ZSTD = 1;

const require = createRequire(import.meta.url);

/**
 * zstd levels for inputs up to SMALL_INPUT and for larger ones. `auto`: 4 for small inputs
 * (source files, mostly), 3 for larger ones: level 4 made the repository slightly smaller for
 * little more CPU, while larger inputs gained almost nothing from it and lost speed. `max`:
 * 12, past which the sizes stop shrinking much for the time spent (bench/RESULTS.md,
 * "zstd levels").
 */
const LEVELS = { auto: { small: 4, large: 3 }, max: { small: 12, large: 12 } } as const;
/** looksCompressible's samples: level 3, as the rule in docs/FORMAT.md was measured with. */
const SAMPLE_LEVEL = 3;

/**
 * Inputs up to this size are compressed with a window of this size. zstd otherwise sets up
 * its tables for the level's 2 MiB window on every call, which on a small file costs more
 * than compressing it; the smaller window compresses source files much faster, to
 * byte-for-byte the same size, as it still covers the whole input
 * (bench/RESULTS.md, "zstd window for small inputs").
 */
const SMALL_INPUT = 128 * 1024;
const SMALL_WINDOW_LOG = 17;

interface Binding {
  CCtx: new () => { setParameter(param: number, value: number): void; compress2(dst: Uint8Array, src: Uint8Array): number };
  CParameter: { compressionLevel: number; windowLog: number };
  compressBound(size: number): number;
  DCtx: new () => { decompress(dst: Uint8Array, src: Uint8Array): number };
  getFrameContentSize(frame: Uint8Array): number | null;
}

type Compressor = (data: Uint8Array) => Buffer;
let zstd: { compress: Record<keyof typeof LEVELS | 'sample', Compressor>; decompress: (d: Uint8Array) => Buffer } | undefined;

function lib() {
  if (!zstd) {
    const b = require('zstd-napi/binding') as Binding;
    // Compressed into one buffer per thread: a new buffer of up to 8 MiB per chunk, then a
    // trimmed copy of it, cost a first backup noticeable CPU (bench/RESULTS.md, "Compression
    // buffer").
    let out = Buffer.alloc(0);
    const compressor = (levels: { small: number; large: number }): Compressor => {
      const context = (level: number, windowLog?: number) => {
        const c = new b.CCtx();
        c.setParameter(b.CParameter.compressionLevel, level);
        if (windowLog) c.setParameter(b.CParameter.windowLog, windowLog);
        return c;
      };
      const large = context(levels.large);
      const small = context(levels.small, SMALL_WINDOW_LOG);
      return (data) => {
        const bound = b.compressBound(data.length);
        if (out.length < bound) out = Buffer.allocUnsafeSlow(Math.max(bound, 1024 * 1024));
        return out.subarray(0, (data.length <= SMALL_INPUT ? small : large).compress2(out, data));
      };
    };
    const m = require('zstd-napi') as { Decompressor: new () => { decompress(b: Uint8Array): Buffer } };
    const d = new m.Decompressor();
    const sample = { small: SAMPLE_LEVEL, large: SAMPLE_LEVEL };
    zstd = { compress: { auto: compressor(LEVELS.auto), max: compressor(LEVELS.max), sample: compressor(sample) }, decompress: (data) => d.decompress(data) };
  }
  return zstd;
}

export type CompressionMode = 'auto' | 'off' | 'max';

const METHOD_STORED = Buffer.of(STORED);
const METHOD_ZSTD = Buffer.of(ZSTD);

/**
 * The framed payload as two parts (method byte, data), so sealing needs no copy to join them.
 * A compressed part lives in a buffer the thread's next compression reuses: seal or copy it
 * before compressing anything else.
 */
export function frameParts(data: Uint8Array, mode: CompressionMode): [Buffer, Uint8Array] {
  if (mode !== 'off' && data.length >= 64 && looksCompressible(data)) {
    const z = lib().compress[mode](data);
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

/**
 * Unframes payloads into one buffer it reuses, so a thread decoding a stream of blobs makes
 * no garbage the size of their content (garbage that waits for a collection and counts as
 * RSS meanwhile). A result is valid only until the next call.
 */
export class ReusingUnframer {
  private scratch = Buffer.alloc(0);
  private readonly binding = require('zstd-napi/binding') as Binding;
  private readonly dctx = new this.binding.DCtx();

  /** `into`: where the caller would like a compressed payload of `size` bytes decompressed, if it has room. */
  unframe(framed: Uint8Array, into?: (size: number) => Buffer | undefined): Buffer {
    if (framed[0] !== ZSTD) return unframe(framed);
    const body = framed.subarray(1);
    const size = decompressing(() => this.binding.getFrameContentSize(body));
    if (size === null || size > MAX_REUSED) return unframe(framed);
    let out = into?.(size);
    if (!out || out.length < size) {
      if (this.scratch.length < size) this.scratch = Buffer.allocUnsafeSlow(Math.max(size, 1024 * 1024));
      out = this.scratch;
    }
    const n = decompressing(() => this.dctx.decompress(out, body));
    if (n !== size) throw new IntegrityFailure(`zstd frame says ${size} bytes, decompressed to ${n}`);
    return out.subarray(0, n);
  }
}

export function unframe(framed: Uint8Array): Buffer {
  if (framed.length === 0) throw new IntegrityFailure('empty payload (no compression method byte)');
  const method = framed[0];
  const body = Buffer.from(framed.buffer, framed.byteOffset + 1, framed.length - 1);
  if (method === STORED) return body;
  if (method === ZSTD) return decompressing(() => lib().decompress(body));
  throw new IntegrityFailure(`unknown compression method ${method}`);
}

/** Runs a zstd decompression; a frame zstd refuses is damage, not a crash. */
function decompressing<T>(run: () => T): T {
  try {
    return run();
  } catch (err) {
    throw new IntegrityFailure(`compressed payload cannot be decompressed: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Cheap test on samples so random or already-compressed data (media, archives) skips the
 * compressor. Four 16 KiB samples spread over the chunk: a chunk can start in random bytes
 * and go on in text, and one sample at the start stored such chunks uncompressed
 * (bench/RESULTS.md, "Compressibility samples").
 */
const SAMPLES = 4;
const SAMPLE = 16 * 1024;

function looksCompressible(data: Uint8Array): boolean {
  if (data.length <= 128 * 1024) return true;
  for (let k = 0; k < SAMPLES; k++) {
    const start = Math.floor(((data.length - SAMPLE) * k) / (SAMPLES - 1));
    if (lib().compress.sample(data.subarray(start, start + SAMPLE)).length < SAMPLE * 0.95) return true;
  }
  return false;
}
