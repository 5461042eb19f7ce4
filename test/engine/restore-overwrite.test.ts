import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, giveToUnprivileged, tempDir, triad, triadUnprivileged, unprivilegedDir, writeLocalPolicy } from '../helpers/triad.js';

function write(root: string, rel: string, content = rel): void {
  mkdirSync(join(root, rel, '..'), { recursive: true });
  writeFileSync(join(root, rel), content);
}

/** src/{big.bin (2 MiB), same.txt, edited.txt, was-dir (file), was-file/{inner}, link-was-dir -> same.txt, keep/{k}} backed up; returns the policy. */
function backedUp(work: string): { policy: string; src: string } {
  const src = join(work, 'src');
  for (const f of ['same.txt', 'edited.txt', 'was-dir', 'was-file/inner', 'keep/k', 'other/o']) write(src, f);
  symlinkSync('same.txt', join(src, 'link-was-dir'));
  writeFileSync(join(src, 'big.bin'), randomBytes(2 << 20));
  const policy = writeLocalPolicy(work, { sources: [src] });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  return { policy, src };
}

/** The backed-up tree restored once into an empty directory `to`. */
function restoredOnce(): { policy: string; src: string; to: string } {
  const work = tempDir();
  const { policy, src } = backedUp(work);
  const to = join(work, 'r');
  expect(triad(['restore', '-p', policy, 'latest', '--to', to], { env: PASS }).code).toBe(0);
  return { policy, src, to };
}

/** What the restore directory holds, as sorted relative paths (directories end in /). */
function entries(dir: string, rel = ''): string[] {
  return readdirSync(join(dir, rel), { withFileTypes: true }).flatMap((e) => {
    const p = rel ? `${rel}/${e.name}` : e.name;
    return e.isDirectory() ? [`${p}/`, ...entries(dir, p)] : [p];
  }).sort();
}

const identity = (path: string) => {
  const st = lstatSync(path, { bigint: true });
  return { ino: st.ino, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs };
};

describe('restore --overwrite and --delete', () => {
  it('--overwrite leaves identical files untouched, replaces what differs, and swaps files and directories of the wrong kind', () => {
    const { policy, to } = restoredOnce();
    const r = join(to, 'src');
    const before = identity(join(r, 'same.txt'));
    writeFileSync(join(r, 'edited.txt'), 'edited.tx!'); // same size, other bytes
    rmSync(join(r, 'was-dir'));
    write(r, 'was-dir/deep/x');
    rmSync(join(r, 'was-file'), { recursive: true });
    writeFileSync(join(r, 'was-file'), 'a file now');
    rmSync(join(r, 'link-was-dir'));
    mkdirSync(join(r, 'link-was-dir'));
    writeFileSync(join(r, 'extra'), 'not in the snapshot');

    const res = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite', '--json'], { env: PASS });
    expect(res.code, res.stderr).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ unchanged: 4, deleted: 0, failures: [] });
    expect(identity(join(r, 'same.txt'))).toEqual(before);
    expect(readFileSync(join(r, 'edited.txt'), 'utf8')).toBe('edited.txt');
    expect(readFileSync(join(r, 'was-dir'), 'utf8')).toBe('was-dir');
    expect(readFileSync(join(r, 'was-file', 'inner'), 'utf8')).toBe('was-file/inner');
    expect(readlinkSync(join(r, 'link-was-dir'))).toBe('same.txt');
    // Without --delete, what the snapshot does not have stays.
    expect(readFileSync(join(r, 'extra'), 'utf8')).toBe('not in the snapshot');
  });

  it('an identical file whose mode and time differ gets them back without being rewritten; files in place are not downloaded', () => {
    const { policy, src, to } = restoredOnce();
    const f = join(to, 'src', 'same.txt');
    chmodSync(f, 0o600);
    utimesSync(f, new Date('2001-01-01T00:00:00Z'), new Date('2001-01-01T00:00:00Z'));
    const ino = lstatSync(f).ino;
    const again = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite', '--json'], { env: PASS });
    expect(again.code, again.stderr).toBe(0);
    // Trees only: the 2 MiB of big.bin are compared on disk, not fetched.
    expect(JSON.parse(again.stdout)).toMatchObject({ unchanged: 7, files: 0 });
    expect(JSON.parse(again.stdout).bytesFetched).toBeLessThan(64 * 1024);
    const st = lstatSync(f, { bigint: true });
    const want = lstatSync(join(src, 'same.txt'), { bigint: true });
    expect({ ino: Number(st.ino), mode: st.mode, mtimeNs: st.mtimeNs }).toEqual({ ino, mode: want.mode, mtimeNs: want.mtimeNs });
  });

  it('--delete removes what the snapshot does not have under the restored paths only; --exclude protects; it needs --overwrite', () => {
    const { policy, to } = restoredOnce();
    const r = join(to, 'src');
    write(r, 'keep/stray');
    write(r, 'keep/stray-dir/x');
    write(r, 'other/stray');
    write(r, 'keep/notes.log');
    write(to, 'beside-src');

    const alone = triad(['restore', '-p', policy, 'latest', '--to', to, '--delete'], { env: PASS });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--delete removes files from the restore directory and needs --overwrite');
    expect(entries(to)).toContain('src/keep/stray');

    const res = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite', '--delete', '--include', 'src/keep', '--exclude', '**/*.log'], { env: PASS });
    expect(res.code, res.stderr).toBe(0);
    expect(res.stdout).toContain('2 entries the snapshot does not have: removed');
    const now = entries(to);
    expect(now).not.toContain('src/keep/stray');
    expect(now).not.toContain('src/keep/stray-dir/');
    expect(now).toContain('src/keep/notes.log');
    expect(now).toContain('src/other/stray');
    expect(now).toContain('beside-src');

    const all = triad(['restore', '-p', policy, 'latest', '--to', to, '--overwrite', '--delete'], { env: PASS });
    expect(all.code, all.stderr).toBe(0);
    expect(entries(to)).toEqual(['src/', 'src/big.bin', 'src/edited.txt', 'src/keep/', 'src/keep/k', 'src/link-was-dir', 'src/other/', 'src/other/o', 'src/same.txt', 'src/was-dir', 'src/was-file/', 'src/was-file/inner']);
  });

  it('as an unprivileged user, a restore keeps modes and times, skips ownership with one notice and does not fail', () => {
    const work = unprivilegedDir();
    const src = join(work, 'src');
    write(src, 'private/secret', 'for the group');
    write(src, 'tool', '#!/bin/sh\n');
    write(src, 'theirs', 'belongs to uid 1234');
    chmodSync(join(src, 'private', 'secret'), 0o640);
    chmodSync(join(src, 'private'), 0o750);
    chmodSync(join(src, 'tool'), 0o755);
    chownSync(join(src, 'theirs'), 1234, 1234);
    utimesSync(join(src, 'tool'), new Date('2010-05-06T07:08:09.123Z'), new Date('2010-05-06T07:08:09.123Z'));
    const policy = writeLocalPolicy(work, { sources: [src] });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
    giveToUnprivileged(work);

    const to = join(work, 'restored');
    const r = triadUnprivileged(['restore', '-p', policy, 'latest', '--to', to], { env: PASS });
    expect(r.code, r.stderr).toBe(0);
    const notices = r.stderr.split('\n').filter((l) => l.includes('ownership not restored'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/ownership not restored: \d+ entries belong to other users in the snapshot and now belong to uid \d+/);
    for (const p of ['private', 'private/secret', 'tool', 'theirs']) {
      const got = lstatSync(join(to, 'src', p), { bigint: true });
      const want = lstatSync(join(src, p), { bigint: true });
      expect({ p, mode: got.mode, mtimeNs: got.mtimeNs }).toEqual({ p, mode: want.mode, mtimeNs: want.mtimeNs });
    }
    expect(readFileSync(join(to, 'src', 'theirs'), 'utf8')).toBe('belongs to uid 1234');
  });
});
