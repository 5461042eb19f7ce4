import type { TimeInput } from './time.js';
import type { FILE_TYPE_CODES } from './row-stage.protocol.js';

/** Row shapes as the catalogue returns them; times are canonical UTC ISO strings. */

export type FileType = (typeof FILE_TYPE_CODES)[number];
export type PresenceStatus = 'complete' | 'missing' | 'forgotten';
export type BlobType = 'data' | 'tree';
export type RunKind = 'backup' | 'copy' | 'prune' | 'forget' | 'check' | 'restore' | 'restore-test' | 'init' | 'key-verify';
/** 'running' until finishRun; a run left 'running' by a crashed process stays visible as such. */
export type RunStatus = 'running' | 'ok' | 'partial' | 'failed' | 'interrupted';
export type FinalRunStatus = Exclude<RunStatus, 'running'>;

export interface TargetRow {
  policy: string;
  name: string;
  type: string | null;
  /** Display location (path or bucket URL); never credentials. */
  location: string | null;
  media: string | null;
  offsite: boolean;
  immutable: boolean;
  offline: boolean;
}
export interface TargetInput {
  policy: string;
  name: string;
  type: string;
  location: string;
  media: string;
  offsite: boolean;
  immutable?: boolean;
  offline?: boolean;
}

export interface SnapshotSummary {
  files: number;
  dirs: number;
  /** Logical size of the source data. */
  bytes: number;
  files_new: number;
  files_changed: number;
  files_unchanged: number;
  bytes_read: number;
  /** Stored after dedupe and compression. */
  bytes_added: number;
}

export interface SnapshotInput extends Partial<SnapshotSummary> {
  id: string;
  policy: string;
  host: string;
  paths: readonly string[];
  /** Recovery point: when reading the source started. */
  time: TimeInput;
  finished_at?: TimeInput | null;
  tree: string;
  parent?: string | null;
  partial?: boolean;
  tags?: readonly string[];
}

/** One copy (snapshot on a target) as a history fold reads it: see Catalog.iterateCopiesBefore. */
export interface CopyRow {
  readonly seq: number;
  readonly time: string;
  readonly finishedAt: string | null;
  readonly partial: boolean;
  readonly bytes: number;
  readonly bytesAdded: number;
  /** null for a snapshot with no presence row. */
  readonly target: string | null;
  readonly status: PresenceStatus | null;
  readonly completedAt: string | null;
}

export interface PresenceRow {
  target: string;
  status: PresenceStatus;
  completed_at: string | null;
  /** When the status last changed (completion, detection of loss, forget). */
  changed_at: string | null;
  forget_rule: string | null;
}

export interface SnapshotRecord extends SnapshotSummary {
  id: string;
  policy: string;
  host: string;
  /** Sorted. */
  paths: string[];
  time: string;
  finished_at: string | null;
  tree: string;
  parent: string | null;
  partial: boolean;
  tags: string[];
  presence: PresenceRow[];
}

export interface FileRow {
  path: string;
  type: FileType;
  size: number;
  mode: number;
  /** Milliseconds since the epoch. */
  mtime: number;
  /** Whole-file keyed content hash, 64 hex; null for directories and symlinks. */
  hash: string | null;
  chunks: number;
}

/** What addFiles accepts: the archiver's records leave `hash` out for non-files. */
export interface FileInput extends Omit<FileRow, 'hash'> {
  hash?: string | null;
}

export interface FileQuery {
  type?: FileType;
  minSize?: number;
  maxSize?: number;
  limit?: number;
  offset?: number;
}

/** A pack as the repository wrote it, with its blobs: recorded by `recordPacks` and `RowStage.addPacks`. */
export interface WrittenPackRecord {
  id: string;
  size: number;
  entries: readonly { type: BlobType; id: Uint8Array; length: number; rawLength: number }[];
}

export interface PackRow {
  id: string;
  size: number;
  blobs: number;
  type: BlobType;
  /** Sum of its blobs' stored (compressed, encrypted) lengths. */
  blob_bytes?: number;
  /** Sum of its blobs' plaintext lengths. */
  raw_bytes?: number;
}
export interface StorageStats {
  packs: number;
  /** Sum of pack sizes: what the target stores. */
  pack_bytes: number;
  blobs: number;
  blob_bytes: number;
  raw_bytes: number;
}

export interface RunStart {
  policy: string;
  kind: RunKind;
  target?: string | null;
  started_at: TimeInput;
  details?: Record<string, unknown>;
  /** Id of the repository journal record, for idempotent rebuilds. */
  journal_id?: string | null;
}
export interface RunFinish {
  finished_at: TimeInput;
  status: FinalRunStatus;
  exit_code: number;
  bytes_read?: number;
  /** Load requests made to the target(s). */
  requests?: number;
  bytes_written?: number;
  files?: number;
  /** A message for people: callers must pass it already free of secrets. */
  error?: string | null;
  /** Replaces the details given at start when present. */
  details?: Record<string, unknown>;
}
export interface RunRow {
  id: number;
  policy: string;
  kind: RunKind;
  target: string | null;
  started_at: string;
  finished_at: string | null;
  status: RunStatus;
  exit_code: number | null;
  bytes_read: number;
  requests: number;
  bytes_written: number;
  files: number;
  error: string | null;
  details: Record<string, unknown>;
  journal_id: string | null;
}
export interface RunQuery {
  kind?: RunKind;
  since?: TimeInput;
  target?: string;
  status?: RunStatus;
}

export interface RestoreTestInput {
  run_id: number;
  policy: string;
  target: string;
  at: TimeInput;
  seed: number;
  ok: boolean;
  files: number;
  bytes: number;
  overhead_ms: number;
  transfer_ms: number;
  /** Wall time of the test on this target (open, sample restore, verification). */
  duration_ms?: number | null;
  /** Snapshot ids sampled. */
  snapshots?: readonly string[];
  failures?: readonly unknown[];
}
export interface RestoreTestRow {
  run_id: number;
  policy: string;
  target: string;
  at: string;
  seed: number;
  ok: boolean;
  files: number;
  bytes: number;
  overhead_ms: number;
  transfer_ms: number;
  /** null for tests recorded before the duration was. */
  duration_ms: number | null;
  snapshots: string[];
  failures: unknown[];
}

/** One verification pass over packs of a target (see ledger.ts). */
export interface PackVerification {
  /** 'pack': whole packs read and verified (check); 'blobs': blobs of them restored intact (restore test). */
  scope: 'pack' | 'blobs';
  at: TimeInput;
  runId?: number | null;
  verified: Iterable<string>;
  failed: Iterable<string>;
}

/** A pack of a target with what the ledger says of it. */
export interface VerificationEntry {
  pack: string;
  size: number;
  verifiedAt: string | null;
  failedAt: string | null;
}

/** The ledger's account of a target's stored bytes over a period. */
export interface VerificationCoverage {
  packs: number;
  bytes: number;
  /** Packs (and their bytes) read whole and found intact within the period. */
  verifiedPacks: number;
  verifiedBytes: number;
  neverVerifiedPacks: number;
  neverVerifiedBytes: number;
  /** The least recent whole verification of any pack (null when none was ever verified). */
  oldestVerifiedAt: string | null;
  lastVerifiedAt: string | null;
  /** Packs with blobs restored intact by a restore test within the period. */
  sampledPacks: number;
  /** Packs whose last verification found them damaged (not verified whole since). */
  failed: { pack: string; size: number; failedAt: string }[];
}
