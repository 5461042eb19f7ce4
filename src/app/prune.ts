import { runReportedJob } from './job-run.js';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import type { Policy } from '../policy/types.js';
import type { Catalog } from '../catalog/catalog.js';
import { writeJournal } from '../repo/model/index.js';
import { executePrune, planPrune, type PruneOptions, type PrunePlan, type PruneResult } from '../repo/maintenance/index.js';
import type { Repository } from '../repo/repository.js';
import { withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, type AppContext } from './session.js';

export interface PruneCommandOptions {
  policyFile: string;
  target?: string;
  dryRun?: boolean;
  /** Bytes of packs repacked at most (--max-repack-size). */
  maxRepackSize?: number;
  /** 0..1: repack packs whose used share is below this (default 0.75). */
  repackBelow?: number;
  /** ms; see PruneOptions.unindexedGrace (default 1 h). */
  unindexedGrace?: number;
  /** --wait: ms to wait for other locks. */
  wait?: number;
  /** Test hook: smaller packs when repacking. */
  packSize?: number;
}

export interface PruneTargetOutcome {
  target: string;
  ok: boolean;
  error?: string;
  errorCode?: string;
  hint?: string;
  plan?: PrunePlan;
  packsRemoved?: number;
  temporaryRemoved?: number;
  packsWritten?: number;
  indexFilesWritten?: number;
  indexFilesRemoved?: number;
  bytesFreed?: number;
  bytesBefore?: number;
  bytesAfter?: number;
}

export interface PruneCommandResult {
  policy: string;
  dryRun: boolean;
  targets: PruneTargetOutcome[];
  exitCode: number;
}

/** A prune inside the job envelope (hooks, heartbeat, webhook); a dry run changes nothing and reports nothing. */
export async function runPrune(ctx: AppContext, opts: PruneCommandOptions): Promise<PruneCommandResult> {
  return runReportedJob(ctx, opts.policyFile, 'prune', { disabled: opts.dryRun === true }, (c) => prune(c, opts), (r) => ({
    targets: r.targets.map((t) => ({ name: t.target, ok: t.ok, ...(t.error !== undefined ? { error: t.error } : {}) })),
  }));
}

async function prune(ctx: AppContext, opts: PruneCommandOptions): Promise<PruneCommandResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  try {
    const usable = requireSome(opened);
    const repos = usable.map((o) => o.repo!);
    const targets: PruneTargetOutcome[] = opened
      .filter((o) => !o.repo)
      .map((o) => ({ target: o.spec.name, ok: false, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined }));
    const catalog = opts.dryRun ? undefined : catalogFor(ctx, policy);
    try {
      await withPolicyLocks(ctx, policy, repos, opts.dryRun ? 'shared' : 'exclusive', { command: 'prune', wait: opts.wait }, async (signal) => {
        for (const repo of repos) targets.push(await pruneTarget(ctx, policy, repo, catalog, { ...opts, signal }));
      });
    } finally {
      catalog?.close();
    }
    targets.sort((a, b) => (a.target < b.target ? -1 : 1));
    return { policy: policy.name, dryRun: !!opts.dryRun, targets, exitCode: targets.every((t) => t.ok) ? 0 : 1 };
  } finally {
    await closeAll(opened);
  }
}

/**
 * Prunes one replica; the caller holds its exclusive lock. Records the run in the catalogue
 * and the repository journal. Errors of this target are returned, not thrown, so one bad
 * target does not stop the others — except an abort, which stops everything.
 */
export async function pruneTarget(
  ctx: AppContext,
  policy: Policy,
  repo: Repository,
  catalog: Catalog | undefined,
  opts: Omit<PruneCommandOptions, 'policyFile' | 'target' | 'wait'> & { signal: AbortSignal },
): Promise<PruneTargetOutcome> {
  const started = ctx.clock.now();
  const pruneOpts: PruneOptions = {
    now: started,
    signal: opts.signal,
    ...(opts.maxRepackSize !== undefined ? { maxRepackSize: opts.maxRepackSize } : {}),
    ...(opts.repackBelow !== undefined ? { repackBelow: opts.repackBelow } : {}),
    ...(opts.unindexedGrace !== undefined ? { unindexedGrace: opts.unindexedGrace } : {}),
    ...(opts.packSize !== undefined ? { packSize: opts.packSize } : {}),
    onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'prune', target: repo.target, phase: p.phase, files: p.done, totalFiles: p.total }),
  };
  const runId = catalog?.startRun({ policy: policy.name, kind: 'prune', target: repo.target, started_at: started });
  try {
    const prepared = await planPrune(repo, pruneOpts);
    if (opts.dryRun) return { target: repo.target, ok: true, plan: prepared.plan };
    const r: PruneResult = await executePrune(repo, prepared, pruneOpts);
    const finished = ctx.clock.now();
    const removed = new Set(r.packsRemoved);
    const details = {
      packsRemoved: r.packsRemoved.length,
      packsRepacked: r.plan.repack.length,
      packsWritten: r.packsWritten.length,
      bytesFreed: r.bytesFreed,
      bytesBefore: r.bytesBefore,
      bytesAfter: r.bytesAfter,
      // Packs found unindexed and left alone: a later prune removes them once they are old enough.
      unindexedSeen: prepared.unindexedSeen.filter((p) => !removed.has(p)),
      temporaryRemoved: r.temporaryRemoved.length,
      // Temporary files of interrupted saves left alone: likewise removed by a later prune.
      temporarySeen: r.plan.keepTemporary.map((t) => t.name),
    };
    await writeJournal([repo], {
      version: 1, kind: 'prune', policy: policy.name, host: hostName(policy), started: started.toISOString(), finished: finished.toISOString(),
      status: 'ok', exitCode: ExitCode.OK, targets: [{ name: repo.target, ok: true }], bytesWritten: r.packsWritten.reduce((a, p) => a + p.size, 0), details,
    });
    if (catalog && runId !== undefined) {
      catalog.removePacks(policy.name, repo.target, r.packsRemoved);
      catalog.recordPacks(policy.name, repo.target, r.packsWritten);
      catalog.finishRun(runId, { finished_at: finished, status: 'ok', exit_code: 0, bytes_written: r.packsWritten.reduce((a, p) => a + p.size, 0), details });
    }
    return {
      target: repo.target, ok: true, plan: r.plan, packsRemoved: r.packsRemoved.length, temporaryRemoved: r.temporaryRemoved.length, packsWritten: r.packsWritten.length,
      indexFilesWritten: r.indexFilesWritten.length, indexFilesRemoved: r.indexFilesRemoved.length, bytesFreed: r.bytesFreed, bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter,
    };
  } catch (err) {
    const interrupted = opts.signal.aborted;
    if (catalog && runId !== undefined) {
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: interrupted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    }
    if (interrupted) throw err;
    return { target: repo.target, ok: false, error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined, hint: err instanceof TriadError ? err.hint : undefined };
  }
}
