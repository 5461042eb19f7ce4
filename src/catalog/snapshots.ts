import { TriadError } from '../core/errors.js';
import type { Connection } from './connection.js';
import { freeForgotten, sweepLineage } from './file-sets.js';
import { optIso, toIso } from './time.js';
import type { TimeInput } from './time.js';
import type { CopyRow, PresenceRow, PresenceStatus, SnapshotInput, SnapshotRecord, SnapshotSummary } from './types.js';
import { canonicalPaths, count, hex64, parseJson } from './values.js';

const PRESENCE: ReadonlySet<string> = new Set<PresenceStatus>(['complete', 'missing', 'forgotten']);

/** A snapshots row as stored: the summary counters as they are, the rest in column form. */
interface SnapshotDbRow extends SnapshotSummary {
  seq: number;
  id: string;
  policy: string;
  host: string;
  paths: string;
  time: string;
  finished_at: string | null;
  tree: string;
  parent: string | null;
  partial: number;
  tags: string;
}

const SNAPSHOT_COLUMNS =
  's.seq, s.id, s.policy, s.host, s.paths, s.time, s.finished_at, s.tree, s.parent, s.files, s.dirs, s.bytes, ' +
  's.files_new, s.files_changed, s.files_unchanged, s.bytes_read, s.bytes_added, s.partial, s.tags';
const PRESENCE_COLUMNS = 't.name AS target, p.status, p.completed_at, p.changed_at, p.forget_rule';

export function upsertSnapshot(c: Connection, s: SnapshotInput): void {
  const id = hex64(s.id, 'snapshot id');
  const parent = s.parent === undefined || s.parent === null ? null : hex64(s.parent, 'parent snapshot id');
  const paths = canonicalPaths(s.paths);
  c.write(() =>
    c.stmt(
      `INSERT INTO snapshots (id, policy, host, paths, time, finished_at, tree, parent, files, dirs, bytes,
         files_new, files_changed, files_unchanged, bytes_read, bytes_added, partial, tags, lineage)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET host = excluded.host, paths = excluded.paths, time = excluded.time,
         finished_at = excluded.finished_at, tree = excluded.tree, parent = excluded.parent, files = excluded.files,
         dirs = excluded.dirs, bytes = excluded.bytes, files_new = excluded.files_new, files_changed = excluded.files_changed,
         files_unchanged = excluded.files_unchanged, bytes_read = excluded.bytes_read, bytes_added = excluded.bytes_added,
         partial = excluded.partial, tags = excluded.tags, lineage = excluded.lineage`,
    ).run(
      id,
      s.policy,
      s.host,
      paths,
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
      lineageId(c, s.policy, s.host, paths),
    ),
  );
}

/** The lineage (policy, host, source paths) whose snapshots share file versions; created when new. */
function lineageId(c: Connection, policy: string, host: string, paths: string): number {
  // Looked up first: every snapshot after a lineage's first finds it (one statement, not two).
  const find = c.stmt('SELECT id FROM lineages WHERE policy = ? AND host = ? AND paths = ?').pluck();
  const found = find.get(policy, host, paths) as number | undefined;
  if (found !== undefined) return found;
  c.stmt('INSERT OR IGNORE INTO lineages (policy, host, paths) VALUES (?, ?, ?)').run(policy, host, paths);
  return find.get(policy, host, paths) as number;
}

export function setPresence(
  c: Connection,
  snapshotId: string,
  target: string,
  p: { status: PresenceStatus; at: TimeInput; completed_at?: TimeInput | null; rule?: string | null },
): void {
  if (!PRESENCE.has(p.status)) throw new TriadError('E_CATALOG', `invalid presence status ${JSON.stringify(p.status)}`);
  const at = toIso(p.at, 'presence time');
  const completed = p.status === 'complete' ? (optIso(p.completed_at, 'completion time') ?? at) : optIso(p.completed_at, 'completion time');
  c.write(() => {
    const { seq, policy } = c.snapshotKey(snapshotId);
    const tid = c.targetId(policy, target, true)!;
    c.stmt(
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

export function markComplete(c: Connection, snapshotId: string, target: string, completedAt: TimeInput): void {
  setPresence(c, snapshotId, target, { status: 'complete', at: completedAt, completed_at: completedAt });
}

export function markForgotten(c: Connection, snapshotId: string, target: string, at: TimeInput, rule: string): void {
  setPresence(c, snapshotId, target, { status: 'forgotten', at, rule });
}

export function listSnapshots(c: Connection, policy: string, q: { target?: string; since?: TimeInput } = {}): SnapshotRecord[] {
  const since = q.since === undefined ? '' : toIso(q.since, 'since');
  let rows: SnapshotDbRow[];
  if (q.target !== undefined) {
    const tid = c.targetId(policy, q.target, false);
    if (tid === undefined) return [];
    rows = c.stmt(
      `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s
       WHERE s.policy = ? AND s.time >= ? AND EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = s.seq AND p.target = ?)
       ORDER BY s.time, s.seq`,
    ).all(policy, since, tid) as SnapshotDbRow[];
  } else {
    rows = c.stmt(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.policy = ? AND s.time >= ? ORDER BY s.time, s.seq`).all(
      policy,
      since,
    ) as SnapshotDbRow[];
  }
  const presence = new Map<number, PresenceRow[]>();
  const prows = c.stmt(
    `SELECT p.snap, ${PRESENCE_COLUMNS} FROM snapshot_targets p JOIN targets t ON t.id = p.target
     JOIN snapshots s ON s.seq = p.snap WHERE s.policy = ? AND s.time >= ? ORDER BY t.name`,
  ).all(policy, since) as Array<PresenceRow & { snap: number }>;
  for (const { snap, ...p } of prows) {
    let list = presence.get(snap);
    if (list === undefined) presence.set(snap, (list = []));
    list.push(p);
  }
  return rows.map((r) => toSnapshot(r, presence.get(r.seq) ?? []));
}

/**
 * The copies of a policy's snapshots whose recovery point is before `before`, oldest first,
 * one (snapshot, target) row at a time with only the figures a history fold needs; a snapshot
 * with no presence row comes once with `target` null. Rows of one snapshot are consecutive.
 */
export function* iterateCopiesBefore(c: Connection, policy: string, before: TimeInput): Generator<CopyRow> {
  const rows = c
    .stmt(
      `SELECT s.seq, s.time, s.finished_at, s.partial, s.bytes, s.bytes_added, t.name, p.status, p.completed_at
       FROM snapshots s LEFT JOIN snapshot_targets p ON p.snap = s.seq LEFT JOIN targets t ON t.id = p.target
       WHERE s.policy = ? AND s.time < ? ORDER BY s.time, s.seq`,
    )
    .raw()
    .iterate(policy, toIso(before, 'before')) as IterableIterator<[number, string, string | null, number, number, number, string | null, PresenceRow['status'] | null, string | null]>;
  for (const [seq, time, finishedAt, partial, bytes, bytesAdded, target, status, completedAt] of rows) {
    yield { seq, time, finishedAt, partial: partial === 1, bytes, bytesAdded, target, status, completedAt };
  }
}

/** Snapshots by their catalogue sequence numbers (as iterateCopiesBefore gives them), in the order given. */
export function snapshotsBySeq(c: Connection, seqs: readonly number[]): SnapshotRecord[] {
  const stmt = c.stmt(`SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s WHERE s.seq = ?`);
  return seqs.flatMap((seq) => {
    const row = stmt.get(seq) as SnapshotDbRow | undefined;
    return row === undefined ? [] : [toSnapshot(row, presenceOf(c, row.seq))];
  });
}

export function latestSnapshot(c: Connection, policy: string, q: { target?: string; host?: string; paths?: readonly string[] } = {}): SnapshotRecord | undefined {
  let tid: number | null = null;
  if (q.target !== undefined) {
    const found = c.targetId(policy, q.target, false);
    if (found === undefined) return undefined;
    tid = found;
  }
  const row = c.stmt(
    `SELECT ${SNAPSHOT_COLUMNS} FROM snapshots s
     WHERE s.policy = @policy AND (@host IS NULL OR s.host = @host) AND (@paths IS NULL OR s.paths = @paths)
       AND EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = s.seq AND p.status = 'complete' AND (@target IS NULL OR p.target = @target))
     ORDER BY s.time DESC, s.seq DESC LIMIT 1`,
  ).get({ policy, host: q.host ?? null, paths: q.paths === undefined ? null : canonicalPaths(q.paths), target: tid }) as SnapshotDbRow | undefined;
  return row === undefined ? undefined : toSnapshot(row, presenceOf(c, row.seq));
}

export function snapshotById(c: Connection, idOrPrefix: string, policy?: string): SnapshotRecord | undefined {
  const prefix = idOrPrefix.trim().toLowerCase();
  if (!/^[0-9a-f]{8,64}$/.test(prefix)) {
    throw new TriadError('E_USAGE', `invalid snapshot id ${JSON.stringify(idOrPrefix)}`, {
      hint: 'give the full id or at least its first 8 hex characters (see `triad snapshots`), or `latest`',
    });
  }
  // Hex digits all sort below 'g', so [prefix, prefix+'g') is exactly the ids starting with prefix.
  const rows = c.stmt(
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
  return toSnapshot(row, presenceOf(c, row.seq));
}

export function deleteSnapshot(c: Connection, snapshotId: string): boolean {
  const id = hex64(snapshotId, 'snapshot id');
  return c.write(() =>
    c.db.transaction(() => {
      const lineage = c.stmt('DELETE FROM snapshots WHERE id = ? RETURNING lineage').pluck().get(id) as number | null | undefined;
      if (lineage === undefined) return false;
      if (lineage !== null) sweepLineage(c.db, lineage);
      return true;
    })(),
  );
}

/** Frees the file entries of snapshots forgotten on every target, and the versions only they held. */
export function freeForgottenFiles(c: Connection): { snapshots: number; versions: number } {
  return c.write(() => c.db.transaction(() => freeForgotten(c.db))());
}

function presenceOf(c: Connection, seq: number): PresenceRow[] {
  return c.stmt(`SELECT ${PRESENCE_COLUMNS} FROM snapshot_targets p JOIN targets t ON t.id = p.target WHERE p.snap = ? ORDER BY t.name`).all(
    seq,
  ) as PresenceRow[];
}

function toSnapshot(r: SnapshotDbRow, presence: PresenceRow[]): SnapshotRecord {
  const { seq: _seq, partial, paths, tags, ...rest } = r;
  return { ...rest, paths: parseJson<string[]>(paths, []), tags: parseJson<string[]>(tags, []), partial: partial === 1, presence };
}
