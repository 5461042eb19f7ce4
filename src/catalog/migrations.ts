import type Database from 'better-sqlite3';

/**
 * Schema changes are append-only: a released migration is never edited, because catalogues
 * in the field have already run it. Each one runs in its own transaction and is recorded in
 * `schema_migrations`, so an interrupted upgrade resumes at the first missing version.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(db: Database.Database): void;
  /** Frees much of the file (drops a large table): the file is compacted once the migrations are in. */
  readonly compactAfter?: boolean;
}

export const migrations: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    up(db) {
      db.exec(`
        CREATE TABLE targets (
          id        INTEGER PRIMARY KEY,
          policy    TEXT NOT NULL,
          name      TEXT NOT NULL,
          -- NULL until the policy is seen: a rebuild may learn of a target from the journal first.
          type      TEXT,
          location  TEXT,
          media     TEXT,
          offsite   INTEGER NOT NULL DEFAULT 0,
          immutable INTEGER NOT NULL DEFAULT 0,
          offline   INTEGER NOT NULL DEFAULT 0,
          UNIQUE (policy, name)
        );

        -- seq is the compact key the file and presence tables use; id is the repository's name.
        CREATE TABLE snapshots (
          seq             INTEGER PRIMARY KEY,
          id              TEXT NOT NULL UNIQUE CHECK (length(id) = 64),
          policy          TEXT NOT NULL,
          host            TEXT NOT NULL,
          paths           TEXT NOT NULL,
          time            TEXT NOT NULL,
          finished_at     TEXT,
          tree            TEXT NOT NULL,
          parent          TEXT,
          files           INTEGER NOT NULL DEFAULT 0,
          dirs            INTEGER NOT NULL DEFAULT 0,
          bytes           INTEGER NOT NULL DEFAULT 0,
          files_new       INTEGER NOT NULL DEFAULT 0,
          files_changed   INTEGER NOT NULL DEFAULT 0,
          files_unchanged INTEGER NOT NULL DEFAULT 0,
          bytes_read      INTEGER NOT NULL DEFAULT 0,
          bytes_added     INTEGER NOT NULL DEFAULT 0,
          partial         INTEGER NOT NULL DEFAULT 0,
          tags            TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX snapshots_policy_time ON snapshots (policy, time);

        -- completed_at survives a later 'forgotten' or 'missing' so RPO history over a window
        -- still sees the interval during which the copy existed.
        CREATE TABLE snapshot_targets (
          snap         INTEGER NOT NULL REFERENCES snapshots (seq) ON DELETE CASCADE,
          target       INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
          status       TEXT NOT NULL CHECK (status IN ('complete', 'missing', 'forgotten')),
          completed_at TEXT,
          changed_at   TEXT,
          forget_rule  TEXT,
          PRIMARY KEY (snap, target)
        ) WITHOUT ROWID;
        CREATE INDEX snapshot_targets_target ON snapshot_targets (target, status);

        -- Hashes are stored as 32-byte blobs: this table holds one row per file per snapshot.
        CREATE TABLE files (
          snap   INTEGER NOT NULL REFERENCES snapshots (seq) ON DELETE CASCADE,
          path   TEXT NOT NULL,
          -- 'file' | 'dir' | 'symlink', checked in code: a CHECK here costs a third of the bulk-insert time.
          type   TEXT NOT NULL,
          size   INTEGER NOT NULL,
          mode   INTEGER NOT NULL,
          mtime  INTEGER NOT NULL,
          hash   BLOB,
          chunks INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (snap, path)
        ) WITHOUT ROWID;

        CREATE TABLE packs (
          target INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
          id     BLOB NOT NULL,
          size   INTEGER NOT NULL,
          blobs  INTEGER NOT NULL,
          type   TEXT NOT NULL,
          PRIMARY KEY (target, id)
        ) WITHOUT ROWID;

        -- No foreign key to packs: the index may name a pack before the catalogue has listed it.
        CREATE TABLE blobs (
          target     INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
          id         BLOB NOT NULL,
          pack       BLOB NOT NULL,
          type       TEXT NOT NULL,
          length     INTEGER NOT NULL,
          raw_length INTEGER NOT NULL,
          PRIMARY KEY (target, id)
        ) WITHOUT ROWID;
        CREATE INDEX blobs_pack ON blobs (target, pack);

        -- Kinds and statuses are checked in code, not by CHECK constraints, so adding a kind
        -- later does not need a table rebuild.
        CREATE TABLE runs (
          id            INTEGER PRIMARY KEY AUTOINCREMENT,
          policy        TEXT NOT NULL,
          kind          TEXT NOT NULL,
          target        TEXT,
          started_at    TEXT NOT NULL,
          finished_at   TEXT,
          status        TEXT NOT NULL,
          exit_code     INTEGER,
          bytes_read    INTEGER NOT NULL DEFAULT 0,
          bytes_written INTEGER NOT NULL DEFAULT 0,
          files         INTEGER NOT NULL DEFAULT 0,
          error         TEXT,
          details       TEXT NOT NULL DEFAULT '{}',
          journal_id    TEXT
        );
        CREATE INDEX runs_policy_started ON runs (policy, started_at);
        CREATE UNIQUE INDEX runs_journal ON runs (policy, journal_id) WHERE journal_id IS NOT NULL;

        CREATE TABLE restore_tests (
          run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
          policy      TEXT NOT NULL,
          target      TEXT NOT NULL,
          at          TEXT NOT NULL,
          seed        INTEGER NOT NULL,
          ok          INTEGER NOT NULL,
          files       INTEGER NOT NULL DEFAULT 0,
          bytes       INTEGER NOT NULL DEFAULT 0,
          overhead_ms REAL NOT NULL DEFAULT 0,
          transfer_ms REAL NOT NULL DEFAULT 0,
          snapshots   TEXT NOT NULL DEFAULT '[]',
          failures    TEXT NOT NULL DEFAULT '[]',
          PRIMARY KEY (run_id, target)
        );
        CREATE INDEX restore_tests_policy_at ON restore_tests (policy, at);

        CREATE TABLE journal_seen (
          target INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
          id     TEXT NOT NULL,
          PRIMARY KEY (target, id)
        ) WITHOUT ROWID;
      `);
    },
  },
  {
    version: 2,
    name: 'file versions over snapshot ranges; packs once for all targets',
    compactAfter: true,
    up(db) {
      migrateFilesToVersions(db);
      migratePacksToSharedRows(db);
    },
  },
  {
    version: 3,
    name: 'requests made by a run',
    up(db) {
      // Load requests a reading command made (restore, restore-test, dump): what an object store bills besides bytes.
      db.exec('ALTER TABLE runs ADD COLUMN requests INTEGER NOT NULL DEFAULT 0');
    },
  },
  {
    version: 4,
    name: 'how long each restore test took per target',
    up(db) {
      // Wall time of a restore test on one target, open to last verified byte; NULL for tests recorded before.
      db.exec('ALTER TABLE restore_tests ADD COLUMN duration_ms REAL');
    },
  },
  {
    version: 5,
    name: 'verification ledger on pack presence',
    up(db) {
      // The verification ledger (see docs/CATALOG.md): on each pack's presence row, when a check
      // last read the whole pack and found it intact, when a restore test last restored blobs of
      // it intact, when a verification last found it damaged (cleared by a later whole pass),
      // and the run that wrote the latest of them. No new rows: the ledger grows with the packs.
      db.exec(`
        ALTER TABLE pack_targets ADD COLUMN verified_at TEXT;
        ALTER TABLE pack_targets ADD COLUMN sampled_at TEXT;
        ALTER TABLE pack_targets ADD COLUMN failed_at TEXT;
        ALTER TABLE pack_targets ADD COLUMN ledger_run INTEGER;
      `);
    },
  },
];

/**
 * One row per file version instead of one per file per snapshot (see docs/CATALOG.md): the
 * runs of consecutive snapshots of a lineage in which a path's entry stays the same become
 * one version each (gaps and islands over the lineage's snapshot order).
 */
function migrateFilesToVersions(db: Database.Database): void {
  db.exec(`
    CREATE TABLE lineages (
      id     INTEGER PRIMARY KEY,
      policy TEXT NOT NULL,
      host   TEXT NOT NULL,
      paths  TEXT NOT NULL,
      UNIQUE (policy, host, paths)
    );
    INSERT INTO lineages (policy, host, paths) SELECT policy, host, paths FROM snapshots GROUP BY policy, host, paths ORDER BY min(seq);
    ALTER TABLE snapshots ADD COLUMN lineage INTEGER REFERENCES lineages (id);
    -- NULL while the snapshot holds no file entries (not yet filed, or freed after forget).
    ALTER TABLE snapshots ADD COLUMN fileset INTEGER;
    UPDATE snapshots SET lineage = (SELECT l.id FROM lineages l WHERE l.policy = snapshots.policy AND l.host = snapshots.host AND l.paths = snapshots.paths);
    -- How many entries the file set holds, so that counting them needs no pass over the versions.
    ALTER TABLE snapshots ADD COLUMN entries INTEGER NOT NULL DEFAULT 0;
    UPDATE snapshots SET entries = (SELECT count(*) FROM files f WHERE f.snap = snapshots.seq);
    UPDATE snapshots SET fileset = seq WHERE entries > 0;
    CREATE UNIQUE INDEX snapshots_lineage_fileset ON snapshots (lineage, fileset);

    -- File set numbers only grow, so a version's range never takes in a later snapshot by accident.
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO counters (name, value) VALUES ('fileset', coalesce((SELECT max(fileset) FROM snapshots), 0));

    -- A version is in every snapshot of its lineage whose fileset is in [since, until];
    -- until is NULL while the version is in the lineage's newest file set. type: 0 file, 1 dir, 2 symlink.
    CREATE TABLE file_versions (
      lineage INTEGER NOT NULL,
      path    TEXT NOT NULL,
      since   INTEGER NOT NULL,
      until   INTEGER,
      type    INTEGER NOT NULL,
      size    INTEGER NOT NULL,
      mode    INTEGER NOT NULL,
      mtime   INTEGER NOT NULL,
      hash    BLOB,
      chunks  INTEGER NOT NULL,
      PRIMARY KEY (lineage, path, since)
    ) WITHOUT ROWID;

    INSERT INTO file_versions (lineage, path, since, until, type, size, mode, mtime, hash, chunks)
    WITH filed AS (
      SELECT seq, lineage, fileset, row_number() OVER (PARTITION BY lineage ORDER BY fileset) AS i,
        max(fileset) OVER (PARTITION BY lineage) AS newest
      FROM snapshots WHERE fileset IS NOT NULL
    ), entries AS (
      SELECT o.lineage, f.path, o.fileset, o.newest, CASE f.type WHEN 'file' THEN 0 WHEN 'dir' THEN 1 ELSE 2 END AS type,
        f.size, f.mode, f.mtime, f.hash, f.chunks,
        o.i - row_number() OVER (PARTITION BY o.lineage, f.path, f.type, f.size, f.mode, f.mtime, f.hash, f.chunks ORDER BY o.i) AS island
      FROM files f JOIN filed o ON o.seq = f.snap
    )
    SELECT lineage, path, min(fileset), CASE WHEN max(fileset) = max(newest) THEN NULL ELSE max(fileset) END,
      type, size, mode, mtime, hash, chunks
    FROM entries GROUP BY lineage, path, type, size, mode, mtime, hash, chunks, island
    ORDER BY lineage, path, min(fileset);

    DROP TABLE files;
  `);
}

/**
 * Packs are the same bytes on every target a backup writes: one row each, with the sums of
 * its blobs' lengths (what capacity reports read), and a pack's presence per target. Blob
 * rows go: the repository's index says where each blob is, and nothing read them here.
 */
function migratePacksToSharedRows(db: Database.Database): void {
  db.exec(`
    ALTER TABLE packs RENAME TO packs_v1;
    ALTER TABLE blobs RENAME TO blobs_v1;
    DROP INDEX blobs_pack;

    -- type: 0 data, 1 tree. blob_bytes and raw_bytes sum the stored and plain lengths of its blobs.
    CREATE TABLE packs (
      n          INTEGER PRIMARY KEY,
      id         BLOB NOT NULL UNIQUE,
      size       INTEGER NOT NULL,
      blobs      INTEGER NOT NULL,
      type       INTEGER NOT NULL,
      blob_bytes INTEGER NOT NULL DEFAULT 0,
      raw_bytes  INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE pack_targets (
      target INTEGER NOT NULL REFERENCES targets (id) ON DELETE CASCADE,
      pack   INTEGER NOT NULL REFERENCES packs (n) ON DELETE CASCADE,
      PRIMARY KEY (target, pack)
    ) WITHOUT ROWID;
    CREATE INDEX pack_targets_pack ON pack_targets (pack);

    CREATE TEMP TABLE blob_sums AS
      SELECT pack, count(*) AS blobs, sum(length) AS blob_bytes, sum(raw_length) AS raw_bytes
      FROM (SELECT pack, id, max(length) AS length, max(raw_length) AS raw_length FROM blobs_v1 GROUP BY pack, id) GROUP BY pack;
    INSERT INTO packs (id, size, blobs, type, blob_bytes, raw_bytes)
      SELECT o.id, max(o.size), max(o.blobs), max(CASE o.type WHEN 'tree' THEN 1 ELSE 0 END), coalesce(b.blob_bytes, 0), coalesce(b.raw_bytes, 0)
      FROM packs_v1 o LEFT JOIN temp.blob_sums b ON b.pack = o.id GROUP BY o.id ORDER BY o.id;
    -- Packs an index named before the catalogue listed them: what their blobs say of them.
    INSERT OR IGNORE INTO packs (id, size, blobs, type, blob_bytes, raw_bytes)
      SELECT b.pack, 0, b.blobs, 0, b.blob_bytes, b.raw_bytes FROM temp.blob_sums b;
    INSERT OR IGNORE INTO pack_targets (target, pack) SELECT o.target, p.n FROM packs_v1 o JOIN packs p ON p.id = o.id;
    INSERT OR IGNORE INTO pack_targets (target, pack) SELECT DISTINCT b.target, p.n FROM blobs_v1 b JOIN packs p ON p.id = b.pack;

    DROP TABLE temp.blob_sums;
    DROP TABLE packs_v1;
    DROP TABLE blobs_v1;
  `);
}

/** The schema version this build of triad writes and understands. */
export const LATEST_SCHEMA_VERSION: number = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
