import type Database from 'better-sqlite3';

/**
 * Filing a snapshot's entries as file versions (see docs/CATALOG.md). The entries wait in
 * the temporary table `staged_files`, keyed by path (a path staged twice keeps its last
 * entry); `fileStaged` then compares them, in SQL and on disk, with the versions of the
 * lineage's newest file set: an entry equal to one of those extends it, any other starts a
 * version. The cost grows with the lineage's versions, the writes with what changed.
 * Shared by the row thread (backups) and the main connection (addFiles, tests).
 */

type Db = Database.Database;

/** Entry columns compared for equality: a version is one value of all of them. */
const SAME_ENTRY = 's.type = v.type AND s.size = v.size AND s.mode = v.mode AND s.mtime = v.mtime AND s.hash IS v.hash AND s.chunks = v.chunks';
/** The versions (alias v) in file set :m of lineage :l. */
export const IN_SET = 'v.lineage = :l AND v.since <= :m AND (v.until IS NULL OR v.until >= :m)';

export function createStage(db: Db): void {
  db.exec(
    `CREATE TEMP TABLE IF NOT EXISTS staged_files (
       path TEXT PRIMARY KEY, type INTEGER NOT NULL, size INTEGER NOT NULL, mode INTEGER NOT NULL,
       mtime INTEGER NOT NULL, hash BLOB, chunks INTEGER NOT NULL
     ) WITHOUT ROWID`,
  );
}

/** Prepares the statement that stages one entry (type as its FILE_TYPE_CODES index). */
export function stageStatement(db: Db): Database.Statement<[string, number, number, number, number, Buffer | null, number]> {
  return db.prepare('INSERT OR REPLACE INTO temp.staged_files (path, type, size, mode, mtime, hash, chunks) VALUES (?, ?, ?, ?, ?, ?, ?)');
}

/**
 * Files the staged entries under the snapshot `snap` (its seq) and empties the stage; the
 * caller holds the transaction. Entries the snapshot already had and the stage does not
 * name are kept. Returns how many entries were staged.
 */
export function fileStaged(db: Db, snap: number): number {
  const staged = db.prepare('SELECT count(*) FROM temp.staged_files').pluck().get() as number;
  const { lineage, fileset } = db.prepare('SELECT lineage, fileset FROM snapshots WHERE seq = ?').get(snap) as { lineage: number; fileset: number | null };
  if (fileset !== null) {
    db.prepare(
      `INSERT OR IGNORE INTO temp.staged_files SELECT v.path, v.type, v.size, v.mode, v.mtime, v.hash, v.chunks
       FROM file_versions v WHERE ${IN_SET}`,
    ).run({ l: lineage, m: fileset });
  }
  const m = db.prepare('SELECT max(fileset) FROM snapshots WHERE lineage = ?').pluck().get(lineage) as number | null;
  const next = (db.prepare("UPDATE counters SET value = value + 1 WHERE name = 'fileset' RETURNING value").pluck().get() as number);
  if (m === null) {
    db.prepare('INSERT INTO file_versions SELECT :l, path, :n, NULL, type, size, mode, mtime, hash, chunks FROM temp.staged_files').run({ l: lineage, n: next });
  } else {
    const p = { l: lineage, m };
    // Versions of set m that stay: open again (they were closed at m when a newer set was freed).
    db.prepare(
      `UPDATE file_versions AS v SET until = NULL
       WHERE ${IN_SET} AND v.until IS NOT NULL AND EXISTS (SELECT 1 FROM temp.staged_files s WHERE s.path = v.path AND ${SAME_ENTRY})`,
    ).run(p);
    // Every other version reaching past m ends at m: changed, removed, or left by a freed set.
    db.prepare(
      `UPDATE file_versions AS v SET until = :m
       WHERE v.lineage = :l AND (v.until IS NULL OR v.until > :m)
         AND (v.since > :m OR NOT EXISTS (SELECT 1 FROM temp.staged_files s WHERE s.path = v.path AND ${SAME_ENTRY}))`,
    ).run(p);
    db.prepare(
      `INSERT INTO file_versions SELECT :l, s.path, :n, NULL, s.type, s.size, s.mode, s.mtime, s.hash, s.chunks FROM temp.staged_files s
       WHERE NOT EXISTS (SELECT 1 FROM file_versions v WHERE v.lineage = :l AND v.path = s.path AND v.until IS NULL AND ${SAME_ENTRY})`,
    ).run({ ...p, n: next });
  }
  const entries = db.prepare('SELECT count(*) FROM temp.staged_files').pluck().get() as number;
  db.prepare('UPDATE snapshots SET fileset = ?, entries = ? WHERE seq = ?').run(next, entries, snap);
  db.exec('DELETE FROM temp.staged_files');
  // Re-filed: the versions only its former set held are no snapshot's any more.
  if (fileset !== null) sweepLineage(db, lineage);
  return staged;
}

/**
 * Frees the file entries of snapshots forgotten on every target that had them, then every
 * version no remaining file set of its lineage holds. Returns what was freed.
 */
export function freeForgotten(db: Db): { snapshots: number; versions: number } {
  const released = db
    .prepare(
      `UPDATE snapshots SET fileset = NULL, entries = 0 WHERE fileset IS NOT NULL
         AND EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = snapshots.seq)
         AND NOT EXISTS (SELECT 1 FROM snapshot_targets p WHERE p.snap = snapshots.seq AND p.status <> 'forgotten')
       RETURNING lineage`,
    )
    .pluck()
    .all() as number[];
  let versions = 0;
  for (const lineage of new Set(released)) versions += sweepLineage(db, lineage);
  return { snapshots: released.length, versions };
}

/** Deletes the versions of a lineage that no file set of it holds any more. */
export function sweepLineage(db: Db, lineage: number): number {
  return db
    .prepare(
      `DELETE FROM file_versions AS v WHERE v.lineage = :l
         AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.lineage = :l AND s.fileset >= v.since AND (v.until IS NULL OR s.fileset <= v.until))`,
    )
    .run({ l: lineage }).changes;
}
