import type Database from 'better-sqlite3';
import { TriadError } from '../core/errors.js';
import { writeError } from './errors.js';
import { hex64 } from './values.js';

export type Db = Database.Database;
export type Stmt = Database.Statement<unknown[], unknown>;

/**
 * What every table module shares: the open database, its statement cache, the mapping of
 * write failures to the catalogue's errors, and the two keys most rows hang from (a
 * target's row id, a snapshot's sequence number).
 */
export class Connection {
  private readonly statements = new Map<string, Stmt>();
  private readonly targetIds = new Map<string, number>();

  constructor(
    readonly db: Db,
    readonly file: string,
    readonly readonly: boolean,
  ) {}

  close(): void {
    if (!this.db.open) return;
    this.statements.clear();
    this.db.close();
  }

  /** A statement prepared once and cached by its SQL. */
  stmt(sql: string): Stmt {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /** Like stmt, returning rows as arrays. */
  rawStmt(sql: string): Stmt {
    const key = `raw:${sql}`;
    let s = this.statements.get(key);
    if (s === undefined) {
      s = this.db.prepare(sql).raw();
      this.statements.set(key, s);
    }
    return s;
  }

  /** Maps the SQLite failures a user can act on to TriadErrors naming the catalogue. */
  write<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      throw this.writeError(err);
    }
  }

  /** A failed write in the catalogue's words (what happened, what to do). */
  writeError(err: unknown): unknown {
    return writeError(this.file, this.readonly, err);
  }

  targetId(policy: string, name: string, create: boolean): number | undefined {
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

  snapshotKey(snapshotId: string): { seq: number; policy: string } {
    const id = hex64(snapshotId, 'snapshot id');
    const row = this.stmt('SELECT seq, policy FROM snapshots WHERE id = ?').get(id) as { seq: number; policy: string } | undefined;
    if (row === undefined) {
      throw new TriadError('E_SNAPSHOT_NOT_FOUND', `snapshot ${id} is not in the catalogue ${this.file}`, {
        hint: 'list snapshots with `triad snapshots`, or run `triad catalog rebuild` if the catalogue is behind the repository',
      });
    }
    return row;
  }
}
