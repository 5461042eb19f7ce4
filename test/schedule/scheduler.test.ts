import { describe, expect, it } from 'vitest';
import { Scheduler, backupCatchUp, type JobRequest, type ScheduledPolicy, type SchedulerLogEvent } from '../../src/scheduler/index.js';
import { FakeTimer, settle } from './fake-timer.js';

const HOUR = 3_600_000;
const MIN = 60_000;

function policy(name: string, schedule: ScheduledPolicy['policy']['schedule'], opts: { rpo?: number; timezone?: string } = {}): ScheduledPolicy {
  return {
    file: `/etc/triad/${name}.yaml`,
    policy: { name, schedule, timezone: opts.timezone ?? 'UTC', objectives: { window: 30 * 24 * HOUR, ...(opts.rpo !== undefined ? { rpo: opts.rpo } : {}) } },
  };
}

interface Call {
  policy: string;
  job: string;
  reason: string;
  at: string;
  end?: string;
}

/** A scheduler on a fake clock whose jobs "take" a given virtual time and record when they ran. */
function harness(start: string, durations: Record<string, number> = {}, lastBackup?: (p: ScheduledPolicy) => Date | undefined) {
  const timer = new FakeTimer(start);
  const calls: Call[] = [];
  const logs: SchedulerLogEvent[] = [];
  let active = 0;
  let maxActivePerPolicy = 0;
  const activeBy = new Map<string, number>();
  const scheduler = new Scheduler({
    timer,
    log: (e) => logs.push(e),
    ...(lastBackup ? { lastBackup } : {}),
    runner: async (req: JobRequest) => {
      const call: Call = { policy: req.policy, job: req.job, reason: req.reason, at: timer.now().toISOString() };
      calls.push(call);
      active++;
      activeBy.set(req.policy, (activeBy.get(req.policy) ?? 0) + 1);
      maxActivePerPolicy = Math.max(maxActivePerPolicy, activeBy.get(req.policy)!);
      await timer.sleep(durations[`${req.policy}/${req.job}`] ?? durations[req.job] ?? 10 * MIN, req.signal);
      active--;
      activeBy.set(req.policy, activeBy.get(req.policy)! - 1);
      call.end = timer.now().toISOString();
      return req.signal.aborted ? { exitCode: 143, status: 'interrupted', message: 'stopped' } : { exitCode: 0, status: 'ok', message: 'done' };
    },
  });
  const stop = new AbortController();
  let done: Promise<void> | undefined;
  return {
    timer,
    calls,
    logs,
    scheduler,
    stop,
    active: () => active,
    maxActivePerPolicy: () => maxActivePerPolicy,
    start(policies: ScheduledPolicy[]) {
      scheduler.setPolicies(policies);
      done = scheduler.run(stop.signal);
    },
    async shutdown() {
      stop.abort();
      await settle();
      await done;
    },
    brief: () => calls.map((c) => `${c.at} ${c.policy} ${c.job}${c.reason === 'catch-up' ? ' (catch-up)' : ''}`),
  };
}

describe('Scheduler on a pinned clock', () => {
  it('fires each job of each policy at its cron times, in the policy time zone', async () => {
    const h = harness('2024-01-06T23:00:00Z'); // a Saturday
    h.start([
      policy('finance', { backup: '0 */4 * * *', check: '0 5 * * 0' }),
      policy('paris', { backup: '30 1 * * *', restore_test: '0 3 1 * *' }, { timezone: 'Europe/Paris' }),
    ]);
    expect(h.scheduler.upcoming().map((u) => `${u.policy} ${u.job} ${u.next.toISOString()}`)).toEqual([
      'finance backup 2024-01-07T00:00:00.000Z',
      'paris backup 2024-01-07T00:30:00.000Z',
      'finance check 2024-01-07T05:00:00.000Z',
      'paris restore-test 2024-02-01T02:00:00.000Z',
    ]);
    await h.timer.advanceTo('2024-01-08T01:00:00Z');
    expect(h.brief()).toEqual([
      '2024-01-07T00:00:00.000Z finance backup',
      '2024-01-07T00:30:00.000Z paris backup',
      '2024-01-07T04:00:00.000Z finance backup',
      '2024-01-07T05:00:00.000Z finance check',
      '2024-01-07T08:00:00.000Z finance backup',
      '2024-01-07T12:00:00.000Z finance backup',
      '2024-01-07T16:00:00.000Z finance backup',
      '2024-01-07T20:00:00.000Z finance backup',
      '2024-01-08T00:00:00.000Z finance backup',
      '2024-01-08T00:30:00.000Z paris backup',
    ]);
    await h.shutdown();
  });

  it('never overlaps a job with itself: a fire while it still runs is skipped and logged', async () => {
    const h = harness('2024-01-01T00:30:00Z', { backup: 90 * MIN });
    h.start([policy('p', { backup: '0 * * * *' })]);
    await h.timer.advanceTo('2024-01-01T05:10:00Z');
    expect(h.calls.map((c) => [c.at, c.end])).toEqual([
      ['2024-01-01T01:00:00.000Z', '2024-01-01T02:30:00.000Z'],
      ['2024-01-01T03:00:00.000Z', '2024-01-01T04:30:00.000Z'],
      ['2024-01-01T05:00:00.000Z', undefined],
    ]);
    const skipped = h.logs.filter((l) => l.level === 'warn' && /skipped/.test(l.message));
    expect(skipped.map((l) => l.message)).toEqual([
      'skipped the run due at 2024-01-01T02:00:00.000Z: the previous one (started 2024-01-01T01:00:00.000Z) is still running',
      'skipped the run due at 2024-01-01T04:00:00.000Z: the previous one (started 2024-01-01T03:00:00.000Z) is still running',
    ]);
    expect(h.maxActivePerPolicy()).toBe(1);
    await h.shutdown();
  });

  it('queues the jobs of one policy behind each other, while other policies run alongside', async () => {
    const h = harness('2024-01-07T04:00:00Z', { 'a/backup': 30 * MIN, 'a/check': 20 * MIN, 'a/prune': 5 * MIN, 'b/backup': 45 * MIN });
    h.start([policy('a', { backup: '0 5 * * *', prune: '0 5 * * *', check: '10 5 * * *' }), policy('b', { backup: '0 5 * * *' })]);
    await h.timer.advanceTo('2024-01-07T07:00:00Z');
    expect(h.calls.map((c) => `${c.policy} ${c.job} ${c.at.slice(11, 16)}-${c.end?.slice(11, 16)}`)).toEqual([
      'a backup 05:00-05:30',
      'b backup 05:00-05:45',
      'a prune 05:30-05:35',
      'a check 05:35-05:55',
    ]);
    expect(h.maxActivePerPolicy()).toBe(1);
    expect(h.logs.some((l) => l.policy === 'a' && l.job === 'check' && l.message === 'queued behind backup')).toBe(true);
    await h.shutdown();
  });

  it('runs a missed backup once at start when its RPO would be breached, then keeps the schedule', async () => {
    const last = new Date('2024-01-01T00:00:00Z');
    const asked: string[] = [];
    const h = harness('2024-01-01T09:15:00Z', { backup: 20 * MIN }, (p) => {
      asked.push(p.policy.name);
      return p.policy.name === 'late' ? last : new Date('2024-01-01T08:00:00Z');
    });
    h.start([policy('late', { backup: '0 */4 * * *' }, { rpo: 4 * HOUR }), policy('fresh', { backup: '0 */4 * * *' }, { rpo: 4 * HOUR })]);
    await h.timer.advanceTo('2024-01-01T13:00:00Z');
    // A reload (SIGHUP) with the same policies must not catch up again.
    h.scheduler.setPolicies([policy('late', { backup: '0 */4 * * *' }, { rpo: 4 * HOUR }), policy('fresh', { backup: '0 */4 * * *' }, { rpo: 4 * HOUR })]);
    await h.timer.advanceTo('2024-01-01T13:30:00Z');
    expect(h.brief()).toEqual([
      '2024-01-01T09:15:00.000Z late backup (catch-up)',
      '2024-01-01T12:00:00.000Z late backup',
      '2024-01-01T12:00:00.000Z fresh backup',
    ]);
    expect(asked.sort()).toEqual(['fresh', 'late']);
    const why = h.logs.find((l) => l.policy === 'late' && /missed backup/.test(l.message));
    expect(why?.message).toContain('last backup at 2024-01-01T00:00:00.000Z');
    await h.shutdown();
  });

  it('a catch-up that runs into the next fire time makes that fire skip, not pile up', async () => {
    const h = harness('2024-01-01T03:30:00Z', { backup: 2 * HOUR }, () => undefined);
    h.start([policy('p', { backup: '0 */4 * * *' }, { rpo: 4 * HOUR })]);
    await h.timer.advanceTo('2024-01-01T08:30:00Z');
    expect(h.brief()).toEqual(['2024-01-01T03:30:00.000Z p backup (catch-up)', '2024-01-01T08:00:00.000Z p backup']);
    expect(h.logs.filter((l) => /skipped/.test(l.message))).toHaveLength(1);
    await h.shutdown();
  });

  it('reload: a changed schedule applies at once, a removed policy stops firing', async () => {
    const h = harness('2024-01-01T00:00:00Z');
    h.start([policy('a', { backup: '0 6 * * *' }), policy('b', { backup: '0 2 * * *' })]);
    await h.timer.advanceTo('2024-01-01T01:00:00Z');
    h.scheduler.setPolicies([policy('a', { backup: '30 1 * * *' })]);
    await h.timer.advanceTo('2024-01-01T07:00:00Z');
    expect(h.brief()).toEqual(['2024-01-01T01:30:00.000Z a backup']);
    await h.shutdown();
  });

  it('stop: queued jobs are dropped, the running one gets the abort and is awaited', async () => {
    const h = harness('2024-01-01T00:59:00Z', { backup: 3 * HOUR, check: 10 * MIN });
    h.start([policy('p', { backup: '0 1 * * *', check: '5 1 * * *' })]);
    await h.timer.advanceTo('2024-01-01T01:10:00Z');
    expect(h.active()).toBe(1);
    let finished = false;
    const stopped = h.shutdown().then(() => (finished = true));
    await settle();
    await stopped;
    expect(finished).toBe(true);
    expect(h.calls.map((c) => `${c.job} ${c.end}`)).toEqual(['backup 2024-01-01T01:10:00.000Z']);
    expect(h.logs.some((l) => /stopping: waiting for p backup; 1 queued job\(s\) dropped/.test(l.message))).toBe(true);
    expect(h.logs.some((l) => l.level === 'error' && /interrupted \(exit 143\)/.test(l.message))).toBe(true);
  });

  it('a job runner that throws is logged as a failed run and the scheduler keeps going', async () => {
    const timer = new FakeTimer('2024-01-01T00:00:00Z');
    const logs: SchedulerLogEvent[] = [];
    let n = 0;
    const s = new Scheduler({
      timer,
      log: (e) => logs.push(e),
      runner: async () => {
        n++;
        throw new Error('spawn EAGAIN');
      },
    });
    s.setPolicies([policy('p', { backup: '0 * * * *' })]);
    const stop = new AbortController();
    const done = s.run(stop.signal);
    await timer.advanceTo('2024-01-01T02:30:00Z');
    expect(n).toBe(2);
    expect(logs.filter((l) => l.level === 'error').map((l) => l.message.replace(/ after .*?:/, ':'))).toEqual([
      'failed (exit 1): could not run: spawn EAGAIN',
      'failed (exit 1): could not run: spawn EAGAIN',
    ]);
    stop.abort();
    await done;
  });
});

describe('backupCatchUp', () => {
  const now = new Date('2024-01-01T09:15:00Z');
  it.each([
    ['never backed up', undefined, 4 * HOUR, true],
    ['last 9h15 ago, RPO 4h', '2024-01-01T00:00:00Z', 4 * HOUR, true],
    ['last 1h15 ago: next run at 12:00 keeps a 4h RPO', '2024-01-01T08:00:00Z', 4 * HOUR, false],
    ['last at 08:30: 12:00 is 3h30 later', '2024-01-01T08:30:00Z', 4 * HOUR, false],
    ['last at 07:59: 12:00 would be 4h01 later', '2024-01-01T07:59:00Z', 4 * HOUR, true],
    ['no RPO, 08:00 run missed', '2024-01-01T07:00:00Z', undefined, true],
    ['no RPO, nothing missed', '2024-01-01T08:00:30Z', undefined, false],
  ] as const)('%s', (_name, last, rpo, due) => {
    const r = backupCatchUp({ now, last: last === undefined ? undefined : new Date(last), ...(rpo !== undefined ? { rpoMs: rpo } : {}), cron: '0 */4 * * *', timezone: 'UTC' });
    expect(r.due).toBe(due);
    expect(r.reason.length).toBeGreaterThan(10);
  });
});
