import { TriadError } from '../core/errors.js';

const HEX64 = /^[0-9a-fA-F]{64}$/;

/** A 64-hex-digit id, lower-cased; E_CATALOG naming `what` otherwise. */
export function hex64(value: string, what: string): string {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new TriadError('E_CATALOG', `invalid ${what}: ${JSON.stringify(value)} (expected 64 hex characters)`);
  }
  return value.toLowerCase();
}

// Buffer.from ignores case, so this skips hex64's lower-casing copy on the bulk-insert path.
export function hexBuf(value: string, what: string): Buffer {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new TriadError('E_CATALOG', `invalid ${what}: ${JSON.stringify(value)} (expected 64 hex characters)`);
  }
  return Buffer.from(value, 'hex');
}

export function parseJson<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function canonicalPaths(paths: readonly string[]): string {
  return JSON.stringify([...paths].sort());
}

export function count(n: number | undefined): number {
  return n ?? 0;
}
