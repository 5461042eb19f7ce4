import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KnownSet } from '../../src/repo/index/known-set.js';

/** A 32-byte id whose first 8 bytes are `prefix` (hex, 16 chars) and the rest random. */
function idWithPrefix(prefix: string): Buffer {
  return Buffer.concat([Buffer.from(prefix, 'hex'), randomBytes(24)]);
}

describe('KnownSet', () => {
  it('finds ids added as a Buffer, and as hex, in either form', () => {
    const set = KnownSet.create(10);
    const a = randomBytes(32);
    const b = randomBytes(32);
    set.add(a);
    set.add(b.toString('hex'));
    expect(set.has(a)).toBe(true);
    expect(set.has(Buffer.from(a.toString('hex'), 'hex'))).toBe(true);
    expect(set.has(b)).toBe(true);
    // Adding the same id again in the other form changes nothing.
    set.add(a.toString('hex'));
    set.add(b);
    expect(set.has(a)).toBe(true);
    expect(set.has(b)).toBe(true);
  });

  it('does not report ids that were never added', () => {
    const set = KnownSet.create(10);
    expect(set.has(randomBytes(32))).toBe(false);
    for (let i = 0; i < 100; i++) set.add(randomBytes(32));
    let found = 0;
    for (let i = 0; i < 1000; i++) if (set.has(randomBytes(32))) found++;
    expect(found).toBe(0);
    // An id differing from an added one only in its first byte is a different key.
    const added = idWithPrefix('0102030405060708');
    set.add(added);
    const other = Buffer.from(added);
    other[0] = 0xff;
    expect(set.has(other)).toBe(false);
  });

  it('reports an id sharing only the first 8 bytes with an added one (documented collision)', () => {
    const set = KnownSet.create(10);
    const added = idWithPrefix('deadbeefcafef00d');
    const collider = idWithPrefix('deadbeefcafef00d');
    expect(collider.equals(added)).toBe(false);
    expect(set.has(collider)).toBe(false);
    set.add(added);
    expect(set.has(collider)).toBe(true);
    // The hex form keys on the same 8 bytes.
    const set2 = KnownSet.create(10);
    set2.add(added.toString('hex'));
    expect(set2.has(collider)).toBe(true);
  });

  it('stores an id whose first 8 bytes are zero (as key 1) and finds it', () => {
    const set = KnownSet.create(10);
    const zero = idWithPrefix('0000000000000000');
    expect(set.has(zero)).toBe(false);
    set.add(zero);
    expect(set.has(zero)).toBe(true);
    expect(set.has(idWithPrefix('0000000000000000'))).toBe(true);
    // Key 1 is where the zero prefix lands: an id with prefix ...01 collides with it, by design.
    expect(set.has(idWithPrefix('0000000000000001'))).toBe(true);
    expect(set.has(idWithPrefix('0000000000000002'))).toBe(false);
  });

  it('an attached view sees the same contents, including later adds', () => {
    const set = KnownSet.create(1000);
    const before = Array.from({ length: 50 }, () => randomBytes(32));
    for (const id of before) set.add(id);
    const view = KnownSet.attach(set.buffer);
    expect(view.buffer).toBe(set.buffer);
    for (const id of before) expect(view.has(id)).toBe(true);
    const absent = randomBytes(32);
    expect(view.has(absent)).toBe(false);
    const after = Array.from({ length: 50 }, () => randomBytes(32));
    for (const id of after) set.add(id.toString('hex'));
    for (const id of after) expect(view.has(id)).toBe(true);
    expect(view.has(absent)).toBe(false);
  });

  it('an attached view also works across a structured clone of the buffer', () => {
    const set = KnownSet.create(0);
    const copy = structuredClone(set.buffer);
    const view = KnownSet.attach(copy);
    const id = randomBytes(32);
    set.add(id);
    // A SharedArrayBuffer clone shares memory, as it does when sent to a worker.
    expect(view.has(id)).toBe(true);
  });

  it('sizes the table to at least 2^16 slots and at least 4/3 of the expected ids', () => {
    expect(KnownSet.create(0).buffer.byteLength).toBe(65536 * 8);
    expect(KnownSet.create(49152).buffer.byteLength).toBe(65536 * 8);
    expect(KnownSet.create(49153).buffer.byteLength).toBe(131072 * 8);
    expect(KnownSet.create(100_000).buffer.byteLength).toBe(262144 * 8);
    // Just past 2^20 ids: 2^21 slots (16 MiB), not 2^22.
    expect(KnownSet.create(1_100_000).buffer.byteLength).toBe(2 ** 21 * 8);
  });

  it('stops adding past three quarters of capacity without throwing or looping, and keeps the first ids', () => {
    const set = KnownSet.create(0); // 65536 slots, so at most 49152 ids
    const ids = Array.from({ length: 60_000 }, () => randomBytes(32));
    const start = Date.now();
    for (const id of ids) set.add(id);
    expect(Date.now() - start).toBeLessThan(10_000);
    // The first three quarters of capacity were all stored.
    for (let i = 0; i < 49_152; i++) {
      if (!set.has(ids[i]!)) throw new Error(`id #${i} was added below three quarters of capacity but is not found`);
    }
    // The set is exactly three quarters full: the rest were dropped, so they are not found.
    let later = 0;
    for (let i = 49_152; i < ids.length; i++) if (set.has(ids[i]!)) later++;
    expect(later).toBe(0);
    const slots = new BigUint64Array(set.buffer);
    let used = 0;
    for (const v of slots) if (v !== 0n) used++;
    expect(used).toBe(49_152);
    // Lookups of absent ids still terminate (empty slots remain).
    expect(set.has(randomBytes(32))).toBe(false);
    // Further adds, in either form, are silently ignored.
    const extra = randomBytes(32);
    set.add(extra);
    set.add(randomBytes(32).toString('hex'));
    expect(set.has(extra)).toBe(false);
  });
});
