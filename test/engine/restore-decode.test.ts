import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ContentCheck } from '../../src/repo/blob/content-check.js';
import { ReusingUnframer, frame, frameParts, unframe } from '../../src/repo/blob/compress.js';
import { IntegrityFailure, ReusingOpener, keyedHash, newMasterKey, open, seal, sealParts } from '../../src/repo/crypto/crypto.js';
import { blobAad } from '../../src/repo/format.js';
import { ReusingBlobDecoder, decodeBlobWith } from '../../src/repo/repository.js';

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

  it('decompresses into the buffer it is offered when that has room, and into its own otherwise', () => {
    const u = new ReusingUnframer();
    const data = text(20_000);
    const framed = frame(data, 'auto');
    const asked: number[] = [];
    const room = Buffer.alloc(30_000);
    const inRoom = u.unframe(framed, (n) => (asked.push(n), room.subarray(100)));
    expect(asked).toEqual([20_000]);
    expect(inRoom.buffer).toBe(room.buffer);
    expect(inRoom.byteOffset).toBe(room.byteOffset + 100);
    expect(inRoom.equals(data)).toBe(true);
    // Too small, or nothing offered: its own buffer.
    const own = u.unframe(framed, () => room.subarray(0, 19_999));
    expect(own.buffer).not.toBe(room.buffer);
    expect(own.equals(data)).toBe(true);
    expect(u.unframe(framed, () => undefined).equals(data)).toBe(true);
    // A stored payload is not decompressed: it is never offered a place.
    const stored = randomBytes(5000);
    expect(u.unframe(frame(stored, 'auto'), () => expect.fail('offered a place for a stored payload')).equals(stored)).toBe(true);
  });
});

describe('ReusingOpener', () => {
  const key = randomBytes(32);
  const aad = Buffer.from('blob');

  it('opens what open opens, for sizes around its 64 KiB steps, growing and shrinking', () => {
    const o = new ReusingOpener();
    for (const n of [0, 1, 65_535, 65_536, 65_537, 3 * 65_536 + 7, 2 * 1024 * 1024 + 3, 100]) {
      const plain = randomBytes(n);
      const sealed = seal(key, plain, aad);
      expect(o.open(key, sealed, aad).equals(open(key, sealed, aad))).toBe(true);
      expect(o.open(key, sealed, aad).equals(plain)).toBe(true);
    }
  });

  it('reuses its buffer, and gives nothing for a tampered box, a truncated one, other associated data or another key', () => {
    const o = new ReusingOpener();
    const sealed = seal(key, randomBytes(200_000), aad);
    const a = o.open(key, sealed, aad);
    const b = o.open(key, seal(key, Buffer.alloc(1000, 7), aad), aad);
    expect(b.buffer).toBe(a.buffer);
    const flipped = Buffer.from(sealed);
    flipped[100_000]! ^= 1;
    expect(() => o.open(key, flipped, aad)).toThrow(IntegrityFailure);
    expect(() => o.open(key, sealed.subarray(0, sealed.length - 1), aad)).toThrow(IntegrityFailure);
    expect(() => o.open(key, sealed.subarray(0, 20), aad)).toThrow(/too short/);
    expect(() => o.open(key, sealed, Buffer.from('tree'))).toThrow(IntegrityFailure);
    expect(() => o.open(randomBytes(32), sealed, aad)).toThrow(IntegrityFailure);
  });
});

describe('ReusingBlobDecoder', () => {
  it('decodes what decodeBlobWith decodes, and refuses a blob under another id', () => {
    const key = newMasterKey();
    const d = new ReusingBlobDecoder();
    const encode = (plain: Buffer) => {
      const id = keyedHash(key.mac, plain);
      return { id, sealed: sealParts(key.encrypt, frameParts(plain, 'auto'), blobAad('data', id)) };
    };
    for (const plain of [text(50_000), randomBytes(300_000), Buffer.alloc(0)]) {
      const { id, sealed } = encode(plain);
      expect(d.decode(key, 'data', id, sealed).equals(decodeBlobWith(key, 'data', id, sealed))).toBe(true);
      expect(d.decode(key, 'data', id, sealed).equals(plain)).toBe(true);
    }
    // Sealed with the id of other content (only someone holding the key can do this): the
    // box authenticates, the content check refuses it.
    const other = keyedHash(key.mac, text(10));
    const plain = text(20);
    const forged = seal(key.encrypt, frame(plain, 'auto'), blobAad('data', other));
    expect(() => d.decode(key, 'data', other, forged)).toThrow(/content does not match its id/);
    expect(() => decodeBlobWith(key, 'data', other, forged)).toThrow(/content does not match its id/);
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
