// Deterministic content generators for the bench corpus. Everything here is a pure function
// of its seed so that two machines (or two runs) build byte-identical corpora and their
// figures stay comparable.
import { createCipheriv, createHash } from 'node:crypto';

/** Small, fast 32-bit PRNG (sfc32); quality is ample for shaping test data. */
export function rng(seed) {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const next = () => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next();
  return {
    u32: next,
    int: (n) => next() % n,
    float: () => next() / 4294967296,
    pick: (arr) => arr[next() % arr.length],
  };
}

/**
 * Incompressible bytes. A JS PRNG would take seconds for 100s of MiB; an AES-CTR keystream
 * from a fixed key is just as deterministic (OpenSSL's CTR output is specified) and runs at GB/s.
 */
export function randomBytes(label, n) {
  const key = createHash('sha256').update(`triad-bench:${label}`).digest();
  const c = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return Buffer.concat([c.update(Buffer.alloc(n)), c.final()]);
}

const CONS = ['b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'ch', 'st', 'tr'];
const VOW = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou', 'y'];

/** A fixed vocabulary, so generated text has the word-level redundancy of prose or code. */
export function vocabulary(seed, size = 4096) {
  const r = rng(seed);
  const words = new Set();
  while (words.size < size) {
    let w = '';
    const syl = 1 + r.int(4);
    for (let i = 0; i < syl; i++) w += r.pick(CONS) + r.pick(VOW);
    if (r.int(3) === 0) w += r.pick(CONS);
    words.add(w);
  }
  return [...words];
}

/** Prose-like text of exactly n bytes. */
export function textBytes(seed, n, vocab) {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(n);
  let pos = 0;
  let lineLen = 0;
  while (pos < n) {
    let w = vocab[Math.min(vocab.length - 1, Math.floor(vocab.length * r.float() ** 2))];
    if (r.int(40) === 0) w = String(r.u32() % 100000);
    const sep = lineLen > 60 + r.int(20) ? '\n' : r.int(12) === 0 ? '. ' : ' ';
    const piece = w + sep;
    pos += out.write(piece, pos, 'latin1');
    lineLen = sep === '\n' ? 0 : lineLen + piece.length;
  }
  return out;
}

/** Binary records with counters and small fields: compressible but not text. */
export function recordBytes(seed, n) {
  const r = rng(seed);
  const out = Buffer.alloc(n);
  const base = r.u32();
  for (let off = 0, i = 0; off + 32 <= n; off += 32, i++) {
    out.writeUInt32LE((base + i) >>> 0, off);
    out.writeUInt32LE(r.int(1000), off + 4);
    out.writeUInt16LE(i & 0xffff, off + 8);
    out.writeUInt32LE(r.u32(), off + 12);
  }
  return out;
}

/**
 * One "mixed" big file: segments of 256 KiB – 4 MiB, about 45% random, 45% text, 10% records,
 * so a backup tool meets both incompressible and compressible data inside one file.
 */
export function mixedFile(label, seed, size, vocab) {
  const r = rng(seed);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  let seg = 0;
  while (pos < size) {
    const len = Math.min(size - pos, 256 * 1024 + r.int(15 * 256 * 1024));
    const k = r.float();
    const s = seed * 1000 + seg++;
    const part = k < 0.45 ? randomBytes(`${label}:${seg}`, len) : k < 0.9 ? textBytes(s, len, vocab) : recordBytes(s, len);
    part.copy(out, pos);
    pos += len;
  }
  return out;
}

/**
 * The three big files. Regions of one reappear in another a few bytes off their original
 * offset, which fixed-size blocking cannot deduplicate and content-defined chunking can.
 */
export function bigFiles(size, vocab) {
  const f1 = mixedFile('big1', 101, size, vocab);
  const f2 = mixedFile('big2', 202, size, vocab);
  const f3 = mixedFile('big3', 303, size, vocab);
  const at = (f) => Math.floor(size * f);
  // f2[0.30+5 B ..] = f1[0.30 ..], 35% of the file
  f1.copy(f2, at(0.3) + 5, at(0.3), at(0.65));
  // f3 takes 15% from f1 (3 bytes off) and 15% from f2 (11 bytes off)
  f1.copy(f3, at(0.6) + 3, at(0.6), at(0.75));
  f2.copy(f3, at(0.1) + 11, at(0.1), at(0.25));
  return [f1, f2, f3];
}

const KW = ['if', 'for', 'while', 'return', 'static', 'const', 'struct', 'unsigned', 'int', 'void', 'u32', 'u64', 'bool'];

/** A pool of C-like lines; files are assembled from it, giving source-code-like redundancy. */
export function codeLines(seed, vocab, count = 30000) {
  const r = rng(seed);
  const id = () => vocab[r.int(vocab.length)] + (r.int(3) === 0 ? `_${vocab[r.int(vocab.length)]}` : '');
  const lines = [];
  for (let i = 0; i < count; i++) {
    const ind = '\t'.repeat(r.int(4));
    const k = r.int(10);
    let l;
    if (k === 0) l = `${ind}/* ${id()} ${id()} ${id()} ${id()} */`;
    else if (k === 1) l = `${ind}${r.pick(KW)} (${id()}->${id()} ${r.pick(['==', '!=', '<', '&'])} ${id()}) {`;
    else if (k === 2) l = `${ind}}`;
    else if (k === 3) l = '';
    else if (k === 4) l = `${ind}return ${id()}(${id()}, ${r.int(4096)});`;
    else if (k === 5) l = `#define ${id().toUpperCase()} 0x${r.u32().toString(16)}`;
    else if (k === 6) l = `${r.pick(KW)} ${r.pick(KW)} ${id()}(struct ${id()} *${id()}, ${r.pick(KW)} ${id()})`;
    else l = `${ind}${id()} = ${id()}(${id()}, ${id()}) ${r.pick(['+', '|', '<<', '-'])} ${r.int(256)};`;
    lines.push(Buffer.from(l + '\n', 'latin1'));
  }
  return lines;
}

/** A source-like file of about n bytes: runs of consecutive pool lines, as real code reuses idioms. */
export function codeFile(r, lines, n) {
  const parts = [];
  let len = 0;
  while (len < n) {
    let i = r.int(lines.length);
    const run = 1 + r.int(12);
    for (let j = 0; j < run && len < n; j++, i = (i + 1) % lines.length) {
      parts.push(lines[i]);
      len += lines[i].length;
    }
  }
  return Buffer.concat(parts, len);
}
