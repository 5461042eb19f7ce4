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

/** Characters a path column spells differently from the path: U+FFFD (the escape) and every surrogate. */
const NEEDS_SPELLING = /[\uD800-\uDFFF\uFFFD]/;
const SPELLED = /[\uD800-\uDBFF][\uDC00-\uDFFF]|[\uD800-\uDFFF\uFFFD]/g;

/**
 * A path as the catalogue stores it. SQLite keeps text as UTF-8, which has no lone
 * surrogates (better-sqlite3 turns them into U+FFFD), yet a name that is not UTF-8 holds
 * them (core/names.ts). So a lone surrogate is stored as U+FFFD and its four hex digits, and
 * U+FFFD itself as U+FFFD '~': one to one, and paths without either (nearly all) unchanged.
 */
export function toCatalogPath(path: string): string {
  if (!NEEDS_SPELLING.test(path)) return path;
  return path.replace(SPELLED, (c) => (c.length === 2 ? c : c === '\uFFFD' ? '\uFFFD~' : `\uFFFD${c.charCodeAt(0).toString(16)}`));
}

/** The path toCatalogPath stored (a U+FFFD of a row written before this spelling stays as it was). */
export function fromCatalogPath(stored: string): string {
  if (!stored.includes('\uFFFD')) return stored;
  return stored.replace(/\uFFFD(~|d[89a-f][0-9a-f]{2})?/g, (m, tail: string | undefined) => (tail === undefined || tail === '~' ? '\uFFFD' : String.fromCharCode(parseInt(tail, 16))));
}
