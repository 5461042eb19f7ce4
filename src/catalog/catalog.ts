import { accessSync, closeSync, constants as fsConstants, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TriadError, errnoCode } from '../core/errors.js';
import { RowStage } from './row-stage.js';
import { migrations as builtinMigrations } from './migrations.js';
import type { Migration } from './migrations.js';
import { optIso, toIso } from './time.js';
import type { TimeInput } from './time.js';
import type {
  BlobRow,
  FileInput,
  FileQuery,
  FileRow,
  FileType,
  PackRow,
  WrittenPackRecord,
  PresenceRow,
  PresenceStatus,
  RestoreTestInput,
  RestoreTestRow,
  RunFinish,
  RunKind,
  RunQuery,
  RunRow,
  RunStart,
  RunStatus,
  SnapshotInput,
  SnapshotRecord,
  StorageStats,
  TargetInput,
  TargetRow,
} from './types.js';

type Db = Database.Database;
type Stmt = Database.Statement<unknown[], unknown>;

export interface OpenCatalogOptions {
  readonly?: boolean;
  /** Replaces the built-in migration list; for tests of the upgrade path only. */
  migrations?: readonly Migration[];
}

// Long enough to wait out a concurrent backup's batch commit, short enough that a wedged
// process is reported instead of hanging a cron job.
const BUSY_TIMEOUT_MS = 15_000;
const MAX_ERROR_CHARS = 4000;
const HEX64 = /^[0-9a-fA-F]{64}$/;
const FILE_TYPES: ReadonlySet<string> = new Set<FileType>(['file', 'dir', 'symlink']);
const RUN_KINDS: ReadonlySet<string> = new Set<RunKind>(['backup', 'copy', 'prune', 'forget', 'check', 'restore', 'restore-test', 'init']);
const FINAL_STATUSES: ReadonlySet<string> = new Set<RunStatus>(['ok', 'partial', 'failed', 'interrupted']);
const PRESENCE: ReadonlySet<string> = new Set<PresenceStatus>(['complete', 'missing', 'forgotten']);

const REBUILD_HINT = 'move the file aside and run `triad catalog rebuild -p POLICY --target NAME`; the repository holds everything the catalogue needs';

/**
 * Opens (creating if needed) the catalogue and brings its schema up to date.
 * Every failure is an E_CATALOG TriadError naming the file.
 */
export function openCatalog(file: string, opts: OpenCatalogOptions = {}): Catalog {
  const readonly = opts.readonly === true;
  if (readonly && !existsSync(file)) {
    throw new TriadError('E_CATALOG', `no catalogue at ${file}`, {
      hint: 'run a backup first, or `triad catalog rebuild` to build it from a repository',
    });
  }
  if (!readonly && file !== ':memory:') {
    try {
      // File names in the catalogue can be sensitive: keep it private to the user running triad.
      mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
      if (!existsSync(file)) closeSync(openSync(file, 'a', 0o600));
    } catch (err) {
      throw openError(file, err);
    }
  }
  let db: Db | undefined;
  try {
    db = new Database(file, { readonly, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
    db.pragma('foreign_keys = ON');
    if (!readonly) {
      const mode = String(db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
      if (mode !== 'wal') {
        throw new TriadError('E_CATALOG', `cannot use WAL mode for the catalogue ${file} (got ${mode})`, {
          hint: 'put the catalogue on a local file system (network file systems cannot share WAL memory), e.g. with TRIAD_CATALOG',
        });
      }
    }
    db.pragma('synchronous = NORMAL');
    // A bounded 32 MiB page cache: a 100,000-row file batch inserted out of path order would
    // otherwise spill the default 2 MiB cache many times over.
    db.pragma('cache_size = -32768');
    const version = migrate(db, file, readonly, opts.migrations ?? builtinMigrations);
    return new Catalog(db, file, readonly, version);
  } catch (err) {
    try {
      db?.close();
    } catch {
      // The original error is the one worth reporting.
    }
    throw openError(file, err);
  }
}

/**
 * SQLite says only "unable to open database file" when it cannot create the WAL files
 * beside an existing catalogue: the file system's answer for the directory names the cause.
 */
function whyNotWritable(file: string): string | undefined {
  try {
    accessSync(dirname(file), fsConstants.W_OK);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** What to do when the catalogue's file or directory cannot be written. */
export const CATALOG_ELSEWHERE_HINT = 'the catalogue and its directory must be writable: choose another catalogue file with --catalog FILE or `catalog:` in the policy (or $TRIAD_CATALOG)';

function openError(file: string, err: unknown): TriadError {
  if (err instanceof TriadError) return err;
  const code = errnoCode(err);
  const reason = (code?.startsWith('SQLITE_CANTOPEN') || code?.startsWith('SQLITE_READONLY') ? whyNotWritable(file) : undefined) ?? (err instanceof Error ? err.message : String(err));
  let hint: string;
  switch (code) {
    case 'SQLITE_NOTADB':
    case 'SQLITE_CORRUPT':
      hint = `the file is damaged or is not a triad catalogue: ${REBUILD_HINT}`;
      break;
    case 'SQLITE_BUSY':
    case 'SQLITE_LOCKED':
      hint = 'another triad process is holding the catalogue; try again when it has finished';
      break;
    case 'SQLITE_FULL':
    case 'ENOSPC':
      hint = 'the file system is full: free space and run the command again';
      break;
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
    case 'SQLITE_READONLY':
    case 'SQLITE_READONLY_DIRECTORY':
    case 'SQLITE_CANTOPEN':
      hint = CATALOG_ELSEWHERE_HINT;
      break;
    default:
      hint = `check that the path exists and is writable by this user; ${CATALOG_ELSEWHERE_HINT}`;
  }
  return new TriadError('E_CATALOG', `cannot open the catalogue ${file}: ${reason}`, { hint, cause: err });
}

function migrate(db: Db, file: string, readonly: boolean, migrations: readonly Migration[]): number {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) throw new Error('catalogue migrations must have increasing versions');
  }
  const hasTable = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get() !== undefined;
  if (!hasTable && !readonly) {
    db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)');
  }
  const current = (): number =>
    hasTable || !readonly ? ((db.prepare('SELECT max(version) FROM schema_migrations').pluck().get() as number | null) ?? 0) : 0;
  const found = current();
  if (found > latest) {
    throw new TriadError('E_CATALOG', `the catalogue ${file} has schema version ${found}, newer than this triad understands (${latest})`, {
      hint: 'upgrade triad to the version that last wrote this catalogue, or point TRIAD_CATALOG at another file',
      details: { file, schemaVersion: found, supported: latest },
    });
  }
  if (readonly) {
    if (found < latest) {
      throw new TriadError('E_CATALOG', `the catalogue ${file} has schema version ${found}, older than this triad's (${latest})`, {
        hint: 'run any triad command that writes the catalogue (e.g. `triad snapshots`) once to upgrade it',
      });
    }
    return found;
  }
  const applied = db.prepare('SELECT 1 FROM schema_migrations WHERE version = ?');
  const record = db.prepare('INSERT INTO schema_migrations (version, name) VALUES (?, ?)');
  for (const m of migrations) {
    if (m.version <= found) continue;
    // IMMEDIATE takes the write lock before re-checking, so two processes opening an old
    // catalogue at once cannot both run the same migration.
    db.transaction(() => {
      if (applied.get(m.version) !== undefined) return;
      m.up(db);
      record.run(m.version, m.name);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  return current();
}

function hex64(value: string, what: string): string {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new TriadError('E_CATALOG', `invalid ${what}: ${JSON.stringify(value)} (expected 64 hex characters)`);
  }
  return value.toLowerCase();
}

// Buffer.from ignores case, so this skips hex64's lower-casing copy on the bulk-insert path.
function hexBuf(value: string, what: string): Buffer {
  if (typeof value !== 'string' || !HEX64.test(value)) {
    throw new TriadError('E_CATALOG', `invalid ${what}: ${JSON.stringify(value)} (expected 64 hex characters)`);
  }
  return Buffer.from(value, 'hex');
}

function parseJson<T>(text: unknown, fallback: T): T {
  if (typeof text !== 'string') return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

function canonicalPaths(paths: readonly string[]): string {
  return JSON.stringify([...paths].sort());
}

function count(n: number | undefined): number {
  return n ?? 0;
}

interface SnapshotDbRow {
  seq: number;
  id: string;
  policy: string;
  host: string;
  paths: string;
  time: string;
  finished_at: string | null;
  tree: string;
  parent: string | null;
  files: number;
  dirs: number;
  bytes: number;
  files_new: number;
  files_changed: number;
  files_unchanged: number;
  bytes_read: number;
  bytes_added: number;
  partial: number;
  tags: string;
}

/** Columns in FILE_COLUMNS order: file reads use raw arrays, building objects in JS is about twice as fast. */
type FileDbRow = [path: string, type: FileType, size: number, mode: number, mtime: number, hash: Buffer | null, chunks: number];

const SNAPSHOT_COLUMNS =
  's.seq, s.id, s.policy, s.host, s.paths, s.time, s.finished_at, s.tree, s.parent, s.files, s.dirs, s.bytes, ' +
  's.files_new, s.files_changed, s.files_unchanged, s.bytes_read, s.bytes_added, s.partial, s.tags';
const PRESENCE_COLUMNS = 't.name AS target, p.status, p.completed_at, p.changed_at, p.forget_rule';
const FILE_COLUMNS = 'path, type, size, mode, mtime, hash, chunks';

function toFileRow(r: FileDbRow): FileRow {
  const hash = r[5];
  return { path: r[0], type: r[1], size: r[2], mode: r[3], mtime: r[4], hash: hash === null ? null : hash.toString('hex'), chunks: r[6] };
}

/**
 * One open catalogue. Methods are synchronous (better-sqlite3); statements are prepared once
 * and cached. While an iterateFiles() loop is open, this connection refuses writes (SQLite
 * keeps the read cursor open), so finish or break the loop before recording results.
 */
export class Catalog {
  private readonly statements = new Map<string, Stmt>();
  private readonly targetIds = new Map<string, number>();

  constructor(
    private readonly db: Db,
    readonly file: string,
    readonly readonly: boolean,
    readonly schemaVersion: number,
  ) {}

  /** The connection settings in force, for diagnostics. */
  settings(): { journal_mode: string; synchronous: number; foreign_keys: boolean; busy_timeout: number } {
    return {
      journal_mode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
      foreign_keys: Number(this.db.pragma('foreign_keys', { simple: true })) === 1,
      busy_timeout: Number(this.db.pragma('busy_timeout', { simple: true })),
    };
  }

  get isOpen(): boolean {
    return this.db.open;
  }

  close(): void {
    if (!this.db.open) return;
    this.statements.clear();
    this.db.close();
  }

  /** Runs fn in one transaction (nested calls become savepoints). fn must be synchronous. */
  transaction<T>(fn: () => T): T {
    return this.write(() => this.db.transaction(fn)());
  }

  // ---- targets -------------------------------------------------------------------------

  upsertTarget(t: TargetInput): void {
    this.write(() =>
      this.stmt(
        `INSERT INTO targets (policy, name, type, location, media, offsite, immutable, offline)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (policy, name) DO UPDATE SET type = excluded.type, location = excluded.location,
           media = excluded.media, offsite = excluded.offsite, immutable = excluded.immutable, offline = excluded.offline`,
      ).run(t.policy, t.name, t.type, t.location, t.media, t.offsite ? 1 : 0, t.immutable ? 1 : 0, t.offline ? 1 : 0),
    );
  }

  listTargets(policy: string): TargetRow[] {
    const rows = this.stmt(
      'SELECT policy, name, type, location, media, offsite, immutable, offline FROM targets WHERE policy = ? ORDER BY name',
    ).all(policy) as Array<Omit<TargetRow, 'offsite' | 'immutable' | 'offline'> & { offsite: number; immutable: number; offline: number }>;
    return rows.map((r) => ({ ...r, offsite: r.offsite === 1, immutable: r.immutable === 1, offline: r.offline === 1 }));
  }

  // ---- snapshots -----------------------------------------------------------------------

  /** Inserts or updates the snapshot (a rebuild may record the same one again). */
  upsertSnapshot(s: SnapshotInput): void {
    const id = hex64(s.id, 'snapshot id');
    const parent = s.parent === undefined || s.parent === null ? null : hex64(s.parent, 'parent snapshot id');
    this.write(() =>
      this.stmt(
        `INSERT INTO snapshots (id, policy, host, paths, time, finished_at, tree, parent, files, dirs, bytes,
           files_new, files_changed, files_unchanged, bytes_read, bytes_added, partial, tags)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET host = excluded.host, paths = excluded.paths, time = excluded.time,
           finished_at = excluded.finished_at, tree = excluded.tree, parent = excluded.parent, files = excluded.files,
           dirs = excluded.dirs, bytes = excluded.bytes, files_new = excluded.files_new, files_changed = excluded.files_changed,
           files_unchanged = excluded.files_unchanged, bytes_read = excluded.bytes_read, bytes_added = excluded.bytes_added,
           partial = excluded.partial, tags = excluded.tags`,
      ).run(
        id,
        s.policy,
        s.host,
        canonicalPaths(s.paths),
        toIso(s.time, 'snapshot time'),
        optIso(s.finished_at, 'snapshot finish time'),
        hex64(s.tree, 'tree id'),
        parent,
        count(s.files),
        count(s.dirs),
        count(s.bytes),
        count(s.files_new),
        count(s.files_changed),
        count(s.files_unchanged),
        count(s.bytes_read),
        count(s.bytes_added),
        s.partial ? 1 : 0,
        JSON.stringify(s.tags ?? []),
      ),
    );
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
    if (!PRESENCE.has(p.status)) throw new TriadError('E_CATALOG', `invalid presence status ${JSON.stringify(p.status)}`);
    const at = toIso(p.at, 'presence time');
    const completed = p.status === 'complete' ? (optIso(p.completed_at, 'completion time') ?? at) : optIso(p.completed_at, 'completion time');
    this.write(() => {
      const { seq, policy } = this.snapshotKey(snapshotId);
      const tid = this.targetId(policy, target, true)!;
      this.stmt(
        `INSERT INTO snapshot_targets (snap, target, status, completed_at, changed_at, forget_rule) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (snap, target) DO UPDATE SET
           completed_at = CASE
             WHEN excluded.status <> 'complete' THEN coalesce(excluded.completed_at, snapshot_targets.completed_at)
             WHEN snapshot_targets.status = 'complete' AND snapshot_targets.completed_at IS NOT NULL
               AND snapshot_targets.completed_at <= excluded.completed_at THEN snapshot_targets.completed_at
             ELSE excluded.completed_at END,
           changed_at = CASE WHEN excluded.status = 'complete' AND snapshot_targets.status = 'complete'
             THEN snapshot_targets.changed_at ELSE excluded.changed_at END,
           status = excluded.status,
           forget_rule = excluded.forget_rule`,
      ).run(seq, tid, p.status, completed, at, p.status === 'forgotten' ? (p.rule ?? null) : null);
    });
  }

  markComplete(snapshotId: string, target: string, completedAt: TimeInput): void {
    this.setPresence(snapshotId, target, { status: 'complete', at: completedAt, completed_at: completedAt });
  }

  markForgotten(snapshotId: string, target: string, at: TimeInput, rule: string): void {
    this.setPresence(snapshotId, target, { status: 'forgotten', at, rule });
  }

  /**
   * Snapshots of a policy, oldest first (by recovery point), each with its presence on every
   * target. With `target`: those with any presence row there, forgotten and missing included,
   * because exposure history needs them; filter on `presence` for what is restorable now.
   */
  listSnapshots(policy: string, q: { target?: string; since?: TimeInput } = {}): SnapshotRecord[] {
    const since = q.since === undefined ? '' : toIso(q.since, 'since');
    let rows: SnapshotDbRow[];
    if (q.target !== undefined) {
      const tid = this.targetId(policy, q.target, false);
      if (tid === undefined) return [];
      rows = this.stmt(
        `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s
         WHERE s.policy = ? AND s.time >= ? AND EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = s.seq AND p.target = ?)
         ORDER BY s.time, s.seq`,
      ).all(policy, since, tid) as SnapshotDbRow[];
    } else {
      rows = this.stmt(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.policy = ? AND s.time >= ? ORDER BY s.time, s.seq`).all(
        policy,
        since,
      ) as SnapshotDbRow[];
    }
    const presence = new Map<number, PresenceRow[]>();
    const prows = this.stmt(
      `SELECT p.snap, ${PRESENCE_COLUMNS} FROM snapshot_targets p JOIN targets t ON t.id = p.target
       JOIN snapshots s ON s.seq = p.snap WHERE s.policy = ? AND s.time >= ? ORDER BY t.name`,
    ).all(policy, since) as Array<PresenceRow & { snap: number }>;
    for (const { snap, ...p } of prows) {
      let list = presence.get(snap);
      if (list === undefined) presence.set(snap, (list = []));
      list.push(p);
    }
    return rows.map((r) => this.toSnapshot(r, presence.get(r.seq) ?? []));
  }

  /**
   * Newest snapshot complete on the target (on any target when none is given), optionally
   * for one host and one exact set of source paths (order does not matter).
   */
  latestSnapshot(policy: string, q: { target?: string; host?: string; paths?: readonly string[] } = {}): SnapshotRecord | undefined {
    let tid: number | null = null;
    if (q.target !== undefined) {
      const found = this.targetId(policy, q.target, false);
      if (found === undefined) return undefined;
      tid = found;
    }
    const row = this.stmt(
      `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s
       WHERE s.policy = @policy AND (@host IS NULL OR s.host = @host) AND (@paths IS NULL OR s.paths = @paths)
         AND EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = s.seq AND p.status = 'complete' AND (@target IS NULL OR p.target = @target))
       ORDER BY s.time DESC, s.seq DESC LIMIT 1`,
    ).get({ policy, host: q.host ?? null, paths: q.paths === undefined ? null : canonicalPaths(q.paths), target: tid }) as SnapshotDbRow | undefined;
    return row === undefined ? undefined : this.toSnapshot(row, this.presenceOf(row.seq));
  }

  /**
   * Resolves a full id or a unique prefix of at least 8 hex characters. Undefined when
   * nothing matches; E_USAGE listing the candidates when several do.
   */
  snapshotById(idOrPrefix: string, policy?: string): SnapshotRecord | undefined {
    const prefix = idOrPrefix.trim().toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
      throw new TriadError('E_USAGE', `invalid snapshot id ${JSON.stringify(idOrPrefix)}`, {
        hint: 'give the full id or at least its first 8 hex characters (see `triad snapshots`), or `latest`',
      });
    }
    // Hex digits all sort below 'g', so [prefix, prefix+'g') is exactly the ids starting with prefix.
    const rows = this.stmt(
      `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.id >= @prefix AND s.id < @prefix || 'g' AND (@policy IS NULL OR s.policy = @policy)
       ORDER BY s.id LIMIT 11`,
    ).all({ prefix, policy: policy ?? null }) as SnapshotDbRow[];
    if (rows.length === 0) return undefined;
    if (rows.length > 1) {
      const candidates = rows.slice(0, 10).map((r) => r.id);
      throw new TriadError(
        'E_USAGE',
        `snapshot id prefix ${prefix} is ambiguous: it matches ${candidates.join(', ')}${rows.length > 10 ? ', …' : ''}`,
        { hint: 'give more characters of the id', details: { prefix, candidates } },
      );
    }
    const row = rows[0]!;
    return this.toSnapshot(row, this.presenceOf(row.seq));
  }

  /** Removes a snapshot with its file rows and presence (after it is forgotten everywhere). */
  deleteSnapshot(snapshotId: string): boolean {
    const id = hex64(snapshotId, 'snapshot id');
    return this.write(() => this.stmt('DELETE FROM snapshots WHERE id = ?').run(id).changes > 0);
  }

  // ---- files ---------------------------------------------------------------------------

  /** Records a snapshot's file entries in one transaction; returns how many were written. */
  addFiles(snapshotId: string, rows: Iterable<FileInput>): number {
    return this.write(() =>
      this.db.transaction(() => {
        const { seq } = this.snapshotKey(snapshotId);
        const insert = this.stmt(`INSERT OR REPLACE INTO files (snap, ${FILE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`);
        let n = 0;
        for (const f of rows) {
          if (!FILE_TYPES.has(f.type)) throw new TriadError('E_CATALOG', `invalid file type ${JSON.stringify(f.type)} for ${f.path}`);
          const hash = f.hash === null || f.hash === undefined ? null : hexBuf(f.hash, `content hash of ${f.path}`);
          insert.run(seq, f.path, f.type, f.size, f.mode, f.mtime, hash, f.chunks ?? 0);
          n++;
        }
        return n;
      })(),
    );
  }

  /**
   * Records a backup's rows on a thread of its own (see RowStage): file rows before the
   * snapshot id is known, packs and blobs as they are indexed. The caller closes it.
   */
  stageRows(opts: { busyMs?: number } = {}): RowStage {
    if (this.readonly || this.file === ':memory:') throw new TriadError('E_CATALOG', `file rows cannot be staged in the catalogue ${this.file}: it is read-only or in memory`);
    return new RowStage(
      this.file,
      opts.busyMs ?? BUSY_TIMEOUT_MS,
      (id) => this.snapshotKey(id).seq,
      (policy, target) => this.write(() => this.targetId(policy, target, true)!),
      (err) => this.writeError(err),
    );
  }

  listFiles(snapshotId: string, q: FileQuery = {}): FileRow[] {
    const { seq } = this.snapshotKey(snapshotId);
    const { where, params } = fileFilter(seq, q);
    const rows = this.rawStmt(`SELECT ${FILE_COLUMNS} FROM files WHERE ${where} ORDER BY path LIMIT ? OFFSET ?`).all(
      ...params,
      q.limit ?? -1,
      q.offset ?? 0,
    ) as FileDbRow[];
    return rows.map(toFileRow);
  }

  countFiles(snapshotId: string, q: Omit<FileQuery, 'limit' | 'offset'> = {}): number {
    const { seq } = this.snapshotKey(snapshotId);
    const { where, params } = fileFilter(seq, q);
    return this.stmt(`SELECT count(*) FROM files WHERE ${where}`).pluck().get(...params) as number;
  }

  fileByPath(snapshotId: string, path: string): FileRow | undefined {
    const { seq } = this.snapshotKey(snapshotId);
    const row = this.rawStmt(`SELECT ${FILE_COLUMNS} FROM files WHERE snap = ? AND path = ?`).get(seq, path) as FileDbRow | undefined;
    return row === undefined ? undefined : toFileRow(row);
  }

  /** Streams a snapshot's entries in path order with flat memory. */
  *iterateFiles(snapshotId: string, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'> = {}): Generator<FileRow, void, undefined> {
    const { seq } = this.snapshotKey(snapshotId);
    const { where, params } = fileFilter(seq, q);
    // A fresh statement, not the cached one: a cached statement cannot serve two open
    // iterations (or a query inside the loop) at once.
    const stmt = this.db.prepare(`SELECT ${FILE_COLUMNS} FROM files WHERE ${where} ORDER BY path`).raw();
    for (const row of stmt.iterate(...params)) yield toFileRow(row as FileDbRow);
  }

  // ---- packs and blobs -----------------------------------------------------------------

  /** Records packs as written, with the blobs they hold, on `target`. */
  recordPacks(policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
    this.addPacks(policy, target, packs.map((p) => ({ id: p.id, size: p.size, blobs: p.entries.length, type: p.entries[0]?.type ?? 'data' })));
    this.addBlobs(policy, target, packs.flatMap((p) => p.entries.map((e) => ({ id: Buffer.from(e.id.buffer, e.id.byteOffset, e.id.byteLength).toString('hex'), pack: p.id, type: e.type, length: e.length, raw_length: e.rawLength }))));
  }

  addPacks(policy: string, target: string, rows: Iterable<PackRow>): number {
    return this.write(() =>
      this.db.transaction(() => {
        const tid = this.targetId(policy, target, true)!;
        // Packs are named by their content, so a pack seen again is the same pack.
        const insert = this.stmt('INSERT OR IGNORE INTO packs (target, id, size, blobs, type) VALUES (?, ?, ?, ?, ?)');
        let n = 0;
        for (const p of rows) n += insert.run(tid, hexBuf(p.id, 'pack id'), p.size, p.blobs, p.type).changes;
        return n;
      })(),
    );
  }

  addBlobs(policy: string, target: string, rows: Iterable<BlobRow>): number {
    return this.write(() =>
      this.db.transaction(() => {
        const tid = this.targetId(policy, target, true)!;
        // A blob stored twice (after an interrupted backup) keeps its first location; either copy is valid.
        const insert = this.stmt('INSERT OR IGNORE INTO blobs (target, id, pack, type, length, raw_length) VALUES (?, ?, ?, ?, ?, ?)');
        let n = 0;
        for (const b of rows) {
          n += insert.run(tid, hexBuf(b.id, 'blob id'), hexBuf(b.pack, 'pack id'), b.type, b.length, b.raw_length).changes;
        }
        return n;
      })(),
    );
  }

  hasBlob(policy: string, target: string, id: string): boolean {
    const tid = this.targetId(policy, target, false);
    if (tid === undefined) return false;
    return this.stmt('SELECT 1 FROM blobs WHERE target = ? AND id = ?').get(tid, hexBuf(id, 'blob id')) !== undefined;
  }

  getBlob(policy: string, target: string, id: string): BlobRow | undefined {
    const tid = this.targetId(policy, target, false);
    if (tid === undefined) return undefined;
    const r = this.stmt('SELECT id, pack, type, length, raw_length FROM blobs WHERE target = ? AND id = ?').get(tid, hexBuf(id, 'blob id')) as
      | { id: Buffer; pack: Buffer; type: BlobRow['type']; length: number; raw_length: number }
      | undefined;
    return r === undefined ? undefined : { ...r, id: r.id.toString('hex'), pack: r.pack.toString('hex') };
  }

  /** Drops packs (after prune deleted them) and the blob locations they held. */
  removePacks(policy: string, target: string, ids: Iterable<string>): number {
    return this.write(() =>
      this.db.transaction(() => {
        const tid = this.targetId(policy, target, false);
        if (tid === undefined) return 0;
        const dropBlobs = this.stmt('DELETE FROM blobs WHERE target = ? AND pack = ?');
        const dropPack = this.stmt('DELETE FROM packs WHERE target = ? AND id = ?');
        let n = 0;
        for (const id of ids) {
          const key = hexBuf(id, 'pack id');
          dropBlobs.run(tid, key);
          n += dropPack.run(tid, key).changes;
        }
        return n;
      })(),
    );
  }

  /** Bytes the target stores (sum of its pack sizes). */
  storedBytes(policy: string, target: string): number {
    return this.storageStats(policy, target).pack_bytes;
  }

  /** Ids of the packs recorded for a target, in id order, streamed (catalog verify). */
  *iteratePackIds(policy: string, target: string): Generator<string, void, undefined> {
    const tid = this.targetId(policy, target, false);
    if (tid === undefined) return;
    const stmt = this.db.prepare('SELECT id FROM packs WHERE target = ? ORDER BY id').pluck();
    for (const id of stmt.iterate(tid)) yield (id as Buffer).toString('hex');
  }

  storageStats(policy: string, target: string): StorageStats {
    const tid = this.targetId(policy, target, false);
    if (tid === undefined) return { packs: 0, pack_bytes: 0, blobs: 0, blob_bytes: 0, raw_bytes: 0 };
    const p = this.stmt('SELECT count(*) AS packs, coalesce(sum(size), 0) AS pack_bytes FROM packs WHERE target = ?').get(tid) as {
      packs: number;
      pack_bytes: number;
    };
    const b = this.stmt(
      'SELECT count(*) AS blobs, coalesce(sum(length), 0) AS blob_bytes, coalesce(sum(raw_length), 0) AS raw_bytes FROM blobs WHERE target = ?',
    ).get(tid) as { blobs: number; blob_bytes: number; raw_bytes: number };
    return { ...p, ...b };
  }

  // ---- runs ----------------------------------------------------------------------------

  startRun(r: RunStart): number {
    checkKind(r.kind);
    return this.write(() =>
      Number(
        this.stmt(
          `INSERT INTO runs (policy, kind, target, started_at, status, details, journal_id) VALUES (?, ?, ?, ?, 'running', ?, ?)`,
        ).run(r.policy, r.kind, r.target ?? null, toIso(r.started_at, 'run start'), JSON.stringify(r.details ?? {}), r.journal_id ?? null)
          .lastInsertRowid,
      ),
    );
  }

  finishRun(id: number, f: RunFinish): void {
    checkFinalStatus(f.status);
    this.write(() => {
      const changes = this.stmt(
        `UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, bytes_read = ?, bytes_written = ?, files = ?, error = ?,
           details = coalesce(?, details) WHERE id = ?`,
      ).run(
        toIso(f.finished_at, 'run finish'),
        f.status,
        f.exit_code,
        count(f.bytes_read),
        count(f.bytes_written),
        count(f.files),
        clampError(f.error),
        f.details === undefined ? null : JSON.stringify(f.details),
        id,
      ).changes;
      if (changes === 0) throw new TriadError('E_CATALOG', `run ${id} is not in the catalogue ${this.file}`);
    });
  }

  /**
   * Records a finished run in one go (from a repository journal record). With a journal id,
   * importing the same record again returns the existing run's id and changes nothing.
   */
  importRun(r: RunStart & RunFinish): number {
    checkKind(r.kind);
    checkFinalStatus(r.status);
    return this.write(() =>
      this.db.transaction(() => {
        if (r.journal_id !== undefined && r.journal_id !== null) {
          const existing = this.stmt('SELECT id FROM runs WHERE policy = ? AND journal_id = ?').pluck().get(r.policy, r.journal_id) as
            | number
            | undefined;
          if (existing !== undefined) return existing;
        }
        return Number(
          this.stmt(
            `INSERT INTO runs (policy, kind, target, started_at, finished_at, status, exit_code, bytes_read, bytes_written, files,
               error, details, journal_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          ).run(
            r.policy,
            r.kind,
            r.target ?? null,
            toIso(r.started_at, 'run start'),
            toIso(r.finished_at, 'run finish'),
            r.status,
            r.exit_code,
            count(r.bytes_read),
            count(r.bytes_written),
            count(r.files),
            clampError(r.error),
            JSON.stringify(r.details ?? {}),
            r.journal_id ?? null,
          ).lastInsertRowid,
        );
      })(),
    );
  }

  getRun(id: number): RunRow | undefined {
    const row = this.stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunDbRow | undefined;
    return row === undefined ? undefined : toRun(row);
  }

  /** Runs of a policy, oldest first. */
  listRuns(policy: string, q: RunQuery = {}): RunRow[] {
    const rows = this.stmt(
      `SELECT ${RUN_COLUMNS} FROM runs WHERE policy = @policy AND started_at >= @since AND (@kind IS NULL OR kind = @kind)
         AND (@target IS NULL OR target = @target) AND (@status IS NULL OR status = @status) ORDER BY started_at, id`,
    ).all({
      policy,
      since: q.since === undefined ? '' : toIso(q.since, 'since'),
      kind: q.kind ?? null,
      target: q.target ?? null,
      status: q.status ?? null,
    }) as RunDbRow[];
    return rows.map(toRun);
  }

  // ---- restore tests -------------------------------------------------------------------

  addRestoreTest(t: RestoreTestInput): void {
    this.write(() =>
      this.stmt(
        `INSERT INTO restore_tests (run_id, policy, target, at, seed, ok, files, bytes, overhead_ms, transfer_ms, snapshots, failures)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, target) DO UPDATE SET at = excluded.at, seed = excluded.seed, ok = excluded.ok,
           files = excluded.files, bytes = excluded.bytes, overhead_ms = excluded.overhead_ms, transfer_ms = excluded.transfer_ms,
           snapshots = excluded.snapshots, failures = excluded.failures`,
      ).run(
        t.run_id,
        t.policy,
        t.target,
        toIso(t.at, 'restore test time'),
        t.seed,
        t.ok ? 1 : 0,
        t.files,
        t.bytes,
        t.overhead_ms,
        t.transfer_ms,
        JSON.stringify(t.snapshots ?? []),
        JSON.stringify(t.failures ?? []),
      ),
    );
  }

  /** Restore tests of a policy, oldest first. */
  listRestoreTests(policy: string, q: { target?: string; since?: TimeInput } = {}): RestoreTestRow[] {
    const rows = this.stmt(
      `SELECT run_id, policy, target, at, seed, ok, files, bytes, overhead_ms, transfer_ms, snapshots, failures FROM restore_tests
       WHERE policy = @policy AND at >= @since AND (@target IS NULL OR target = @target) ORDER BY at, run_id, target`,
    ).all({ policy, since: q.since === undefined ? '' : toIso(q.since, 'since'), target: q.target ?? null }) as Array<
      Omit<RestoreTestRow, 'ok' | 'snapshots' | 'failures'> & { ok: number; snapshots: string; failures: string }
    >;
    return rows.map((r) => ({
      ...r,
      ok: r.ok === 1,
      snapshots: parseJson<string[]>(r.snapshots, []),
      failures: parseJson<unknown[]>(r.failures, []),
    }));
  }

  // ---- journal -------------------------------------------------------------------------

  journalSeen(policy: string, target: string, id: string): boolean {
    const tid = this.targetId(policy, target, false);
    if (tid === undefined) return false;
    return this.stmt('SELECT 1 FROM journal_seen WHERE target = ? AND id = ?').get(tid, id) !== undefined;
  }

  /** Returns false when the record had already been imported. */
  markJournalSeen(policy: string, target: string, id: string): boolean {
    return this.write(() => {
      const tid = this.targetId(policy, target, true)!;
      return this.stmt('INSERT OR IGNORE INTO journal_seen (target, id) VALUES (?, ?)').run(tid, id).changes > 0;
    });
  }

  // ---- internals -----------------------------------------------------------------------

  private stmt(sql: string): Stmt {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  private rawStmt(sql: string): Stmt {
    const key = `raw:${sql}`;
    let s = this.statements.get(key);
    if (s === undefined) {
      s = this.db.prepare(sql).raw();
      this.statements.set(key, s);
    }
    return s;
  }

  /** Maps the SQLite failures a user can act on to TriadErrors naming the catalogue. */
  private write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.writeError(err);
    }
  }

  /** A failed write in the catalogue's words (what happened, what to do). */
  private writeError(err: unknown): unknown {
    if (err instanceof TriadError) return err;
    const code = errnoCode(err);
    if (code === 'SQLITE_FULL') {
      return new TriadError('E_NO_SPACE', `no space left while writing the catalogue ${this.file}`, {
        hint: 'free space on that file system and run the command again; the repository is unaffected',
        cause: err,
      });
    }
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      return new TriadError('E_CATALOG', `the catalogue ${this.file} is locked by another process`, {
        hint: 'another triad command is writing it; try again when it has finished',
        cause: err,
      });
    }
    if (code === 'SQLITE_READONLY') {
      return new TriadError('E_CATALOG', `the catalogue ${this.file} is read-only`, {
        hint: this.readonly ? 'this command opened it read-only' : 'check the permissions of the file and its directory',
        cause: err,
      });
    }
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      return new TriadError('E_CATALOG', `the catalogue ${this.file} is damaged`, { hint: REBUILD_HINT, cause: err });
    }
    return err;
  }

  private targetId(policy: string, name: string, create: boolean): number | undefined {
    const key = `${policy}\u0000${name}`;
    const cached = this.targetIds.get(key);
    if (cached !== undefined) return cached;
    const find = this.stmt('SELECT id FROM targets WHERE policy = ? AND name = ?').pluck();
    let id = find.get(policy, name) as number | undefined;
    if (id === undefined && create) {
      // A placeholder: a rebuild can learn of a target from its data before seeing the policy.
      this.stmt('INSERT OR IGNORE INTO targets (policy, name) VALUES (?, ?)').run(policy, name);
      id = find.get(policy, name) as number | undefined;
    }
    if (id !== undefined) this.targetIds.set(key, id);
    return id;
  }

  private snapshotKey(snapshotId: string): { seq: number; policy: string } {
    const id = hex64(snapshotId, 'snapshot id');
    const row = this.stmt('SELECT seq, policy FROM snapshots WHERE id = ?').get(id) as { seq: number; policy: string } | undefined;
    if (row === undefined) {
      throw new TriadError('E_SNAPSHOT_NOT_FOUND', `snapshot ${id} is not in the catalogue ${this.file}`, {
        hint: 'list snapshots with `triad snapshots`, or run `triad catalog rebuild` if the catalogue is behind the repository',
      });
    }
    return row;
  }

  private presenceOf(seq: number): PresenceRow[] {
    return this.stmt(`SELECT ${PRESENCE_COLUMNS} FROM snapshot_targets p JOIN targets t ON t.id = p.target WHERE p.snap = ? ORDER BY t.name`).all(
      seq,
    ) as PresenceRow[];
  }

  private toSnapshot(r: SnapshotDbRow, presence: PresenceRow[]): SnapshotRecord {
    const { seq: _seq, partial, paths, tags, ...rest } = r;
    return { ...rest, paths: parseJson<string[]>(paths, []), tags: parseJson<string[]>(tags, []), partial: partial === 1, presence };
  }
}

function fileFilter(seq: number, q: Pick<FileQuery, 'type' | 'minSize' | 'maxSize'>): { where: string; params: unknown[] } {
  let where = 'snap = ?';
  const params: unknown[] = [seq];
  if (q.type !== undefined) {
    where += ' AND type = ?';
    params.push(q.type);
  }
  if (q.minSize !== undefined) {
    where += ' AND size >= ?';
    params.push(q.minSize);
  }
  if (q.maxSize !== undefined) {
    where += ' AND size <= ?';
    params.push(q.maxSize);
  }
  return { where, params };
}

interface RunDbRow extends Omit<RunRow, 'details'> {
  details: string;
}
const RUN_COLUMNS =
  'id, policy, kind, target, started_at, finished_at, status, exit_code, bytes_read, bytes_written, files, error, details, journal_id';

function toRun(r: RunDbRow): RunRow {
  return { ...r, details: parseJson<Record<string, unknown>>(r.details, {}) };
}

function checkKind(kind: string): void {
  if (!RUN_KINDS.has(kind)) throw new TriadError('E_CATALOG', `invalid run kind ${JSON.stringify(kind)}`);
}

function checkFinalStatus(status: string): void {
  if (!FINAL_STATUSES.has(status)) throw new TriadError('E_CATALOG', `invalid final run status ${JSON.stringify(status)}`);
}

function clampError(error: string | null | undefined): string | null {
  if (error === undefined || error === null) return null;
  return error.length > MAX_ERROR_CHARS ? `${error.slice(0, MAX_ERROR_CHARS)}…` : error;
}
