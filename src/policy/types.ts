/**
 * The normalised, typed form of a version-1 policy file (DESIGN.md §2b).
 * Durations are milliseconds, sizes bytes; defaults are filled in; paths are absolute.
 */
export type RuleName = '3-2-1' | '3-2-1-1-0' | 'none';
export type TargetType = 'local' | 's3' | 'azure' | 'gcs';

export interface SourceSpec {
  path: string;
  exclude: string[];
  /** Descend into other mounted file systems below `path` (default false, like restic's --one-file-system inverted). */
  cross_filesystems: boolean;
}

export interface PassphraseSpec {
  env?: string;
  file?: string;
  command?: string;
}

interface TargetCommon {
  name: string;
  type: TargetType;
  media: string;
  offsite: boolean;
  immutable: boolean;
  /**
   * Kept offline / air-gapped between runs (a rotated disk, tape): counts as the extra "1"
   * of 3-2-1-1-0 like an immutable copy. Always set (default false) by loadPolicy.
   */
  offline?: boolean;
  /** Bytes per second, 0 = unlimited. */
  upload_limit: number;
  /** Per-target override of the policy's retention (issue #5). */
  retention?: RetentionSpec;
}

export interface LocalTarget extends TargetCommon {
  type: 'local';
  path: string;
}

export interface S3Target extends TargetCommon {
  type: 's3';
  bucket: string;
  prefix: string;
  region?: string;
  endpoint?: string;
  storage_class?: string;
  /** 'when_required' for S3-compatible stores that reject the SDK's default integrity checksums. */
  checksums: 'when_supported' | 'when_required';
  force_path_style: boolean;
  credentials_env?: { access_key_id: string; secret_access_key: string; session_token?: string };
  profile?: string;
  object_lock?: { mode: 'GOVERNANCE' | 'COMPLIANCE'; days: number };
}

export interface AzureTarget extends TargetCommon {
  type: 'azure';
  container: string;
  prefix: string;
  account?: string;
  endpoint?: string;
  access_tier?: string;
  connection_string_env?: string;
  account_key_env?: string;
  sas_token_env?: string;
  /**
   * Blob-level immutability policy set on every blob written (only with `immutable: true`):
   * expiry = now + days. Needs version-level immutability support on the container/account.
   */
  immutability?: { mode: 'unlocked' | 'locked'; days: number };
}

export interface GcsTarget extends TargetCommon {
  type: 'gcs';
  bucket: string;
  prefix: string;
  project_id?: string;
  key_file?: string;
  endpoint?: string;
  storage_class?: string;
}

export type TargetSpec = LocalTarget | S3Target | AzureTarget | GcsTarget;

export interface RetentionSpec {
  keep_last?: number;
  keep_hourly?: number;
  keep_daily?: number;
  keep_weekly?: number;
  keep_monthly?: number;
  keep_yearly?: number;
  /** Milliseconds. */
  keep_within?: number;
}

export interface HookSpec {
  run: string;
  /** Milliseconds. */
  timeout: number;
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
  objectives: { rpo?: number; rto?: number; window: number };
  schedule: { backup?: string; restore_test?: string; prune?: string; check?: string };
  retention: RetentionSpec;
  restore_test: { sample: SampleSpec; every: number; max_bytes?: number };
  hooks: { before: HookSpec[]; after: HookSpec[]; on_failure: HookSpec[] };
  notify: { webhook?: string; heartbeat?: string };
  compression: 'auto' | 'off' | 'max';
}
