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
    name: 'requests made by a run',
    up(db) {
      // Load requests a reading command made (restore, restore-test, dump): what an object store bills besides bytes.
      db.exec('ALTER TABLE runs ADD COLUMN requests INTEGER NOT NULL DEFAULT 0');
    },
  },
];

/** The schema version this build of triad writes and understands. */
export const LATEST_SCHEMA_VERSION: number = migrations.length === 0 ? 0 : migrations[migrations.length - 1]!.version;
