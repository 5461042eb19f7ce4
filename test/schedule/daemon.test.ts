import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childJobRunner } from '../../src/app/schedule-child-runner.js';
import type { ScheduledJob, SchedulerLogEvent } from '../../src/scheduler/index.js';
import { fixedClock } from '../../src/core/clock.js';
import { createLogger } from '../../src/cli/log.js';
import { BIN, ENTRY, PASS, ROOT, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

const baseEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root' };

/** Starts `triad schedule run` and collects its log lines. */
function daemon(args: string[], env: Record<string, string>) {
  const p = spawn(process.execPath, [ENTRY, 'schedule', 'run', ...args], { cwd: ROOT, env: { ...baseEnv, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let stderr = '';
  let buf = '';
  p.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => p.on('close', (code) => r(code)));
  const waitFor = async (pred: (line: string) => boolean, what: string, ms = 45_000): Promise<string> => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const hit = lines.find(pred);
      if (hit) return hit;
      if (p.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`no log line ${what} within ${ms} ms; got:\n${lines.join('\n')}\nstderr: ${stderr}`);
  };
  return { p, lines, stderr: () => stderr, exited, waitFor };
}

describe('triad schedule run (real daemon, real child jobs)', () => {
  it('catches up a missed backup at start with a child triad, reloads on SIGHUP keeping a good policy over a broken one, exits 143 on SIGTERM', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.txt'), 'hello scheduler\n');
    const file = writeLocalPolicy(dir, {
      sources: [join(dir, 'data')],
      extra: ['objectives:', '  rpo: 4h', 'schedule:', '  backup: "0 0 1 1 *"', '  check: "0 0 1 1 *"'].join('\n'),
    });
    expect(triad(['init', '-p', file], { env: PASS }).code).toBe(0);

    const d = daemon(['-p', file, '--log-format', 'json'], PASS);
    try {
      const start = JSON.parse(await d.waitFor((l) => l.includes('"started (catch-up)"'), 'catch-up start'));
      expect(start).toMatchObject({ level: 'info', policy: 'test', job: 'backup', reason: 'catch-up' });
      const done = JSON.parse(await d.waitFor((l) => l.includes('"job":"backup"') && l.includes('"status"'), 'backup result'));
      expect(done).toMatchObject({ level: 'info', policy: 'test', job: 'backup', status: 'ok', exitCode: 0 });
      expect(done.message).toMatch(/^ok \(exit 0\) after \d+(ms|s|m)( \d+s)?: snapshot [0-9a-f]{8}$/);
      const snaps = JSON.parse(triad(['snapshots', '-p', file, '--json'], { env: PASS }).stdout);
      expect(snaps.snapshots).toHaveLength(1);
      expect(done.message).toContain(snaps.snapshots[0].id.slice(0, 8));

      // Break the file, then ask for a reload: the old policy stays.
      writeFileSync(file, 'version: 1\npolicy: test\nsources: nonsense\n');
      d.p.kill('SIGHUP');
      const bad = JSON.parse(await d.waitFor((l) => l.includes('is invalid'), 'invalid-policy line'));
      expect(bad.level).toBe('error');
      expect(bad.message).toContain(`policy ${file} is invalid, keeping the version loaded before:`);
      const reloaded = JSON.parse(await d.waitFor((l) => l.includes('reloaded'), 'reload line'));
      expect(reloaded.message).toBe('reloaded: 1 policy');

      d.p.kill('SIGTERM');
      expect(await d.exited).toBe(143);
      expect(d.lines.some((l) => JSON.parse(l).message === 'stopped')).toBe(true);
      // Every line is one JSON object with a time stamp.
      for (const l of d.lines) expect(JSON.parse(l).time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(d.lines.join('\n') + d.stderr()).not.toContain(PASS.TEST_PASSPHRASE);
    } finally {
      d.p.kill('SIGKILL');
    }
  });

  it('plain log lines: "TIME level policy job: message"; no catch-up when the last backup is recent', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'a.txt'), 'x');
    const file = writeLocalPolicy(dir, { sources: [join(dir, 'data')], extra: ['objectives:', '  rpo: 400d', 'schedule:', '  backup: "0 0 1 1 *"'].join('\n') });
    expect(triad(['init', '-p', file], { env: PASS }).code).toBe(0);
    expect(triad(['backup', '-p', file], { env: PASS }).code).toBe(0);
    const d = daemon(['-p', file], PASS);
    try {
      const next = await d.waitFor((l) => l.includes('next run'), 'next-run line');
      expect(next).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z info test backup: next run \d{4}-01-01T00:00:00\.000Z \(0 0 1 1 \*\)$/);
      await d.waitFor((l) => / info scheduler: started: 1 policy, 1 job\(s\)$/.test(l), 'started line');
      await new Promise((r) => setTimeout(r, 500));
      d.p.kill('SIGTERM');
      expect(await d.exited).toBe(143);
      expect(d.lines.some((l) => l.includes('catch-up'))).toBe(false);
    } finally {
      d.p.kill('SIGKILL');
    }
  });

  it('refuses to start without a valid policy (exit 2)', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'bad.yaml'), 'version: 1\n');
    const r = triad(['schedule', 'run', '--policies', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('no valid policy to schedule');
    expect(r.stdout).toContain('bad.yaml not loaded');
  });
});

describe('childJobRunner', () => {
  /** stopWhen: a file the job writes once its SIGTERM handler is installed; the stop comes then. */
  const run = (entry: string, job: string, opts: { stopWhen?: string; stopGraceMs?: number; env?: Record<string, string> } = {}) => {
    const logs: SchedulerLogEvent[] = [];
    const ac = new AbortController();
    if (opts.stopWhen !== undefined) {
      const poll = setInterval(() => {
        if (existsSync(opts.stopWhen!)) {
          clearInterval(poll);
          ac.abort();
        }
      }, 20);
    }
    const runner = childJobRunner({ execPath: process.execPath, entry, env: { ...baseEnv, ...opts.env }, cwd: ROOT, stopGraceMs: opts.stopGraceMs ?? 5000, log: (e) => logs.push(e) });
    return runner({ policy: 'p', file: '/nonexistent/p.yaml', job: job as ScheduledJob, reason: 'schedule', scheduledFor: new Date(0), signal: ac.signal }).then((o) => ({ o, logs }));
  };

  it('a job this triad does not have is reported clearly, not a crash', async () => {
    const { o } = await run(BIN, 'defragment');
    expect(o).toEqual({ exitCode: 2, status: 'unavailable', message: "this triad has no 'defragment' command yet, so the defragment job cannot run; remove it from the schedule or upgrade triad" });
  });

  it('a failing job reports its error code and message from --json', async () => {
    const { o } = await run(BIN, 'backup');
    expect(o.exitCode).toBe(2);
    expect(o.status).toBe('failed');
    expect(o.message).toBe('E_POLICY_NOT_FOUND: policy file not found: /nonexistent/p.yaml');
  });

  it('on stop, a job that handles SIGTERM ends cleanly (143)', async () => {
    const dir = tempDir();
    const entry = join(dir, 'job.mjs');
    const ready = join(dir, 'ready');
    writeFileSync(entry, `import { writeFileSync } from 'node:fs'; process.on('SIGTERM', () => { console.log(JSON.stringify({ error: { code: 'E_INTERRUPTED', message: 'interrupted' } })); process.exit(143); }); writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`);
    const started = performance.now();
    const { o, logs } = await run(entry, 'backup', { stopWhen: ready });
    expect(o).toEqual({ exitCode: 143, status: 'interrupted', message: 'E_INTERRUPTED: interrupted' });
    expect(performance.now() - started).toBeLessThan(4000);
    expect(logs.map((l) => l.message)).toEqual([expect.stringMatching(/^stopping: SIGTERM sent to the job \(pid \d+\)$/)]);
  });

  it('on stop, a job that ignores SIGTERM is abandoned (SIGKILL) after the grace time', async () => {
    const dir = tempDir();
    const entry = join(dir, 'stubborn.mjs');
    const ready = join(dir, 'ready');
    writeFileSync(entry, `import { writeFileSync } from 'node:fs'; process.on('SIGTERM', () => {}); writeFileSync(${JSON.stringify(ready)}, ''); setInterval(() => {}, 1000);`);
    const started = performance.now();
    const { o, logs } = await run(entry, 'backup', { stopWhen: ready, stopGraceMs: 500 });
    expect(o).toEqual({ exitCode: 128, status: 'interrupted', message: 'killed by SIGKILL while stopping' });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(logs.map((l) => l.level)).toEqual(['info', 'warn']);
    expect(logs[1]!.message).toBe('abandoned: the job did not end within 500ms of SIGTERM; killed');
  });
});

describe('log lines', () => {
  const clock = fixedClock('2026-03-01T04:00:00Z');
  it('plain: one line per event, secrets masked, line breaks folded', () => {
    const out: string[] = [];
    const log = createLogger({ format: 'plain', clock, write: (l) => out.push(l), redact: ['s3cr3t-passphrase'] });
    log.log({ level: 'info', policy: 'finance', job: 'backup', message: 'ok (exit 0): snapshot 1a2b3c4d' });
    log.log({ level: 'error', policy: 'finance', message: 'bad\nfile s3cr3t-passphrase' });
    log.log({ level: 'info', message: 'started' });
    log.log({ level: 'debug', message: 'hidden' });
    expect(out).toEqual([
      '2026-03-01T04:00:00.000Z info finance backup: ok (exit 0): snapshot 1a2b3c4d\n',
      '2026-03-01T04:00:00.000Z error finance: bad | file ***\n',
      '2026-03-01T04:00:00.000Z info scheduler: started\n',
    ]);
  });

  it('masks a secret where it stands as a token, not inside longer words', () => {
    const out: string[] = [];
    const log = createLogger({ format: 'plain', clock, write: (l) => out.push(l), redact: ['test', 'p4ss.w+rd'] });
    log.log({ level: 'info', policy: 'finance', job: 'restore-test', message: 'restore-test ok; testing done; pass=test; key p4ss.w+rd, test.' });
    expect(out).toEqual(['2026-03-01T04:00:00.000Z info finance restore-test: restore-test ok; testing done; pass=***; key ***, ***.\n']);
  });

  it('json: one object per line with the structured fields', () => {
    const out: string[] = [];
    const log = createLogger({ format: 'json', clock, write: (l) => out.push(l), redact: ['s3cr3t-passphrase'] });
    log.log({ level: 'warn', policy: 'finance', job: 'prune', message: 'skipped s3cr3t-passphrase', fields: { exitCode: 2, time: 'not-overridden' } });
    expect(out).toHaveLength(1);
    expect(out[0]!.endsWith('\n')).toBe(true);
    expect(JSON.parse(out[0]!)).toEqual({ time: '2026-03-01T04:00:00.000Z', level: 'warn', policy: 'finance', job: 'prune', message: 'skipped ***', exitCode: 2 });
  });
});
