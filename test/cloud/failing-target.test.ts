import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startS3rver } from '../helpers/emulators.js';
import { bytes, snapshotOf } from '../helpers/tree.js';
import { PASS, tempDir, triad, triadAsync, writePolicy, type RunResult } from '../helpers/triad.js';

// One target failing, for any reason and at any point, never stops the others' commit
// (DESIGN.md §2 "Replicas"). Full and read-only disks are real tmpfs mounts: the suite runs
// as root, so these tests never skip.

function sources(work: string, size: number): string {
  const src = join(work, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.bin'), bytes(21, size));
  writeFileSync(join(src, 'b.bin'), bytes(22, size));
  writeFileSync(join(src, 'notes.txt'), bytes(23, 4000, true));
  return src;
}

/** A tmpfs of `size` at `dir`, unmounted when the test ends. */
function tmpfs(dir: string, size: string): void {
  expect(process.getuid?.(), 'these tests mount tmpfs and must run as root').toBe(0);
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  onTestFinished(() => execFileSync('umount', ['-l', dir]));
}

function fill(dir: string): void {
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${join(dir, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
  } catch {
    // dd stops with an error once the file system is full: that is the point.
  }
}

/** The run failed (exit 1) naming `failed`, `good` committed, and `good`'s snapshot restores exactly. */
function expectOthersCommitted(r: RunResult, opts: { work: string; policy: string; src: string; env: Record<string, string>; failed: string; good: string; error: RegExp }): void {
  expect(r.code, r.stderr).toBe(1);
  const out = JSON.parse(r.stdout);
  const byName = Object.fromEntries(out.targets.map((t: { target: string }) => [t.target, t]));
  expect(byName[opts.good].status).toBe('committed');
  expect(byName[opts.failed].status).toBe('failed');
  expect(byName[opts.failed].error).toMatch(opts.error);
  expect(r.stderr).toContain(`target '${opts.failed}' failed and is left out of this run`);
  // The catalogue knows the snapshot is complete on the good target only.
  const snaps = triad(['snapshots', '-p', opts.policy, '--json'], { env: opts.env });
  expect(snaps.code, snaps.stderr).toBe(0);
  const snap = JSON.parse(snaps.stdout).snapshots.find((s: { id: string }) => s.id === out.snapshot);
  expect(snap.targets).toEqual([opts.good]);
  const to = join(opts.work, `restored-${opts.good}`);
  const rs = triad(['restore', '-p', opts.policy, 'latest', '--to', to, '--target', opts.good], { env: opts.env });
  expect(rs.code, rs.stderr).toBe(0);
  expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(opts.src));
}

function localPolicy(work: string, src: string, failing: string): string {
  return writePolicy(work, {
    sources: [src],
    targets: {
      bad: { type: 'local', path: failing, media: 'nas', offsite: false },
      good: { type: 'local', path: join(work, 'good'), media: 'removable', offsite: true },
    },
    rule: 'none',
  });
}

/** Sources of two files of `size`, and a policy whose target 'bad' lies on a fresh tmpfs of `mount` size; initialised. */
function onTmpfs(size: number, mount: string) {
  const work = tempDir();
  const src = sources(work, size);
  const mnt = join(work, 'mnt');
  tmpfs(mnt, mount);
  const policy = localPolicy(work, src, join(mnt, 'repo'));
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  return { work, src, mnt, policy };
}

/** Sources, an s3rver (stopped when the test ends) and a policy of targets 'cloud' on it and 'good'; initialised. */
async function withS3() {
  const work = tempDir();
  const src = sources(work, 500_000);
  const s3 = await startS3rver(join(work, 's3rver'));
  onTestFinished(() => s3.stop());
  const policy = writePolicy(work, { sources: [src], targets: { cloud: s3.policyFields({ prefix: 'r/' }), good: { type: 'local', path: join(work, 'good'), media: 'nas', offsite: false } }, rule: 'none' });
  const env = { ...PASS, ...s3.env };
  expect((await triadAsync(['init', '-p', policy], { env })).code).toBe(0);
  return { work, src, s3, policy, env };
}

describe('one failing target never stops the others', () => {
  it('a target full from the start (even its lock cannot be written)', () => {
    const { work, src, mnt, policy } = onTmpfs(1_000_000, '5m');
    fill(mnt);
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expectOthersCommitted(r, { work, policy, src, env: PASS, failed: 'bad', good: 'good', error: /no space left/ });
  });

  it('a target that fills up midway, while packs are written', () => {
    // 2 × 20 MB of random data against 16 MiB of room. A pack closes once it holds 4 MiB, so the
    // first one (at most 4 MiB plus one chunk of at most 8 MiB) always fits, and the rest cannot.
    const { work, src, policy } = onTmpfs(20_000_000, '16m');
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expectOthersCommitted(r, { work, policy, src, env: PASS, failed: 'bad', good: 'good', error: /no space left/ });
    expect(JSON.parse(r.stdout).targets.find((t: { target: string }) => t.target === 'bad').bytesWritten).toBeGreaterThan(0);
  });

  it('a read-only target; once writable again, copy repairs its missing snapshot', () => {
    const { work, src, mnt, policy } = onTmpfs(500_000, '20m');
    execFileSync('mount', ['-o', 'remount,ro', mnt]);
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expectOthersCommitted(r, { work, policy, src, env: PASS, failed: 'bad', good: 'good', error: /read-only|EROFS|permission/i });
    execFileSync('mount', ['-o', 'remount,rw', mnt]);
    const c = triad(['copy', '-p', policy, '--from', 'good', '--to', 'bad'], { env: PASS });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const to = join(work, 'restored-bad');
    expect(triad(['restore', '-p', policy, 'latest', '--to', to, '--target', 'bad'], { env: PASS }).code).toBe(0);
    expect(snapshotOf(join(to, 'src'))).toEqual(snapshotOf(src));
  });

  it('an S3 target that is unreachable (its emulator stopped)', async () => {
    const { work, src, s3, policy, env } = await withS3();
    await s3.stop();
    const r = await triadAsync(['backup', '-p', policy, '--json', '--retry-for', '1s'], { env });
    expectOthersCommitted(r, { work, policy, src, env, failed: 'cloud', good: 'good', error: /unreachable|ECONNREFUSED|connect/i });
  });

  it('an S3 target that refuses our credentials', async () => {
    const { work, src, s3, policy, env } = await withS3();
    // s3rver checks the access key id (it does not verify signatures with the secret).
    const wrong = { ...env, [s3.credentialsEnv.access_key_id]: 'NOT-OUR-KEY' };
    const r = await triadAsync(['backup', '-p', policy, '--json', '--retry-for', '1s'], { env: wrong });
    expectOthersCommitted(r, { work, policy, src, env, failed: 'cloud', good: 'good', error: /denied|credentials|signature|forbidden/i });
  });

  it('a target whose lock is removed midway (triad unlock from elsewhere): only that target stops', async () => {
    const work = tempDir();
    const src = sources(work, 8_000_000);
    const policy = localPolicy(work, src, join(work, 'bad'));
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    // Locks refreshed every 100 ms, so the loss is seen while the packs are written.
    const env = { ...PASS, TRIAD_TEST_LOCK_STALE_AFTER_MS: '600' };
    const run = triadAsync(['backup', '-p', policy, '--json'], { env });
    let done = false;
    void run.finally(() => (done = true));
    const locks = join(work, 'bad', 'locks');
    while (!done) {
      // Lock objects only: a lock being written (a temporary file) is left to complete.
      if (existsSync(locks)) for (const f of readdirSync(locks)) if (/^[0-9a-f]{64}$/.test(f)) rmSync(join(locks, f), { force: true });
      await new Promise((r) => setTimeout(r, 20));
    }
    expectOthersCommitted(await run, { work, policy, src, env: PASS, failed: 'bad', good: 'good', error: /lost the shared lock on target 'bad'/ });
  });
});
