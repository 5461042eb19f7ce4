import { TriadError, exitCodeOf } from '../core/errors.js';
import type { ObjectInfo } from '../backends/storage.js';
import { DEFAULT_UNINDEXED_GRACE, removeStaleTemporary, repairIndex, type RepairIndexResult } from '../repo/maintenance/index.js';
import { withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, errorMessage, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, type AppContext } from './session.js';

export interface RepairIndexOptions {
  policyFile: string;
  target?: string;
  wait?: number;
  /** Temporary files go once a prune saw them at least this long ago (default 1 h; 0: at once). */
  unindexedGrace?: number;
}

export interface RepairIndexCommandResult {
  policy: string;
  targets: (RepairIndexResult & { ok: boolean; error?: string; errorCode?: string; temporaryRemoved: ObjectInfo[]; temporaryKept: ObjectInfo[] })[];
  exitCode: number;
}

function emptyResult(target: string): RepairIndexResult {
  return { target, packsRead: 0, packsIndexed: 0, packsAdded: [], damaged: [], indexFilesWritten: [], indexFilesRemoved: [] };
}

/**
 * `triad repair index`: rebuilds every selected replica's index from its pack headers under
 * the exclusive lock. Packs left by an interrupted backup become usable again; damaged packs
 * are reported and left out (exit 1). Temporary files of interrupted saves that a prune saw
 * at least the grace period ago are removed too.
 */
export async function runRepairIndex(ctx: AppContext, opts: RepairIndexOptions): Promise<RepairIndexCommandResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const opened = await openTargets(ctx, policy, selectTargets(policy, opts.target ? [opts.target] : undefined), passphrase);
  try {
    const usable = requireSome(opened);
    const targets: RepairIndexCommandResult['targets'] = opened
      .filter((o) => !o.repo)
      .map((o) => ({ ...emptyResult(o.spec.name), temporaryRemoved: [], temporaryKept: [], ok: false, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined }));
    const catalog = catalogFor(ctx, policy);
    try {
      await withPolicyLocks(ctx, policy, usable.map((o) => o.repo!), 'exclusive', { command: 'repair-index', wait: opts.wait }, async (signal) => {
        for (const o of usable) {
          const repo = o.repo!;
          const runId = catalog.startRun({ policy: policy.name, kind: 'check', target: repo.target, started_at: ctx.clock.now(), details: { repair: 'index' } });
          try {
            const r = await repairIndex(repo, { signal, onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'repair-index', target: repo.target, files: p.done, totalFiles: p.total }) });
            const temporary = await removeStaleTemporary(repo, { now: ctx.clock.now(), grace: opts.unindexedGrace ?? DEFAULT_UNINDEXED_GRACE, signal });
            const ok = r.damaged.length === 0;
            const details = { repair: 'index', packsIndexed: r.packsIndexed, packsAdded: r.packsAdded.length, damaged: r.damaged, temporaryRemoved: temporary.removed.length };
            catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ok ? 'ok' : 'failed', exit_code: ok ? 0 : 1, details });
            targets.push({ ...r, ok, temporaryRemoved: temporary.removed, temporaryKept: temporary.kept });
          } catch (err) {
            catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: signal.aborted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
            if (signal.aborted) throw err;
            targets.push({ ...emptyResult(repo.target), temporaryRemoved: [], temporaryKept: [], ok: false, error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined });
          }
        }
      });
    } finally {
      catalog.close();
    }
    targets.sort((a, b) => (a.target < b.target ? -1 : 1));
    return { policy: policy.name, targets, exitCode: targets.every((t) => t.ok) ? 0 : 1 };
  } finally {
    await closeAll(opened);
  }
}
