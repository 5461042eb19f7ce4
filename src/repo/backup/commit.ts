import { ExitCode } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { CompressionMode } from '../blob/index.js';
import { absentPacks, listPacks, MasterIndex, type AbsentPack } from '../index/index.js';
import { repairIndex } from '../maintenance/index.js';
import { POLICY_DETAIL, loadSnapshots, sealSnapshot, writeJournal, type DamagedSnapshot, type PolicyDigest, type Snapshot, type SnapshotManifest, type SnapshotSummary } from '../model/index.js';
import { BlobReader } from '../read/index.js';
import type { Repository } from '../repository.js';
import { Archiver, estimateSources, type ArchiveEvents, type BackupWarning, type FileRecord } from './archiver.js';
import type { ArchiveSource } from './source-tree.js';
import { StatAhead } from './stat-ahead.js';
import { MultiTargetWriter, type TargetSession, type WrittenPack } from './writer.js';

/** One target named by the run. */
export interface SnapshotTarget {
  name: string;
  /** Where it lives, for the journal record. */
  location?: string;
  /** Missing for a target the caller already left out (it could not be opened or locked). */
  repo?: Repository;
  /** Why the caller left it out; it then counts as failed. */
  error?: unknown;
  /** Aborted when the caller's lock on this target is lost: the target takes no further part. */
  lost?: AbortSignal;
}

export interface SnapshotOptions {
  policy: string;
  host: string;
  username?: string;
  /** The sources' paths, sorted, as the manifest records them. */
  paths: string[];
  /** The recovery point: nothing of the sources has been read before it. */
  startedAt: Date;
  /** Record the snapshot under this time instead of `startedAt`. */
  time?: Date;
  tags?: string[];
  /** What the journal record keeps of the policy (details.policy), for reports built from the repository alone. */
  policyDigest?: PolicyDigest;
  compression: CompressionMode;
  dryRun?: boolean;
  /** Count the sources first so progress can carry totals. */
  estimate?: boolean;
  /** List the sources on another thread while the indexes load (worth it when most files are unchanged). */
  statAhead?: boolean;
  packSize?: number;
  workers?: number;
  clock: Clock;
  signal?: AbortSignal;
}

export interface SnapshotProgress {
  files: number;
  bytes: number;
  path?: string;
  totalFiles?: number;
  totalBytes?: number;
}

/** What the run reports while it goes; the caller turns these into catalogue rows and messages. */
export interface SnapshotEvents {
  /** Every target is open and the parent chosen; called once, before any source is read. */
  onReady?(): void;
  /** The target takes no further part in the run. */
  onTargetFailed?(target: string, err: unknown): void;
  /** Packs an interrupted run left: `reused` are indexed and reused, `unreadable` ignored. */
  onLeftoverPacks?(target: string, leftover: { reused: number; unreadable: number }): void;
  /** Packs the index names but the target lacks: their blobs are stored again. */
  onAbsentPacks?(target: string, absent: AbsentPack[]): void;
  onDamagedSnapshot?(target: string, d: DamagedSnapshot): void;
  onWarning?(w: BackupWarning): void;
  onProgress?(p: SnapshotProgress): void;
  onFile?(f: FileRecord): void;
  onExcluded?: ArchiveEvents['onExcluded'];
  onRead?: ArchiveEvents['onRead'];
  /** Packs now named by an index on these targets. */
  onIndexed?(packs: WrittenPack[], targets: string[]): void;
  /** Every target has lost its lock: the caller should abort the run's signal. */
  onAllLocksLost?(reason: unknown): void;
}

export interface TargetOutcome {
  name: string;
  location?: string;
  /** Set when the target failed or was left out. */
  error?: unknown;
  bytesWritten: number;
  packsWritten: number;
}

export interface SnapshotRun {
  /** Missing on a dry run. */
  snapshot?: string;
  parent?: string;
  time: Date;
  finished: Date;
  rootTree: string;
  summary: SnapshotSummary;
  warnings: BackupWarning[];
  partial: boolean;
  /** One per target given, in the same order. */
  targets: TargetOutcome[];
  /** 0 ok, 3 partial, 1 when a target failed. */
  exitCode: number;
  /** The run's journal record and the targets that hold it. */
  journal?: { id: string; targets: string[] };
}

/**
 * A backup of `sources` to every target: loads and repairs each target's index, reads the
 * sources once into packs sent to all of them, then writes the index, seals the snapshot
 * and saves it everywhere, then the journal. The write order (packs, index, snapshot) is
 * kept here. A target that fails is dropped without stopping the others; the run fails
 * only when none is left.
 */
export async function runSnapshot(targets: SnapshotTarget[], sources: ArchiveSource[], opts: SnapshotOptions, events: SnapshotEvents = {}): Promise<SnapshotRun> {
  // Started before the indexes load, so the listing overlaps them.
  const statAhead = opts.statAhead ? new StatAhead(sources) : undefined;
  try {
    return await snapshotFrom(targets, sources, opts, events, statAhead);
  } finally {
    statAhead?.stop();
  }
}

async function snapshotFrom(targets: SnapshotTarget[], sources: ArchiveSource[], opts: SnapshotOptions, events: SnapshotEvents, statAhead: StatAhead | undefined): Promise<SnapshotRun> {
  const usable = targets.filter((t) => t.repo && t.error === undefined);
  const sessions = await Promise.all(usable.map((t) => openSession(t.name, t.repo!, opts, events)));
  const { session: first, parent } = await findParent(sessions, opts, events);
  const time = opts.time ?? opts.startedAt;
  events.onReady?.();
  const writer = new MultiTargetWriter(sessions, opts.compression, {
    packSize: opts.packSize,
    signal: opts.signal,
    dryRun: opts.dryRun,
    onTargetFailed: (s, err) => events.onTargetFailed?.(s.name, err),
    onIndexed: events.onIndexed ? (packs, live) => events.onIndexed?.(packs, live.map((s) => s.name)) : undefined,
  });
  watchLocks(usable, writer, events);
  const archiver = new Archiver(writer, {
    parent: parent ? { reader: new BlobReader(first.repo, first.index), tree: parent.tree, xattrsRecorded: parent.xattrs === true } : undefined,
    clock: opts.clock,
    signal: opts.signal,
    statAhead,
    workers: opts.workers,
    events: {
      onWarning: (w) => events.onWarning?.(w),
      onProgress: (p) => events.onProgress?.({ files: p.files, bytes: p.bytes, path: p.path, totalFiles: total?.files, totalBytes: total?.bytes }),
      onFile: events.onFile ? (f) => events.onFile?.(f) : undefined,
      onExcluded: events.onExcluded,
      onRead: events.onRead,
    },
  });
  const total = opts.estimate ? estimateSources(sources, opts.signal) : undefined;
  if (total) events.onProgress?.({ files: 0, bytes: 0, totalFiles: total.files, totalBytes: total.bytes });
  const result = await archiver.run(sources);
  let snapshot: string | undefined;
  let finished = opts.clock.now();
  if (!opts.dryRun) {
    // Packs first, then the index naming them (finishData), then the snapshot naming the tree.
    await writer.finishData();
    result.summary.dataAddedPacked = writer.packedAdded;
    finished = opts.clock.now();
    const manifest: SnapshotManifest = {
      version: 1,
      time: time.toISOString(),
      finished: finished.toISOString(),
      policy: opts.policy,
      host: opts.host,
      username: opts.username,
      paths: opts.paths,
      tree: result.rootTree,
      parent: parent?.id,
      partial: result.partial,
      tags: opts.tags ?? [],
      summary: result.summary,
      xattrs: true,
    };
    const sealed = sealSnapshot(writer.live[0]!.repo, manifest);
    snapshot = sealed.id;
    await writer.saveEverywhere(`snapshots/${sealed.id}`, sealed.sealed);
  }
  const outcomes = targets.map((t) => outcomeOf(t, sessions.find((s) => s.name === t.name)));
  const failed = outcomes.some((t) => t.error !== undefined);
  const exitCode = failed ? ExitCode.FAILED : result.partial ? ExitCode.PARTIAL : ExitCode.OK;
  const run: SnapshotRun = { snapshot, parent: parent?.id, time, finished, rootTree: result.rootTree, summary: result.summary, warnings: result.warnings, partial: result.partial, targets: outcomes, exitCode };
  if (snapshot) {
    const { id } = await writeJournal(writer.live.map((s) => s.repo), {
      version: 1, kind: 'backup', policy: opts.policy, host: opts.host, started: opts.startedAt.toISOString(), finished: finished.toISOString(),
      status: failed ? 'failed' : result.partial ? 'partial' : 'ok', exitCode, snapshot,
      targets: outcomes.map((t) => ({ name: t.name, ok: t.error === undefined, error: t.error === undefined ? undefined : messageOf(t.error), location: t.location, bytesWritten: t.bytesWritten, packs: t.packsWritten })),
      bytesRead: result.summary.bytesRead, bytesWritten: result.summary.dataAddedPacked, files: result.summary.files,
      details: { summary: result.summary, partial: result.partial, time: time.toISOString(), paths: opts.paths, parent: parent?.id, tree: result.rootTree, ...(opts.policyDigest ? { [POLICY_DETAIL]: opts.policyDigest } : {}) },
    });
    run.journal = { id, targets: writer.live.map((s) => s.name) };
  }
  return run;
}

function outcomeOf(t: SnapshotTarget, s: TargetSession | undefined): TargetOutcome {
  const error = s?.failed ?? t.error;
  return { name: t.name, location: t.location, ...(error !== undefined ? { error } : {}), bytesWritten: s?.bytesWritten ?? 0, packsWritten: s?.packsWritten ?? 0 };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A target's part in the run: its index, less the packs it lacks. One listing of `data/`
 * serves both checks: packs no index names (left by an interrupted run) are indexed and
 * reused, and packs the index names but the listing lacks or shows at another size are
 * left out, so their blobs count as not stored and this run stores them again.
 */
async function openSession(name: string, repo: Repository, opts: SnapshotOptions, events: SnapshotEvents): Promise<TargetSession> {
  try {
    const index = await MasterIndex.load(repo);
    const listed = await listPacks(repo, opts.signal);
    if (!opts.dryRun) {
      const { packsAdded, damaged } = await repairIndex(repo, { onlyUnindexed: true, signal: opts.signal, index, listed });
      if (packsAdded.length || damaged.length) events.onLeftoverPacks?.(name, { reused: packsAdded.length, unreadable: damaged.length });
    }
    const absent = absentPacks(index, listed);
    if (absent.length === 0) return { name, repo, index, bytesWritten: 0, packsWritten: 0 };
    events.onAbsentPacks?.(name, absent);
    const gone = new Set(absent.map((p) => p.pack));
    index.dropPacks(gone);
    return { name, repo, index, bytesWritten: 0, packsWritten: 0, absentPacks: gone };
  } catch (err) {
    if (opts.signal?.aborted) throw err;
    events.onTargetFailed?.(name, err);
    return { name, repo, index: new MasterIndex(), bytesWritten: 0, packsWritten: 0, failed: err };
  }
}

/** A target whose lock is lost takes no further part; when every target's is, the run stops. */
function watchLocks(targets: SnapshotTarget[], writer: MultiTargetWriter, events: SnapshotEvents): void {
  for (const t of targets) {
    const lost = t.lost;
    if (!lost) continue;
    const session = writer.sessions.find((s) => s.repo === t.repo);
    const lose = () => {
      if (session) writer.drop(session, lost.reason);
      if (writer.live.length === 0) events.onAllLocksLost?.(lost.reason);
    };
    if (lost.aborted) lose();
    else lost.addEventListener('abort', lose, { once: true });
  }
}

/**
 * The newest complete snapshot of the same policy, host and paths (its unchanged files are
 * not read again), from the first target whose snapshots can be read; a target whose
 * snapshots cannot be read is left out of the run.
 */
async function findParent(sessions: TargetSession[], opts: SnapshotOptions, events: SnapshotEvents): Promise<{ session: TargetSession; parent: Snapshot | undefined }> {
  const key = JSON.stringify(opts.paths);
  for (const session of sessions) {
    if (session.failed !== undefined) continue;
    try {
      const all = await loadSnapshots(session.repo, { onDamaged: (d) => events.onDamagedSnapshot?.(session.name, d), signal: opts.signal });
      return { session, parent: all.filter((s) => s.policy === opts.policy && s.host === opts.host && JSON.stringify([...s.paths].sort()) === key).pop() };
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      session.failed = err;
      events.onTargetFailed?.(session.name, err);
    }
  }
  throw sessions.find((s) => s.failed !== undefined)!.failed;
}
