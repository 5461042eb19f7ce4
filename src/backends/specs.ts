import type { RetentionSpec } from '../core/retention-spec.js';

/** The normalised target entries of a policy (DESIGN.md §2b), as the backends open them. */
export type TargetType = 'local' | 's3' | 'azure' | 'gcs';

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
  /** Per-target override of the policy's retention. */
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

