import { closeSync, openSync, readdirSync, readlinkSync, constants as fsc } from 'node:fs';

/**
 * File names as Linux keeps them: any bytes but '/' and NUL. Node decodes names as UTF-8 and
 * turns invalid bytes into U+FFFD, after which the name no longer opens. Here a name is
 * decoded strictly and each byte that is not part of valid UTF-8 becomes a lone surrogate
 * U+DC80..U+DCFF ("surrogateescape", as Python does), so every layer keeps using strings and
 * the bytes come back exactly at each file-system call (fsPath). Valid UTF-8 never yields a
 * surrogate, so the mapping is one to one; no Unicode normalisation is ever applied.
 */

/** A low surrogate U+DC80..U+DCFF not preceded by a high surrogate: an escaped byte. */
const ESCAPED_BYTE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** True when `s` holds escaped bytes, so it must reach the kernel as a Buffer. */
export function hasEscapedBytes(s: string): boolean {
  return ESCAPED_BYTE.test(s);
}

/** The name or path as the file system takes it: the string itself, or its original bytes. */
export function fsPath(s: string): string | Buffer {
  return hasEscapedBytes(s) ? nameBytes(s) : s;
}

/** The bytes of a name or path, escaped bytes given back as they were. */
export function nameBytes(s: string): Buffer {
  const parts = s.split(/((?<![\uD800-\uDBFF])[\uDC80-\uDCFF])/);
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    // split with a capture group: odd parts are the escaped bytes.
    if (i % 2 === 1) out.push(Buffer.of(p.charCodeAt(0) - 0xdc00));
    else if (p !== '') out.push(Buffer.from(p, 'utf8'));
  });
  return Buffer.concat(out);
}

/** A name's bytes as a string: UTF-8 where valid, each other byte escaped. */
export function decodeName(b: Buffer): string {
  const s = b.toString('utf8');
  // U+FFFD in Node's decoding: invalid bytes (or a real U+FFFD); only then is the name walked.
  return s.includes('\uFFFD') ? decodeStrict(b) : s;
}

function decodeStrict(b: Buffer): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = validSequence(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence at `i` (RFC 3629: no overlong forms, surrogates or code points past U+10FFFF), or 0. */
function validSequence(b: Buffer, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  let n: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) {
    n = 3;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 4;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return 0;
  for (let k = 1; k < n; k++) {
    const x = b[i + k];
    if (x === undefined || x < (k === 1 ? lo : 0x80) || x > (k === 1 ? hi : 0xbf)) return 0;
  }
  return n;
}

/**
 * True when `s` is what decodeName gives for its own bytes: no lone surrogate other than an
 * escaped byte, and no escaped bytes that together are valid UTF-8 (two spellings of one
 * name on disk). A snapshot's names are checked with it.
 */
export function isCanonicalName(s: string): boolean {
  if (!/[\uD800-\uDFFF]/.test(s)) return true;
  return decodeName(nameBytes(s)) === s;
}

/** The names in a directory, each decoded by decodeName; reads it a second time, as bytes, only when a name is not valid UTF-8. */
export function readNames(dir: string): string[] {
  const names = readdirSync(fsPath(dir));
  if (!names.some((n) => n.includes('\uFFFD'))) return names;
  return readdirSync(fsPath(dir), { encoding: 'buffer' }).map(decodeName);
}

/** A symlink's target, decoded by decodeName. */
export function readLinkTarget(path: string): string {
  return decodeName(readlinkSync(fsPath(path), { encoding: 'buffer' }));
}

/** Backslash, control characters, escaped bytes, and surrogates no decoding gives: each shown escaped. */
const SHOWN_ESCAPED = /\\|[\x00-\x1f\x7f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * A name or path as shown to people and in JSON output: unambiguous, one line, plain
 * Unicode. A byte that is not UTF-8 shows as `\xff`, a control character as `\x0a`, a
 * backslash as `\\`; any other character as itself (NFC and NFD spellings stay distinct,
 * as on disk).
 */
export function displayPath(s: string): string {
  if (!/[\\\x00-\x1f\x7f\uD800-\uDFFF]/.test(s)) return s;
  return s.replace(SHOWN_ESCAPED, (c) => {
    if (c === '\\') return '\\\\';
    const code = c.charCodeAt(0);
    if (code < 0x80) return `\\x${hex2(code)}`;
    if (code >= 0xdc80 && code <= 0xdcff) return `\\x${hex2(code - 0xdc00)}`;
    return `\\u{${code.toString(16)}}`;
  });
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Runs `fn` with a string path that reaches the entry at `path`, for interfaces that take
 * strings only (the xattr calls): the path itself, or, when a directory above holds bytes
 * that are not UTF-8, the entry's name under /proc/self/fd of its opened directory.
 * Undefined, without calling `fn`, when the entry's own name is not UTF-8: no string
 * reaches it.
 */
export function withStringPath<T>(path: string, fn: (p: string) => T): T | undefined {
  if (!hasEscapedBytes(path)) return fn(path);
  const slash = path.lastIndexOf('/');
  const name = path.slice(slash + 1);
  if (hasEscapedBytes(name)) return undefined;
  const fd = openSync(nameBytes(path.slice(0, slash) || '/'), fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    return fn(`/proc/self/fd/${fd}/${name}`);
  } finally {
    closeSync(fd);
  }
}

/** The path displayPath shows as `shown` (`\xff` a byte, `\\` a backslash, `\u{…}` a code unit); other characters as they are. */
export function parseDisplayPath(shown: string): string {
  return shown.replace(/\\(\\|x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,4})\})/g, (m, _c: string, byte: string | undefined, unit: string | undefined) => {
    if (byte !== undefined) {
      const b = parseInt(byte, 16);
      return String.fromCharCode(b < 0x80 ? b : 0xdc00 + b);
    }
    if (unit !== undefined) return String.fromCharCode(parseInt(unit, 16));
    return '\\';
  });
}
