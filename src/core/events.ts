/**
 * What the app layer reports while it works: one closed union of typed events that carry
 * data, never sentences. The CLI decides how to show them (text lines, JSON lines, a progress
 * bar, the scheduler's log). Fields named `error` hold text that comes from
 * elsewhere (an exception's message, a hook's own failure) and `detail` the engine's per-file
 * description that the command's result reports too; everything else is an identifier, a name
 * or a number. No event has a `message` field: JSON output adds the rendered line under that name.
 */

/** How loudly an event is shown; implied by its type (see EVENT_LEVEL). */
export type EventLevel = 'warning' | 'info' | 'progress';

/** Steps of a prune that report progress. */
export type PrunePhase = 'repack' | 'remove';

/** Steps of a catalogue rebuild: listing manifests, indexes, one snapshot's files, snapshots done, journal. */
export type RebuildPhase = 'manifests' | 'indexes' | 'snapshot-files' | 'snapshots' | 'journal';

interface ProgressCounts {
  files?: number;
  totalFiles?: number;
  bytes?: number;
  totalBytes?: number;
  path?: string;
}

/** Progress of a long job; throttled where the engine reports per file. */
export type ProgressEvent = { type: 'progress' } & ProgressCounts &
  (
    | { job: 'backup' | 'restore' }
    | { job: 'check' | 'restore-test' | 'repair-index' | 'repair-packs'; target: string }
    | { job: 'copy'; from: string; to: string }
    | { job: 'prune'; target: string; phase: PrunePhase }
    | { job: 'catalog-rebuild'; phase: RebuildPhase; snapshot?: string }
    | { job: 'fleet-report' }
  );

export type ProgressJob = ProgressEvent['job'];

/** A hook that did not succeed, as much of it as a notice needs (never its output). */
export interface HookFailure {
  kind: 'before' | 'after' | 'on_failure';
  run: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  aborted: boolean;
  spawnError?: string;
  /** The hook's declared output files, removed because it failed. */
  removedOutput?: string[];
}

export type SkipReason = 'unreadable' | 'vanished' | 'missing' | 'special' | 'other-filesystem' | 'xattrs';

export type AppEvent =
  | ProgressEvent
  /** A source entry the backup could not take (whole or at all); `detail` is the engine's description, the result's `warnings[].message`. */
  | { type: 'file-skipped'; path: string; reason: SkipReason; detail: string }
  /** A file that changed while the backup read it; `detail` as in the result's warnings. */
  | { type: 'file-changed'; path: string; detail: string }
  | { type: 'file-restore-failed'; path: string; error: string }
  /** An extended attribute (`attribute` undefined: all of the entry's) the restore could not set; the entry itself is restored. */
  | { type: 'xattr-not-restored'; path: string; attribute?: string; error: string }
  /** The restore cannot set nanosecond times: `reason` is why the native helper did not load. */
  | { type: 'mtime-precision-reduced'; reason: string }
  /** A restore test could not read the live source file it compares with. */
  | { type: 'source-unreadable'; path: string; error: string }
  | { type: 'target-left-out'; target: string; error: string }
  | { type: 'packs-absent'; target: string; packs: { pack: string; indexed: number; stored?: number }[] }
  | { type: 'interrupted-packs-reused'; target: string; count: number }
  | { type: 'interrupted-packs-unusable'; target: string; count: number }
  /** A damaged snapshot manifest; `snapshot` is its object name, `reason` the decoder's finding. */
  | { type: 'snapshot-left-out'; target: string; snapshot: string; reason: string }
  | { type: 'damaged-keys-skipped'; target: string; keys: { id: string; reason: string }[] }
  | { type: 'passphrase-file-exposed'; file: string; readableBy: 'all-users' | 'group'; mode: number }
  | { type: 'storage-retry'; target: string; op: string; object: string; errorKind: string; delayMs: number }
  | { type: 'live-lock-removed'; target: string; lock: string; holder?: { host: string; pid: number; kind: string; command?: string; since: string }; ageMs?: number }
  /** `after` hooks failed although the job itself completed. */
  | { type: 'after-hooks-failed'; job: string; hooks: HookFailure[] }
  | { type: 'hook-failed'; hook: HookFailure }
  /** The `on_failure` hooks could not be run at all. */
  | { type: 'failure-hooks-error'; error: string }
  | { type: 'notification-undelivered'; channel: 'heartbeat-start' | 'heartbeat' | 'webhook'; url: string; attempts: number; error?: string }
  | { type: 'failed-run-not-recorded'; job: string; error: string }
  | { type: 'hook-output-not-recorded'; error: string }
  /** An index file could not be read; the packs it named were read from their own headers. `reason` names the file and the damage. */
  | { type: 'index-damaged-routed'; target: string; reason: string; packsFromHeaders: number }
  /** A pack whose first copy failed verification was read again before being called damaged; `reason` is why the first copy failed. */
  | { type: 'pack-reread'; target: string; pack: string; reason: string }
  /** A restore by a user who cannot give files away: `count` entries belong to someone else in the snapshot and are now owned by `uid`. */
  | { type: 'ownership-not-restored'; count: number; uid: number }
  /** A restore by a user other than root: `count` device nodes (`first` the first of them) were not created. */
  | { type: 'devices-not-restored'; count: number; first: string }
  /** `restore --include/--exclude` patterns that matched no entry of the snapshot. */
  | { type: 'patterns-matched-nothing'; option: 'include' | 'exclude'; patterns: string[]; snapshot: string }
  /** The key this passphrase opens is derived below the production scrypt cost; `kdf` and `floor` as describeKdf words them. */
  | { type: 'weak-key'; targets: string[]; key: string; kdf: string; floor: string; policyFile?: string };

export type AppEventType = AppEvent['type'];

export const EVENT_LEVEL: { readonly [T in AppEventType]: EventLevel } = {
  progress: 'progress',
  'file-skipped': 'warning',
  'file-changed': 'warning',
  'file-restore-failed': 'warning',
  'xattr-not-restored': 'warning',
  'mtime-precision-reduced': 'warning',
  'source-unreadable': 'warning',
  'target-left-out': 'warning',
  'packs-absent': 'warning',
  'interrupted-packs-reused': 'info',
  'interrupted-packs-unusable': 'info',
  'snapshot-left-out': 'warning',
  'damaged-keys-skipped': 'warning',
  'passphrase-file-exposed': 'warning',
  'storage-retry': 'info',
  'live-lock-removed': 'warning',
  'after-hooks-failed': 'warning',
  'hook-failed': 'warning',
  'failure-hooks-error': 'warning',
  'notification-undelivered': 'warning',
  'failed-run-not-recorded': 'warning',
  'hook-output-not-recorded': 'warning',
  'weak-key': 'warning',
  'index-damaged-routed': 'warning',
  'patterns-matched-nothing': 'warning',
  'ownership-not-restored': 'info',
  'devices-not-restored': 'warning',
  'pack-reread': 'info',
};

export function eventLevel(e: AppEvent): EventLevel {
  return EVENT_LEVEL[e.type];
}

/** The one way the app layer reports events. */
export type Emit = (e: AppEvent) => void;
