import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, giveToUnprivileged, triadUnprivileged, unprivilegedDir, writeLocalPolicy } from '../helpers/triad.js';

/** src/{a, locked (mode 000), closed/ (mode 000) {c}}, owned by the unprivileged user, who cannot read the last two. */
function treeWithUnreadable(work: string): string {
  const src = join(work, 'src');
  mkdirSync(join(src, 'closed'), { recursive: true });
  writeFileSync(join(src, 'a'), 'readable');
  writeFileSync(join(src, 'locked'), 'secret until chmod');
  writeFileSync(join(src, 'closed', 'c'), 'behind a closed directory');
  chmodSync(join(src, 'locked'), 0o000);
  chmodSync(join(src, 'closed'), 0o000);
  return src;
}

describe('backups as an unprivileged user', () => {
  it('a file or directory the user cannot read makes the snapshot partial (exit 3) and is named; the next backup retries it', () => {
    const work = unprivilegedDir();
    const src = treeWithUnreadable(work);
    const policy = writeLocalPolicy(work, { sources: [src] });
    giveToUnprivileged(work);
    const run = (...args: string[]) => triadUnprivileged([...args, '-p', policy], { env: PASS });
    expect(run('init').code).toBe(0);

    const first = run('backup');
    expect(first.code, first.stderr).toBe(3);
    expect(first.stdout).toContain('PARTIAL');
    expect(first.stderr).toContain(`${join(src, 'locked')}: EACCES`);
    expect(first.stderr).toContain(`${join(src, 'closed')}: EACCES`);
    expect(first.stderr).not.toMatch(/\n\s+at /);
    expect(run('ls', 'latest').stdout.trim().split('\n')).toEqual(['src/', 'src/a']);

    // Still unreadable: not taken from the partial snapshot as if unchanged, reported again.
    const again = run('backup');
    expect(again.code).toBe(3);
    expect(again.stderr).toContain(`${join(src, 'locked')}: EACCES`);

    chmodSync(join(src, 'locked'), 0o644);
    chmodSync(join(src, 'closed'), 0o755);
    const fixed = run('backup', '--json');
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(JSON.parse(fixed.stdout)).toMatchObject({ partial: false, summary: { filesNew: 2, filesUnchanged: 1 } });
    expect(run('ls', 'latest').stdout.trim().split('\n')).toEqual(['src/', 'src/a', 'src/closed/', 'src/closed/c', 'src/locked']);
    const to = join(work, 'restored');
    expect(triadUnprivileged(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
    expect(readFileSync(join(to, 'src', 'locked'), 'utf8')).toBe('secret until chmod');
    expect(readFileSync(join(to, 'src', 'closed', 'c'), 'utf8')).toBe('behind a closed directory');
  });
});
