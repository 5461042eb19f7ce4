/**
 * Every job reports (not only backup): restore-test, check, prune, forget, copy and catalog
 * rebuild run the policy's hooks and send the webhook and the heartbeat, with the job's name
 * and result; damage found (exit 4) is a failure. Real processes, real shells, a real local
 * HTTP server.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecorder, type Recorder } from '../helpers/http-recorder.js';
import { PASS, tempDir, triadAsync, writePolicy } from '../helpers/triad.js';
import { flipByte, packFiles } from '../restore-test/helpers.js';

let server: Recorder;
beforeAll(async () => {
  server = await startRecorder();
});
afterAll(() => server.close());

const ALL_JOBS = ['backup', 'restore-test', 'check', 'prune', 'forget', 'copy', 'catalog-rebuild'];

interface Setup {
  dir: string;
  src: string;
  policy: string;
  log: string;
}

function setup(name: string, extra: (log: string) => Record<string, unknown>): Setup {
  const dir = tempDir('triad-jobs-');
  const src = join(dir, 'src');
  mkdirSync(src);
  for (let i = 0; i < 5; i++) writeFileSync(join(src, `ledger-${i}.csv`), `id,amount\n${i},${'9'.repeat(20_000 + i)}\n`);
  const log = join(dir, 'hooks.log');
  const policy = writePolicy(dir, {
    name,
    sources: [src],
    targets: {
      nas: { type: 'local', path: join(dir, 'nas'), media: 'nas', offsite: false },
      usb: { type: 'local', path: join(dir, 'usb'), media: 'removable', offsite: true },
    },
    extra: { retention: { keep_last: 1 }, ...extra(log) },
  });
  return { dir, src, policy, log };
}

const logHook = (log: string, kind: string): string => `echo "${kind} $TRIAD_JOB $TRIAD_RESULT $TRIAD_EXIT_CODE" >> '${log}'`;

interface Webhook {
  event: string;
  job: string;
  status: string;
  exitCode: number;
}

function received(prefix: string): { heartbeats: string[]; webhooks: Webhook[] } {
  const mine = server.received.filter((r) => r.path.startsWith(`/${prefix}/`));
  return {
    heartbeats: mine.filter((r) => r.path.startsWith(`/${prefix}/hb`)).map((r) => r.path.slice(prefix.length + 1)),
    webhooks: mine.filter((r) => r.path === `/${prefix}/hook`).map((r) => JSON.parse(r.body) as Webhook),
  };
}

async function ok(args: string[]): Promise<void> {
  const r = await triadAsync(args, { env: PASS });
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
}

/** Flips one byte in the middle of every data pack of a local target. */
function damagePacks(target: string): number {
  const packs = packFiles(target);
  for (const file of packs) flipByte(file, Math.floor(statSync(file).size / 2));
  return packs.length;
}

describe('every job reports', () => {
  it('restore-test, check, forget, prune, copy and catalog rebuild run their hooks and notify start and success with the job name', async () => {
    const s = setup('jobs', (log) => ({
      hooks: {
        before: [{ run: logHook(log, 'before'), jobs: ALL_JOBS }],
        after: [{ run: logHook(log, 'after'), jobs: ALL_JOBS }],
      },
      notify: { webhook: `${server.base}/jobs/hook`, heartbeat: `${server.base}/jobs/hb` },
    }));
    await ok(['init', '-p', s.policy]);
    await ok(['backup', '-p', s.policy, '--target', 'nas']);
    const commands: [string, string[]][] = [
      ['restore-test', ['restore-test', '-p', s.policy, '--target', 'nas']],
      ['check', ['check', '-p', s.policy, '--target', 'nas']],
      ['copy', ['copy', '-p', s.policy, '--from', 'nas', '--to', 'usb']],
      ['forget', ['forget', '-p', s.policy]],
      ['prune', ['prune', '-p', s.policy]],
      ['catalog-rebuild', ['catalog', 'rebuild', '-p', s.policy, '--target', 'nas']],
    ];
    for (const [, args] of commands) await ok(args);

    const lines = readFileSync(s.log, 'utf8').trim().split('\n');
    for (const job of ['backup', ...commands.map(([j]) => j)]) {
      expect(lines).toContain(`before ${job}  `);
      expect(lines).toContain(`after ${job} ok 0`);
    }
    const { heartbeats, webhooks } = received('jobs');
    expect(heartbeats.filter((p) => p === '/hb/start')).toHaveLength(7);
    expect(heartbeats.filter((p) => p === '/hb')).toHaveLength(7);
    expect(heartbeats.filter((p) => p === '/hb/fail')).toHaveLength(0);
    expect(webhooks.map((w) => [w.event, w.job, w.status, w.exitCode])).toEqual(
      ['backup', ...commands.map(([j]) => j)].map((j) => [`${j}.ok`, j, 'ok', 0]),
    );
  }, 120_000);

  it('a restore test that finds damage (exit 4) pings /fail, sends a failed webhook and runs the on_failure hooks, which run for every job by default', async () => {
    const s = setup('damaged', (log) => ({
      hooks: { before: [{ run: logHook(log, 'before') }], on_failure: [{ run: logHook(log, 'failure') }] },
      notify: { webhook: `${server.base}/damaged/hook`, heartbeat: `${server.base}/damaged/hb` },
    }));
    await ok(['init', '-p', s.policy]);
    await ok(['backup', '-p', s.policy]);
    expect(damagePacks(join(s.dir, 'nas'))).toBeGreaterThan(0);
    const rt = await triadAsync(['restore-test', '-p', s.policy, '--target', 'nas', '--sample', '100%'], { env: PASS });
    expect(rt.code, rt.stdout + rt.stderr).toBe(4);

    const lines = readFileSync(s.log, 'utf8').trim().split('\n');
    // The before hook (a dump, by default) ran for the backup only; the failure hook for the restore test.
    expect(lines).toEqual(['before backup  ', 'failure restore-test failed 4']);
    const { heartbeats, webhooks } = received('damaged');
    expect(heartbeats).toEqual(['/hb/start', '/hb', '/hb/start', '/hb/fail']);
    expect(webhooks.map((w) => [w.event, w.exitCode])).toEqual([
      ['backup.ok', 0],
      ['restore-test.failed', 4],
    ]);
  }, 120_000);

  it('notify.events chooses per job what is sent: a check that passes says nothing, one that fails is reported', async () => {
    const s = setup('quiet', () => ({
      notify: { webhook: `${server.base}/quiet/hook`, heartbeat: `${server.base}/quiet/hb`, events: { check: ['failure'] } },
    }));
    await ok(['init', '-p', s.policy]);
    await ok(['backup', '-p', s.policy]);
    await ok(['check', '-p', s.policy, '--read-data']);
    expect(received('quiet').webhooks.map((w) => w.event)).toEqual(['backup.ok']);
    damagePacks(join(s.dir, 'usb'));
    const bad = await triadAsync(['check', '-p', s.policy, '--read-data'], { env: PASS });
    expect(bad.code, bad.stderr).toBe(4);
    const { heartbeats, webhooks } = received('quiet');
    expect(webhooks.map((w) => [w.event, w.exitCode])).toEqual([
      ['backup.ok', 0],
      ['check.failed', 4],
    ]);
    // No /start for checks (not listed), one /fail.
    expect(heartbeats).toEqual(['/hb/start', '/hb', '/hb/fail']);
    expect(existsSync(join(s.dir, 'hooks.log'))).toBe(false);
  }, 120_000);
});
