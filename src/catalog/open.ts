import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TriadError } from '../core/errors.js';
import type { Db } from './connection.js';
import { openError } from './errors.js';
import { migrations as builtinMigrations } from './migrations.js';
import type { Migration } from './migrations.js';

export interface OpenCatalogOptions {
  readonly?: boolean;
  /** Replaces the built-in migration list; for tests of the upgrade path only. */
  migrations?: readonly Migration[];
  /**
   * A throwaway catalogue that lives for one command in a private temporary directory (the
   * fleet report's): nothing survives a crash of that command anyway, so no write-ahead log
   * and no fsync; a rollback still works (the journal is kept in memory).
   */
  scratch?: boolean;
}

// Long enough to wait out a concurrent backup's batch commit, short enough that a wedged
// process is reported instead of hanging a cron job.
export const BUSY_TIMEOUT_MS = 15_000;

/**
 * Opens (creating if needed) the catalogue's database with its connection settings and
 * brings its schema up to date. Every failure is an E_CATALOG TriadError naming the file.
 */
export function openDatabase(file: string, opts: OpenCatalogOptions = {}): { db: Db; readonly: boolean; schemaVersion: number } {
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
    if (opts.scratch === true && !readonly) {
      db.pragma('journal_mode = MEMORY');
      db.pragma('synchronous = OFF');
    } else if (!readonly) {
      const mode = String(db.pragma('journal_mode = WAL', { simple: true })).toLowerCase();
      if (mode !== 'wal') {
        throw new TriadError('E_CATALOG', `cannot use WAL mode for the catalogue ${file} (got ${mode})`, {
          hint: 'put the catalogue on a local file system (network file systems cannot share WAL memory), e.g. with TRIAD_CATALOG',
        });
      }
    }
    if (opts.scratch !== true) db.pragma('synchronous = NORMAL');
    // A bounded 32 MiB page cache: a 100,000-row file batch inserted out of path order would
    // otherwise spill the default 2 MiB cache many times over.
    db.pragma('cache_size = -32768');
    const schemaVersion = migrate(db, file, readonly, opts.migrations ?? builtinMigrations);
    return { db, readonly, schemaVersion };
  } catch (err) {
    try {
      db?.close();
    } catch {
      // The original error is the one worth reporting.
    }
    throw openError(file, err);
  }
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
  let compact = false;
  for (const m of migrations) {
    if (m.version <= found) continue;
    compact ||= m.compactAfter === true;
    // IMMEDIATE takes the write lock before re-checking, so two processes opening an old
    // catalogue at once cannot both run the same migration.
    db.transaction(() => {
      if (applied.get(m.version) !== undefined) return;
      m.up(db);
      record.run(m.version, m.name);
      db.pragma(`user_version = ${m.version}`);
    }).immediate();
  }
  if (compact && found > 0) compactFile(db);
  return current();
}

/**
 * Gives the pages an upgrade freed back to the file system. Best effort: VACUUM needs room
 * for a copy of what remains, and without it the catalogue is complete all the same (later
 * writes reuse the free pages).
 */
function compactFile(db: Db): void {
  try {
    db.exec('VACUUM');
  } catch {
    // Left as it is: see above.
  }
}
