import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContentCheck } from '../../src/repo/content-check.js';
import { ReusingUnframer, frame, unframe } from '../../src/repo/compress.js';
import { keyedHash } from '../../src/repo/crypto.js';

const text = (n: number) => Buffer.from('the quick brown fox jumps over the lazy dog\n'.repeat(Math.ceil(n / 44)).slice(0, n));

describe('ReusingUnframer', () => {
  it('gives the same bytes as unframe for compressed and stored payloads of growing and shrinking sizes', () => {
    const u = new ReusingUnframer();
    for (const data of [text(100), text(3 * 1024 * 1024), randomBytes(70_000), text(10), text(9 * 1024 * 1024), Buffer.alloc(0)]) {
      const framed = frame(data, 'auto');
      expect(u.unframe(framed).equals(unframe(framed))).toBe(true);
      expect(u.unframe(framed).equals(data)).toBe(true);
    }
  });

  it('reuses its buffer: a result is overwritten by the next call', () => {
    const u = new ReusingUnframer();
    const a = u.unframe(frame(text(5000), 'auto'));
    const copy = Buffer.from(a);
    const b = u.unframe(frame(Buffer.alloc(5000, 0x41), 'auto'));
    expect(b.buffer).toBe(a.buffer);
    expect(a.equals(copy)).toBe(false);
  });
});

describe('ContentCheck', () => {
  const mac = randomBytes(32);
  const parts = [text(1000), text(2000)];
  const whole = keyedHash(mac, Buffer.concat(parts)).toString('hex');
  const idOf = (b: Buffer) => keyedHash(mac, b).toString('hex');

  it('accepts matching content and returns its size', () => {
    const c = new ContentCheck(mac, { blobs: 2, size: 3000, hash: whole }, 'a/b');
    for (const p of parts) c.add(idOf(p), p);
    expect(c.finish()).toBe(3000);
  });

  it('takes a one-blob file hash from its blob id, and an empty file from the keyed hash of nothing', () => {
    const one = new ContentCheck(mac, { blobs: 1, size: 1000, hash: idOf(parts[0]!) }, 'one');
    one.add(idOf(parts[0]!), parts[0]!);
    expect(one.finish()).toBe(1000);
    expect(new ContentCheck(mac, { blobs: 0, size: 0, hash: idOf(Buffer.alloc(0)) }, 'empty').finish()).toBe(0);
    expect(() => new ContentCheck(mac, { blobs: 0, size: 0, hash: whole }, 'empty').finish()).toThrow(/content hash mismatch for empty/);
  });

  it('names the file on a size, blob count or hash mismatch', () => {
    const short = new ContentCheck(mac, { blobs: 2, size: 3001, hash: whole }, 'x/size');
    for (const p of parts) short.add(idOf(p), p);
    expect(() => short.finish()).toThrow(/size mismatch for x\/size: restored 3000 bytes, snapshot says 3001/);

    const swapped = new ContentCheck(mac, { blobs: 2, size: 3000, hash: whole }, 'x/order');
    for (const p of [...parts].reverse()) swapped.add(idOf(p), p);
    expect(() => swapped.finish()).toThrow(/content hash mismatch for x\/order/);

    const fewer = new ContentCheck(mac, { blobs: 3, size: 3000, hash: whole }, 'x/count');
    for (const p of parts) fewer.add(idOf(p), p);
    expect(() => fewer.finish()).toThrow(/blob count mismatch for x\/count/);
  });
});
