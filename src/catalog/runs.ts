/**
 * Run history: runs, the restore tests they made, and the journal records already imported
 * from each target.
 */
import { TriadError } from '../core/errors.js';
import type { Connection } from './connection.js';
import { toIso } from './time.js';
import type { TimeInput } from './time.js';
import type { RestoreTestInput, RestoreTestRow, RunFinish, RunKind, RunQuery, RunRow, RunStart, RunStatus } from './types.js';
import { count, parseJson } from './values.js';

const MAX_ERROR_CHARS = 4000;
const RUN_KINDS: ReadonlySet<string> = new Set<RunKind>(['backup', 'copy', 'prune', 'forget', 'check', 'restore', 'restore-test', 'init', 'key-verify']);
const FINAL_STATUSES: ReadonlySet<string> = new Set<RunStatus>(['ok', 'partial', 'failed', 'interrupted']);

export function startRun(c: Connection, r: RunStart): number {
  checkKind(r.kind);
  return c.write(() =>
    Number(
      c.stmt(
        `INSERT INTO runs (policy, kind, target, started_at, status, details, journal_id) VALUES (?, ?, ?, ?, 'running', ?, ?)`,
      ).run(r.policy, r.kind, r.target ?? null, toIso(r.started_at, 'run start'), JSON.stringify(r.details ?? {}), r.journal_id ?? null)
        .lastInsertRowid,
    ),
  );
}

export function finishRun(c: Connection, id: number, f: RunFinish): void {
  checkFinalStatus(f.status);
  c.write(() => {
    const changes = c.stmt(
      `UPDATE runs SET finished_at = ?, status = ?, exit_code = ?, bytes_read = ?, requests = ?, bytes_written = ?, files = ?, error = ?,
         details = coalesce(?, details) WHERE id = ?`,
    ).run(
      toIso(f.finished_at, 'run finish'),
      f.status,
      f.exit_code,
      count(f.bytes_read),
      count(f.requests),
      count(f.bytes_written),
      count(f.files),
      clampError(f.error),
      f.details === undefined ? null : JSON.stringify(f.details),
      id,
    ).changes;
    if (changes === 0) throw new TriadError('E_CATALOG', `run ${id} is not in the catalogue ${c.file}`);
  });
}

export function importRun(c: Connection, r: RunStart & RunFinish): number {
  checkKind(r.kind);
  checkFinalStatus(r.status);
  return c.write(() =>
    c.db.transaction(() => {
      if (r.journal_id !== undefined && r.journal_id !== null) {
        const existing = c.stmt('SELECT id FROM runs WHERE policy = ? AND journal_id = ?').pluck().get(r.policy, r.journal_id) as
          | number
          | undefined;
        if (existing !== undefined) return existing;
      }
      return Number(
        c.stmt(
          `INSERT INTO runs (policy, kind, target, started_at, finished_at, status, exit_code, bytes_read, requests, bytes_written, files,
             error, details, journal_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          r.policy,
          r.kind,
          r.target ?? null,
          toIso(r.started_at, 'run start'),
          toIso(r.finished_at, 'run finish'),
          r.status,
          r.exit_code,
          count(r.bytes_read),
          count(r.requests),
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

export function getRun(c: Connection, id: number): RunRow | undefined {
  const row = c.stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE id = ?`).get(id) as RunDbRow | undefined;
  return row === undefined ? undefined : toRun(row);
}

export function listRuns(c: Connection, policy: string, q: RunQuery = {}): RunRow[] {
  const rows = c.stmt(
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

/** The runs of a policy started before `before`, oldest first, one at a time. */
export function* iterateRunsBefore(c: Connection, policy: string, before: TimeInput): Generator<RunRow> {
  const rows = c
    .stmt(`SELECT ${RUN_COLUMNS} FROM runs WHERE policy = ? AND started_at < ? ORDER BY started_at, id`)
    .iterate(policy, toIso(before, 'before')) as IterableIterator<RunDbRow>;
  for (const row of rows) yield toRun(row);
}

export function addRestoreTest(c: Connection, t: RestoreTestInput): void {
  c.write(() =>
    c.stmt(
      `INSERT INTO restore_tests (run_id, policy, target, at, seed, ok, files, bytes, overhead_ms, transfer_ms, duration_ms, snapshots, failures)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, target) DO UPDATE SET at = excluded.at, seed = excluded.seed, ok = excluded.ok,
         files = excluded.files, bytes = excluded.bytes, overhead_ms = excluded.overhead_ms, transfer_ms = excluded.transfer_ms, duration_ms = excluded.duration_ms,
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
      t.duration_ms ?? null,
      JSON.stringify(t.snapshots ?? []),
      JSON.stringify(t.failures ?? []),
    ),
  );
}

export function listRestoreTests(c: Connection, policy: string, q: { target?: string; since?: TimeInput } = {}): RestoreTestRow[] {
  const rows = c.stmt(
    `SELECT run_id, policy, target, at, seed, ok, files, bytes, overhead_ms, transfer_ms, duration_ms, snapshots, failures FROM restore_tests
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

export function journalSeen(c: Connection, policy: string, target: string, id: string): boolean {
  const tid = c.targetId(policy, target, false);
  if (tid === undefined) return false;
  return c.stmt('SELECT 1 FROM journal_seen WHERE target = ? AND id = ?').get(tid, id) !== undefined;
}

export function markJournalSeen(c: Connection, policy: string, target: string, id: string): boolean {
  return c.write(() => {
    const tid = c.targetId(policy, target, true)!;
    return c.stmt('INSERT OR IGNORE INTO journal_seen (target, id) VALUES (?, ?)').run(tid, id).changes > 0;
  });
}

interface RunDbRow extends Omit<RunRow, 'details'> {
  details: string;
}
const RUN_COLUMNS =
  'id, policy, kind, target, started_at, finished_at, status, exit_code, bytes_read, requests, bytes_written, files, error, details, journal_id';

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
