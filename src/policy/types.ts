/**
 * The normalised, typed form of a version-1 policy file (DESIGN.md §2b).
 * Durations are milliseconds, sizes bytes; defaults are filled in; paths are absolute.
 */
import type { RetentionSpec } from '../core/retention-spec.js';
import type { TargetSpec } from '../backends/specs.js';
import type { JOBS, NOTIFY_EVENTS } from './schema.js';

// Target and retention shapes live with the layers that use them (backends, core), so those
// layers never import from policy; the policy re-exports them as part of its typed form.
export type { RetentionSpec } from '../core/retention-spec.js';
export type { AzureTarget, GcsTarget, LocalTarget, S3Target, TargetSpec, TargetType } from '../backends/specs.js';

export type RuleName = '3-2-1' | '3-2-1-1-0' | 'none';

export interface SourceSpec {
  path: string;
  exclude: string[];
  /** Leave out the contents of directories holding a valid CACHEDIR.TAG (the tag stays). */
  exclude_caches: boolean;
  /** Leave out the contents of directories holding a file of one of these names (that file stays). */
  exclude_if_present: string[];
  /** Bytes: larger files are left out. */
  exclude_larger_than?: number;
  /** Absolute path of a list of the paths to back up below `path`, read at each backup. */
  files_from?: string;
  /** Descend into other mounted file systems below `path` (default false, like restic's --one-file-system inverted). */
  cross_filesystems: boolean;
}

export interface PassphraseSpec {
  env?: string;
  file?: string;
  command?: string;
  /** passphrase_command_timeout (ms). */
  commandTimeoutMs?: number;
}

export type JobName = (typeof JOBS)[number];
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

export interface HookSpec {
  run: string;
  /** The jobs this hook runs around. */
  jobs: JobName[];
  /** Milliseconds. */
  timeout: number;
  /** Files the hook writes (absolute); removed when it fails, so a broken dump is never backed up as good. */
  output?: string[];
}

export interface CoverageSpec {
  /** Absolute directories whose contents some policy should back up. */
  roots: string[];
  /** Patterns (like a source's `exclude`, matched on absolute paths) of data that needs no backup. */
  ignore: string[];
  /** How many levels below a root the walk looks for uncovered directories. */
  max_depth?: number;
  /** Walk into other file systems mounted under a root; by default they are listed, not read. */
  cross_filesystems: boolean;
}

export type SampleSpec = { kind: 'percent'; value: number } | { kind: 'files'; value: number } | { kind: 'bytes'; value: number };

export interface Policy {
  version: 1;
  /** Absolute path of the file it was loaded from. */
  file: string;
  name: string;
  description?: string;
  /** Absolute path, or undefined to use $TRIAD_CATALOG / the user state dir. */
  catalog?: string;
  host?: string;
  timezone: string;
  sources: SourceSpec[];
  encryption?: { passphrase: PassphraseSpec };
  targets: TargetSpec[];
  rule: RuleName;
  /**
   * `since`: when the contract began, if before the first backup (the time in between is
   * then a breach); without it RPO compliance is judged from the first committed snapshot.
   * `warn_at`: the share of the RPO (percent, default 80) past which the exposure is a warning.
   */
  objectives: { rpo?: number; rto?: number; window: number; since?: Date; warn_at?: number };
  /** `prove_every`: how old the last `key verify` of each key may be before the report finds it. */
  keys: { prove_every?: number };
  /** `every`: the period in which every stored byte of each copy must be read and verified (default 30 days). */
  verify: { every: number };
  /** Where to look for data no policy backs up (`triad coverage`, the report's unprotected-data findings). */
  coverage?: CoverageSpec;
  /** The medium the production data lives on: it is one of the rule's media. */
  production: { media: string };
  schedule: { backup?: string; restore_test?: string; prune?: string; check?: string };
  retention: RetentionSpec;
  restore_test: { sample: SampleSpec; every: number; max_bytes?: number };
  hooks: { before: HookSpec[]; after: HookSpec[]; on_failure: HookSpec[]; writable_paths?: string[] };
  /** `events`: per job, what it notifies (every job notifies every event unless listed). */
  notify: { webhook?: string; heartbeat?: string; events: Record<JobName, NotifyEvent[]> };
  compression: 'auto' | 'off' | 'max';
}
