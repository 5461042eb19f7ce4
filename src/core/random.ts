import { randomBytes } from 'node:crypto';

/** Seedable generator (sfc32) so restore-test samples are reproducible from --seed. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  readonly seed: number;
}

export function seededRandom(seed: number): Random {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = seed >>> 0;
  const step = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) step();
  return { seed: seed >>> 0, next: step, int: (n) => Math.floor(step() * n) };
}

/** A fresh seed from the OS, used when the user gives none (it is printed and recorded). */
export function freshSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
