import { ExitCode, TriadError, exitCodeOf } from '../core/errors.js';
import { seededRandom } from '../core/random.js';
import type { ObjectInfo } from '../backends/storage.js';
import type { Catalog } from '../catalog/catalog.js';
import type { Policy } from '../policy/types.js';
import type { Repository } from '../repo/repository.js';
import { checkRepository } from '../repo/check/index.js';
import { withRepoLocks } from '../repo/lock/index.js';
import { MasterIndex } from '../repo/index/index.js';
import {
  DEFAULT_UNINDEXED_GRACE, filesNeeding, loadIndexForRepair, removeStaleTemporary, repairIndex, repairPacks,
  type BlobSource, type PackToRepair, type RepairIndexResult, type RepairPacksResult,
} from '../repo/maintenance/index.js';
import { lockOptions, withPolicyLocks } from './locking.js';
import { catalogFor, closeAll, errorMessage, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, type AppContext, type OpenedTarget } from './session.js';

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

export interface RepairPacksOptions {
  policyFile: string;
  target?: string;
  /** Packs to repair (full ids or unique prefixes) instead of those a full check finds; needs `target`. */
  packs?: string[];
  dryRun?: boolean;
  wait?: number;
  /** Target size of the new packs (a test entry makes them small). */
  packSize?: number;
}

export interface RepairPacksTargetOutcome extends Partial<RepairPacksResult> {
  target: string;
  /** Every blob of the damaged packs is intact on this target again (or nothing was damaged). */
  ok: boolean;
  error?: string;
  errorCode?: string;
  hint?: string;
}

export interface RepairPacksCommandResult {
  policy: string;
  dryRun: boolean;
  targets: RepairPacksTargetOutcome[];
  /** 0 all recovered (or nothing to do); 4 some blobs are on no target intact; 1 a target could not be repaired. */
  exitCode: number;
}

/**
 * `triad repair packs`: on each selected target, the packs a full check finds damaged,
 * truncated or missing (or those given) are replaced: what still verifies is kept, the rest
 * fetched from the policy's other targets, written to new packs, and the damaged packs
 * removed (repo/maintenance/repair-packs.ts). Exclusive lock on the repaired targets, shared
 * locks on the others while blobs are read from them.
 */
export async function runRepairPacks(ctx: AppContext, opts: RepairPacksOptions): Promise<RepairPacksCommandResult> {
  if (opts.packs?.length && !opts.target) throw new TriadError('E_USAGE', '--pack needs --target: pack ids differ between targets', { hint: "name the target whose pack 'triad check' reported" });
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const passphrase = await passphraseFor(ctx, policy);
  const selected = new Set(selectTargets(policy, opts.target ? [opts.target] : undefined).map((t) => t.name));
  const opened = await openTargets(ctx, policy, selectTargets(policy, undefined), passphrase);
  try {
    requireSome(opened.filter((o) => selected.has(o.spec.name)));
    const repaired = opened.filter((o) => o.repo && selected.has(o.spec.name));
    const others = opened.filter((o) => o.repo && !selected.has(o.spec.name));
    const targets: RepairPacksTargetOutcome[] = opened
      .filter((o) => !o.repo && selected.has(o.spec.name))
      .map((o) => ({ target: o.spec.name, ok: false, error: errorMessage(o.error), errorCode: o.error instanceof TriadError ? o.error.code : undefined }));
    const catalog = opts.dryRun ? undefined : catalogFor(ctx, policy);
    try {
      const mode = opts.dryRun ? 'shared' : 'exclusive';
      await withPolicyLocks(ctx, policy, repaired.map((o) => o.repo!), mode, { command: 'repair-packs', wait: opts.wait }, (signal) =>
        withRepoLocks(others.map((o) => o.repo!), 'shared', lockOptions(ctx, policy, { command: 'repair-packs', wait: opts.wait }), async (sourceSignal) => {
          const both = AbortSignal.any([signal, sourceSignal]);
          for (const o of repaired) {
            const sources = opened.filter((s) => s.repo && s !== o).map(blobSource);
            targets.push(await repairTargetPacks(ctx, policy, o.repo!, sources, catalog, { ...opts, signal: both }));
          }
        }),
      );
    } finally {
      catalog?.close();
    }
    targets.sort((a, b) => (a.target < b.target ? -1 : 1));
    const failed = targets.some((t) => t.error !== undefined);
    return { policy: policy.name, dryRun: !!opts.dryRun, targets, exitCode: failed ? ExitCode.FAILED : targets.every((t) => t.ok) ? ExitCode.OK : ExitCode.FINDING };
  } finally {
    await closeAll(opened);
  }
}

/** Another opened replica as a place to fetch blobs from; its index is loaded once, on first need. */
function blobSource(o: OpenedTarget): BlobSource {
  let index: Promise<MasterIndex> | undefined;
  return { name: o.spec.name, repo: o.repo!, index: () => (index ??= MasterIndex.load(o.repo!)) };
}

async function repairTargetPacks(
  ctx: AppContext,
  policy: Policy,
  repo: Repository,
  sources: BlobSource[],
  catalog: Catalog | undefined,
  opts: RepairPacksOptions & { signal: AbortSignal },
): Promise<RepairPacksTargetOutcome> {
  const runId = catalog?.startRun({ policy: policy.name, kind: 'check', target: repo.target, started_at: ctx.clock.now(), details: { repair: 'packs' } });
  try {
    const index = await loadIndexForRepair(repo);
    const damaged = opts.packs?.length ? namedPacks(repo.target, index, opts.packs) : await damagedPacks(ctx, repo, opts.signal);
    const r = await repairPacks(repo, index, damaged, {
      sources,
      dryRun: opts.dryRun,
      signal: opts.signal,
      ...(opts.packSize !== undefined ? { packSize: opts.packSize } : {}),
      onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'repair-packs', target: repo.target, files: p.done, totalFiles: p.total }),
    });
    if (r.lost.length > 0) r.lostFiles = await filesNeeding(repo, index, sources, new Set(r.lost.map((l) => l.id)), opts.signal);
    const ok = r.lost.length === 0;
    if (catalog && runId !== undefined) {
      catalog.removePacks(policy.name, repo.target, r.packsRemoved);
      catalog.recordPacks(policy.name, repo.target, r.packsWritten);
      const details = { repair: 'packs', packs: r.packs.map((p) => p.pack), packsWritten: r.packsWritten.length, lostBlobs: r.lost.length };
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: ok ? 'ok' : 'failed', exit_code: ok ? ExitCode.OK : ExitCode.FINDING, bytes_read: r.bytesRead, details });
    }
    return { ...r, ok };
  } catch (err) {
    if (catalog && runId !== undefined) catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: opts.signal.aborted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    // A bad --pack is the user's mistake (exit 2), not this target's failure.
    if (opts.signal.aborted || (err instanceof TriadError && err.code === 'E_USAGE')) throw err;
    return { target: repo.target, ok: false, error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined, hint: err instanceof TriadError ? err.hint : undefined };
  }
}

/** The packs a full check of the replica finds damaged, truncated or missing, and invalid packs no index names (every byte read once). */
async function damagedPacks(ctx: AppContext, repo: Repository, signal: AbortSignal): Promise<PackToRepair[]> {
  const report = await checkRepository(repo, {
    readData: 'all',
    random: seededRandom(0),
    signal,
    onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'check', target: repo.target, files: p.packs, totalFiles: p.totalPacks, bytes: p.bytes }),
    onReRead: (r) => ctx.emit?.({ type: 'pack-reread', target: repo.target, pack: r.pack, reason: r.reason }),
  });
  const out = new Map<string, string>();
  for (const d of report.damagedPacks) out.set(d.pack, d.reason);
  for (const e of report.errors) if ((e.kind === 'missing-pack' || e.kind === 'pack-size') && e.pack && !out.has(e.pack)) out.set(e.pack, e.message);
  // An invalid pack no index names holds nothing a reader can find: a repair interrupted after
  // unindexing its damaged pack leaves one, and removing it finishes that repair.
  for (const e of report.errors) if (e.kind === 'not-a-pack' && e.pack && !out.has(e.pack)) out.set(e.pack, e.message);
  return [...out].map(([pack, reason]) => ({ pack, reason }));
}

/** `--pack` ids or unique prefixes, resolved against the replica's index. */
function namedPacks(target: string, index: MasterIndex, given: readonly string[]): PackToRepair[] {
  const ids = [...index.packs.keys()];
  return given.map((g) => {
    const hits = ids.filter((id) => id.startsWith(g.toLowerCase()));
    if (hits.length !== 1) {
      throw new TriadError('E_USAGE', hits.length === 0 ? `no index of target '${target}' names a pack ${g}` : `pack prefix ${g} is ambiguous on target '${target}' (${hits.length} packs)`, {
        hint: `'triad check -p POLICY --target ${target} --read-data' names the damaged packs in full`,
      });
    }
    return { pack: hits[0]!, reason: 'named with --pack' };
  });
}
export type { RepairedPack } from '../repo/maintenance/index.js';
