/**
 * The unattended envelope of one job (backup, restore test, check, prune, forget, copy,
 * catalogue rebuild): heartbeat
 * `/start`, `before` hooks, then the job, then `after` or `on_failure` hooks, the final
 * heartbeat and the webhook. Use cases call it around their work:
 *
 *   const job = await startJob(ctx, policy, 'backup');          // may throw E_HOOK_FAILED
 *   try { result = await work(); } catch (err) { await job.fail(err); throw err; }
 *   const fin = await job.finish({ status, exitCode, snapshot, … });   // fin.exitCode may be raised to 1
 *
 * Hook output goes into the catalogue's run record (`details.hooks`); notification
 * failures are warnings, never job failures.
 */
import { hostname } from 'node:os';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import type { JobName, NotifyEvent, Policy } from '../policy/types.js';
import type { RunKind } from '../catalog/types.js';
import { describeHook, hookFailure, hookRecord, hookSucceeded, runHooks, type HookResult } from './hooks.js';
import { pingHeartbeat, sendWebhook, type DeliveryOptions, type DeliveryResult, type RunStatus, type RunSummary } from './notify.js';
import type { JobLock } from '../repo/lock/index.js';
import { takeJobLock } from './locking.js';
import { catalogFor, errorMessage, loadPolicyFile, type AppContext } from './session.js';

export type { JobName };

export interface JobOutcome {
  status: RunStatus;
  exitCode: number;
  snapshot?: string;
  files?: number;
  bytesRead?: number;
  bytesAdded?: number;
  targets?: { name: string; ok: boolean; error?: string }[];
  /** Message of a failed run (already free of secrets). */
  error?: string;
  errorCode?: string;
  /** Catalogue run id to attach the hook output to; found by time when absent. */
  runId?: number;
}

export interface FinishedJob {
  /** The job's exit code, raised to 1 when an `after` hook failed. */
  exitCode: number;
  status: RunStatus;
  hooks: HookResult[];
  notifications: DeliveryResult[];
}

export interface StartJobOptions {
  /** Test hooks for delivery (fetch, backoff). */
  delivery?: Partial<Omit<DeliveryOptions, 'clock' | 'signal'>>;
  /** Skip hooks and notifications (dry runs). */
  disabled?: boolean;
}

export class JobRun {
  readonly hooks: HookResult[] = [];
  readonly notifications: DeliveryResult[] = [];
  private readonly startedAt: Date;
  private readonly startedMono: number;

  constructor(
    private readonly ctx: AppContext,
    readonly policy: Policy,
    readonly job: JobName,
    private readonly opts: StartJobOptions = {},
  ) {
    this.startedAt = ctx.clock.now();
    this.startedMono = ctx.clock.monotonic();
  }

  /** The hook results so far, in the form kept in run records. */
  records(): Record<string, unknown>[] {
    return this.hooks.map(hookRecord);
  }

  /** Heartbeat `/start`, then the `before` hooks. */
  async begin(): Promise<void> {
    if (this.opts.disabled) return;
    const hb = this.policy.notify.heartbeat;
    // Short budget: a slow monitor must not delay the backup window.
    if (hb && this.notifies('start')) this.note(await pingHeartbeat(hb, 'start', undefined, this.delivery({ attempts: 2, maxElapsedMs: 10_000 })), 'heartbeat-start');
    try {
      await runHooks('before', this.hooksOf('before'), { ...this.hookOptions({ job: this.job }), onResult: (r) => this.hooks.push(r) });
    } catch (err) {
      this.recordBeforeFailure(err);
      await this.fail(err);
      throw err;
    }
  }

  /** After the job returned: `after` hooks (exit 0 or 3) or `on_failure` hooks, heartbeat, webhook. */
  async finish(outcome: JobOutcome): Promise<FinishedJob> {
    if (this.opts.disabled) return { exitCode: outcome.exitCode, status: outcome.status, hooks: [], notifications: [] };
    let { exitCode, status } = outcome;
    let error = outcome.error;
    let errorCode = outcome.errorCode;
    if (exitCode === ExitCode.OK || exitCode === ExitCode.PARTIAL) {
      const summary = { job: this.job, result: status, exitCode, ...(outcome.snapshot !== undefined ? { snapshot: outcome.snapshot } : {}) };
      const after = await runHooks('after', this.hooksOf('after'), this.hookOptions(summary));
      this.hooks.push(...after);
      const bad = after.filter((r) => !hookSucceeded(r));
      if (bad.length > 0) {
        const msg = bad.map((r) => describeHook(r)).join('; ');
        this.ctx.emit?.({ type: 'after-hooks-failed', job: this.job, hooks: bad.map(hookFailure) });
        if (exitCode === ExitCode.OK) exitCode = ExitCode.FAILED;
        status = 'failed';
        error = error ? `${error}; ${msg}` : msg;
        errorCode ??= 'E_HOOK_FAILED';
        this.hooks.push(...(await this.onFailureHooks({ status, exitCode, error, snapshot: outcome.snapshot })));
      }
    } else {
      this.hooks.push(...(await this.onFailureHooks({ status, exitCode, error, snapshot: outcome.snapshot })));
    }
    this.attachToRunRecord(outcome.runId);
    await this.notifyEnd({ ...outcome, exitCode, status, error, errorCode });
    return { exitCode, status, hooks: this.hooks, notifications: this.notifications };
  }

  /**
   * The job did not start: the same job of this policy holds the job lock. No hook runs and
   * the heartbeat hears nothing (the running job will report); the webhook says `skipped`.
   */
  async skipped(err: unknown): Promise<void> {
    if (this.opts.disabled) return;
    const webhook = this.policy.notify.webhook;
    if (webhook && this.notifies('skipped')) this.note(await sendWebhook(webhook, this.summary({ status: 'skipped', exitCode: exitCodeOf(err), error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : 'E_INTERNAL' }), this.delivery()), 'webhook');
  }

  /** After the job threw: `on_failure` hooks, heartbeat `/fail`, webhook. Never throws. */
  async fail(err: unknown): Promise<void> {
    if (this.opts.disabled) return;
    const interrupted = this.ctx.signal?.aborted === true || (err instanceof TriadError && err.code === 'E_INTERRUPTED');
    const exitCode = exitCodeOf(err);
    const status: RunStatus = interrupted ? 'interrupted' : 'failed';
    const error = errorMessage(err);
    if (!interrupted) {
      try {
        this.hooks.push(...(await this.onFailureHooks({ status, exitCode, error })));
      } catch (hookErr) {
        this.ctx.emit?.({ type: 'failure-hooks-error', error: errorMessage(hookErr) });
      }
    }
    await this.notifyEnd({ status, exitCode, error, errorCode: err instanceof TriadError ? err.code : 'E_INTERNAL' });
  }

  private async onFailureHooks(s: { status: RunStatus; exitCode: number; error?: string; snapshot?: string }): Promise<HookResult[]> {
    const results = await runHooks('on_failure', this.hooksOf('on_failure'), this.hookOptions({ job: this.job, result: s.status, exitCode: s.exitCode, ...(s.error !== undefined ? { error: s.error } : {}), ...(s.snapshot !== undefined ? { snapshot: s.snapshot } : {}) }));
    for (const r of results.filter((x) => !hookSucceeded(x))) this.ctx.emit?.({ type: 'hook-failed', hook: hookFailure(r) });
    return results;
  }

  /** The policy's hooks of one kind that run around this job. */
  private hooksOf(kind: 'before' | 'after' | 'on_failure'): Policy['hooks']['before'] {
    return this.policy.hooks[kind].filter((h) => h.jobs.includes(this.job));
  }

  private notifies(event: NotifyEvent): boolean {
    return this.policy.notify.events[this.job].includes(event);
  }

  private hookOptions(summary: Parameters<typeof runHooks>[2]['summary']): Parameters<typeof runHooks>[2] {
    return { env: this.ctx.env, cwd: this.ctx.cwd, clock: this.ctx.clock, ...(this.ctx.signal ? { signal: this.ctx.signal } : {}), policy: this.policy, ...(summary ? { summary } : {}) };
  }

  private delivery(over: Partial<DeliveryOptions> = {}): DeliveryOptions {
    return { ...this.opts.delivery, ...over, clock: this.ctx.clock };
  }

  private summary(o: JobOutcome): RunSummary {
    const finished = this.ctx.clock.now();
    return {
      policy: this.policy.name,
      job: this.job,
      status: o.status,
      exitCode: o.exitCode,
      host: this.policy.host ?? hostname(),
      startedAt: this.startedAt.toISOString(),
      finishedAt: finished.toISOString(),
      durationMs: this.ctx.clock.monotonic() - this.startedMono,
      ...(o.snapshot !== undefined ? { snapshot: o.snapshot } : {}),
      ...(o.errorCode !== undefined ? { errorCode: o.errorCode } : {}),
      ...(o.error !== undefined ? { error: o.error } : {}),
      ...(o.files !== undefined ? { files: o.files } : {}),
      ...(o.bytesRead !== undefined ? { bytesRead: o.bytesRead } : {}),
      ...(o.bytesAdded !== undefined ? { bytesAdded: o.bytesAdded } : {}),
      ...(o.targets !== undefined ? { targets: o.targets } : {}),
      hooks: this.hooks.map((h) => ({ kind: h.kind, run: h.run, exitCode: h.exitCode, timedOut: h.timedOut })),
    };
  }

  private async notifyEnd(o: JobOutcome): Promise<void> {
    const summary = this.summary(o);
    const { heartbeat, webhook } = this.policy.notify;
    // Anything but exit 0 is a failure to report: a partial snapshot, damage found (4), an error.
    const ok = o.exitCode === ExitCode.OK;
    if (!this.notifies(ok ? 'success' : 'failure')) return;
    // Deliveries do not listen to the job's cancellation: an interrupted run is reported too.
    const jobs: Promise<void>[] = [];
    if (heartbeat) jobs.push(pingHeartbeat(heartbeat, ok ? 'success' : 'fail', summary, this.delivery()).then((r) => this.note(r, 'heartbeat')));
    if (webhook) jobs.push(sendWebhook(webhook, summary, this.delivery()).then((r) => this.note(r, 'webhook')));
    await Promise.all(jobs);
  }

  private note(r: DeliveryResult, channel: 'heartbeat-start' | 'heartbeat' | 'webhook'): void {
    this.notifications.push(r);
    if (!r.ok) this.ctx.emit?.({ type: 'notification-undelivered', channel, url: r.url, attempts: r.attempts, ...(r.error !== undefined ? { error: r.error } : {}) });
  }

  /** A before hook stopped the job before it opened its run record: record the failed run here. */
  private recordBeforeFailure(err: unknown): void {
    const kind = runKindOf(this.job);
    if (kind === undefined) return;
    try {
      const catalog = catalogFor(this.ctx, this.policy);
      try {
        const id = catalog.startRun({ policy: this.policy.name, kind, started_at: this.startedAt, details: {} });
        catalog.finishRun(id, {
          finished_at: this.ctx.clock.now(),
          status: this.ctx.signal?.aborted ? 'interrupted' : 'failed',
          exit_code: exitCodeOf(err),
          error: errorMessage(err),
          details: { hooks: this.records() },
        });
      } finally {
        catalog.close();
      }
    } catch (e) {
      this.ctx.emit?.({ type: 'failed-run-not-recorded', job: this.job, error: errorMessage(e) });
    }
  }

  /** Adds `details.hooks` to the job's run record, keeping everything else it holds. */
  private attachToRunRecord(runId: number | undefined): void {
    if (this.hooks.length === 0) return;
    try {
      const catalog = catalogFor(this.ctx, this.policy);
      try {
        const run = runId !== undefined ? catalog.getRun(runId) : (runKindOf(this.job) === undefined ? undefined : catalog.listRuns(this.policy.name, { kind: runKindOf(this.job)!, since: this.startedAt }).pop());
        if (!run || run.finished_at === null || run.status === 'running' || run.exit_code === null) return;
        catalog.finishRun(run.id, {
          finished_at: run.finished_at,
          status: run.status,
          exit_code: run.exit_code,
          bytes_read: run.bytes_read,
          bytes_written: run.bytes_written,
          files: run.files,
          error: run.error,
          details: { ...run.details, hooks: this.records() },
        });
      } finally {
        catalog.close();
      }
    } catch (e) {
      this.ctx.emit?.({ type: 'hook-output-not-recorded', error: errorMessage(e) });
    }
  }
}

/**
 * Runs `work` holding the policy's job lock, taken before anything else (heartbeat, hooks):
 * a second run of the same job finds it held and stops with E_REPO_LOCKED (exit 11)
 * without running hooks that would overwrite the first run's dump, and reports `skipped`.
 */
export async function underJobLock<T>(ctx: AppContext, policy: Policy, job: JobName, opts: StartJobOptions, work: () => Promise<T>): Promise<T> {
  let lock: JobLock;
  try {
    lock = takeJobLock(ctx, policy, job);
  } catch (err) {
    if (err instanceof TriadError && err.code === 'E_REPO_LOCKED') await new JobRun(ctx, policy, job, opts).skipped(err);
    throw err;
  }
  try {
    return await work();
  } finally {
    lock.release();
  }
}

/** The catalogue's run kind of a job; a catalogue rebuild writes the catalogue itself and has none. */
function runKindOf(job: JobName): RunKind | undefined {
  return job === 'catalog-rebuild' ? undefined : job;
}

/** What every job's result carries: its exit code (DESIGN.md §7). */
export interface JobResult {
  readonly exitCode: number;
  /** The job's catalogue run record, when it made one (the hook output is attached to it). */
  readonly runId?: number;
}

/**
 * Runs a job other than backup (which drives its envelope itself, see backup.ts) the way
 * backup runs: job lock first, then heartbeat `/start` and `before` hooks, the work, then
 * `after` or `on_failure` hooks, the final heartbeat and the webhook with the job's name and
 * result. The work runs with the job lock marked held, so its own takeJobLock of this job
 * does not find it taken by this very process.
 */
export async function runReportedJob<T extends JobResult>(
  ctx: AppContext,
  policyFile: string,
  job: JobName,
  opts: StartJobOptions,
  work: (ctx: AppContext) => Promise<T>,
  outcome: (result: T) => Omit<JobOutcome, 'status' | 'exitCode'> = () => ({}),
): Promise<T> {
  const policy = await loadPolicyFile(ctx, policyFile);
  return underJobLock(ctx, policy, job, opts, async () => {
    const run = await startJob(ctx, policy, job, opts);
    let result: T;
    try {
      result = await work({ ...ctx, heldJobLocks: [...(ctx.heldJobLocks ?? []), job] });
    } catch (err) {
      await run.fail(err);
      throw err;
    }
    const status: RunStatus = result.exitCode === ExitCode.OK ? 'ok' : result.exitCode === ExitCode.PARTIAL ? 'partial' : 'failed';
    const fin = await run.finish({ ...(result.runId !== undefined ? { runId: result.runId } : {}), ...outcome(result), status, exitCode: result.exitCode });
    return fin.exitCode === result.exitCode ? result : { ...result, exitCode: fin.exitCode };
  });
}

/** Creates the envelope and runs its start (heartbeat `/start`, `before` hooks). Throws E_HOOK_FAILED. */
export async function startJob(ctx: AppContext, policy: Policy, job: JobName, opts: StartJobOptions = {}): Promise<JobRun> {
  const run = new JobRun(ctx, policy, job, opts);
  await run.begin();
  return run;
}
