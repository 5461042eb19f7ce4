import { describe, expect, it } from 'vitest';
import { newKdfParams, deriveKey } from '../../src/repo/crypto/crypto.js';

// OWASP's scrypt settings of equal strength, all with r = 8: N -> minimum p.
const OWASP_EQUIVALENT = new Map([
  [2 ** 17, 1],
  [2 ** 16, 2],
  [2 ** 15, 3],
  [2 ** 14, 5],
  [2 ** 13, 10],
]);

describe('key derivation parameters', () => {
  it('new key files use one of the OWASP-equivalent scrypt settings, with at most 32 MiB', () => {
    const k = newKdfParams();
    expect(k.name).toBe('scrypt');
    expect(k.r).toBe(8);
    expect(OWASP_EQUIVALENT.has(k.N)).toBe(true);
    expect(k.p).toBeGreaterThanOrEqual(OWASP_EQUIVALENT.get(k.N)!);
    expect(128 * k.N * k.r).toBeLessThanOrEqual(32 * 1024 * 1024);
    expect(Buffer.from(k.salt, 'base64')).toHaveLength(32);
    expect(newKdfParams().salt).not.toBe(k.salt);
  });

  it('derives what an independent scrypt derives with the default cost (vector from Python hashlib.scrypt)', async () => {
    const k = newKdfParams();
    const key = await deriveKey('correct horse', { ...k, salt: Buffer.alloc(32).toString('base64') });
    // hashlib.scrypt(b'correct horse', salt=bytes(32), n=32768, r=8, p=3, dklen=32)
    expect([k.N, k.r, k.p]).toEqual([32768, 8, 3]);
    expect(key.toString('hex')).toBe('b8dce527a145d1b4de849b5efef5bdd0b899e04fbc65fb9c78230b405025fe40');
  });
});
