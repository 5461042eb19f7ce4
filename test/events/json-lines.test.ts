import { socketFile } from '../helpers/tree.js';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { childJobRunner } from '../../src/app/schedule-child-runner.js';
import type { SchedulerLogEvent } from '../../src/scheduler/index.js';
import { BIN, PASS, ROOT, tempDir, triad, writeLocalPolicy } from '../helpers/triad.js';

/** A policy whose backup warns twice: a FIFO among the sources, and target usb without its repository. */
function warningBackup(): { work: string; policy: string } {
  const work = tempDir();
  const src = join(work, 'src');
  mkdirSync(src);
  writeFileSync(join(src, 'a.txt'), 'kept');
  socketFile(join(src, '0-sock'));
  const policy = writeLocalPolicy(work, { sources: [src] });
  expect(triad(['init', '-p', policy], { env: PASS }).code).toBe(0);
  rmSync(join(work, 'usb'), { recursive: true });
  return { work, policy };
}

describe('events with --json', () => {
  it('a backup that warns: typed JSON lines on stderr, one JSON document on stdout; text lines without --json', () => {
    const { work, policy } = warningBackup();
    const r = triad(['backup', '-p', policy, '--json'], { env: PASS });
    expect(r.code, r.stderr).toBe(1);
    const result = JSON.parse(r.stdout) as { snapshot: string; targets: { target: string; status: string }[] };
    expect(result.snapshot).toMatch(/^[0-9a-f]{64}$/);
    expect(result.targets.map((t) => [t.target, t.status])).toEqual([['nas', 'committed'], ['usb', 'failed']]);

    const events = r.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const e of events) {
      expect(Object.keys(e).slice(0, 2)).toEqual(['type', 'level']);
      expect(typeof e.message).toBe('string');
    }
    expect(events).toContainEqual({
      type: 'target-left-out',
      level: 'warning',
      target: 'usb',
      error: `no repository at target 'usb' (local:${join(work, 'usb')})`,
      message: `target 'usb' failed and is left out of this run: no repository at target 'usb' (local:${join(work, 'usb')})`,
    });
    expect(events).toContainEqual(expect.objectContaining({ type: 'file-skipped', level: 'warning', path: join(work, 'src', '0-sock'), reason: 'special', detail: 'socket: skipped' }));
    // Progress is rate-limited: the first at once, then at most one a second.
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress[0]).toMatchObject({ level: 'progress', job: 'backup', files: 1 });
    expect(progress.length).toBeLessThanOrEqual(2);

    const text = triad(['backup', '-p', policy], { env: PASS });
    expect(text.code).toBe(1);
    expect(text.stderr).toContain(`warning: target 'usb' failed and is left out of this run: no repository at target 'usb'`);
    expect(text.stderr).toContain(`warning: ${join(work, 'src', '0-sock')}: socket: skipped`);
    expect(text.stderr).not.toContain('{"type"');
  });

  it("the scheduler's job runner logs a child job's events with their fields, and still reads its result", async () => {
    const { policy } = warningBackup();
    const logs: SchedulerLogEvent[] = [];
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', TRIAD_TEST_LOW_KDF: '1', ...PASS };
    const runner = childJobRunner({ execPath: process.execPath, entry: BIN, env, cwd: ROOT, log: (e) => logs.push(e) });
    const o = await runner({ policy: 'test', file: policy, job: 'backup', reason: 'schedule', scheduledFor: new Date(0), signal: new AbortController().signal });
    expect(o).toMatchObject({ exitCode: 1, status: 'failed', message: expect.stringMatching(/^snapshot [0-9a-f]{8}$/) });
    expect(logs).toContainEqual({
      level: 'warn',
      policy: 'test',
      job: 'backup',
      message: expect.stringContaining("target 'usb' failed and is left out of this run"),
      fields: { event: 'target-left-out', target: 'usb', error: expect.stringContaining("no repository at target 'usb'") },
    });
    expect(logs).toContainEqual(expect.objectContaining({ level: 'warn', fields: expect.objectContaining({ event: 'file-skipped', reason: 'special' }) }));
    expect(logs.filter((l) => l.fields?.event === 'progress').every((l) => l.level === 'debug')).toBe(true);
  });
});
