import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, triadBytes, writeLocalPolicy } from '../helpers/triad.js';

const FULL = 40_000_000;
const SHRUNK = 5_000_000;
const GROWTH = 20_000_000;

/**
 * Another process that truncates the file to SHRUNK bytes and grows it by GROWTH bytes,
 * each about every 10 ms, until killed. It writes the pattern's bytes at their own offsets,
 * so at any moment the file is a prefix of the pattern, and so is what a backup reads (but
 * for the zeros of unlike()).
 */
const WRITER = `
const fs = require('node:fs');
const [pattern, file] = process.argv.slice(1);
const p = fs.readFileSync(pattern);
const fd = fs.openSync(file, 'r+');
const pause = () => new Promise((r) => setTimeout(r, 10));
(async () => {
  for (;;) {
    fs.ftruncateSync(fd, ${SHRUNK});
    await pause();
    fs.writeSync(fd, p, ${SHRUNK}, ${GROWTH}, ${SHRUNK});
    await pause();
  }
})();
`;

/**
 * Offsets where `read` holds other bytes than the pattern, except zeros past the truncation
 * point: the kernel zeroes the rest of the page (or larger folio) that the truncation cuts,
 * and a read racing with it may copy those zeros.
 */
function unlike(read: Buffer, pattern: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < read.length && out.length < 10; i++) {
    if (read[i] !== pattern[i] && !(read[i] === 0 && i >= SHRUNK)) out.push(i);
  }
  return out;
}

describe('a file that shrinks and grows while a backup reads it', () => {
  const work = scratchDir();
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('is recorded as the bytes read: restore, check --read-data and dump all agree with the snapshot', async () => {
    const src = join(work, 'src');
    mkdirSync(src);
    const pattern = randomBytes(FULL);
    const patternFile = join(work, 'pattern.bin');
    writeFileSync(patternFile, pattern);
    const file = join(src, 'big.bin');
    writeFileSync(file, pattern);
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);

    const writer = spawn(process.execPath, ['-e', WRITER, patternFile, file], { stdio: 'ignore' });
    let changedSeen = 0;
    const snapshots: string[] = [];
    try {
      // The race is not hit on every run; several runs (and a stop as soon as two saw it) make it certain enough.
      for (let run = 0; run < 10 && changedSeen < 2; run++) {
        const b = triad(['backup', '-p', policy, '--json'], { env: PASS });
        expect(b.code, b.stderr).toBe(0);
        // The snapshots of the runs that saw the file change are the ones to prove.
        if (/changed while it was being read/.test(b.stdout + b.stderr)) {
          changedSeen++;
          snapshots.push((JSON.parse(b.stdout) as { snapshot: string }).snapshot);
        }
      }
    } finally {
      writer.kill('SIGKILL');
    }
    expect(changedSeen).toBeGreaterThan(0);

    for (const snap of snapshots) {
      const ls = triad(['ls', '-p', policy, snap, '--json'], { env: PASS });
      expect(ls.code, ls.stderr).toBe(0);
      const entry = (JSON.parse(ls.stdout) as { entries: { path: string; size: number }[] }).entries.find((e) => e.path === 'src/big.bin')!;

      const to = join(work, 'restore', snap);
      const r = triad(['restore', '-p', policy, snap, '--to', to], { env: PASS });
      expect(r.code, r.stderr).toBe(0);
      const restored = readFileSync(join(to, 'src', 'big.bin'));
      expect(restored.length).toBe(entry.size);
      expect(unlike(restored, pattern)).toEqual([]);

      const tarDir = join(work, 'untar', snap);
      mkdirSync(tarDir, { recursive: true });
      const d = await triadBytes(['dump', '-p', policy, snap], PASS);
      expect(d.code, d.stderr).toBe(0);
      const x = spawnSync('tar', ['-x', '-C', tarDir], { input: d.stdout });
      expect(x.status, x.stderr.toString()).toBe(0);
      expect(statSync(join(tarDir, 'src', 'big.bin')).size).toBe(entry.size);
      expect(readFileSync(join(tarDir, 'src', 'big.bin')).equals(restored)).toBe(true);
    }
    const check = triad(['check', '-p', policy, '--read-data'], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 300_000);
});
