import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chunkBuffer, makeGear, type Gear } from '../../src/repo/blob/index.js';

/** The cut points of docs/FORMAT.md §7.3, byte by byte: what every chunk boundary must match. */
function referenceCuts(gear: Gear, data: Uint8Array): number[] {
  const { min, avg, max } = gear.params;
  const lengths: number[] = [];
  for (let pos = 0; pos < data.length; ) {
    const rem = data.length - pos;
    let len = rem <= min ? rem : Math.min(rem, max);
    if (rem > min) {
      let h = 0;
      for (let i = min; i < Math.min(rem, max); i++) {
        h = ((h << 1) + gear.table[data[pos + i]!]!) | 0;
        if ((h & (i < avg ? gear.maskS : gear.maskL)) === 0) {
          len = i + 1;
          break;
        }
      }
    }
    lengths.push(len);
    pos += len;
  }
  return lengths;
}

describe('chunking runs of zeros (holes of sparse files)', () => {
  const gear = makeGear(randomBytes(32), { min: 4096, avg: 8192, max: 32768 });

  it('cuts where the byte-by-byte definition cuts, with data before, inside and after long zero runs', () => {
    const data = new Uint8Array(1024 * 1024);
    // Data islands of random lengths at random places; the rest zeros, so windows start at every alignment.
    for (let i = 0; i < 12; i++) {
      const at = Math.floor(Math.random() * data.length);
      data.set(randomBytes(Math.min(1 + Math.floor(Math.random() * 6000), data.length - at)), at);
    }
    const got = [...chunkBuffer(gear, data)].map((c) => c.length);
    expect(got).toEqual(referenceCuts(gear, data));
  });

  it('cuts a long run of zeros into equal chunks (which then dedupe to one blob)', () => {
    const data = new Uint8Array(40 * 32768);
    const lengths = [...chunkBuffer(gear, data)].map((c) => c.length);
    expect(lengths).toEqual(referenceCuts(gear, data));
    expect(new Set(lengths.slice(0, -1)).size).toBe(1);
  });
});
