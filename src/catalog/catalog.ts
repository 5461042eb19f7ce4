import { TriadError } from '../core/errors.js';
import { Connection } from './connection.js';
import type { Db } from './connection.js';
import * as fileRows from './files.js';
import { BUSY_TIMEOUT_MS, openDatabase } from './open.js';
import type { OpenCatalogOptions } from './open.js';
import * as ledgerRows from './ledger.js';
import * as packRows from './packs.js';
import { RowStage } from './row-stage.js';
import * as runRows from './runs.js';
import * as snapshotRows from './snapshots.js';
import * as targetRows from './targets.js';
import type { TimeInput } from './time.js';
import type {
  FileInput,
  FileQuery,
  FileRow,
  PackRow,
  PackVerification,
  WrittenPackRecord,
  PresenceStatus,
  RestoreTestInput,
  RestoreTestRow,
  RunFinish,
  RunQuery,
  RunRow,
  RunStart,
  SnapshotInput,
  SnapshotRecord,
  CopyRow,
  StorageStats,
  TargetInput,
  TargetRow,
  VerificationCoverage,
  VerificationEntry,
} from './types.js';

export type { OpenCatalogOptions } from './open.js';
export { CATALOG_ELSEWHERE_HINT } from './errors.js';

/**
 * Opens (creating if needed) the catalogue and brings its schema up to date.
 * Every failure is an E_CATALOG TriadError naming the file.
 */
export function openCatalog(file: string, opts: OpenCatalogOptions = {}): Catalog {
  const { db, readonly, schemaVersion } = openDatabase(file, opts);
  return new Catalog(db, file, readonly, schemaVersion);
}

/**
 * One open catalogue. Methods are synchronous (better-sqlite3); statements are prepared once
 * and cached. While an iterateFiles() loop is open, this connection refuses writes (SQLite
 * keeps the read cursor open), so finish or break the loop before recording results.
 * Each group of tables has its module (targets, snapshots, files, packs, runs); this class
 * is the one face callers use.
 */
export class Catalog {
  private readonly c: Connection;

  constructor(
    db: Db,
    readonly file: string,
    readonly readonly: boolean,
    readonly schemaVersion: number,
  ) {
    this.c = new Connection(db, file, readonly);
  }

  /** The connection settings in force, for diagnostics. */
  settings(): { journal_mode: string; synchronous: number; foreign_keys: boolean; busy_timeout: number } {
    const db = this.c.db;
    return {
      journal_mode: String(db.pragma('journal_mode', { simple: true })),
      synchronous: Number(db.pragma('synchronous', { simple: true })),
      foreign_keys: Number(db.pragma('foreign_keys', { simple: true })) === 1,
      busy_timeout: Number(db.pragma('busy_timeout', { simple: true })),
    };
  }

  /**
   * SQLite's quick_check: the problems it finds in the file's structure, none when healthy.
   * Reads every page once (linear in the file's size) without the index cross-checks of a full integrity_check.
   */
  quickCheck(): string[] {
    const rows = this.c.db.pragma('quick_check') as { quick_check: string }[];
    return rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  }

  get isOpen(): boolean {
    return this.c.db.open;
  }

  close(): void {
    this.c.close();
  }

  /** Runs fn in one transaction (nested calls become savepoints). fn must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.c.write(() => this.c.db.transaction(fn)());
  }

  /**
   * Records a backup's rows on a thread of its own (see RowStage): file rows before the
   * snapshot id is known, packs and blobs as they are indexed. The caller closes it.
   */
  stageRows(opts: { busyMs?: number; inline?: boolean } = {}): RowStage {
    if (this.readonly || this.file === ':memory:') throw new TriadError('E_CATALOG', `file rows cannot be staged in the catalogue ${this.file}: it is read-only or in memory`);
    return new RowStage(
      this.file,
      opts.busyMs ?? BUSY_TIMEOUT_MS,
      (id) => this.c.snapshotKey(id).seq,
      (policy, target) => this.c.write(() => this.c.targetId(policy, target, true)!),
      (err) => this.c.writeError(err),
      opts.inline,
    );
  }

  // ---- targets -------------------------------------------------------------------------

  upsertTarget(t: TargetInput): void {
    targetRows.upsertTarget(this.c, t);
  }

  listTargets(policy: string): TargetRow[] {
    return targetRows.listTargets(this.c, policy);
  }

  // ---- snapshots -----------------------------------------------------------------------

  /** Inserts or updates the snapshot (a rebuild may record the same one again). */
  upsertSnapshot(s: SnapshotInput): void {
    snapshotRows.upsertSnapshot(this.c, s);
  }

  /**
   * Records where a snapshot is. Recording an already complete copy again keeps its earlier
   * completion time: moving it later would invent an exposure gap in the RPO history.
   */
  setPresence(
    snapshotId: string,
    target: string,
    p: { status: PresenceStatus; at: TimeInput; completed_at?: TimeInput | null; rule?: string | null },
  ): void {
    snapshotRows.setPresence(this.c, snapshotId, target, p);
  }

  markComplete(snapshotId: string, target: string, completedAt: TimeInput): void {
    snapshotRows.markComplete(this.c, snapshotId, target, completedAt);
  }

  markForgotten(snapshotId: string, target: string, at: TimeInput, rule: string): void {
    snapshotRows.markForgotten(this.c, snapshotId, target, at, rule);
  }

  /**
   * Snapshots of a policy, oldest first (by recovery point), each with its presence on every
   * target. With `target`: those with any presence row there, forgotten and missing included,
   * because exposure history needs them; filter on `presence` for what is restorable now.
   */
  listSnapshots(policy: string, q: { target?: string; since?: TimeInput } = {}): SnapshotRecord[] {
    return snapshotRows.listSnapshots(this.c, policy, q);
  }

  /**
   * The copies of snapshots with a recovery point before `before`, oldest first, streamed with
   * the figures a history fold needs (snapshotsBySeq loads the ones it keeps). No other
   * catalogue call may run while the iteration is open.
   */
  iterateCopiesBefore(policy: string, before: TimeInput): Generator<CopyRow> {
    return snapshotRows.iterateCopiesBefore(this.c, policy, before);
  }

  snapshotsBySeq(seqs: readonly number[]): SnapshotRecord[] {
    return snapshotRows.snapshotsBySeq(this.c, seqs);
  }

  /**
   * Newest snapshot complete on the target (on any target when none is given), optionally
   * for one host and one exact set of source paths (order does not matter).
   */
  latestSnapshot(policy: string, q: { target?: string; host?: string; paths?: readonly string[] } = {}): SnapshotRecord | undefined {
    return snapshotRows.latestSnapshot(this.c, policy, q);
  }

  /**
   * Resolves a full id or a unique prefix of at least 8 hex characters. Undefined when
   * nothing matches; E_USAGE listing the candidates when several do.
   */
  snapshotById(idOrPrefix: string, policy?: string): SnapshotRecord | undefined {
    return snapshotRows.snapshotById(this.c, idOrPrefix, policy);
  }

  /** Removes a snapshot with its presence, and the file versions no other snapshot holds. */
  deleteSnapshot(snapshotId: string): boolean {
    return snapshotRows.deleteSnapshot(this.c, snapshotId);
  }

  /**
   * Frees the file entries of every snapshot forgotten on all the targets that had it (its
   * row stays, for the RPO history), and the file versions no remaining snapshot holds.
   * Costs one pass over the versions of each lineage concerned.
   */
  freeForgottenFiles(): { snapshots: number; versions: number } {
    return snapshotRows.freeForgottenFiles(this.c);
  }

  // ---- files ---------------------------------------------------------------------------

  /** Records a snapshot's file entries in one transaction; returns how many were written. */
  addFiles(snapshotId: string, rows: Iterable<FileInput>): number {
    return fileRows.addFiles(this.c, snapshotId, rows);
  }

  listFiles(snapshotId: string, q: FileQuery = {}): FileRow[] {
    return fileRows.listFiles(this.c, snapshotId, q);
  }

  countFiles(snapshotId: string, q: Omit<FileQuery, 'limit' | 'offset'> = {}): number {
    return fileRows.countFiles(this.c, snapshotId, q);
  }

  fileByPath(snapshotId: string, path: string): FileRow | undefined {
    return fileRows.fileByPath(this.c, snapshotId, path);
  }

  /** Streams a snapshot's entries in path order with flat memory. */
  iterateFiles(snapshotId: string, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'> = {}): Generator<FileRow, void, undefined> {
    return fileRows.iterateFiles(this.c, snapshotId, q);
  }

  // ---- packs ---------------------------------------------------------------------------

  /** Records packs as written on `target`, with the sums of their blobs' lengths. */
  recordPacks(policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
    packRows.recordPacks(this.c, policy, target, packs);
  }

  addPacks(policy: string, target: string, rows: Iterable<PackRow>): number {
    return packRows.addPacks(this.c, policy, target, rows);
  }

  /** Drops packs from a target (after prune deleted them there); a pack no target holds goes. */
  removePacks(policy: string, target: string, ids: Iterable<string>): number {
    return packRows.removePacks(this.c, policy, target, ids);
  }

  /** Bytes the target stores (sum of its pack sizes). */
  storedBytes(policy: string, target: string): number {
    return packRows.storedBytes(this.c, policy, target);
  }

  /** Ids of the packs recorded for a target, in id order, streamed (catalog verify). */
  iteratePackIds(policy: string, target: string): Generator<string, void, undefined> {
    return packRows.iteratePackIds(this.c, policy, target);
  }

  storageStats(policy: string, target: string): StorageStats {
    return packRows.storageStats(this.c, policy, target);
  }

  // ---- verification ledger -------------------------------------------------------------

  /** Records which packs of a target a check or restore test verified, or found damaged, and when. */
  recordVerification(policy: string, target: string, v: PackVerification): number {
    return ledgerRows.recordVerification(this.c, policy, target, v);
  }

  /** The target's packs, never verified first, then least recently verified; streamed. */
  packsByVerificationAge(policy: string, target: string): Generator<VerificationEntry, void, undefined> {
    return ledgerRows.packsByVerificationAge(this.c, policy, target);
  }

  /** Bytes of the target verified since `since`, never verified, and packs that failed. */
  verificationCoverage(policy: string, target: string, since: Date): VerificationCoverage {
    return ledgerRows.verificationCoverage(this.c, policy, target, since);
  }

  // ---- runs, restore tests, journal ----------------------------------------------------

  startRun(r: RunStart): number {
    return runRows.startRun(this.c, r);
  }

  finishRun(id: number, f: RunFinish): void {
    runRows.finishRun(this.c, id, f);
  }

  /**
   * Records a finished run in one go (from a repository journal record). With a journal id,
   * importing the same record again returns the existing run's id and changes nothing.
   */
  importRun(r: RunStart & RunFinish): number {
    return runRows.importRun(this.c, r);
  }

  getRun(id: number): RunRow | undefined {
    return runRows.getRun(this.c, id);
  }

  /** Runs of a policy, oldest first. */
  listRuns(policy: string, q: RunQuery = {}): RunRow[] {
    return runRows.listRuns(this.c, policy, q);
  }

  /** Runs started before `before`, oldest first, streamed (as iterateSnapshotsBefore). */
  iterateRunsBefore(policy: string, before: TimeInput): Generator<RunRow> {
    return runRows.iterateRunsBefore(this.c, policy, before);
  }

  addRestoreTest(t: RestoreTestInput): void {
    runRows.addRestoreTest(this.c, t);
  }

  /** Restore tests of a policy, oldest first. */
  listRestoreTests(policy: string, q: { target?: string; since?: TimeInput } = {}): RestoreTestRow[] {
    return runRows.listRestoreTests(this.c, policy, q);
  }

  journalSeen(policy: string, target: string, id: string): boolean {
    return runRows.journalSeen(this.c, policy, target, id);
  }

  /** Returns false when the record had already been imported. */
  markJournalSeen(policy: string, target: string, id: string): boolean {
    return runRows.markJournalSeen(this.c, policy, target, id);
  }
}
