import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startJob } from '../../src/app/job-run.js';
import { heartbeatUrl, pingHeartbeat, sendWebhook, webhookPayload, type RunSummary } from '../../src/app/notify.js';
import { openCatalog } from '../../src/catalog/catalog.js';
import { systemClock } from '../../src/core/clock.js';
import { isTriadError } from '../../src/core/errors.js';
import type { AppEvent } from '../../src/core/events.js';
import { eventText } from '../../src/cli/render/events.js';
import { loadPolicy } from '../../src/policy/load.js';
import { startRecorder, type Received, type Recorder } from '../helpers/http-recorder.js';
import { PASS, tempDir, writeLocalPolicy } from '../helpers/triad.js';

/** A local endpoint that records what it receives; some paths misbehave on purpose. */
let server: Recorder;
let base: string;
let received: Received[];
const flakyCount = new Map<string, number>();

beforeAll(async () => {
  server = await startRecorder((path, res) => {
    if (path.startsWith('/hang')) return true; // never answers: the client's timeout must fire
    let status = 0;
    if (path.startsWith('/down')) status = 503;
    else if (path.startsWith('/reject')) status = 400;
    else if (path.startsWith('/flaky')) {
      const n = (flakyCount.get(path) ?? 0) + 1;
      flakyCount.set(path, n);
      if (n < 3) status = 500;
    }
    if (!status) return false;
    res.writeHead(status).end({ 503: 'down', 400: 'bad', 500: 'oops' }[status]);
    return true;
  });
  ({ base, received } = server);
});

afterAll(() => server.close());

beforeEach(() => {
  received.length = 0;
});

const fast = { clock: systemClock, backoffMs: 20, timeoutMs: 2000 };

const summary: RunSummary = {
  policy: 'finance',
  job: 'backup',
  status: 'ok',
  exitCode: 0,
  host: 'fs1',
  startedAt: '2024-01-01T04:00:00.000Z',
  finishedAt: '2024-01-01T04:10:00.000Z',
  durationMs: 600_000,
  snapshot: 'ab'.repeat(32),
  files: 10,
  bytesRead: 1000,
  bytesAdded: 100,
  targets: [{ name: 'nas', ok: true }],
};

describe('webhook', () => {
  it('POSTs the run summary as JSON', async () => {
    const r = await sendWebhook(`${base}/hook`, summary, fast);
    expect(r).toMatchObject({ ok: true, attempts: 1, status: 200 });
    expect(received).toHaveLength(1);
    expect(received[0]!.method).toBe('POST');
    expect(received[0]!.contentType).toBe('application/json');
    expect(JSON.parse(received[0]!.body)).toEqual({
      version: 1,
      source: 'triad',
      event: 'backup.ok',
      policy: 'finance',
      job: 'backup',
      status: 'ok',
      exitCode: 0,
      host: 'fs1',
      startedAt: '2024-01-01T04:00:00.000Z',
      finishedAt: '2024-01-01T04:10:00.000Z',
      durationMs: 600000,
      snapshot: 'ab'.repeat(32),
      files: 10,
      bytesRead: 1000,
      bytesAdded: 100,
      targets: [{ name: 'nas', ok: true }],
    });
  });

  it('retries server errors with backoff until it is delivered', async () => {
    const r = await sendWebhook(`${base}/flaky-1`, summary, fast);
    expect(r).toMatchObject({ ok: true, attempts: 3, status: 200 });
    expect(received.map((x) => x.path)).toEqual(['/flaky-1', '/flaky-1', '/flaky-1']);
  });

  it('gives up after the bounded number of attempts and reports why, without throwing', async () => {
    const r = await sendWebhook(`${base}/down`, summary, { ...fast, attempts: 3 });
    expect(r).toMatchObject({ ok: false, attempts: 3, status: 503, error: 'HTTP 503' });
    expect(received).toHaveLength(3);
  });

  it('does not retry a client error', async () => {
    const r = await sendWebhook(`${base}/reject`, summary, fast);
    expect(r).toMatchObject({ ok: false, attempts: 1, status: 400 });
  });

  it('times out each request and stops within the total time budget', async () => {
    const started = performance.now();
    const r = await sendWebhook(`${base}/hang`, summary, { clock: systemClock, timeoutMs: 300, attempts: 10, backoffMs: 100, maxElapsedMs: 1000 });
    const took = performance.now() - started;
    expect(r.ok).toBe(false);
    expect(r.error).toBe('no answer within 300 ms');
    expect(r.attempts).toBeGreaterThanOrEqual(2);
    expect(r.attempts).toBeLessThan(10);
    expect(took).toBeLessThan(3000);
  });

  it('keeps credentials in the URL out of the reported address', async () => {
    const r = await sendWebhook(`http://user:hunter2@127.0.0.1:${server.port}/reject`, summary, fast);
    expect(r.url).not.toContain('hunter2');
    expect(webhookPayload({ ...summary, error: 'x'.repeat(5000) }).error).toHaveLength(2000);
  });
});

describe('heartbeat', () => {
  it('uses healthchecks.io suffixes', () => {
    expect(heartbeatUrl('https://hc-ping.com/uuid', 'start')).toBe('https://hc-ping.com/uuid/start');
    expect(heartbeatUrl('https://hc-ping.com/uuid/', 'success')).toBe('https://hc-ping.com/uuid');
    expect(heartbeatUrl('https://hc-ping.com/uuid?rid=1', 'fail')).toBe('https://hc-ping.com/uuid/fail?rid=1');
  });

  it('pings /start, the bare URL and /fail', async () => {
    await pingHeartbeat(`${base}/hb/abc`, 'start', undefined, fast);
    await pingHeartbeat(`${base}/hb/abc`, 'success', summary, fast);
    await pingHeartbeat(`${base}/hb/abc`, 'fail', { ...summary, status: 'failed', exitCode: 1, error: 'target nas failed' }, fast);
    expect(received.map((x) => x.path)).toEqual(['/hb/abc/start', '/hb/abc', '/hb/abc/fail']);
    expect(received[2]!.body).toContain('failed (exit 1)');
    expect(received[2]!.body).toContain('target nas failed');
  });
});

describe('a job with hooks and notifications (the envelope backup uses)', () => {
  function setup(hooks: string) {
    const dir = tempDir();
    mkdirSync(join(dir, 'src'));
    const file = writeLocalPolicy(dir, {
      name: 'fin',
      sources: [join(dir, 'src')],
      extra: [hooks, 'notify:', `  webhook: ${base}/hook`, `  heartbeat: ${base}/hb/uuid-1`].join('\n'),
    });
    return { dir, file };
  }
  const env = { ...PASS, PATH: process.env.PATH ?? '' };

  it('a failed before hook: no job, on_failure hooks run, /start then /fail, a failed webhook, a failed run record — and no secret anywhere', async () => {
    const { dir, file } = setup(
      [
        'hooks:',
        '  before:',
        '    - run: "echo dump failed >&2; exit 4"',
        '      timeout: 10s',
        '  on_failure:',
        `    - run: 'echo "$TRIAD_RESULT|$TRIAD_ERROR|$TEST_PASSPHRASE" > ${join('$HOME', 'failure.txt')}'`,
      ].join('\n'),
    );
    const policy = await loadPolicy(file, { env });
    const warnings: string[] = [];
    const ctx = { env: { ...env, HOME: dir }, cwd: dir, clock: systemClock, emit: (e: AppEvent) => warnings.push(eventText(e)) };
    let caught: unknown;
    try {
      await startJob(ctx, policy, 'backup');
    } catch (err) {
      caught = err;
    }
    expect(isTriadError(caught, 'E_HOOK_FAILED')).toBe(true);
    expect((caught as Error).message).toContain('exited with code 4');
    const failure = readFileSync(join(dir, 'failure.txt'), 'utf8');
    expect(failure).toMatch(/^failed\|before hook "echo dump failed >&2; exit 4" exited with code 4; the backup was not run\|\n$/);
    expect(received.map((r) => r.path).sort()).toEqual(['/hb/uuid-1/fail', '/hb/uuid-1/start', '/hook']);
    const hook = JSON.parse(received.find((r) => r.path === '/hook')!.body);
    expect(hook).toMatchObject({ policy: 'fin', job: 'backup', status: 'failed', exitCode: 1, errorCode: 'E_HOOK_FAILED' });
    expect(hook.hooks).toEqual([
      { kind: 'before', run: 'echo dump failed >&2; exit 4', exitCode: 4, timedOut: false },
      { kind: 'on_failure', run: `echo "$TRIAD_RESULT|$TRIAD_ERROR|$TEST_PASSPHRASE" > ${join('$HOME', 'failure.txt')}`, exitCode: 0, timedOut: false },
    ]);
    for (const r of received) expect(r.body + r.path).not.toContain(PASS.TEST_PASSPHRASE);
    expect(warnings).toEqual([]);
    const catalog = openCatalog(join(dir, 'catalog.db'));
    try {
      const runs = catalog.listRuns('fin', { kind: 'backup' });
      expect(runs).toHaveLength(1);
      expect(runs[0]).toMatchObject({ status: 'failed', exit_code: 1 });
      expect((runs[0]!.details.hooks as { stderr: string }[])[0]!.stderr).toBe('dump failed\n');
    } finally {
      catalog.close();
    }
  });

  it('a successful job: before, after with TRIAD_SNAPSHOT, then the success ping and an ok webhook', async () => {
    // Hooks run in the caller's working directory (the dir here).
    const { dir, file } = setup(['hooks:', '  before: ["touch before.flag"]', `  after: ['echo "$TRIAD_RESULT $TRIAD_SNAPSHOT" > after.txt']`].join('\n'));
    const policy = await loadPolicy(file, { env });
    const ctx = { env, cwd: dir, clock: systemClock };
    const job = await startJob(ctx, policy, 'backup');
    expect(existsSync(join(dir, 'before.flag'))).toBe(true);
    expect(received.map((r) => r.path)).toEqual(['/hb/uuid-1/start']);
    const fin = await job.finish({ status: 'ok', exitCode: 0, snapshot: 'cd'.repeat(32), files: 3 });
    expect(fin.exitCode).toBe(0);
    expect(readFileSync(join(dir, 'after.txt'), 'utf8')).toBe(`ok ${'cd'.repeat(32)}\n`);
    expect(received.map((r) => r.path).sort()).toEqual(['/hb/uuid-1', '/hb/uuid-1/start', '/hook']);
    expect(JSON.parse(received.find((r) => r.path === '/hook')!.body)).toMatchObject({ status: 'ok', exitCode: 0, snapshot: 'cd'.repeat(32), files: 3 });
    for (const r of received) expect(r.body).not.toContain(PASS.TEST_PASSPHRASE);
  });

  it('a failing after hook turns a successful job into exit 1 and a /fail ping', async () => {
    const { dir, file } = setup(['hooks:', '  after: ["exit 9"]'].join('\n'));
    const policy = await loadPolicy(file, { env });
    const warnings: string[] = [];
    const job = await startJob({ env, cwd: dir, clock: systemClock, emit: (e: AppEvent) => warnings.push(eventText(e)) }, policy, 'backup');
    const fin = await job.finish({ status: 'ok', exitCode: 0, snapshot: 'ef'.repeat(32) });
    expect(fin).toMatchObject({ exitCode: 1, status: 'failed' });
    expect(warnings).toEqual(['after hook "exit 9" exited with code 9; the backup itself completed']);
    expect(received.map((r) => r.path).sort()).toEqual(['/hb/uuid-1/fail', '/hb/uuid-1/start', '/hook']);
    expect(JSON.parse(received.find((r) => r.path === '/hook')!.body)).toMatchObject({ status: 'failed', errorCode: 'E_HOOK_FAILED', snapshot: 'ef'.repeat(32) });
  });

  it('an unreachable monitor is a warning, not a failure', async () => {
    const dir = tempDir();
    const file = writeLocalPolicy(dir, { name: 'fin', sources: [dir], extra: `notify:\n  webhook: ${base}/down\n` });
    writeFileSync(join(dir, 'x'), 'x');
    const policy = await loadPolicy(file, { env });
    const warnings: string[] = [];
    const job = await startJob({ env, cwd: dir, clock: systemClock, emit: (e: AppEvent) => warnings.push(eventText(e)) }, policy, 'backup', { delivery: { backoffMs: 10, attempts: 2 } });
    const fin = await job.finish({ status: 'ok', exitCode: 0 });
    expect(fin.exitCode).toBe(0);
    expect(warnings).toEqual([`webhook ${base}/down not delivered after 2 attempt(s): HTTP 503`]);
  });
});
