import { TriadError } from '../core/errors.js';
import type { Catalog } from '../catalog/index.js';
import type { RowStage } from '../catalog/row-stage.js';
import type { Policy } from '../policy/types.js';
import { evaluateRule } from '../policy/rule.js';
import { Archiver, estimateSources, type ArchiveSource, type BackupWarning } from '../repo/backup/index.js';
import { StatAhead } from '../repo/backup/index.js';
import { BlobReader } from '../repo/read/index.js';
import { writeJournal } from '../repo/model/index.js';
import { absentPacks, listPacks, MasterIndex, type AbsentPack } from '../repo/index/index.js';
import type { RepoLock } from '../repo/lock/index.js';
import { repairIndex } from '../repo/maintenance/index.js';
import { loadSnapshots, sealSnapshot, type Snapshot, type SnapshotManifest, type SnapshotSummary } from '../repo/model/index.js';
import { MultiTargetWriter, type TargetSession } from '../repo/backup/index.js';
import { startJob } from './job-run.js';
import { withEachPolicyLock } from './locking.js';
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
}

export async function runBackup(ctx: AppContext, opts: BackupOptions): Promise<BackupResult> {
  const policy = await loadPolicyFile(ctx, opts.policyFile);
  const matrix = evaluateRule(policy);
  if (matrix.verdict === 'fail' && !opts.allowViolation) {
    throw new TriadError('E_RULE_VIOLATION', `policy ${policy.name} violates its ${policy.rule} rule: ${matrix.requirements.filter((r) => r.status === 'fail').map((r) => r.reason).join('; ')}`, {
      hint: "fix the targets (see 'triad policy check'), or pass --allow-violation to back up anyway",
    });
  }
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
      status: r.exitCode === 0 ? 'ok' : r.exitCode === 3 ? 'partial' : 'failed',
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
    return await withEachPolicyLock(ctx, policy, usable.map((o) => o.repo!), 'shared', { command: 'backup', wait: opts.waitMs }, (locks, failed) =>
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

async function backupTo(ctx: AppContext, policy: Policy, opened: OpenedTarget[], usable: OpenedTarget[], opts: BackupOptions, started: number, held: RunLocks): Promise<BackupResult> {
  const host = hostName(policy);
  const paths = policy.sources.map((s) => s.path).sort();
  const sources = policy.sources.map((s) => ({ path: s.path, exclude: s.exclude, crossFilesystems: s.cross_filesystems }));
  // The recovery point (DESIGN §4): nothing of the sources has been read before it.
  const startedAt = ctx.clock.now();
  const catalog = opts.dryRun ? undefined : catalogFor(ctx, policy);
  // After an earlier snapshot of these sources most files are unchanged, and listing the tree
  // on another thread, from now on while the indexes load, pays. A first backup spends both
  // cores on file contents, where the thread would only add its memory.
  const statAhead = catalog?.latestSnapshot(policy.name, { host, paths }) ? new StatAhead(sources) : undefined;
  try {
    return await backupFrom(ctx, policy, opened, usable, opts, started, { host, paths, sources, startedAt, catalog, statAhead, held });
  } finally {
    statAhead?.stop();
    catalog?.close();
  }
}

async function backupFrom(
  ctx: AppContext,
  policy: Policy,
  opened: OpenedTarget[],
  usable: OpenedTarget[],
  opts: BackupOptions,
  started: number,
  run: { host: string; paths: string[]; sources: ArchiveSource[]; startedAt: Date; catalog: Catalog | undefined; statAhead: StatAhead | undefined; held: RunLocks },
): Promise<BackupResult> {
  const { host, paths, sources, startedAt, catalog, statAhead, held } = run;
  const sessions = await Promise.all(usable.map((o) => openSession(ctx, o, !!opts.dryRun)));
  const { session: first, parent } = await findParent(ctx, sessions, policy.name, host, paths);
  const time = opts.time ?? startedAt;
  const runId = catalog?.startRun({ policy: policy.name, kind: 'backup', started_at: startedAt, details: { targets: opened.map((o) => o.spec.name) } });
  // Before the row thread starts: from then on the main thread writes only when that thread is idle.
  for (const o of opened) {
    catalog?.upsertTarget({ policy: policy.name, name: o.spec.name, type: o.spec.type, location: o.storage?.location ?? '', media: o.spec.media, offsite: o.spec.offsite, immutable: o.spec.immutable, offline: (o.spec as { offline?: boolean }).offline ?? false });
  }
  let stage: RowStage | undefined;
  try {
    const rows = (stage = catalog?.stageRows());
    const writer = new MultiTargetWriter(sessions, policy.compression, {
      packSize: opts.packSize,
      signal: ctx.signal,
      dryRun: opts.dryRun,
      onTargetFailed: (s, err) => warnLeftOut(ctx, s.name, err),
      onIndexed: rows ? (packs, live) => live.forEach((t) => rows.addPacks(policy.name, t.name, packs)) : undefined,
    });
    watchLocks(held, writer);
    const archiver = new Archiver(writer, {
      parent: parent ? { reader: new BlobReader(first.repo, first.index), tree: parent.tree } : undefined,
      clock: ctx.clock,
      signal: ctx.signal,
      statAhead,
      workers: ctx.threads?.backupWorkers,
      events: {
        onWarning: (w) => ctx.events?.warning?.(`${w.path}: ${w.message}`, w.path),
        onProgress: (p) => ctx.events?.progress?.({ phase: 'backup', files: p.files, bytes: p.bytes, path: p.path, totalFiles: total?.files, totalBytes: total?.bytes }),
        onFile: rows ? (f) => rows.push(f) : undefined,
      },
    });
    const total = opts.estimate ? estimateSources(sources, ctx.signal) : undefined;
    if (total) ctx.events?.progress?.({ phase: 'backup', files: 0, bytes: 0, totalFiles: total.files, totalBytes: total.bytes });
    const result = await archiver.run(sources);
    let snapshotId: string | undefined;
    let finished = ctx.clock.now();
    if (!opts.dryRun) {
      await writer.finishData();
      result.summary.dataAddedPacked = writer.packedAdded;
      finished = ctx.clock.now();
      const manifest: SnapshotManifest = {
        version: 1,
        time: time.toISOString(),
        finished: finished.toISOString(),
        policy: policy.name,
        host,
        username: userName(),
        paths,
        tree: result.rootTree,
        parent: parent?.id,
        partial: result.partial,
        tags: opts.tags ?? [],
        summary: result.summary,
      };
      const sealed = sealSnapshot(writer.live[0]!.repo, manifest);
      snapshotId = sealed.id;
      await writer.saveEverywhere(`snapshots/${sealed.id}`, sealed.sealed);
    }
    const targets = targetResults(opened, sessions, !!opts.dryRun);
    const failed = targets.some((t) => t.status === 'failed');
    const exitCode = failed ? 1 : result.partial ? 3 : 0;
    let journalId: string | undefined;
    if (snapshotId) {
      ({ id: journalId } = await writeJournal(writer.live.map((s) => s.repo), {
        version: 1, kind: 'backup', policy: policy.name, host, started: startedAt.toISOString(), finished: finished.toISOString(),
        status: failed ? 'failed' : result.partial ? 'partial' : 'ok', exitCode, snapshot: snapshotId,
        targets: targets.map((t) => ({ name: t.target, ok: t.status !== 'failed', error: t.error, location: t.location, bytesWritten: t.bytesWritten, packs: t.packs })),
        bytesRead: result.summary.bytesRead, bytesWritten: result.summary.dataAddedPacked, files: result.summary.files,
        details: { summary: result.summary, partial: result.partial, time: time.toISOString(), paths, parent: parent?.id },
      }));
    }
    if (catalog && runId !== undefined) {
      await recordBackup(catalog, policy, opened, sessions, { snapshotId, time, paths, host, parent: parent?.id, result, rows: rows!, finished, tags: opts.tags ?? [] });
      if (journalId) for (const s of writer.live) catalog.markJournalSeen(policy.name, s.name, journalId);
      catalog.finishRun(runId, {
        finished_at: finished,
        status: failed ? 'failed' : result.partial ? 'partial' : 'ok',
        exit_code: exitCode,
        bytes_read: result.summary.bytesRead,
        bytes_written: result.summary.dataAddedPacked,
        files: result.summary.files,
        error: failed ? targets.filter((t) => t.error).map((t) => `${t.target}: ${t.error}`).join('; ') : null,
        details: { snapshot: snapshotId, targets },
      });
    }
    return {
      policy: policy.name,
      snapshot: snapshotId,
      parent: parent?.id,
      dryRun: !!opts.dryRun,
      time: time.toISOString(),
      durationMs: ctx.clock.monotonic() - started,
      summary: result.summary,
      partial: result.partial,
      warnings: result.warnings,
      targets,
      exitCode,
    };
  } catch (err) {
    if (catalog && runId !== undefined) {
      await stage?.settle();
      const interrupted = ctx.signal?.aborted ?? false;
      catalog.finishRun(runId, { finished_at: ctx.clock.now(), status: interrupted ? 'interrupted' : 'failed', exit_code: err instanceof TriadError ? err.exitCode : 1, error: errorMessage(err) });
    }
    throw err;
  } finally {
    await stage?.close();
  }
}

/**
 * A target's part in the run: its index, less the packs it lacks. One listing of `data/`
 * serves both checks: packs no index names (left by an interrupted run) are indexed and
 * reused, and packs the index names but the listing lacks or shows at another size are
 * left out, so their blobs count as not stored and this run stores them again.
 */
async function openSession(ctx: AppContext, o: OpenedTarget, dryRun: boolean): Promise<TargetSession> {
  const repo = o.repo!;
  const name = o.spec.name;
  try {
    const index = await MasterIndex.load(repo);
    const listed = await listPacks(repo, ctx.signal);
    if (!dryRun) {
      const { packsAdded, damaged } = await repairIndex(repo, { onlyUnindexed: true, signal: ctx.signal, index, listed });
      if (packsAdded.length) ctx.events?.info?.(`target '${name}': reusing ${packsAdded.length} pack(s) left by an interrupted run`);
      // A store that lists an upload before it completes (some S3-compatible servers) shows a killed run's pack cut short.
      if (damaged.length) ctx.events?.info?.(`target '${name}': ${damaged.length} unreadable pack(s) left by an interrupted run are not used; 'triad prune' removes them after its grace period`);
    }
    const absent = absentPacks(index, listed);
    if (absent.length === 0) return { name, repo, index, bytesWritten: 0, packsWritten: 0 };
    ctx.events?.warning?.(absentWarning(name, absent));
    const gone = new Set(absent.map((p) => p.pack));
    index.dropPacks(gone);
    return { name, repo, index, bytesWritten: 0, packsWritten: 0, absentPacks: gone };
  } catch (err) {
    if (ctx.signal?.aborted) throw err;
    warnLeftOut(ctx, name, err);
    return { name, repo, index: new MasterIndex(), bytesWritten: 0, packsWritten: 0, failed: err };
  }
}

function warnLeftOut(ctx: AppContext, target: string, err: unknown): void {
  ctx.events?.warning?.(`target '${target}' failed and is left out of this run: ${errorMessage(err)}`);
}

function absentWarning(target: string, absent: AbsentPack[]): string {
  const shown = absent.slice(0, 5).map((p) => `${p.pack} (${p.stored === undefined ? 'missing' : `${p.stored} bytes, the index says ${p.indexed}`})`);
  const more = absent.length > shown.length ? ` and ${absent.length - shown.length} more` : '';
  return (
    `target '${target}': ${absent.length} pack(s) named by the index are missing or cut short: ${shown.join(', ')}${more}; ` +
    `this backup stores their blobs again from the sources and takes them out of the index; earlier snapshots may need blobs only they held: ` +
    `run 'triad check -p POLICY --target ${target}' to see which`
  );
}

/** A target whose lock is lost takes no further part; when every target's is, the run stops. */
function watchLocks(held: RunLocks, writer: MultiTargetWriter): void {
  for (const lock of held.locks) {
    const session = writer.sessions.find((s) => s.repo === lock.repo);
    const lose = () => {
      if (session) writer.drop(session, lock.lost.reason);
      if (writer.live.length === 0) held.abort.abort(lock.lost.reason);
    };
    if (lock.lost.aborted) lose();
    else lock.lost.addEventListener('abort', lose, { once: true });
  }
}

/**
 * The newest complete snapshot of the same policy, host and paths (its unchanged files are
 * not read again), from the first target whose snapshots can be read; a target whose
 * snapshots cannot be read is left out of the run.
 */
async function findParent(ctx: AppContext, sessions: TargetSession[], policy: string, host: string, paths: string[]): Promise<{ session: TargetSession; parent: Snapshot | undefined }> {
  const key = JSON.stringify(paths);
  for (const session of sessions) {
    if (session.failed !== undefined) continue;
    try {
      const all = await loadSnapshots(session.repo, { onDamaged: warnDamagedSnapshot(ctx, session.name), signal: ctx.signal });
      return { session, parent: all.filter((s) => s.policy === policy && s.host === host && JSON.stringify([...s.paths].sort()) === key).pop() };
    } catch (err) {
      if (ctx.signal?.aborted) throw err;
      session.failed = err;
      warnLeftOut(ctx, session.name, err);
    }
  }
  throw sessions.find((s) => s.failed !== undefined)!.failed;
}

function targetResults(opened: OpenedTarget[], sessions: TargetSession[], dryRun: boolean): TargetBackupResult[] {
  return opened.map((o) => {
    const s = sessions.find((x) => x.name === o.spec.name);
    const err = s?.failed ?? o.error;
    if (err !== undefined) {
      return { target: o.spec.name, location: o.storage?.location, status: 'failed', error: errorMessage(err), errorCode: err instanceof TriadError ? err.code : undefined, bytesWritten: s?.bytesWritten ?? 0, packs: s?.packsWritten ?? 0 };
    }
    return { target: o.spec.name, location: o.storage?.location, status: dryRun ? 'dry-run' : 'committed', bytesWritten: s?.bytesWritten ?? 0, packs: s?.packsWritten ?? 0 };
  });
}

async function recordBackup(
  catalog: ReturnType<typeof catalogFor>,
  policy: Policy,
  opened: OpenedTarget[],
  sessions: TargetSession[],
  r: { snapshotId?: string; time: Date; paths: string[]; host: string; parent?: string; result: Awaited<ReturnType<Archiver['run']>>; rows: RowStage; finished: Date; tags: string[] },
): Promise<void> {
  if (!r.snapshotId) return;
  const s = r.result.summary;
  // The row thread may still be writing: SQLite can refuse this write at once rather than wait.
  await r.rows.settle();
  catalog.upsertSnapshot({
    id: r.snapshotId, policy: policy.name, host: r.host, paths: r.paths, time: r.time, finished_at: r.finished, tree: r.result.rootTree, parent: r.parent ?? null,
    partial: r.result.partial, tags: r.tags, files: s.files, dirs: s.dirs, bytes: s.bytes, files_new: s.filesNew, files_changed: s.filesChanged,
    files_unchanged: s.filesUnchanged, bytes_read: s.bytesRead, bytes_added: s.dataAddedPacked,
  });
  await r.rows.commit(r.snapshotId);
  for (const o of opened) {
    const sess = sessions.find((x) => x.name === o.spec.name);
    const ok = sess && sess.failed === undefined;
    catalog.setPresence(r.snapshotId, o.spec.name, { status: ok ? 'complete' : 'missing', at: r.finished });
  }
}
