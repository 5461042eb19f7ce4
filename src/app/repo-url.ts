import * as path from 'node:path';
import { TriadError } from '../core/errors.js';
import { normalizePrefix } from '../backends/classify.js';
import type { AzureTarget, GcsTarget, LocalTarget, S3Target, TargetSpec } from '../policy/types.js';

/** How to reach a repository without a policy file (`triad catalog rebuild --repo URL`). */
export interface RepoUrl {
  /** `s3://bucket/prefix`, `azure://container/prefix`, `gcs://bucket/prefix` (or `gs://`), `file:///path` or a path. */
  url: string;
  /** Name the target gets in the catalogue; default: the scheme (`s3`, `azure`, `gcs`, `local`). */
  name?: string;
  /** S3-compatible, Azure or GCS endpoint (emulators, MinIO, …). */
  endpoint?: string;
  region?: string;
  /** S3-compatible stores that reject the SDK's default integrity checksums need `when_required`. */
  checksums?: 'when_supported' | 'when_required';
}

const common = { media: 'object-storage', offsite: true, immutable: false, offline: false, upload_limit: 0 } as const;

/**
 * Builds a target from a repository URL. Credentials are never part of the URL: they come
 * from the variables the cloud SDKs use (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
 * [/ AWS_SESSION_TOKEN] or AWS_PROFILE; AZURE_STORAGE_CONNECTION_STRING, or
 * AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN;
 * GOOGLE_APPLICATION_CREDENTIALS and GOOGLE_CLOUD_PROJECT), named by reference only.
 */
export function targetFromUrl(r: RepoUrl, opts: { env: Record<string, string | undefined>; cwd: string }): TargetSpec {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(r.url);
  if (!m) return local(r, path.resolve(opts.cwd, r.url));
  const scheme = m[1]!.toLowerCase();
  const rest = m[2]!;
  if (scheme === 'file') return local(r, path.resolve(opts.cwd, decodeURIComponent(rest.replace(/^localhost(?=\/)/, ''))));
  const slash = rest.indexOf('/');
  const container = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = normalizePrefix(slash < 0 ? '' : rest.slice(slash + 1));
  if (!container) throw badUrl(r.url, 'it names no bucket or container');
  if (/[@?#]/.test(container)) throw badUrl(r.url, 'credentials and query strings do not belong in the URL');
  const env = opts.env;
  const endpointOf = (...names: string[]) => r.endpoint ?? names.map((n) => env[n]).find((v) => v !== undefined && v !== '');
  switch (scheme) {
    case 's3': {
      const endpoint = endpointOf('AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL');
      const t: S3Target = {
        ...common,
        name: r.name ?? 's3',
        type: 's3',
        bucket: container,
        prefix,
        checksums: r.checksums ?? 'when_supported',
        force_path_style: endpoint !== undefined,
        ...(r.region ? { region: r.region } : {}),
        ...(endpoint ? { endpoint } : {}),
      };
      if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
        t.credentials_env = { access_key_id: 'AWS_ACCESS_KEY_ID', secret_access_key: 'AWS_SECRET_ACCESS_KEY', ...(env.AWS_SESSION_TOKEN ? { session_token: 'AWS_SESSION_TOKEN' } : {}) };
      } else if (env.AWS_PROFILE) {
        t.profile = env.AWS_PROFILE;
      }
      return t;
    }
    case 'azure': {
      const endpoint = endpointOf();
      const t: AzureTarget = { ...common, name: r.name ?? 'azure', type: 'azure', container, prefix, ...(endpoint ? { endpoint } : {}) };
      if (env.AZURE_STORAGE_CONNECTION_STRING) t.connection_string_env = 'AZURE_STORAGE_CONNECTION_STRING';
      else {
        if (env.AZURE_STORAGE_ACCOUNT) t.account = env.AZURE_STORAGE_ACCOUNT;
        if (env.AZURE_STORAGE_KEY) t.account_key_env = 'AZURE_STORAGE_KEY';
        else if (env.AZURE_STORAGE_SAS_TOKEN) t.sas_token_env = 'AZURE_STORAGE_SAS_TOKEN';
      }
      return t;
    }
    case 'gcs':
    case 'gs': {
      const endpoint = endpointOf('STORAGE_EMULATOR_HOST');
      const t: GcsTarget = { ...common, name: r.name ?? 'gcs', type: 'gcs', bucket: container, prefix, ...(endpoint ? { endpoint } : {}) };
      const project = env.GOOGLE_CLOUD_PROJECT ?? env.GCLOUD_PROJECT;
      if (project) t.project_id = project;
      if (env.GOOGLE_APPLICATION_CREDENTIALS) t.key_file = env.GOOGLE_APPLICATION_CREDENTIALS;
      return t;
    }
    default:
      throw badUrl(r.url, `unknown scheme '${scheme}'`);
  }
}

function local(r: RepoUrl, root: string): LocalTarget {
  return { ...common, media: 'disk', offsite: false, name: r.name ?? 'local', type: 'local', path: root };
}

function badUrl(url: string, why: string): TriadError {
  // Only the scheme and bucket part are echoed: a pasted URL may carry a secret after '?'.
  const shown = url.replace(/[?#].*$/, '?…').replace(/\/\/[^/@]*@/, '//…@');
  return new TriadError('E_USAGE', `--repo ${shown}: ${why}`, {
    hint: 'use s3://bucket/prefix, azure://container/prefix, gcs://bucket/prefix or a local path; credentials come from the SDK environment variables',
  });
}
