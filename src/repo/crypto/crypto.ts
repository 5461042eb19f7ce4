import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomFillSync, scrypt as scryptCb, timingSafeEqual, type DecipherGCM, type ScryptOptions } from 'node:crypto';
import { TriadError } from '../../core/errors.js';

/** AES-256-GCM sealed box: nonce(12) || ciphertext || tag(16). */
export const NONCE_LEN = 12;
export const TAG_LEN = 16;
export const OVERHEAD = NONCE_LEN + TAG_LEN;

export interface MasterKey {
  /** AES-256-GCM key for every object and blob. */
  encrypt: Buffer;
  /** HMAC-SHA-256 key: blob ids, snapshot ids and whole-file content hashes. */
  mac: Buffer;
}

export function newMasterKey(): MasterKey {
  return { encrypt: randomBytes(32), mac: randomBytes(32) };
}

export function seal(key: Buffer, plaintext: Uint8Array, aad: Uint8Array): Buffer {
  return sealParts(key, [plaintext], aad);
}

// One CSPRNG call per 4096 nonces: a call per blob was a large share of the backup's
// main-thread time on small files (bench/RESULTS.md, "Nonce pool"). Each nonce is still 96
// fresh random bits.
const NONCE_POOL = 4096 * NONCE_LEN;
let noncePool = Buffer.alloc(0);
let noncePos = NONCE_POOL;

function freshNonce(): Buffer {
  if (noncePos + NONCE_LEN > noncePool.length) {
    noncePool = randomFillSync(Buffer.allocUnsafeSlow(NONCE_POOL));
    noncePos = 0;
  }
  const n = noncePool.subarray(noncePos, noncePos + NONCE_LEN);
  noncePos += NONCE_LEN;
  return n;
}

/** The size of the sealed box of the concatenation of `parts`. */
export function sealedLength(parts: Uint8Array[]): number {
  let total = OVERHEAD;
  for (const p of parts) total += p.length;
  return total;
}

/**
 * Seals the concatenation of `parts` without building it first, into `out` when given (of
 * exactly sealedLength(parts) bytes).
 */
export function sealParts(key: Buffer, parts: Uint8Array[], aad: Uint8Array, out?: Buffer): Buffer {
  const nonce = freshNonce();
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad);
  // GCM output is as long as its input, so the sealed box is written in place, no concat copy.
  out ??= Buffer.allocUnsafe(sealedLength(parts));
  nonce.copy(out, 0);
  let o = NONCE_LEN;
  for (const p of parts) o = updateInto(c, p, out, o);
  o += c.final().copy(out, o);
  c.getAuthTag().copy(out, o);
  return out;
}

/** Throws IntegrityFailure on any tampering, truncation or wrong key. */
export function open(key: Buffer, sealed: Uint8Array, aad: Uint8Array): Buffer {
  return opening(key, sealed, aad, (d, body) => {
    const plain = d.update(body);
    // GCM's final() yields no bytes; it only checks the tag, so no concat copy is needed.
    const rest = d.final();
    return rest.length === 0 ? plain : Buffer.concat([plain, rest]);
  });
}

/**
 * Encrypts and decrypts in steps of this size. Node returns each step's output in a new
 * buffer, and fresh memory of a megabyte can cost more than encrypting it: steps copied into
 * a reused buffer ran several times faster than whole blobs. Whole-chunk outputs also waited
 * for a collection, adding to the backup workers' peak memory (bench/RESULTS.md, "Cipher steps").
 */
const CRYPT_STEP = 64 * 1024;

/** Runs `data` through the cipher in CRYPT_STEP steps into `out` at `at`; returns the position after it. */
function updateInto(c: { update(data: Uint8Array): Buffer }, data: Uint8Array, out: Buffer, at: number): number {
  for (let p = 0; p < data.length; p += CRYPT_STEP) at += c.update(data.subarray(p, p + CRYPT_STEP)).copy(out, at);
  return at;
}

/**
 * Opens sealed boxes into one buffer it reuses, for a thread that decodes a stream of blobs
 * and is done with each before the next. A result is valid only until the next call, and is
 * returned only once the tag has been verified.
 */
export class ReusingOpener {
  private scratch = Buffer.alloc(0);

  open(key: Buffer, sealed: Uint8Array, aad: Uint8Array): Buffer {
    return opening(key, sealed, aad, (d, body) => {
      if (this.scratch.length < body.length) this.scratch = Buffer.allocUnsafeSlow(Math.max(body.length, 1024 * 1024));
      let n = updateInto(d, body, this.scratch, 0);
      n += d.final().copy(this.scratch, n);
      return this.scratch.subarray(0, n);
    });
  }
}

/** Sets up the decipher of a sealed box and runs `decrypt` on its ciphertext; any failure is an IntegrityFailure. */
function opening(key: Buffer, sealed: Uint8Array, aad: Uint8Array, decrypt: (d: DecipherGCM, body: Buffer) => Buffer): Buffer {
  if (sealed.length < OVERHEAD) throw new IntegrityFailure('ciphertext too short (truncated)');
  const buf = Buffer.isBuffer(sealed) ? sealed : Buffer.from(sealed.buffer, sealed.byteOffset, sealed.length);
  const d = createDecipheriv('aes-256-gcm', key, buf.subarray(0, NONCE_LEN));
  d.setAAD(aad);
  d.setAuthTag(buf.subarray(buf.length - TAG_LEN));
  try {
    return decrypt(d, buf.subarray(NONCE_LEN, buf.length - TAG_LEN));
  } catch {
    throw new IntegrityFailure('authentication failed (tampered, truncated or wrong key)');
  }
}

/**
 * Raised by the crypto layer and the decoders of repository objects: bytes that are not what
 * was written. A TriadError of the damage kind, so one that escapes still ends as one; callers
 * usually rewrap it with integrityError to name the object and the target.
 */
export class IntegrityFailure extends TriadError {
  constructor(message: string) {
    super('E_INTEGRITY', message);
    this.name = 'IntegrityFailure';
  }
}

export function keyedHash(macKey: Buffer, data: Uint8Array): Buffer {
  return createHmac('sha256', macKey).update(data).digest();
}

export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Parameters of the passphrase KDF, stored beside each wrapped key. */
export interface KdfParams {
  name: 'scrypt';
  N: number;
  r: number;
  p: number;
  salt: string; // base64
}

/** The cost part of scrypt parameters (the salt aside). */
export type KdfCost = Pick<KdfParams, 'N' | 'r' | 'p'>;

/**
 * N=2^15 r=8 p=3: one of the settings OWASP lists as equal in strength to N=2^17 r=8 p=1,
 * with 32 MiB instead of 128 MiB. Every command derives the key once, and the smaller memory
 * makes that a fraction of the time, most of which was the kernel providing 128 MiB of fresh
 * memory (bench/RESULTS.md, "scrypt parameters"; restic writes N=2^15 r=8 p=7). Existing key
 * files keep the parameters stored in them.
 */
export const PRODUCTION_KDF: KdfCost = { N: 1 << 15, r: 8, p: 3 };

/** What new key files are derived with, and the weakest an opened key may be without a warning. */
export interface KdfStrength {
  cost: KdfCost;
  floor: KdfCost;
}

export const PRODUCTION_KDF_STRENGTH: KdfStrength = { cost: PRODUCTION_KDF, floor: PRODUCTION_KDF };

/** Fresh parameters (a new random salt) at this cost. */
export function newKdfParams(cost: KdfCost = PRODUCTION_KDF): KdfParams {
  return { name: 'scrypt', N: cost.N, r: cost.r, p: cost.p, salt: randomBytes(32).toString('base64') };
}

/**
 * Whether a key's parameters cost a password guesser less than the floor: less memory (N·r)
 * or less work (N·r·p). N=2^17 r=8 p=1, which early key files have, is at full strength.
 */
export function kdfBelowFloor(kdf: KdfCost, floor: KdfCost): boolean {
  return kdf.N * kdf.r < floor.N * floor.r || kdf.N * kdf.r * kdf.p < floor.N * floor.r * floor.p;
}

export function describeKdf(kdf: KdfCost): string {
  return `scrypt N=2^${Math.log2(kdf.N)} r=${kdf.r} p=${kdf.p}`;
}

/**
 * The costliest scrypt parameters a key file may ask for: those triad has written
 * (N=2^17 r=8 p=1 in its first key files, N=2^15 r=8 p=3 since, N=2^10 r=8 p=1 in tests).
 * A key file is read before anything proves it genuine, so one crafted to ask for more
 * would make every command spend minutes and gigabytes: at most 128 MiB and the work of
 * N=2^17 r=8 p=1 (N·r·p ≤ 2^20), the costliest derivation triad has written itself.
 */
export const KDF_LIMITS = { maxN: 1 << 17, maxR: 8, maxP: 3, maxWork: 1 << 20 } as const;

/** Why scrypt parameters read from a key file are refused, or undefined when they are within KDF_LIMITS. */
export function kdfParamsProblem(params: unknown): string | undefined {
  if (typeof params !== 'object' || params === null) return 'no kdf parameters';
  const { name, N, r, p, salt } = params as Partial<Record<keyof KdfParams, unknown>>;
  if (name !== 'scrypt') return `unsupported key derivation function '${String(name)}'`;
  if (typeof salt !== 'string') return 'no scrypt salt';
  const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
  if (!isInt(N) || !isInt(r) || !isInt(p)) return 'scrypt parameters are not whole numbers';
  const inRange = N >= 2 && N <= KDF_LIMITS.maxN && (N & (N - 1)) === 0 && r >= 1 && r <= KDF_LIMITS.maxR && p >= 1 && p <= KDF_LIMITS.maxP && N * r * p <= KDF_LIMITS.maxWork;
  return inRange ? undefined : `scrypt parameters N=${N} r=${r} p=${p} exceed what triad writes (N ≤ 2^17 a power of two, r ≤ 8, p ≤ 3, N·r·p ≤ 2^20)`;
}

export async function deriveKey(passphrase: string, params: KdfParams): Promise<Buffer> {
  const problem = kdfParamsProblem(params);
  if (problem !== undefined) throw new TriadError('E_INTEGRITY', `key file refused: ${problem}`, { hint: 'the key file is damaged or was crafted; use another key file or target' });
  const opts: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) =>
    scryptCb(passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), 32, opts, (err, key) => (err ? reject(err) : resolve(key))),
  );
}
