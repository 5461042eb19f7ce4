/**
 * `triad schedule run`: the long-running scheduler.
 *
 * The core (`Scheduler`) is a timer loop over `nextRuns` (the same cron dialect and the same
 * cron-parser evaluation as the systemd and crontab renderings, so the three agree on when
 * a job fires). It reads time only through an injected `SchedulerTimer`, so tests pin the
 * clock and advance it; node-cron would need its own timers faked and parses cron its own
 * way. The loop sleeps at most `maxSleepMs` (1 min) at a time and re-reads the clock, which
 * also copes with suspend/resume and clock steps; fire times missed while asleep coalesce
 * into one run.
 *
 * Rules: a job never overlaps itself (a fire while it runs or waits is skipped and logged);
 * the jobs of one policy run one at a time, in order, behind each other; a backup missed
 * while the scheduler was not running is run once at start when waiting for its next
 * scheduled time would breach the RPO. Jobs run through an injected `JobRunner`; the real
 * one starts `triad <job> -p FILE` as a child process, so a crashing job never takes the
 * scheduler down.
 */
import { formatDuration } from '../core/format.js';
import { discoverPolicyFiles } from './policy-files.js';
import { spawn } from 'node:child_process';
import type { Clock } from '../core/clock.js';
import { errnoCode } from '../core/errors.js';
import { loadPolicy } from '../policy/load.js';
import type { Policy } from '../policy/types.js';
import { nextRuns } from '../scheduler/cron.js';
import type { ScheduledJob } from '../scheduler/systemd.js';
import { TailBuffer } from './hooks.js';
import { catalogFor, errorMessage, type AppContext } from './session.js';

export type { ScheduledJob };

/** Schedule keys of the policy and the triad command each one runs. */
export const SCHEDULE_JOBS: readonly { key: keyof Policy['schedule']; job: ScheduledJob }[] = [
  { key: 'backup', job: 'backup' },
  { key: 'restore_test', job: 'restore-test' },
  { key: 'prune', job: 'prune' },
  { key: 'check', job: 'check' },
];

/** Time as the scheduler sees it. */
export interface SchedulerTimer {
  now(): Date;
  /** Resolves after `ms`, or early (without error) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Wall-clock time and sleeps from the injected Clock. */
export function realTimer(clock: Clock): SchedulerTimer {
  return {
    now: () => clock.now(),
    // The daemon wakes on abort to stop, which is not an error.
    sleep: (ms, signal) => clock.sleep(ms, signal).catch(() => undefined),
  };
}

/** The parts of a policy the scheduler uses. */
export type SchedulablePolicy = Pick<Policy, 'name' | 'schedule' | 'timezone' | 'objectives'>;

export interface ScheduledPolicy {
  /** Absolute path of the policy file (what the job is started with). */
  file: string;
  policy: SchedulablePolicy;
}

export interface JobRequest {
  policy: string;
  file: string;
  job: ScheduledJob;
  reason: 'schedule' | 'catch-up';
  /** The fire time (or the start time for a catch-up). */
  scheduledFor: Date;
  /** Aborted when the scheduler stops: finish quickly or give up safely. */
  signal: AbortSignal;
}

export type JobStatus = 'ok' | 'partial' | 'finding' | 'failed' | 'interrupted' | 'unavailable';

export interface JobOutcome {
  exitCode: number;
  status: JobStatus;
  /** One line for the log. */
  message: string;
}

export type JobRunner = (req: JobRequest) => Promise<JobOutcome>;

export interface SchedulerLogEvent {
  level: 'debug' | 'info' | 'warn' | 'error';
  policy?: string;
  job?: string;
  message: string;
  fields?: Record<string, unknown>;
}
export type SchedulerLog = (e: SchedulerLogEvent) => void;

export interface SchedulerOptions {
  timer: SchedulerTimer;
  runner: JobRunner;
  log: SchedulerLog;
  /** Recovery point of the newest backup of the policy, for the catch-up at start. */
  lastBackup?: (p: ScheduledPolicy) => Date | undefined | Promise<Date | undefined>;
  /** Longest sleep before the clock is read again; default 60 s. */
  maxSleepMs?: number;
}

export interface UpcomingRun {
  policy: string;
  job: ScheduledJob;
  cron: string;
  next: Date;
  running: boolean;
  queued: boolean;
}

interface Entry {
  policy: string;
  file: string;
  job: ScheduledJob;
  cron: string;
  timezone: string;
  next: Date;
}

interface Pending {
  entry: Entry;
  reason: JobRequest['reason'];
  scheduledFor: Date;
}

interface PolicyState {
  sp: ScheduledPolicy;
  queue: Pending[];
  running?: { job: ScheduledJob; startedAt: Date; done: Promise<void> };
}

/** Should a backup run at start? Pure: the decision and the reason to log. */
export function backupCatchUp(opts: { now: Date; last: Date | undefined; rpoMs?: number; cron: string; timezone: string }): { due: boolean; reason: string } {
  const next = nextRuns(opts.cron, opts.now, 1, opts.timezone)[0]!;
  if (opts.last === undefined) return { due: true, reason: 'no backup in the catalogue yet' };
  const lastText = opts.last.toISOString();
  if (opts.rpoMs !== undefined) {
    const gap = next.getTime() - opts.last.getTime();
    if (gap > opts.rpoMs) {
      return {
        due: true,
        reason: `last backup at ${lastText}; waiting for the next scheduled run at ${next.toISOString()} would leave ${formatDuration(gap)} between recovery points (RPO ${formatDuration(opts.rpoMs)})`,
      };
    }
    return { due: false, reason: `last backup at ${lastText} keeps the RPO until the next run at ${next.toISOString()}` };
  }
  const missed = nextRuns(opts.cron, opts.last, 1, opts.timezone)[0]!;
  if (missed.getTime() <= opts.now.getTime()) {
    return { due: true, reason: `last backup at ${lastText}; the run scheduled at ${missed.toISOString()} was missed` };
  }
  return { due: false, reason: `last backup at ${lastText}; no scheduled run missed` };
}

export class Scheduler {
  private readonly policies = new Map<string, PolicyState>();
  private readonly entries = new Map<string, Entry>();
  private readonly caughtUp = new Set<string>();
  private wake = new AbortController();
  private started = false;
  private lastNow: number | undefined;

  constructor(private readonly opts: SchedulerOptions) {}

  /** Sets (or replaces, on reload) the policies; running jobs are left alone. */
  setPolicies(list: readonly ScheduledPolicy[]): void {
    const now = this.opts.timer.now();
    const seen = new Map<string, string>();
    const keep = new Set<string>();
    for (const sp of list) {
      const name = sp.policy.name;
      if (seen.has(name)) {
        this.opts.log({ level: 'error', policy: name, message: `defined again in ${sp.file} (first in ${seen.get(name)}); this copy is ignored` });
        continue;
      }
      seen.set(name, sp.file);
      const state = this.policies.get(name);
      if (state) state.sp = sp;
      else this.policies.set(name, { sp, queue: [] });
      for (const { key, job } of SCHEDULE_JOBS) {
        const cron = sp.policy.schedule[key];
        if (cron === undefined) continue;
        const id = `${name}\u0000${job}`;
        keep.add(id);
        const old = this.entries.get(id);
        if (old && old.cron === cron && old.timezone === sp.policy.timezone && old.file === sp.file) continue;
        try {
          const next = nextRuns(cron, now, 1, sp.policy.timezone)[0]!;
          this.entries.set(id, { policy: name, file: sp.file, job, cron, timezone: sp.policy.timezone, next });
        } catch (err) {
          this.opts.log({ level: 'error', policy: name, job, message: `not scheduled: ${errorMessage(err)}` });
        }
      }
    }
    for (const id of [...this.entries.keys()]) if (!keep.has(id)) this.entries.delete(id);
    for (const [name, state] of [...this.policies]) {
      if (seen.has(name)) continue;
      if (state.queue.length) this.opts.log({ level: 'info', policy: name, message: `removed: ${state.queue.length} queued job(s) dropped` });
      state.queue = [];
      if (!state.running) this.policies.delete(name);
    }
    // Wake the loop so it sleeps until the new earliest time.
    this.wake.abort();
  }

  upcoming(): UpcomingRun[] {
    return [...this.entries.values()]
      .map((e) => {
        const state = this.policies.get(e.policy);
        return {
          policy: e.policy,
          job: e.job,
          cron: e.cron,
          next: e.next,
          running: state?.running?.job === e.job,
          queued: state?.queue.some((p) => p.entry.job === e.job) ?? false,
        };
      })
      .sort((a, b) => a.next.getTime() - b.next.getTime() || a.policy.localeCompare(b.policy));
  }

  /** Resolves when no job runs or waits (tests and shutdown). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.policies.values()].map((s) => s.running?.done).filter((d): d is Promise<void> => d !== undefined);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /**
   * The loop: catch-up at start, then fire due jobs until `stop` aborts. On stop, queued
   * jobs are dropped, running ones receive the abort (the runner ends or abandons them)
   * and are awaited before this resolves.
   */
  async run(stop: AbortSignal): Promise<void> {
    if (this.started) throw new Error('Scheduler.run called twice');
    this.started = true;
    this.opts.log({ level: 'info', message: `started: ${this.policies.size} polic${this.policies.size === 1 ? 'y' : 'ies'}, ${this.entries.size} job(s)` });
    this.stopSignal = stop;
    await this.catchUpAll();
    while (!stop.aborted) {
      const now = this.opts.timer.now();
      const t = now.getTime();
      if (this.lastNow !== undefined && t < this.lastNow - 1000) {
        this.opts.log({ level: 'warn', message: `the clock went back ${formatDuration(this.lastNow - t)}; next run times recomputed` });
        for (const e of this.entries.values()) e.next = nextRuns(e.cron, now, 1, e.timezone)[0]!;
      }
      this.lastNow = t;
      for (const e of [...this.entries.values()].sort((a, b) => a.next.getTime() - b.next.getTime())) {
        if (e.next.getTime() > t) continue;
        const late = t - e.next.getTime();
        if (late > 5 * 60_000) this.opts.log({ level: 'warn', policy: e.policy, job: e.job, message: `fire time ${e.next.toISOString()} passed ${formatDuration(late)} ago (suspended or busy); running once now` });
        this.fire(e, 'schedule', e.next);
        e.next = nextRuns(e.cron, now, 1, e.timezone)[0]!;
      }
      // New policies added by a reload get their catch-up check once.
      await this.catchUpAll();
      const earliest = Math.min(...[...this.entries.values()].map((e) => e.next.getTime()));
      const wait = Math.min(Number.isFinite(earliest) ? earliest - t : Infinity, this.opts.maxSleepMs ?? 60_000);
      if (this.wake.signal.aborted) this.wake = new AbortController();
      await this.opts.timer.sleep(Math.max(0, wait), AbortSignal.any([stop, this.wake.signal]));
    }
    let dropped = 0;
    for (const s of this.policies.values()) {
      dropped += s.queue.length;
      s.queue = [];
    }
    const running = [...this.policies.values()].filter((s) => s.running);
    this.opts.log({
      level: 'info',
      message: `stopping: ${running.length ? `waiting for ${running.map((s) => `${s.sp.policy.name} ${s.running!.job}`).join(', ')}` : 'no job running'}${dropped ? `; ${dropped} queued job(s) dropped` : ''}`,
    });
    await this.idle();
    this.opts.log({ level: 'info', message: 'stopped' });
  }

  private stopSignal: AbortSignal = new AbortController().signal;

  private async catchUpAll(): Promise<void> {
    for (const [name, state] of this.policies) {
      if (this.caughtUp.has(name)) continue;
      this.caughtUp.add(name);
      const entry = this.entries.get(`${name}\u0000backup`);
      if (!entry || !this.opts.lastBackup) continue;
      let last: Date | undefined;
      try {
        last = await this.opts.lastBackup(state.sp);
      } catch (err) {
        this.opts.log({ level: 'warn', policy: name, job: 'backup', message: `cannot tell when the last backup ran (${errorMessage(err)}); no catch-up` });
        continue;
      }
      const now = this.opts.timer.now();
      const d = backupCatchUp({ now, last, rpoMs: state.sp.policy.objectives.rpo, cron: entry.cron, timezone: entry.timezone });
      if (d.due) {
        this.opts.log({ level: 'info', policy: name, job: 'backup', message: `missed backup: ${d.reason}; running it now` });
        this.fire(entry, 'catch-up', now);
      } else {
        this.opts.log({ level: 'debug', policy: name, job: 'backup', message: `no catch-up: ${d.reason}` });
      }
    }
  }

  private fire(entry: Entry, reason: Pending['reason'], scheduledFor: Date): void {
    const state = this.policies.get(entry.policy);
    if (!state) return;
    if (state.running?.job === entry.job) {
      this.opts.log({ level: 'warn', policy: entry.policy, job: entry.job, message: `skipped the run due at ${scheduledFor.toISOString()}: the previous one (started ${state.running.startedAt.toISOString()}) is still running` });
      return;
    }
    if (state.queue.some((p) => p.entry.job === entry.job)) {
      this.opts.log({ level: 'warn', policy: entry.policy, job: entry.job, message: `skipped the run due at ${scheduledFor.toISOString()}: one is already waiting` });
      return;
    }
    state.queue.push({ entry, reason, scheduledFor });
    if (state.running) {
      this.opts.log({ level: 'info', policy: entry.policy, job: entry.job, message: `queued behind ${state.running.job}` });
    }
    this.pump(state);
  }

  private pump(state: PolicyState): void {
    if (state.running || this.stopSignal.aborted) return;
    const next = state.queue.shift();
    if (!next) return;
    const { entry } = next;
    const startedAt = this.opts.timer.now();
    this.opts.log({ level: 'info', policy: entry.policy, job: entry.job, message: `started${next.reason === 'catch-up' ? ' (catch-up)' : ''}`, fields: { reason: next.reason, scheduledFor: next.scheduledFor.toISOString() } });
    const done = (async () => {
      let outcome: JobOutcome;
      try {
        outcome = await this.opts.runner({ policy: entry.policy, file: entry.file, job: entry.job, reason: next.reason, scheduledFor: next.scheduledFor, signal: this.stopSignal });
      } catch (err) {
        outcome = { exitCode: 1, status: 'failed', message: `could not run: ${errorMessage(err)}` };
      }
      const took = this.opts.timer.now().getTime() - startedAt.getTime();
      const level = outcome.status === 'ok' ? 'info' : outcome.status === 'partial' || outcome.status === 'finding' || outcome.status === 'unavailable' ? 'warn' : 'error';
      this.opts.log({ level, policy: entry.policy, job: entry.job, message: `${outcome.status} (exit ${outcome.exitCode}) after ${formatDuration(took)}: ${outcome.message}`, fields: { status: outcome.status, exitCode: outcome.exitCode, durationMs: took } });
    })();
    state.running = { job: entry.job, startedAt, done };
    void done.then(() => {
      state.running = undefined;
      if (!this.entriesOf(entry.policy) && state.queue.length === 0) this.policies.delete(entry.policy);
      this.pump(state);
    });
  }

  private entriesOf(policy: string): boolean {
    for (const e of this.entries.values()) if (e.policy === policy) return true;
    return false;
  }
}

// ---- the real job runner: a child triad process per job ---------------------------------

export interface ChildRunnerOptions {
  /** node */
  execPath: string;
  /** The running triad entry (bin/triad); jobs run the same version as the scheduler. */
  entry: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Global options passed on (e.g. ['--catalog', FILE]). */
  globalArgs?: readonly string[];
  /** After a stop: time the job gets to end cleanly after SIGTERM before SIGKILL; default 60 s. */
  stopGraceMs?: number;
  log?: SchedulerLog;
}

/** Runs each job as `node ENTRY --json <job> -p FILE` in its own process group. */
export function childJobRunner(opts: ChildRunnerOptions): JobRunner {
  return (req) =>
    new Promise<JobOutcome>((resolve) => {
      const args = [opts.entry, '--json', ...(opts.globalArgs ?? []), req.job, '-p', req.file];
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.env)) if (v !== undefined) env[k] = v;
      const out = new TailBuffer(256 * 1024);
      const err = new TailBuffer(64 * 1024);
      const child = spawn(opts.execPath, args, { cwd: opts.cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      let stopping = false;
      let killTimer: NodeJS.Timeout | undefined;
      const onStop = (): void => {
        stopping = true;
        opts.log?.({ level: 'info', policy: req.policy, job: req.job, message: `stopping: SIGTERM sent to the job (pid ${child.pid})` });
        signalGroup(child.pid, 'SIGTERM');
        killTimer = setTimeout(() => {
          opts.log?.({ level: 'warn', policy: req.policy, job: req.job, message: `abandoned: the job did not end within ${formatDuration(opts.stopGraceMs ?? 60_000)} of SIGTERM; killed` });
          signalGroup(child.pid, 'SIGKILL');
        }, opts.stopGraceMs ?? 60_000);
      };
      if (req.signal.aborted) onStop();
      else req.signal.addEventListener('abort', onStop, { once: true });
      let settled = false;
      const finish = (o: JobOutcome): void => {
        if (settled) return;
        settled = true;
        if (killTimer) clearTimeout(killTimer);
        req.signal.removeEventListener('abort', onStop);
        resolve(o);
      };
      child.on('error', (e) => finish({ exitCode: 1, status: 'failed', message: `could not start ${opts.execPath}: ${e.message}` }));
      child.on('close', (code, signal) => finish(interpretChild(req.job, code, signal, out.text(), err.text(), stopping)));
    });
}

/** Turns a finished child's exit status and output into an outcome with a useful line. */
export function interpretChild(job: string, code: number | null, signal: string | null, stdout: string, stderr: string, stopping = false): JobOutcome {
  if (code === null) {
    return { exitCode: 128, status: stopping ? 'interrupted' : 'failed', message: `killed by ${signal ?? 'a signal'}${stopping ? ' while stopping' : ' (crashed?)'}` };
  }
  if (code === 2) {
    const m = /unknown command '([^']+)'/.exec(stderr);
    if (m) {
      return { exitCode: 2, status: 'unavailable', message: `this triad has no '${m[1]}' command yet, so the ${job} job cannot run; remove it from the schedule or upgrade triad` };
    }
  }
  let json: unknown;
  try {
    json = stdout.trim() ? JSON.parse(stdout) : undefined;
  } catch {
    json = undefined;
  }
  const status: JobStatus = code === 0 ? 'ok' : code === 3 ? 'partial' : code === 4 ? 'finding' : code === 130 || code === 143 ? 'interrupted' : 'failed';
  const rec = json && typeof json === 'object' ? (json as Record<string, unknown>) : undefined;
  const error = rec?.error && typeof rec.error === 'object' ? (rec.error as { code?: string; message?: string }) : undefined;
  let message: string;
  if (error) message = `${error.code ?? 'error'}: ${error.message ?? ''}`.trim();
  else if (typeof rec?.snapshot === 'string') message = `snapshot ${rec.snapshot.slice(0, 8)}${code === 3 ? ' (partial: some files could not be read)' : ''}`;
  else if (code === 0) message = 'done';
  else message = lastLine(stderr) || `exit ${code}`;
  return { exitCode: code, status, message };
}

function lastLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\x1b\[[0-9;]*m/g, '').trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? '').slice(0, 500);
}

function signalGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, sig);
  } catch (e) {
    if (errnoCode(e) !== 'ESRCH') throw e;
  }
}

// ---- policies for the daemon -------------------------------------------------------------

export interface PolicyLoadProblem {
  file: string;
  message: string;
}

/** The policy files named with -p plus every *.yaml / *.yml in --policies DIR, sorted. */
export function policyFiles(ctx: Pick<AppContext, 'cwd'>, files: readonly string[], dir?: string): Promise<string[]> {
  return discoverPolicyFiles(ctx.cwd, files, dir);
}

/**
 * Loads the policies; an invalid or unreadable file is reported and, when `previous` holds
 * an earlier good version of the same file, that version is kept.
 */
export async function loadScheduledPolicies(
  ctx: Pick<AppContext, 'env' | 'cwd'>,
  files: readonly string[],
  previous: readonly (ScheduledPolicy & { policy: Policy })[] = [],
): Promise<{ policies: (ScheduledPolicy & { policy: Policy })[]; problems: (PolicyLoadProblem & { kept: boolean })[] }> {
  const policies: (ScheduledPolicy & { policy: Policy })[] = [];
  const problems: (PolicyLoadProblem & { kept: boolean })[] = [];
  for (const file of files) {
    try {
      policies.push({ file, policy: await loadPolicy(file, { env: ctx.env }) });
    } catch (err) {
      const old = previous.find((p) => p.file === file);
      if (old) policies.push(old);
      const detail = errorMessage(err).replace(/\s*\n\s*/g, '; ');
      problems.push({ file, message: detail, kept: old !== undefined });
    }
  }
  return { policies, problems };
}

/** Recovery point of the newest complete backup in the policy's catalogue. */
export function lastBackupFromCatalog(ctx: AppContext, policy: Policy): Date | undefined {
  const catalog = catalogFor(ctx, policy);
  try {
    const s = catalog.latestSnapshot(policy.name);
    return s ? new Date(s.time) : undefined;
  } finally {
    catalog.close();
  }
}

