/**
 * `triad schedule run`: the long-running scheduler daemon. Loads the policies, starts the
 * Scheduler with a child-process job runner, reloads the policies when asked (a broken file
 * keeps its earlier good version), and runs until the context's signal aborts. The CLI wires
 * the process signals to `hooks` and renders the log events.
 */
import { resolve } from 'node:path';
import { TriadError } from '../core/errors.js';
import { Scheduler, realTimer, type SchedulerLog } from '../scheduler/index.js';
import { discoverPolicyFiles } from './policy-files.js';
import { childJobRunner } from './schedule-child-runner.js';
import { lastBackupFromCatalog, loadScheduledPolicies, scheduledArguments, secretValues, type LoadedPolicy } from './schedule-policies.js';
import { errorMessage, type AppContext } from './session.js';

export interface DaemonOptions {
  /** Policy files named with -p. */
  policyFiles: readonly string[];
  /** Every *.yaml / *.yml in this directory too, re-read on reload. */
  policiesDir?: string;
  /** Run a backup missed while the daemon was not running at start. */
  catchUp: boolean;
  /** After a stop: time a running job gets to end cleanly after SIGTERM before SIGKILL. */
  stopGraceMs: number;
  /** The node binary and the triad launcher the jobs are started with. */
  execPath: string;
  entry: string;
}

export interface DaemonHooks {
  onLog: SchedulerLog;
  /** The secret values the log must mask; called after every (re)load. */
  onSecrets(values: string[]): void;
  signals: {
    /** Calls `reload` when the policies should be read again; returns the unsubscribe. */
    onReload(reload: () => void): () => void;
  };
}

/** Runs the daemon until `ctx.signal` aborts and every running job has ended or been abandoned. */
export async function runDaemon(ctx: AppContext, opts: DaemonOptions, hooks: DaemonHooks): Promise<void> {
  const log = hooks.onLog;
  const files = (): Promise<string[]> => discoverPolicyFiles(ctx.cwd, opts.policyFiles, opts.policiesDir);
  const first = await loadScheduledPolicies(ctx, await files());
  for (const p of first.problems) log({ level: 'error', message: `policy ${p.file} not loaded: ${p.message}` });
  let current: LoadedPolicy[] = first.policies;
  if (current.length === 0) throw new TriadError('E_POLICY_INVALID', 'no valid policy to schedule', { hint: 'fix the files listed above (triad policy check FILE)' });
  hooks.onSecrets(secretValues(ctx, current));

  const scheduler = new Scheduler({
    timer: realTimer(ctx.clock),
    log,
    runner: childJobRunner({
      execPath: opts.execPath,
      entry: opts.entry,
      env: ctx.env,
      cwd: ctx.cwd,
      globalArgs: catalogArgs(ctx),
      stopGraceMs: opts.stopGraceMs,
      log,
      argsFor: (req) => {
        const p = current.find((c) => c.file === req.file);
        return p ? scheduledArguments(p.policy, req.file, req.job) : [req.job, '-p', req.file];
      },
    }),
    ...(opts.catchUp ? { lastBackup: (sp) => lastBackupFromCatalog(ctx, current.find((c) => c.file === sp.file)!.policy) } : {}),
  });
  scheduler.setPolicies(current);
  for (const u of scheduler.upcoming()) log({ level: 'info', policy: u.policy, job: u.job, message: `next run ${u.next.toISOString()} (${u.cron})` });

  // Reloads run one after the other, never two at once.
  let reloading = Promise.resolve();
  const reload = (): void => {
    reloading = reloading.then(async () => {
      log({ level: 'info', message: 'SIGHUP: reloading policies' });
      try {
        const r = await loadScheduledPolicies(ctx, await files(), current);
        for (const p of r.problems) {
          log({ level: 'error', message: `policy ${p.file} is invalid${p.kept ? ', keeping the version loaded before' : ' and was not loaded'}: ${p.message}` });
        }
        current = r.policies;
        hooks.onSecrets(secretValues(ctx, current));
        scheduler.setPolicies(current);
        log({ level: 'info', message: `reloaded: ${current.length} polic${current.length === 1 ? 'y' : 'ies'}` });
      } catch (err) {
        log({ level: 'error', message: `reload failed, keeping the current policies: ${errorMessage(err)}` });
      }
    });
  };
  const stopListening = hooks.signals.onReload(reload);
  try {
    await scheduler.run(ctx.signal ?? new AbortController().signal);
  } finally {
    stopListening();
  }
}

/** The --catalog the daemon was started with, passed on to every job. */
function catalogArgs(ctx: AppContext): string[] {
  return ctx.catalogPath ? ['--catalog', resolve(ctx.cwd, ctx.catalogPath)] : [];
}
