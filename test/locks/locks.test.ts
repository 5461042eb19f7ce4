import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PASS, tempDir, triad, triadAsync, writeLocalPolicy } from '../helpers/triad.js';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import { acquireLock, listLocks, withRepoLocks } from '../../src/repo/lock/repo-lock.js';
import { acquireJobLock } from '../../src/repo/lock/job-lock.js';
import type { Repository } from '../../src/repo/repository.js';
import { filesUnder, openRepo } from '../prune/helpers.js';

/** A pid that certainly ran on this host and has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(r.stdout.toString());
}

function setup(): { dir: string; policy: string } {
  const dir = tempDir();
  const src = join(dir, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'hello\n');
  const policy = writeLocalPolicy(dir, { sources: [src], targets: { nas: { path: join(dir, 'nas'), media: 'nas' } }, rule: 'none', extra: 'retention:\n  keep_last: 1\n' });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  expect(triad(['backup', '-p', policy], { env: PASS }).code).toBe(0);
  return { dir, policy };
}

const lockDirEntries = (dir: string) => [...filesUnder(join(dir, 'nas', 'locks')).keys()];
/** Per-holder lock objects (named by keyed hash). */
const lockFiles = (dir: string) => lockDirEntries(dir).filter((n) => /^[0-9a-f]{64}$/.test(n));
/** Exclusive claims (named by epoch). */
const claimFiles = (dir: string) => lockDirEntries(dir).filter((n) => n.startsWith('exclusive-'));

describe('repository locks in process', () => {
  it('shared locks coexist; exclusive conflicts with both ways; release removes the object', async () => {
    const { dir } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const o = { clock: systemClock, refreshEvery: 0 };
    const a = await acquireLock(repo, 'shared', { ...o, command: 'backup' });
    const b = await acquireLock(repo, 'shared', { ...o, command: 'check' });
    expect(lockFiles(dir)).toHaveLength(2);
    const err = await acquireLock(repo, 'exclusive', { ...o, command: 'prune' }).catch((e) => e);
    expect(err.code).toBe('E_REPO_LOCKED');
    expect(err.exitCode).toBe(11);
    expect(err.message).toContain(`${hostname()}/${process.pid} (shared lock for backup)`);
    expect(lockFiles(dir)).toHaveLength(2); // the loser removed its own attempt
    await a.release();
    await b.release();
    expect(lockDirEntries(dir)).toHaveLength(0);
    const x = await acquireLock(repo, 'exclusive', { ...o, command: 'prune' });
    const err2 = await acquireLock(repo, 'shared', { ...o, command: 'backup' }).catch((e) => e);
    expect(err2.code).toBe('E_REPO_LOCKED');
    expect(err2.message).toContain('exclusive lock for prune');
    await x.release();
    await repo.storage.close();
  });

  it('lock objects are sealed: host and pid are not readable from the stored bytes', async () => {
    const { dir } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const l = await acquireLock(repo, 'shared', { clock: systemClock, refreshEvery: 0, host: 'very-distinctive-host' });
    const raw = readFileSync(join(dir, 'nas', l.name));
    expect(raw.includes(Buffer.from('very-distinctive-host'))).toBe(false);
    const listed = await listLocks(repo, { clock: systemClock });
    expect(listed.map((x) => x.record?.host)).toEqual(['very-distinctive-host']);
    await l.release();
    await repo.storage.close();
  });

  it('refresh writes a new object and removes the old; a lock removed by someone else is reported lost', async () => {
    const { dir } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    let now = Date.parse('2031-01-01T00:00:00Z');
    const clock = { now: () => new Date(now), monotonic: () => now };
    const l = await acquireLock(repo, 'exclusive', { clock, refreshEvery: 0, staleAfter: 60_000 });
    const first = l.name;
    now += 30_000;
    await l.refresh();
    expect(l.name).not.toBe(first);
    expect(lockFiles(dir)).toEqual([l.name.slice('locks/'.length)]);
    expect(lockDirEntries(dir).sort()).toEqual([l.name.slice('locks/'.length), 'exclusive-1'].sort());
    const [info] = await listLocks(repo, { clock });
    expect(info!.record!.expires).toBe('2031-01-01T00:01:30.000Z');
    expect(info!.record!.time).toBe('2031-01-01T00:00:00.000Z');
    await repo.storage.remove(l.name);
    await l.refresh();
    expect(l.lost.aborted).toBe(true);
    expect((l.lost.reason as Error).message).toContain('was removed by another process');
    await l.release();
    await repo.storage.close();
  });

  it('withRepoLocks releases on error and passes a signal', async () => {
    const { dir } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    let seen: AbortSignal | undefined;
    const err = await withRepoLocks([repo], 'exclusive', { clock: systemClock, refreshEvery: 0 }, async (signal) => {
      seen = signal;
      expect(lockFiles(dir)).toHaveLength(1);
      expect(claimFiles(dir)).toEqual(['exclusive-1']);
      throw new Error('boom');
    }).catch((e) => e);
    expect(err.message).toBe('boom');
    expect(seen?.aborted).toBe(false);
    expect(lockDirEntries(dir)).toHaveLength(0);
    await repo.storage.close();
  });

  it('stale locks (dead pid on this host, or expired) do not block, and a dead process\'s lock is cleaned up', async () => {
    const { dir } = setup();
    const repo: Repository = await openRepo(join(dir, 'nas'));
    await acquireLock(repo, 'exclusive', { clock: fixedClock('2020-01-01T00:00:00Z'), refreshEvery: 0, host: 'elsewhere', pid: 1 });
    await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, pid: deadPid() });
    // A conditional-create probe left by a process killed while probing.
    writeFileSync(join(dir, 'nas', 'locks', 'probe-0123456789abcdef'), 'probe');
    const locks = await listLocks(repo, { clock: systemClock });
    expect(locks.map((l) => [l.stale, l.staleReason?.split(' ')[0]]).sort()).toEqual([
      [true, 'expired'],
      [true, 'process'],
    ]);
    const l = await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0 });
    // The dead local process's lock was removed on the way; the other host's expired one is left for unlock.
    expect(lockFiles(dir)).toHaveLength(2);
    // Each taker found the previous claim stale and won the next epoch, removing the claims below it and the probe.
    expect(claimFiles(dir)).toEqual(['exclusive-3']);
    expect(lockDirEntries(dir).filter((n) => n.startsWith('probe-'))).toEqual([]);
    await l.release();
    await repo.storage.close();
  });
});

describe('locks through the CLI', () => {
  it('a held lock makes prune exit 11 naming the holder; unlock keeps live locks; --remove-all removes them', async () => {
    const { dir, policy } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const held = await acquireLock(repo, 'shared', { clock: systemClock, refreshEvery: 0, command: 'backup', host: 'backup-host', pid: 4242 });
    const r = triad(['prune', '-p', policy], { env: PASS });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("target 'nas' is locked by backup-host/4242 (shared lock for backup)");
    expect(r.stderr).toContain('triad unlock');
    const j = triad(['forget', '-p', policy, '--json'], { env: PASS });
    expect(j.code).toBe(11);
    expect(j.stdout + j.stderr).toContain('E_REPO_LOCKED');

    const u = triad(['unlock', '-p', policy, '--json'], { env: PASS });
    expect(u.code, u.stderr).toBe(0);
    expect(JSON.parse(u.stdout).targets[0].removed).toEqual([]);
    expect(JSON.parse(u.stdout).targets[0].kept[0].host).toBe('backup-host');
    expect(lockFiles(dir)).toHaveLength(1);

    const all = triad(['unlock', '-p', policy, '--remove-all', '--json'], { env: PASS });
    expect(all.code).toBe(0);
    expect(all.stderr).toContain('warning');
    expect(JSON.parse(all.stdout).targets[0].removed[0].pid).toBe(4242);
    expect(lockDirEntries(dir)).toHaveLength(0);
    expect(triad(['prune', '-p', policy], { env: PASS }).code).toBe(0);
    await held.release();
    await repo.storage.close();
  });

  it('unlock removes stale locks: a dead local process, and an expired one', async () => {
    const { dir, policy } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const dead = deadPid();
    await acquireLock(repo, 'shared', { clock: systemClock, refreshEvery: 0, pid: dead, command: 'backup' });
    await acquireLock(repo, 'shared', { clock: fixedClock('2020-01-01T00:00:00Z'), refreshEvery: 0, host: 'gone-host', pid: 7 });
    expect(lockFiles(dir)).toHaveLength(2);
    const u = triad(['unlock', '-p', policy, '--json'], { env: PASS });
    expect(u.code, u.stderr).toBe(0);
    const removed = JSON.parse(u.stdout).targets[0].removed as { pid: number; reason: string }[];
    expect(removed.map((x) => x.pid).sort((a, b) => a - b)).toEqual([7, dead].sort((a, b) => a - b));
    expect(removed.find((x) => x.pid === dead)!.reason).toContain(`process ${dead} no longer runs`);
    expect(removed.find((x) => x.pid === 7)!.reason).toContain('expired at 2020-01-01T00:30:00.000Z');
    expect(lockDirEntries(dir)).toHaveLength(0);
    await repo.storage.close();
  });

  it('--wait waits for the lock to be released, then runs', async () => {
    const { dir, policy } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const held = await acquireLock(repo, 'shared', { clock: systemClock, refreshEvery: 0, command: 'backup' });
    const t0 = performance.now();
    const run = triadAsync(['prune', '-p', policy, '--wait', '30s'], { env: PASS });
    await new Promise((r) => setTimeout(r, 2500));
    expect(lockFiles(dir).length).toBeGreaterThanOrEqual(1);
    await held.release();
    const r = await run;
    expect(r.code, r.stderr).toBe(0);
    expect(performance.now() - t0).toBeGreaterThan(2400);
    expect(lockDirEntries(dir)).toHaveLength(0);
    await repo.storage.close();
  });

  it('--wait gives up with exit 11 when the lock stays', async () => {
    const { dir, policy } = setup();
    const repo = await openRepo(join(dir, 'nas'));
    const held = await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, command: 'prune' });
    const w = await triadAsync(['forget', '-p', policy, '--wait', '2s'], { env: PASS });
    expect(w.code).toBe(11);
    expect(w.stderr).toContain('gave up after waiting');
    expect(w.stderr).toContain('exclusive lock for prune');
    await held.release();
    await repo.storage.close();
  });
});

describe('copy takes shared locks on both replicas', () => {
  function twoTargets(): { dir: string; policy: string } {
    const dir = tempDir();
    const src = join(dir, 'src');
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'hello\n');
    const policy = writeLocalPolicy(dir, { sources: [src], targets: { nas: { path: join(dir, 'nas'), media: 'nas' }, usb: { path: join(dir, 'usb'), media: 'disk' } }, rule: 'none' });
    expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', policy, '--target', 'nas'], { env: PASS }).code).toBe(0);
    return { dir, policy };
  }

  it('a prune holding the destination makes copy exit 11 and write nothing there; with --wait it copies after', async () => {
    const { dir, policy } = twoTargets();
    const usb = await openRepo(join(dir, 'usb'));
    const held = await acquireLock(usb, 'exclusive', { clock: systemClock, refreshEvery: 0, command: 'prune', host: 'prune-host', pid: 4343 });
    const r = triad(['copy', '-p', policy, '--from', 'nas', '--to', 'usb'], { env: PASS });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("target 'usb' is locked by prune-host/4343 (exclusive lock for prune)");
    expect([...filesUnder(join(dir, 'usb', 'data')).keys()]).toEqual([]);
    expect([...filesUnder(join(dir, 'usb', 'snapshots')).keys()]).toEqual([]);

    const run = triadAsync(['copy', '-p', policy, '--from', 'nas', '--to', 'usb', '--wait', '30s', '--json'], { env: PASS });
    await new Promise((res) => setTimeout(res, 1500));
    expect([...filesUnder(join(dir, 'usb', 'snapshots')).keys()]).toEqual([]);
    await held.release();
    const w = await run;
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(JSON.parse(w.stdout).snapshots).toHaveLength(1);
    expect([...filesUnder(join(dir, 'usb', 'snapshots')).keys()]).toHaveLength(1);
    // Both replicas' locks are gone once the copy is done.
    expect(lockDirEntries(dir)).toHaveLength(0);
    expect([...filesUnder(join(dir, 'usb', 'locks')).keys()]).toHaveLength(0);
    await usb.storage.close();
  });

  it('a prune holding the source makes copy exit 11', async () => {
    const { dir, policy } = twoTargets();
    const nas = await openRepo(join(dir, 'nas'));
    const held = await acquireLock(nas, 'exclusive', { clock: systemClock, refreshEvery: 0, command: 'prune' });
    const r = triad(['copy', '-p', policy, '--from', 'nas', '--to', 'usb'], { env: PASS });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain("target 'nas' is locked");
    expect([...filesUnder(join(dir, 'usb', 'snapshots')).keys()]).toEqual([]);
    await held.release();
    await nas.storage.close();
  });
});

describe('local job lock', () => {
  it('a second run of the same job on this machine is refused while the first runs; a dead one is taken over', () => {
    const dir = tempDir();
    const file = join(dir, 'locks', 'finance.backup.lock');
    const first = acquireJobLock(file, { clock: systemClock, policy: 'finance', command: 'backup' });
    expect(existsSync(file)).toBe(true);
    let err: { code?: string; exitCode?: number; message: string } | undefined;
    try {
      acquireJobLock(file, { clock: systemClock, policy: 'finance', command: 'backup' });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('E_REPO_LOCKED');
    expect(err?.exitCode).toBe(11);
    expect(err?.message).toContain(`policy finance is already running on this machine`);
    expect(err?.message).toContain(`/${process.pid} (backup)`);
    first.release();
    expect(existsSync(file)).toBe(false);

    writeFileSync(file, JSON.stringify({ pid: deadPid(), host: hostname(), time: '2020-01-01T00:00:00Z', nonce: 'old' }));
    const second = acquireJobLock(file, { clock: systemClock, policy: 'finance', command: 'backup' });
    expect(JSON.parse(readFileSync(file, 'utf8')).pid).toBe(process.pid);
    second.release();
    expect(existsSync(file)).toBe(false);
  });

  it('two CLI prunes of one policy: the job lock file of a running one makes the other exit 11', () => {
    const { dir, policy } = setup();
    const file = join(dir, 'locks', 'test.prune.lock');
    const held = acquireJobLock(file, { clock: systemClock, policy: 'test', command: 'prune' });
    const r = triad(['prune', '-p', policy], { env: PASS });
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('policy test is already running on this machine');
    held.release();
    expect(triad(['prune', '-p', policy], { env: PASS }).code).toBe(0);
  });
});
