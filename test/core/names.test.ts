import { describe, expect, it } from 'vitest';
import { decodeName, displayPath, fsPath, hasEscapedBytes, isCanonicalName, nameBytes, parseDisplayPath } from '../../src/core/names.js';

/** A deterministic byte string of length 1..24 (xorshift), weighted towards bytes around UTF-8's edges. */
function* byteStrings(n: number): Generator<Buffer> {
  let x = 0x9e3779b9;
  const next = () => ((x ^= x << 13), (x ^= x >>> 17), (x ^= x << 5), x >>> 0);
  const edges = [0x41, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xdf, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0x9f, 0xa0, 0x8f, 0x90];
  for (let i = 0; i < n; i++) {
    const len = 1 + (next() % 24);
    yield Buffer.from(Array.from({ length: len }, () => (next() % 2 ? edges[next() % edges.length]! : next() % 256)));
  }
}

describe('names as bytes', () => {
  it('decodeName then nameBytes gives back every byte string, and the decoding is canonical', () => {
    for (const b of byteStrings(20_000)) {
      const s = decodeName(b);
      expect(nameBytes(s).equals(b), b.toString('hex')).toBe(true);
      expect(isCanonicalName(s)).toBe(true);
    }
  });

  it('valid UTF-8 decodes as Node decodes it, with no escapes, and goes to the kernel as the string', () => {
    for (const s of ['plain', 'caf\u00e9', 'cafe\u0301', '\u{1F600}\u{10080}', 'x\uFFFDy']) {
      expect(decodeName(Buffer.from(s))).toBe(s);
      expect(hasEscapedBytes(s)).toBe(false);
      expect(fsPath(s)).toBe(s);
    }
  });

  it('each byte that is not UTF-8 is one escape; overlong forms, surrogates and code points past U+10FFFF are not UTF-8', () => {
    expect(decodeName(Buffer.of(0x66, 0xff, 0xfe))).toBe('f\uDCFF\uDCFE');
    expect(decodeName(Buffer.of(0xc0, 0xaf))).toBe('\uDCC0\uDCAF');
    expect(decodeName(Buffer.of(0xed, 0xa0, 0x80))).toBe('\uDCED\uDCA0\uDC80');
    expect(decodeName(Buffer.of(0xf4, 0x90, 0x80, 0x80))).toBe('\uDCF4\uDC90\uDC80\uDC80');
    expect(decodeName(Buffer.of(0xc3, 0x28))).toBe('\uDCC3(');
    expect(fsPath('/tmp/f\uDCFF')).toEqual(Buffer.of(0x2f, 0x74, 0x6d, 0x70, 0x2f, 0x66, 0xff));
  });

  it('a name that spells valid UTF-8 as escapes, or holds a surrogate no decoding gives, is not canonical (a crafted snapshot)', () => {
    expect(isCanonicalName('\uDCC3\uDCA9')).toBe(false);
    expect(isCanonicalName('a\uD800')).toBe(false);
    expect(isCanonicalName('a\uDC10')).toBe(false);
    expect(isCanonicalName('a\uDCFF')).toBe(true);
  });

  it('displayPath is unambiguous: escaped bytes as \\xHH, a backslash doubled, control characters as \\xHH, the rest as it is', () => {
    expect(displayPath('src/f\uDCFF\uDCFE')).toBe('src/f\\xff\\xfe');
    expect(displayPath('src/f\\xff')).toBe('src/f\\\\xff');
    expect(displayPath('a\nb\tc')).toBe('a\\x0ab\\x09c');
    expect(displayPath('caf\u00e9 cafe\u0301 \u{1F600}')).toBe('caf\u00e9 cafe\u0301 \u{1F600}');
    expect(displayPath('x\uD800y')).toBe('x\\u{d800}y');
    const shown = new Set<string>();
    for (const b of byteStrings(5_000)) shown.add(displayPath(decodeName(b)));
    const distinct = new Set([...byteStrings(5_000)].map((b) => b.toString('hex')));
    expect(shown.size).toBe(distinct.size);
  });

  it('parseDisplayPath gives back the path displayPath showed', () => {
    for (const b of byteStrings(5_000)) {
      const s = decodeName(b);
      expect(parseDisplayPath(displayPath(s))).toBe(s);
    }
    expect(parseDisplayPath('src/a\\\\xff')).toBe('src/a\\xff');
    expect(parseDisplayPath('x\\u{d800}')).toBe('x\uD800');
  });
});
