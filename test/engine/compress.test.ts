/**
 * Blob compression writes into one buffer per thread that the next compression reuses. The
 * bytes must be those of zstd's one-shot compression at the same level, and every consumer
 * (sealing, framing) must have taken its copy before the buffer is reused.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/core/random.js';
import { frame, frameParts, unframe, ZSTD, STORED } from '../../src/repo/blob/compress.js';
import { newMasterKey, open, sealParts } from '../../src/repo/crypto/crypto.js';

const zstdLib = createRequire(import.meta.url)('zstd-napi') as {
  compress(b: Uint8Array, level: number): Buffer;
  Compressor: new () => { setParameters(p: { compressionLevel: number; windowLog: number }): void; compress(b: Uint8Array): Buffer };
};

/** Text-like bytes: compressible, and different for each seed. */
function text(size: number, seed: number): Buffer {
  const rnd = seededRandom(seed);
  const words = ['backup', 'restore', 'snapshot', 'target', 'policy', 'blob', 'pack', 'index'];
  let s = '';
  while (s.length < size) s += `${words[rnd.int(words.length)]}${rnd.int(1000)} `;
  return Buffer.from(s.slice(0, size));
}

describe('compression into a reused buffer', () => {
  it('gives the bytes of zstd level 3 for a large chunk', () => {
    const data = text(3 * 1024 * 1024, 1);
    const [method, body] = frameParts(data, 'auto');
    expect(method[0]).toBe(ZSTD);
    expect(body.length).toBeLessThan(data.length / 2);
    expect(Buffer.compare(Buffer.from(body), zstdLib.compress(data, 3))).toBe(0);
  });

  it('compresses inputs up to 128 KiB at level 4 (their 128 KiB window), smaller than level 3 does', () => {
    // Source text, the inputs this level is for: a fixed sample (120 KiB of triad's own sources
    // as of one commit), so the comparison does not move with every edit of the sources.
    const data = readFileSync(new URL('../../fixtures/compress-sample.ts.txt', import.meta.url));
    const at = (compressionLevel: number) => {
      const c = new zstdLib.Compressor();
      c.setParameters({ compressionLevel, windowLog: 17 });
      return c.compress(data);
    };
    const [method, body] = frameParts(data, 'auto');
    expect(method[0]).toBe(ZSTD);
    expect(Buffer.compare(Buffer.from(body), at(4))).toBe(0);
    expect(body.length).toBeLessThan(at(3).length);
    expect(unframe(frame(data, 'auto')).equals(data)).toBe(true);
  });

  it("compresses harder with 'max': smaller than level 3, and decodes to the input", () => {
    for (const size of [3 * 1024 * 1024, 100 * 1024]) {
      const data = text(size, 6);
      const auto = Buffer.from(frameParts(data, 'auto')[1]);
      const [method, max] = frameParts(data, 'max');
      expect(method[0]).toBe(ZSTD);
      expect(max.length).toBeLessThan(auto.length);
      expect(unframe(frame(data, 'max')).equals(data)).toBe(true);
    }
  });

  it('keeps each sealed blob intact when the next one is compressed into the same buffer', () => {
    const key = newMasterKey();
    const aad = Buffer.from('test');
    // Small and large inputs use different compression contexts but the same output buffer.
    const inputs = [text(200 * 1024, 2), text(5000, 3), text(2 * 1024 * 1024, 4), text(300, 5)];
    const sealed = inputs.map((d) => sealParts(key.encrypt, frameParts(d, 'auto'), aad));
    const framed = inputs.map((d) => frame(d, 'auto'));
    inputs.forEach((d, i) => {
      expect(unframe(open(key.encrypt, sealed[i]!, aad)).equals(d)).toBe(true);
      expect(framed[i]![0]).toBe(ZSTD);
      expect(unframe(framed[i]!).equals(d)).toBe(true);
    });
  });

  it('stores incompressible data as is', () => {
    const rnd = seededRandom(6);
    const data = Buffer.from(Array.from({ length: 256 * 1024 }, () => rnd.int(256)));
    const [method, body] = frameParts(data, 'auto');
    expect(method[0]).toBe(STORED);
    expect(body).toBe(data);
  });
});
