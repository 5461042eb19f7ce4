import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASS, scratchDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** A catalogue on a read-only file system (a real tmpfs remounted ro; CI runs as root, where chmod stops nothing). */
describe('a catalogue in a read-only directory', () => {
  const work = scratchDir('triad-ro-catalog-');
  const mnt = join(work, 'mnt');
  const catalog = join(mnt, 'catalog.db');
  let policy: string;
  const run = (args: string[]) => triad(args, { env: PASS });
  const snapshotCount = () => JSON.parse(run(['snapshots', '-p', policy, '--json']).stdout).snapshots.length as number;

  beforeAll(() => {
    mkdirSync(join(work, 'src'), { recursive: true });
    mkdirSync(mnt);
    writeFileSync(join(work, 'src', 'a.txt'), 'alpha\n');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', mnt]);
    policy = writeLocalPolicy(work, { sources: [join(work, 'src')] });
    writeFileSync(policy, readFileSync(policy, 'utf8').replace(/^catalog: .*$/m, `catalog: ${catalog}`));
    expect(run(['init', '-p', policy]).code).toBe(0);
    expect(run(['backup', '-p', policy]).code).toBe(0);
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
  });
  afterAll(() => {
    execFileSync('umount', [mnt]);
    rmSync(work, { recursive: true, force: true });
  });

  it('backup fails with exit 1 naming the catalogue and how to choose another; nothing is written or lost', () => {
    const before = readFileSync(catalog);
    const r = run(['backup', '-p', policy]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain(`error: read-only file system: job lock ${join(mnt, 'locks')}/test.backup.lock, beside the catalogue ${catalog} [E_CATALOG]`);
    expect(r.stderr).toContain('hint: the catalogue and its directory must be writable: choose another catalogue file with --catalog FILE or `catalog:` in the policy');
    expect(r.stderr).not.toMatch(/internal error|this is a bug|\n\s+at /);
    expect(readFileSync(catalog)).toEqual(before);
    expect(snapshotCount()).toBe(1);
  });

  it('every job says the same: check, like backup, takes its job lock beside the catalogue first', () => {
    const r = run(['check', '-p', policy]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`error: read-only file system: job lock ${join(mnt, 'locks')}/test.check.lock, beside the catalogue ${catalog} [E_CATALOG]`);
    expect(r.stderr).toContain('--catalog FILE or `catalog:` in the policy');
  });

  it('following the hint works: --catalog elsewhere backs up', () => {
    const r = run(['--catalog', join(work, 'other.db'), 'backup', '-p', policy]);
    expect(r.code, r.stderr).toBe(0);
    expect(snapshotCount()).toBe(2);
  });
});
