import * as path from 'node:path';
import { systemClock, type Clock } from '../core/clock.js';
import type { TargetSpec } from './specs.js';
import { withUploadLimit } from './ratelimit.js';
import { withRetry, type RetryOptions } from './retry.js';
import type { Storage } from './storage.js';

export interface OpenStorageOptions {
  /** Environment to read credential variables from (never process.env directly). */
  env: Record<string, string | undefined>;
  /** Base for relative paths (local roots, key files). */
  cwd?: string;
  clock?: Clock;
  /** Create the root / bucket / container when missing (`triad init`). GCS buckets are never created. */
  create?: boolean;
  /** Overrides for the retry wrapper (e.g. onRetry for logging, shorter budgets in tests). */
  retry?: Omit<RetryOptions, 'clock'>;
  /** Overrides the target's upload_limit (bytes/s, 0 = none), e.g. from --limit-upload. */
  uploadLimit?: number;
  /** Wraps the concrete backend inside the retry wrapper (a test entry injects faults here; the shipped CLI never sets it). */
  wrap?: (storage: Storage) => Storage;
}

/**
 * Opens the Storage for a policy target: the concrete backend (its SDK loaded only now),
 * wrapped in retry, and in an upload rate limit when one is set.
 * Throws TriadError when a credential variable the target names is missing.
 */
export async function openStorage(target: TargetSpec, opts: OpenStorageOptions): Promise<Storage> {
  const clock = opts.clock ?? systemClock;
  let storage: Storage;
  switch (target.type) {
    case 'local': {
      const { openLocalStorage } = await import('./local.js');
      storage = await openLocalStorage(path.resolve(opts.cwd ?? '.', target.path), { create: opts.create ?? false });
      break;
    }
    case 's3': {
      const { openS3Storage } = await import('./s3.js');
      storage = await openS3Storage(target, { env: opts.env, clock, create: opts.create ?? false });
      break;
    }
    case 'azure': {
      const { openAzureStorage } = await import('./azure.js');
      storage = await openAzureStorage(target, { env: opts.env, clock, create: opts.create ?? false });
      break;
    }
    case 'gcs': {
      const { openGcsStorage } = await import('./gcs.js');
      storage = await openGcsStorage(target, { ...(opts.cwd ? { cwd: opts.cwd } : {}) });
      break;
    }
    default: {
      const never: never = target;
      throw new Error(`unknown target type ${(never as { type: string }).type}`);
    }
  }
  if (opts.wrap) storage = opts.wrap(storage);
  storage = withRetry(storage, { ...opts.retry, clock });
  const limit = opts.uploadLimit ?? target.upload_limit;
  if (limit > 0) storage = withUploadLimit(storage, { bytesPerSecond: limit, clock });
  return storage;
}
