import fc from 'fast-check';
import { expect } from 'vitest';
import { ErrorCodes, ExitCode, exitCodeOf, TriadError } from '../../src/core/errors.js';

/**
 * Shared pieces of the decoder property tests: byte mutations of a valid object, and the
 * property every decoder must keep (decode, or throw a TriadError whose code maps to an exit
 * code of DESIGN.md §7, within a time bound).
 */

/** One fixed seed for every property: a failure prints it with the shrunk counterexample. */
export const SEED = 0x7a1ad;

/** Each decode must end within this (a hang, or a loop sized by a crafted count, fails it). */
export const DECODE_BOUND_MS = 2_000;

type Mutation = (b: Buffer) => Buffer;

const flip = fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, mask]): Mutation => (b) => {
  if (b.length === 0) return b;
  const out = Buffer.from(b);
  const i = at % b.length;
  out[i] = out[i]! ^ mask;
  return out;
});
const truncate = fc.nat().map((n): Mutation => (b) => b.subarray(0, b.length === 0 ? 0 : n % b.length));
const extend = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((extra): Mutation => (b) => Buffer.concat([b, extra]));
const splice = fc.tuple(fc.nat(), fc.nat({ max: 64 }), fc.uint8Array({ maxLength: 64 })).map(([at, cut, insert]): Mutation => (b) => {
  const i = b.length === 0 ? 0 : at % b.length;
  return Buffer.concat([b.subarray(0, i), insert, b.subarray(i + cut)]);
});
/** Overwrites 4 bytes with a large little-endian count, as a crafted length field would. */
const bigCount = fc.tuple(fc.nat(), fc.constantFrom(0x7fffffff, 0x80000000, 0xffffffff, 0x10000)).map(([at, n]): Mutation => (b) => {
  if (b.length < 4) return b;
  const out = Buffer.from(b);
  out.writeUInt32LE(n, at % (b.length - 3));
  return out;
});

/** 1–4 mutations (flip, truncate, extend, splice, large count) applied in turn to `valid`. */
export function mutated(valid: Buffer): fc.Arbitrary<Buffer> {
  const one = fc.oneof(flip, flip, truncate, extend, splice, bigCount);
  return fc.array(one, { minLength: 1, maxLength: 4 }).map((ms) => ms.reduce((b, m) => m(b), valid));
}

/** Mutations of `valid`, or random bytes of up to 2 KiB. */
export function bytesFor(valid: Buffer): fc.Arbitrary<Buffer> {
  return fc.oneof({ arbitrary: mutated(valid), weight: 4 }, { arbitrary: fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a)), weight: 1 });
}

/** JSON text of `valid` with one value replaced by an arbitrary JSON value (wrong types, nulls, huge numbers). */
export function jsonWithWrongValue(valid: unknown): fc.Arbitrary<Buffer> {
  const paths = jsonPaths(valid);
  return fc.tuple(fc.constantFrom(...paths), fc.oneof(fc.jsonValue(), fc.constantFrom(null, -1, 2 ** 31, 2 ** 53, 1e308, '', 'x'.repeat(70), [], {}))).map(([path, value]) => {
    const copy = structuredClone(valid) as Record<string, unknown>;
    setAt(copy, path, value);
    return Buffer.from(JSON.stringify(path.length === 0 ? value : copy));
  });
}

function jsonPaths(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.slice(0, 3).forEach((x, i) => jsonPaths(x, [...at, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) jsonPaths(x, [...at, k], out);
  return out;
}

function setAt(root: Record<string, unknown>, path: (string | number)[], value: unknown): void {
  let cur: Record<string | number, unknown> = root;
  for (const key of path.slice(0, -1)) cur = cur[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (last !== undefined) cur[last] = value;
}

/** The property: `run` decodes, or throws a TriadError whose code maps to a §7 exit code; within the bound. */
export async function decodesOrNamesDamage(run: () => unknown, allowed: readonly number[] = [ExitCode.FAILED]): Promise<void> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`decode did not end within ${DECODE_BOUND_MS} ms`)), DECODE_BOUND_MS);
  });
  try {
    await Promise.race([Promise.resolve().then(run), bound]);
  } catch (err) {
    if (!(err instanceof TriadError)) throw new Error(`not a TriadError: ${String(err)}`, { cause: err });
    expect(ErrorCodes[err.code]).toBe(exitCodeOf(err));
    expect(allowed).toContain(exitCodeOf(err));
  } finally {
    clearTimeout(timer);
  }
  // A synchronous decode cannot be interrupted by the timer: its duration is checked instead.
  expect(performance.now() - started).toBeLessThan(DECODE_BOUND_MS);
}

export const runs = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });
