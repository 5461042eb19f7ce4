import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { bytes } from '../helpers/tree.js';
import { PASS, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** Every file below `dir`, relative, with temporaries of interrupted writes included. */
function listAll(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

// The restore's files are written by a writer thread; a full disk there must still stop the
// restore with E_NO_SPACE (exit 1), leave no temporary files and damage nothing committed.
// A 1 MiB tmpfs is the full disk (the suite runs as root on this machine kind).
describe('restore onto a full file system', () => {
  it('stops with a clear no-space error, leaves no temporary file, and the repository still checks clean', () => {
    const work = tempDir();
    const src = join(work, 'src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'a-small.txt'), bytes(1, 3000, true));
    writeFileSync(join(src, 'big.bin'), bytes(2, 3 * 1024 * 1024));
    writeFileSync(join(src, 'sub', 'z.txt'), bytes(3, 2000, true));
    const policy = writeLocalPolicy(work, { sources: [src], targets: { nas: { path: join(work, 'nas'), media: 'nas', offsite: false } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);

    const to = join(work, 'full');
    mkdirSync(to);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', to]);
    onTestFinished(() => execFileSync('umount', [to]));
    const r = triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/no space left while writing .*big\.bin/);
    expect(r.stderr).toMatch(/free space/);
    const left = listAll(to);
    expect(left.filter((f) => f.includes('.triad-tmp-')), left.join(', ')).toEqual([]);
    expect(left).not.toContain('src/big.bin');
    // What was restored before the disk filled is complete and correct.
    if (left.includes('src/a-small.txt')) expect(readFileSync(join(to, 'src/a-small.txt'))).toEqual(bytes(1, 3000, true));

    const check = triad(['check', '-p', policy, '--read-data'], { env: PASS });
    expect(check.code, check.stdout + check.stderr).toBe(0);
    const ok = join(work, 'ok');
    expect(triad(['restore', '-p', policy, 'latest', '--to', ok], { env: PASS }).code).toBe(0);
    expect(readFileSync(join(ok, 'src', 'big.bin'))).toEqual(bytes(2, 3 * 1024 * 1024));
  }, 180_000);
});
