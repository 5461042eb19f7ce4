import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** A sparse file of `size` bytes with 1 MiB of random data at each offset; returns the data's length. */
function sparseFile(path: string, size: number, offsets: number[]): number {
  const fd = openSync(path, 'w');
  try {
    ftruncateSync(fd, size);
    for (const off of offsets) writeSync(fd, randomBytes(MiB), 0, MiB, off);
  } finally {
    closeSync(fd);
  }
  return offsets.length * MiB;
}

/** The [start, end) ranges of a file that hold data (SEEK_DATA/SEEK_HOLE, which Node lacks: through Python). */
function dataExtents(path: string): [number, number][] {
  const py = [
    'import os, sys, json',
    'fd = os.open(sys.argv[1], os.O_RDONLY); size = os.fstat(fd).st_size; pos = 0; out = []',
    'while pos < size:',
    '    try: start = os.lseek(fd, pos, os.SEEK_DATA)',
    '    except OSError: break',
    '    end = os.lseek(fd, start, os.SEEK_HOLE); out.append([start, end]); pos = end',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', py, path]);
  expect(r.status, r.stderr.toString()).toBe(0);
  return JSON.parse(r.stdout.toString()) as [number, number][];
}

/**
 * Whether two files of one size hold the same bytes: outside the data ranges of both, both read
 * as zeros (holes); inside, the bytes are compared in 8 MiB steps. Reading 5 GiB of holes
 * through read(2) took minutes on a busy machine.
 */
function sameBytes(a: string, b: string): boolean {
  if (lstatSync(a).size !== lstatSync(b).size) return false;
  const [ba, bb] = [Buffer.alloc(8 * MiB), Buffer.alloc(8 * MiB)];
  const [fa, fb] = [openSync(a, 'r'), openSync(b, 'r')];
  try {
    for (const [start, end] of [...dataExtents(a), ...dataExtents(b)]) {
      for (let pos = start; pos < end; pos += ba.length) {
        const n = Math.min(ba.length, end - pos);
        if (readSync(fa, ba, 0, n, pos) !== n || readSync(fb, bb, 0, n, pos) !== n) return false;
        if (!ba.subarray(0, n).equals(bb.subarray(0, n))) return false;
      }
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}

function treeBytes(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) total += statSync(join(e.parentPath, e.name)).size;
  return total;
}

/** Disk a file takes (st_blocks are 512-byte units). */
const allocated = (path: string) => lstatSync(path).blocks * 512;

describe('sparse files', () => {
  it('a 5 GiB sparse file with data beyond 4 GiB: backed up for about its data, restored byte-identical and sparse', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    const file = join(src, 'disk.img');
    const data = sparseFile(file, 5 * GiB, [0, 1000 * MiB, 4 * GiB + 300 * MiB, 5 * GiB - MiB]);
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas') } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    const before = treeBytes(join(work, 'nas'));
    const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout).summary.bytes).toBe(5 * GiB);
    // Random data does not compress; the holes are one blob of zeros (a few bytes compressed).
    const grew = treeBytes(join(work, 'nas')) - before;
    expect(grew).toBeGreaterThan(data);
    expect(grew).toBeLessThan(data + MiB);

    const to = join(work, 'restored');
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const out = join(to, 'src', 'disk.img');
    expect(lstatSync(out).size).toBe(5 * GiB);
    // The data, and at most the rest of a write batch (1 MiB) beside each run of it.
    expect(allocated(out)).toBeLessThan(data + 4 * 2 * MiB);
    expect(sameBytes(out, file)).toBe(true);
  }, 600_000);

  it('restore --no-sparse writes the zeros', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(src);
    sparseFile(join(src, 'holes'), 64 * MiB, [10 * MiB]);
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas') } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    const sparse = join(work, 'sparse');
    const dense = join(work, 'dense');
    expect(triad(['restore', '-p', policy, 'latest', '--to', sparse], { env: PASS }).code).toBe(0);
    const r = triad(['restore', '-p', policy, 'latest', '--to', dense, '--no-sparse'], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    expect(allocated(join(sparse, 'src', 'holes'))).toBeLessThan(4 * MiB);
    expect(allocated(join(dense, 'src', 'holes'))).toBeGreaterThanOrEqual(64 * MiB);
    expect(sameBytes(join(dense, 'src', 'holes'), join(src, 'holes'))).toBe(true);
    expect(sameBytes(join(sparse, 'src', 'holes'), join(src, 'holes'))).toBe(true);
  });
});
