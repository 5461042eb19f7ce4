import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStorage } from '../../src/backends/open.js';
import { systemClock } from '../../src/core/clock.js';
import { acquireLock, listLocks } from '../../src/repo/lock/repo-lock.js';
import { Repository } from '../../src/repo/repository.js';
import { s3rverForSuite } from '../helpers/emulators.js';
import { PASS, tempDir, triadAsync, writePolicy } from '../helpers/triad.js';

// On object storage a lock's age is the store's: its own time now minus the object's
// Last-Modified. A host whose clock runs hours ahead must not take over a live lock, and a lock
// left unrefreshed past its lifetime is stale whatever the clocks say.
describe('lock age by the storage clock (s3rver)', () => {
  const suite = s3rverForSuite(mkdtempSync(join(tmpdir(), 'triad-lock-clock-')));

  async function setup(prefix: string) {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    writeFileSync(join(dir, 'src', 'a.txt'), 'a\n');
    const target = suite.s3.policyFields({ prefix });
    const policy = writePolicy(dir, { sources: [join(dir, 'src')], targets: { cloud: target }, rule: 'none', extra: { retention: { keep_last: 1 } } });
    const env = { ...PASS, ...suite.s3.env };
    const init = await triadAsync(['init', '-p', policy], { env });
    expect(init.code, init.stderr).toBe(0);
    const storage = await openStorage(suite.s3.target({ name: 'cloud', prefix }), { env: suite.s3.env });
    const repo = await Repository.open('cloud', storage, PASS.TEST_PASSPHRASE);
    return { policy, env, repo };
  }

  it('a process whose clock is 2 hours ahead finds the lock live and exits 11; the holder keeps it', async () => {
    const { policy, env, repo } = await setup('ahead/');
    const held = await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, host: 'other-host', pid: 4242, command: 'prune' });
    try {
      const ahead = new Date(Date.now() + 2 * 3600_000).toISOString();
      const r = await triadAsync(['prune', '-p', policy], { env: { ...env, TRIAD_TEST_NOW: ahead } });
      expect(r.code, r.stdout + r.stderr).toBe(11);
      expect(r.stderr).toContain('locked by other-host/4242');
      const u = await triadAsync(['unlock', '-p', policy, '--json'], { env: { ...env, TRIAD_TEST_NOW: ahead } });
      expect(u.code, u.stderr).toBe(0);
      expect(JSON.parse(u.stdout).targets[0].removed).toEqual([]);
      expect((await listLocks(repo, { clock: systemClock })).map((l) => l.stale)).toEqual([false]);
    } finally {
      await held.release();
      await repo.storage.close();
    }
  });

  it('a lock not refreshed for its lifetime by the storage clock is stale, even to a clock that runs behind', async () => {
    const { policy, env, repo } = await setup('stale/');
    // A 2-second lifetime, then no refresh: the holder died on another host.
    await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, host: 'gone-host', pid: 7, staleAfter: 2000 });
    const behind = new Date(Date.now() - 2 * 3600_000).toISOString();
    expect((await listLocks(repo, { clock: systemClock })).map((l) => l.stale)).toEqual([false]);
    await new Promise((r) => setTimeout(r, 4500));
    const locks = await listLocks(repo, { clock: systemClock });
    expect(locks.map((l) => l.stale)).toEqual([true]);
    expect(locks[0]!.staleReason).toMatch(/^not refreshed for \d+s by the storage's clock \(a lock lives 2s without a refresh\)$/);
    // This process's clock is 2 hours behind: by its own clock the lock would still be live.
    const r = await triadAsync(['prune', '-p', policy], { env: { ...env, TRIAD_TEST_NOW: behind } });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const u = await triadAsync(['unlock', '-p', policy, '--json'], { env });
    expect(JSON.parse(u.stdout).targets[0].removed.map((x: { pid: number }) => x.pid)).toEqual([7]);
    await repo.storage.close();
  });
});
