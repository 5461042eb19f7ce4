import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openStorage } from '../../src/backends/open.js';
import { fixedClock, systemClock } from '../../src/core/clock.js';
import { acquireLock } from '../../src/repo/lock/repo-lock.js';
import { Repository } from '../../src/repo/repository.js';
import { azuriteForSuite, s3rverForSuite } from '../helpers/emulators.js';
import { PASS, tempDir, triadAsync, writePolicy } from '../helpers/triad.js';

// Two hosts (two processes, each with its own policy and catalogue) run `prune` against one
// repository at the same instant: exactly one gets the exclusive lock, the other exits 11.
// Both processes' storage I/O starts at one instant, and writing a lock object is held up half
// a second, so both have listed an empty locks/ before either lock object lands: with write-then-list alone both then see each other
// and back off (no winner); the conditional create of the claim lets exactly one through.
const WRITE_LATE = { op: 'save', match: '^locks/[0-9a-f]{64}$', ms: 500 };
// The winner keeps its lock a moment longer when it releases, so a loser that starts late still finds it.
const RELEASE_LATE = { op: 'remove', match: '^locks/[0-9a-f]{64}$', ms: 800 };
const faults = (...delay: object[]) => JSON.stringify({ seed: 1, rate: 0, delay });
/** The same, with both processes' storage I/O held until one instant, whatever their start-up took; `log` notes a late start. */
const together = (log: string, ...delay: object[]) => JSON.stringify({ seed: 1, rate: 0, delay, startAt: Date.now() + 3000, log });
/** Times a round is run again when a process reached its first storage call after the instant (a machine too busy to start it in 3 s). */
const LATE_RETRIES = 3;
const ROUNDS = 20;
/** Rounds that also race on azurite (each takes longer there; the protocol is the same). */
const AZURE_ROUNDS = 5;

function twoHosts(target: Record<string, unknown>): { alpha: string; beta: string } {
  const dir = tempDir();
  const policyOf = (host: string) => {
    const home = join(dir, host);
    mkdirSync(join(home, 'src'), { recursive: true });
    writeFileSync(join(home, 'src', 'a.txt'), `data of ${host}\n`);
    return writePolicy(home, { name: 'srv', sources: [join(home, 'src')], targets: { shared: target }, rule: 'none', extra: { host, retention: { keep_last: 1 } } });
  };
  return { alpha: policyOf('alpha'), beta: policyOf('beta') };
}

async function ready(alpha: string, beta: string, env: Record<string, string>): Promise<void> {
  for (const args of [['init', '-p', alpha], ['backup', '-p', alpha], ['backup', '-p', beta]]) {
    const r = await triadAsync(args, { env });
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  }
}

/**
 * Both hosts prune at once; the exit codes, sorted. A round in which a process started its
 * storage I/O after the common instant did not race (the other may have finished already): it
 * is run again, at most LATE_RETRIES times, and then fails saying so.
 */
async function race(alpha: string, beta: string, env: Record<string, string>): Promise<{ codes: number[]; output: string }> {
  for (let attempt = 0; ; attempt++) {
    const log = join(tempDir(), 'faults.log');
    const spec = together(log, WRITE_LATE, RELEASE_LATE);
    const runs = await Promise.all([alpha, beta].map((p) => triadAsync(['prune', '-p', p], { env: { ...env, TRIAD_TEST_FAULTS: spec } })));
    const late = existsSync(log) && /^late /m.test(readFileSync(log, 'utf8'));
    if (late && attempt < LATE_RETRIES) continue;
    expect(late, `a process started its I/O after the instant in ${attempt + 1} attempts`).toBe(false);
    return { codes: runs.map((r) => r.code).sort((a, b) => a - b), output: runs.map((r) => r.stderr).join('\n') };
  }
}

describe('exactly one winner for the exclusive lock', () => {
  const azurite = azuriteForSuite();

  it(`two processes prune at the same instant, ${ROUNDS} times on local paths (two side by side) and ${AZURE_ROUNDS} on azurite: one exits 0, the other 11`, async () => {
    const dir = tempDir();
    // Two local repositories race side by side (each race is two processes on one repository):
    // a round mostly waits for its instant and its held-up writes, so two at once halve the wait.
    const nas = [join(dir, 'nas-a'), join(dir, 'nas-b')];
    const locals = nas.map((path) => twoHosts({ type: 'local', path, media: 'nas', offsite: false }));
    const cloud = twoHosts(azurite.az.policyFields({ prefix: 'race/' }));
    const env = { ...PASS, ...azurite.az.env };
    for (const local of locals) await ready(local.alpha, local.beta, env);
    await ready(cloud.alpha, cloud.beta, env);
    for (let round = 0; round < ROUNDS; round += locals.length) {
      const [onAzure, ...onNas] = await Promise.all([round / locals.length < AZURE_ROUNDS ? race(cloud.alpha, cloud.beta, env) : undefined, ...locals.map((l) => race(l.alpha, l.beta, env))]);
      for (const [i, r] of onNas.entries()) {
        expect(r.codes, `local round ${round + i}: ${r.output}`).toEqual([0, 11]);
        expect(r.output).toMatch(/target 'shared' is locked by (alpha|beta)\/\d+ \(exclusive lock for prune\)/);
      }
      if (onAzure) expect(onAzure.codes, `azurite round ${round / locals.length}: ${onAzure.output}`).toEqual([0, 11]);
    }
    // Nothing left behind: every lock object and claim was released.
    for (const path of nas) expect(readdirSync(join(path, 'locks'))).toEqual([]);
    const storage = await openStorage(azurite.az.target({ name: 'shared', prefix: 'race/' }), { env: azurite.az.env });
    const left: string[] = [];
    for await (const o of storage.list('locks/')) left.push(o.name);
    expect(left).toEqual([]);
    await storage.close();
  }, 300_000);

  it('a taker whose clock is 2 hours ahead cannot take over a live claim; a claim stale by the storage clock is taken over and its old holder loses it', async () => {
    const target = azurite.az.policyFields({ prefix: 'takeover/' });
    const { alpha } = twoHosts(target);
    const env = { ...PASS, ...azurite.az.env };
    await ready(alpha, alpha, env);
    const storage = await openStorage(azurite.az.target({ name: 'shared', prefix: 'takeover/' }), { env: azurite.az.env });
    const repo = await Repository.open('shared', storage, PASS.TEST_PASSPHRASE);
    const names = async () => {
      const out: string[] = [];
      for await (const o of storage.list('locks/')) out.push(o.name.slice('locks/'.length));
      return out.filter((n) => n.startsWith('exclusive-')).sort();
    };
    // A live holder on another host: a process whose clock runs 2 hours ahead finds it live.
    const live = await acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, host: 'other-host', pid: 4242, command: 'prune' });
    expect(await names()).toEqual(['exclusive-1']);
    const ahead = new Date(Date.now() + 2 * 3600_000).toISOString();
    const r = await triadAsync(['prune', '-p', alpha], { env: { ...env, TRIAD_TEST_NOW: ahead } });
    expect(r.code, r.stdout + r.stderr).toBe(11);
    expect(r.stderr).toContain('locked by other-host/4242');
    expect(await names()).toEqual(['exclusive-1']);
    await live.release();
    expect(await names()).toEqual([]);

    // A holder with a 2-second lifetime stalls (its clock stands still, so it still believes
    // in its lock); by the storage's clock its claim goes stale and prune takes it over.
    const stalled = await acquireLock(repo, 'exclusive', { clock: fixedClock(new Date().toISOString()), refreshEvery: 0, host: 'stalled-host', pid: 7, staleAfter: 2000 });
    expect(await names()).toEqual(['exclusive-1']);
    await new Promise((res) => setTimeout(res, 4500));
    const p = await triadAsync(['prune', '-p', alpha], { env: { ...env, TRIAD_TEST_FAULTS: faults(RELEASE_LATE) } });
    expect(p.code, p.stdout + p.stderr).toBe(0);
    // The taker won epoch 2 and removed the stale claim below it; its own is gone with its lock.
    expect(await names()).toEqual([]);
    await stalled.refresh();
    expect(stalled.lost.aborted).toBe(true);
    expect((stalled.lost.reason as Error).message).toMatch(/lost the exclusive lock on target 'shared'/);
    await stalled.release();
    await storage.close();
  }, 120_000);
});

// s3rver ignores If-None-Match: each process finds that out with its probe and writes no claim;
// the write-then-list protocol alone then decides, which may let no taker in but never two.
describe('exclusive lock on a store that ignores conditional writes (s3rver)', () => {
  const suite = s3rverForSuite(mkdtempSync(join(tmpdir(), 'triad-lock-race-')));

  it('two takers at once, 10 times: never both hold it, and no claim is written', async () => {
    const { alpha } = twoHosts(suite.s3.policyFields({ prefix: 'plain/' }));
    const env = { ...PASS, ...suite.s3.env };
    await ready(alpha, alpha, env);
    const open = async () => Repository.open('shared', await openStorage(suite.s3.target({ name: 'shared', prefix: 'plain/' }), { env: suite.s3.env }), PASS.TEST_PASSPHRASE);
    const repos = [await open(), await open()];
    for (let round = 0; round < 10; round++) {
      const tries = await Promise.allSettled(repos.map((repo, i) => acquireLock(repo, 'exclusive', { clock: systemClock, refreshEvery: 0, host: `taker-${i}`, pid: 100 + i, command: 'prune' })));
      const held = tries.flatMap((t) => (t.status === 'fulfilled' ? [t.value] : []));
      for (const t of tries) if (t.status === 'rejected') expect((t.reason as { code?: string }).code).toBe('E_REPO_LOCKED');
      expect(held.length, `round ${round}`).toBeLessThanOrEqual(1);
      const names: string[] = [];
      for await (const o of repos[0]!.storage.list('locks/')) names.push(o.name);
      expect(names.filter((n) => !/^locks\/[0-9a-f]{64}$/.test(n)), `round ${round}`).toEqual([]);
      await Promise.all(held.map((l) => l.release()));
    }
    // Nothing left behind blocks a taker on its own.
    const alone = await acquireLock(repos[0]!, 'exclusive', { clock: systemClock, refreshEvery: 0, host: 'taker-0', pid: 100, command: 'prune' });
    await alone.release();
    for (const r of repos) await r.storage.close();
  }, 120_000);
});
