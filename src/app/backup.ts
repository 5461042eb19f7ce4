import { displayPath } from '../core/names.js';
import { TriadError, ExitCode, exitCodeOf } from '../core/errors.js';
import type { Catalog } from '../catalog/index.js';
import type { RowStage } from '../catalog/row-stage.js';
import type { Policy } from '../policy/types.js';
import { evaluateRule } from '../policy/rule.js';
import { policyDigest } from './policy-digest.js';
import { runSnapshot, type BackupWarning, type Exclusion, type SnapshotRun, type SnapshotTarget } from '../repo/backup/index.js';
import { archiveSource } from './files-from.js';
import type { RepoLock } from '../repo/lock/index.js';
import type { SnapshotSummary } from '../repo/model/index.js';
import { startJob, underJobLock } from './job-run.js';
import { withEachRepoLock } from './locking.js';
import { catalogFor, closeAll, errorMessage, hostName, loadPolicyFile, openTargets, passphraseFor, requireSome, selectTargets, userName, warnDamagedSnapshot, type AppContext, type OpenedTarget } from './session.js';

export interface BackupOptions {
  policyFile: string;
  targets?: string[];
  dryRun?: boolean;
  /** Record the snapshot under this time instead of now (imports, retention tests). */
  time?: Date;
  tags?: string[];
  /** Run even though the policy violates its 3-2-1 rule. */
  allowViolation?: boolean;
  /** Count the sources first so progress can show an ETA (for a person at a terminal). */
  estimate?: boolean;
  /** Wait this long for a conflicting lock instead of failing at once (--wait). */
  waitMs?: number;
  /** Test hook: smaller packs. */
  packSize?: number;
  /** Record the snapshot under this host name instead of the policy's `host:` or the machine's (--host). */
  host?: string;
}

export interface TargetBackupResult {
  target: string;
  location?: string;
  status: 'committed' | 'failed' | 'dry-run';
  error?: string;
  errorCode?: string;
  bytesWritten: number;
  packs: number;
}

export interface BackupResult {
  policy: string;
  snapshot?: string;
  parent?: string;
  dryRun: boolean;
  time: string;
  durationMs: number;
  summary: SnapshotSummary;
  partial: boolean;
  warnings: BackupWarning[];
  targets: TargetBackupResult[];
  /** 0 ok, 3 partial, 1 when a target failed (DESIGN.md §7). */
  exitCode: number;
  /** Hook runs (before/after/on_failure) with their exit codes and output tails. */
  hooks?: Record<string, unknown>[];
  /** A dry run's plan: the files it would read (new or changed) and the entries the source options leave out. */
  plan?: BackupPlan;
}

export interface BackupPlan {
  read: { path: string; change: 'new' | 'changed' }[];
  excluded: ({ path: string } & Exclusion)[];
}

export async function runBackup(ctx: AppContext, opts: BackupOptions): Promise<BackupResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const matrix = evaluateRule(policy);
  if (matrix.verdict === 'fail' && !opts.allowViolation) {
    throw new TriadError('E_RULE_VIOLATION', `policy ${policy.name} violates its ${policy.rule} rule: ${matrix.requirements.filter((r) => r.status === 'fail').map((r) => r.reason).join('; ')}`, {
      hint: "fix the targets (see 'triad policy check'), or pass --allow-violation to back up anyway",
    });
  }
  return underJobLock(ctx, policy, 'backup', { disabled: opts.dryRun === true }, () => backupAsJob(ctx, policy, opts));
}

async function backupAsJob(ctx: AppContext, policy: Policy, opts: BackupOptions): Promise<BackupResult> {
  // Before hooks (e.g. a database dump) run first, so the recovery point comes after them.
  const job = opts.dryRun ? undefined : await startJob(ctx, policy, 'backup');
  let r: BackupResult;
  try {
    r = await backupAllTargets(ctx, policy, opts);
  } catch (err) {
    await job?.fail(err);
    throw err;
  }
  if (job) {
    const fin = await job.finish({
      status: r.exitCode === ExitCode.OK ? 'ok' : r.exitCode === ExitCode.PARTIAL ? 'partial' : 'failed',
      exitCode: r.exitCode,
      snapshot: r.snapshot,
      files: r.summary.files,
      bytesRead: r.summary.bytesRead,
      bytesAdded: r.summary.dataAddedPacked,
      targets: r.targets.map((t) => ({ name: t.target, ok: t.status !== 'failed', ...(t.error ? { error: t.error } : {}) })),
      ...(r.targets.some((t) => t.error) ? { error: r.targets.filter((t) => t.error).map((t) => `${t.target}: ${t.error}`).join('; ') } : {}),
    });
    // A failed after hook turns a successful run into a failed one.
    r.exitCode = fin.exitCode;
    r.hooks = job.records();
  }
  return r;
}

async function backupAllTargets(ctx: AppContext, policy: Policy, opts: BackupOptions): Promise<BackupResult> {
  const passphrase = await passphraseFor(ctx, policy);
  const specs = selectTargets(policy, opts.targets);
  const started = ctx.clock.monotonic();
  const opened = await openTargets(ctx, policy, specs, passphrase);
  try {
    const usable = requireSome(opened);
    for (const o of opened) if (o.error !== undefined) warnLeftOut(ctx, o.spec.name, o.error);
    // Aborted when the lock of every target still in the run is lost.
    const run = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, run.signal]) : run.signal;
    return await withEachRepoLock(ctx, policy, usable.map((o) => o.repo!), 'shared', { command: 'backup', wait: opts.waitMs }, (locks, failed) =>
      backupTo({ ...ctx, signal }, policy, opened, leaveOut(ctx, usable, failed), opts, started, { locks, abort: run }),
    );
  } finally {
    await closeAll(opened);
  }
}

/** The targets whose lock could be taken; the others are marked failed with the lock's error. */
function leaveOut(ctx: AppContext, usable: OpenedTarget[], failed: Map<unknown, unknown>): OpenedTarget[] {
  for (const o of usable) {
    if (!failed.has(o.repo)) continue;
    o.error = failed.get(o.repo);
    warnLeftOut(ctx, o.spec.name, o.error);
  }
  return usable.filter((o) => !failed.has(o.repo));
}

interface RunLocks {
  locks: RepoLock[];
  abort: AbortController;
}

/**
 * Entries (files and directories, as the previous snapshot counted them) up to which a backup
 * uses no walk thread and no catalogue row thread: each costs 50-100 ms of CPU to start (more on
 * a busy machine), as much as listing or recording a few thousand entries on the main thread.
 */
const SMALL_TREE = 5000;

async function backupTo(ctx: AppContext, policy: Policy, opened: OpenedTarget[], usable: OpenedTarget[], opts: BackupOptions, started: number, held: RunLocks): Promise<BackupResult> {
  const host = opts.host ?? hostName(policy);
  const paths = policy.sources.map((s) => s.path).sort();
  const sources = policy.sources.map(archiveSource);
  // The recovery point (DESIGN §4): nothing of the sources has been read before it.
  const startedAt = ctx.clock.now();
  const catalog = opts.dryRun ? undefined : catalogFor(ctx, policy);
  // After an earlier snapshot of these sources most files are unchanged, and listing the tree
  // on another thread while the indexes load pays. A first backup spends every core on file
  // contents, where the thread would only add its memory. A tree as small as SMALL_TREE
  // entries is listed, and its catalogue rows written, on the main thread: a thread's start-up
  // costs more than that work.
  const parent = catalog?.latestSnapshot(policy.name, { host, paths });
  const small = parent !== undefined && parent.files + parent.dirs <= SMALL_TREE;
  const statAhead = parent !== undefined && !small;
  const targets: SnapshotTarget[] = opened.map((o) => ({
    name: o.spec.name,
    location: o.storage?.location,
    ...(usable.includes(o) ? { repo: o.repo!, lost: held.locks.find((l) => l.repo === o.repo)?.lost } : { error: o.error }),
  }));
  let runId: number | undefined;
  let stage: RowStage | undefined;
  const plan: BackupPlan | undefined = opts.dryRun ? { read: [], excluded: [] } : undefined;
  try {
    const run = await runSnapshot(targets, sources, {
      policy: policy.name, host, username: userName(), paths, startedAt, time: opts.time, tags: opts.tags, policyDigest: policyDigest(policy), compression: policy.compression,
      dryRun: opts.dryRun, estimate: opts.estimate, statAhead, packSize: opts.packSize, workers: ctx.threads?.backupWorkers, clock: ctx.clock, signal: ctx.signal,
    }, {
      onReady: () => {
        if (!catalog) return;
        runId = catalog.startRun({ policy: policy.name, kind: 'backup', started_at: startedAt, details: { targets: opened.map((o) => o.spec.name) } });
        // Before the row thread starts: from then on the main thread writes only when that thread is idle.
        for (const o of opened) {
          catalog.upsertTarget({ policy: policy.name, name: o.spec.name, type: o.spec.type, location: o.storage?.location ?? '', media: o.spec.media, offsite: o.spec.offsite, immutable: o.spec.immutable, offline: (o.spec as { offline?: boolean }).offline ?? false });
        }
        stage = catalog.stageRows({ inline: small });
      },
      onTargetFailed: (target, err) => warnLeftOut(ctx, target, err),
      onLeftoverPacks: (target, { reused, unreadable }) => {
        if (reused) ctx.emit?.({ type: 'interrupted-packs-reused', target, count: reused });
        // A store that lists an upload before it completes (some S3-compatible servers) shows a killed run's pack cut short.
        if (unreadable) ctx.emit?.({ type: 'interrupted-packs-unusable', target, count: unreadable });
      },
      onAbsentPacks: (target, absent) => ctx.emit?.({ type: 'packs-absent', target, packs: absent }),
      onDamagedSnapshot: (target, d) => warnDamagedSnapshot(ctx, target)(d),
      onWarning: (w) => ctx.emit?.(w.code === 'changed' ? { type: 'file-changed', path: w.path, detail: w.message } : { type: 'file-skipped', path: w.path, reason: w.code, detail: w.message }),
      onProgress: (p) => ctx.emit?.({ type: 'progress', job: 'backup', ...p }),
      onFile: catalog ? (f) => stage!.push(f) : undefined,
      onExcluded: plan ? (path, why) => plan.excluded.push({ path: displayPath(path), ...why }) : undefined,
      onRead: plan ? (path, change) => plan.read.push({ path: displayPath(path), change }) : undefined,
      onIndexed: catalog ? (packs, live) => live.forEach((t) => stage!.addPacks(policy.name, t, packs)) : undefined,
      onAllLocksLost: (reason) => held.abort.abort(reason),
    });
    const results = targetResults(run, !!opts.dryRun);
    if (catalog && runId !== undefined) await recordRun(catalog, runId, policy, run, results, { host, paths, tags: opts.tags ?? [], rows: stage! });
    return {
      policy: policy.name,
      snapshot: run.snapshot,
      parent: run.parent,
      dryRun: !!opts.dryRun,
      time: run.time.toISOString(),
      durationMs: ctx.clock.monotonic() - started,
      summary: run.summary,
      partial: run.partial,
      warnings: run.warnings,
      targets: results,
      exitCode: run.exitCode,
      ...(plan ? { plan: { read: plan.read.sort((x, y) => (x.path < y.path ? -1 : 1)), excluded: plan.excluded } } : {}),
    };
  } catch (err) {
    if (catalog && runId !== undefined) {
      await stage?.settle();
      const interrupted = ctx.signal?.aborted ?? false;
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: interrupted ? 'interrupted' : 'failed', exit_code: exitCodeOf(err), error: errorMessage(err) });
    }
    throw err;
  } finally {
    await stage?.close();
    catalog?.close();
  }
}

function warnLeftOut(ctx: AppContext, target: string, err: unknown): void {
  ctx.emit?.({ type: 'target-left-out', target, error: errorMessage(err) });
}

function targetResults(run: SnapshotRun, dryRun: boolean): TargetBackupResult[] {
  return run.targets.map((t) => {
    if (t.error !== undefined) {
      return { target: t.name, location: t.location, status: 'failed', error: errorMessage(t.error), errorCode: t.error instanceof TriadError ? t.error.code : undefined, bytesWritten: t.bytesWritten, packs: t.packsWritten };
    }
    return { target: t.name, location: t.location, status: dryRun ? 'dry-run' : 'committed', bytesWritten: t.bytesWritten, packs: t.packsWritten };
  });
}

/** The run's catalogue rows: the snapshot with its files and presence, the journal seen, the run finished. */
async function recordRun(
  catalog: Catalog,
  runId: number,
  policy: Policy,
  run: SnapshotRun,
  results: TargetBackupResult[],
  r: { host: string; paths: string[]; tags: string[]; rows: RowStage },
): Promise<void> {
  const failed = results.some((t) => t.status === 'failed');
  if (run.snapshot) await recordSnapshot(catalog, policy, run, run.snapshot, r);
  if (run.journal) for (const name of run.journal.targets) catalog.markJournalSeen(policy.name, name, run.journal.id);
  catalog.finishRun(runId, {
    finished_at: run.finished,
    status: failed ? 'failed' : run.partial ? 'partial' : 'ok',
    exit_code: run.exitCode,
    bytes_read: run.summary.bytesRead,
    bytes_written: run.summary.dataAddedPacked,
    files: run.summary.files,
    error: failed ? results.filter((t) => t.error).map((t) => `${t.target}: ${t.error}`).join('; ') : null,
    details: { snapshot: run.snapshot, targets: results },
  });
}

async function recordSnapshot(catalog: Catalog, policy: Policy, run: SnapshotRun, snapshotId: string, r: { host: string; paths: string[]; tags: string[]; rows: RowStage }): Promise<void> {
  const s = run.summary;
  // The row thread may still be writing: SQLite can refuse this write at once rather than wait.
  await r.rows.settle();
  catalog.upsertSnapshot({
    id: snapshotId, policy: policy.name, host: r.host, paths: r.paths, time: run.time, finished_at: run.finished, tree: run.rootTree, parent: run.parent ?? null,
    partial: run.partial, tags: r.tags, files: s.files, dirs: s.dirs, bytes: s.bytes, files_new: s.filesNew, files_changed: s.filesChanged,
    files_unchanged: s.filesUnchanged, bytes_read: s.bytesRead, bytes_added: s.dataAddedPacked,
  });
  await r.rows.commit(snapshotId);
  for (const t of run.targets) catalog.setPresence(snapshotId, t.name, { status: t.error === undefined ? 'complete' : 'missing', at: run.finished });
}
