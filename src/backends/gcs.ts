import { createHash } from 'node:crypto';
import * as path from 'node:path';
import type { Bucket, Storage as GcsClient } from '@google-cloud/storage';
import type { GcsTarget } from './specs.js';
import { endpointDate, checkName, checkRange, failureMessage, refuseOversized, findSystemCode, isAbortError, networkKind, normalizePrefix, sanitizedCause, statusKind, throwIfAborted } from './classify.js';
import { StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage, type StorageErrorKind } from './storage.js';

export interface GcsStorageOptions {
  /** Base directory for a relative `key_file`. */
  cwd?: string;
}

/**
 * Google Cloud Storage through the JSON API. Saves are single-request (multipart) uploads
 * carrying the MD5 of the data in the object metadata, which the service checks before the
 * object appears; `ifAbsent` is `ifGenerationMatch: 0`.
 */
export class GcsStorage implements Storage {
  readonly location: string;
  private readonly prefix: string;
  private readonly bucket: Bucket;
  /** Where requests go, for messages about a store that cannot be reached. */
  private readonly endpoint: string;

  constructor(
    readonly client: GcsClient,
    private readonly target: GcsTarget,
  ) {
    this.prefix = normalizePrefix(target.prefix);
    this.bucket = client.bucket(target.bucket);
    this.location = `gs://${target.bucket}/${this.prefix}`;
    this.endpoint = target.endpoint ?? 'https://storage.googleapis.com';
  }

  async save(name: string, data: Uint8Array, opts: SaveOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'save', name);
    const file = this.bucket.file(this.prefix + name);
    const md5Hash = createHash('md5').update(data).digest('base64');
    try {
      await new Promise<void>((resolve, reject) => {
        const stream = file.createWriteStream({
          resumable: false,
          validation: 'md5',
          contentType: 'application/octet-stream',
          metadata: { md5Hash, ...(this.target.storage_class ? { storageClass: this.target.storage_class } : {}) },
          ...(opts.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
        });
        const onAbort = (): void => {
          stream.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        stream.once('error', (err) => {
          opts.signal?.removeEventListener('abort', onAbort);
          reject(err);
        });
        stream.once('finish', () => {
          opts.signal?.removeEventListener('abort', onAbort);
          resolve();
        });
        stream.end(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      });
    } catch (err) {
      throw this.classify(err, 'save', name, opts.signal);
    }
  }

  async load(name: string, range?: Range, opts: LoadOptions = {}): Promise<Buffer> {
    checkName(this.location, name);
    checkRange(this.location, name, range);
    throwIfAborted(opts.signal, this.location, 'load', name);
    if (range?.length === 0) {
      await this.stat(name, opts);
      return Buffer.alloc(0);
    }
    const file = this.bucket.file(this.prefix + name);
    const ranged = range !== undefined && (range.offset > 0 || range.length !== undefined);
    try {
      const stream = file.createReadStream({
        // Whole-object reads are checked against the stored hash; ranges cannot be.
        validation: ranged ? false : 'md5',
        ...(ranged ? { start: range.offset, ...(range.length !== undefined ? { end: range.offset + range.length - 1 } : {}) } : {}),
      });
      let status: number | undefined;
      stream.once('response', (res: { statusCode?: number; headers?: Record<string, string | string[] | undefined> }) => {
        status = res.statusCode;
        if (ranged || status !== 200) return;
        try {
          refuseOversized(this.location, name, Number(res.headers?.['content-length'] ?? NaN), () => undefined);
        } catch (err) {
          stream.destroy(err as Error);
        }
      });
      const onAbort = (): void => {
        stream.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      };
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        const buf = Buffer.concat(chunks);
        // A 200 to a ranged request means the server sent the whole object (the emulator
        // does this for ranges past the end): cut out what was asked.
        if (ranged && status === 200) return buf.subarray(Math.min(range.offset, buf.length), range.length === undefined ? buf.length : Math.min(buf.length, range.offset + range.length));
        return buf;
      } finally {
        opts.signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      if (ranged && gcsStatus(err) === 416) return Buffer.alloc(0);
      throw this.classify(err, 'load', name, opts.signal);
    }
  }

  async stat(name: string, opts: LoadOptions = {}): Promise<ObjectInfo> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'stat', name);
    try {
      const [meta] = await this.bucket.file(this.prefix + name).getMetadata();
      throwIfAborted(opts.signal, this.location, 'stat', name);
      return { name, size: Number(meta.size ?? 0) };
    } catch (err) {
      throw this.classify(err, 'stat', name, opts.signal);
    }
  }

  async *list(prefix: string, opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    throwIfAborted(opts.signal, this.location, 'list');
    let pageToken: string | undefined;
    do {
      let files;
      let next: { pageToken?: string } | null | undefined;
      try {
        [files, next] = (await this.bucket.getFiles({ prefix: this.prefix + prefix, autoPaginate: false, maxResults: 1000, ...(pageToken ? { pageToken } : {}) })) as unknown as [
          { name: string; metadata: { size?: string | number; updated?: string } }[],
          { pageToken?: string } | null,
        ];
      } catch (err) {
        throw this.classify(err, 'list', prefix || undefined, opts.signal);
      }
      throwIfAborted(opts.signal, this.location, 'list');
      for (const f of files) {
        if (!f.name.startsWith(this.prefix)) continue;
        yield { name: f.name.slice(this.prefix.length), size: Number(f.metadata.size ?? 0), ...modifiedOf(f.metadata.updated) };
      }
      pageToken = next?.pageToken;
    } while (pageToken);
  }

  async remove(name: string, opts: LoadOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'remove', name);
    try {
      await this.bucket.file(this.prefix + name).delete({ ignoreNotFound: true });
    } catch (err) {
      const e = this.classify(err, 'remove', name, opts.signal);
      if (e.kind === 'not-found') return;
      throw e;
    }
  }

  serverTime(opts: LoadOptions = {}): Promise<Date | undefined> {
    return endpointDate(this.endpoint, opts.signal);
  }

  async close(): Promise<void> {}

  classify(err: unknown, op: string, name: string | undefined, signal: AbortSignal | undefined): StorageError {
    if (err instanceof StorageError) return err;
    const what = name ? `${op} ${name}` : op;
    if (isAbortError(err, signal)) return new StorageError('aborted', this.location, `${this.location}: ${what} aborted`, { objectName: name });
    const status = gcsStatus(err);
    const message = err instanceof Error ? err.message : String(err);
    let kind: StorageErrorKind | undefined = networkKind(findSystemCode(err));
    if (!kind && status === 404) kind = /bucket/i.test(message) && !/object/i.test(message) ? 'no-container' : 'not-found';
    if (!kind && status === 412) kind = op === 'save' ? 'exists' : 'other';
    if (!kind && status === 409) kind = 'transient';
    if (!kind) kind = statusKind(status);
    if (!kind && /Could not load the default credentials|invalid_grant|unauthorized_client/i.test(message)) kind = 'auth';
    if (!kind && (err as { code?: unknown })?.code === 'FILE_NO_UPLOAD') kind = 'transient'; // MD5 mismatch detected after upload
    kind ??= 'other';
    const detail = status ? `HTTP ${status}` : '';
    const msg = failureMessage({ location: this.location, what, kind, detail, err, endpoint: this.endpoint });
    return new StorageError(kind, this.location, msg, { objectName: name, cause: sanitizedCause(err) });
  }
}

function gcsStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; status?: unknown; response?: { status?: unknown } };
  if (typeof e.code === 'number') return e.code;
  if (typeof e.status === 'number') return e.status;
  if (typeof e.response?.status === 'number') return e.response.status;
  return undefined;
}

/**
 * The SDK client for a target. With an explicit `endpoint` (an emulator or a private
 * endpoint) the SDK skips authentication unless a key file is given. triad never sets
 * STORAGE_EMULATOR_HOST; the SDK itself still honours it when the user's environment has it.
 */
export async function gcsClient(target: GcsTarget, opts: GcsStorageOptions = {}): Promise<GcsClient> {
  const { Storage } = await import('@google-cloud/storage');
  const keyFilename = target.key_file ? path.resolve(opts.cwd ?? '.', target.key_file) : undefined;
  return new Storage({
    ...(target.project_id ? { projectId: target.project_id } : {}),
    ...(keyFilename ? { keyFilename } : {}),
    ...(target.endpoint ? { apiEndpoint: target.endpoint.replace(/\/+$/, ''), useAuthWithCustomEndpoint: keyFilename !== undefined } : {}),
    // One attempt per call: RetryStorage owns backoff.
    retryOptions: { autoRetry: false, maxRetries: 0 },
  });
}

export async function openGcsStorage(target: GcsTarget, opts: GcsStorageOptions = {}): Promise<GcsStorage> {
  return new GcsStorage(await gcsClient(target, opts), target);
}

/** A listing's `updated` time, when the service gave a valid one. */
function modifiedOf(updated: unknown): { modified?: Date } {
  const at = typeof updated === 'string' ? new Date(updated) : undefined;
  return at !== undefined && !Number.isNaN(at.getTime()) ? { modified: at } : {};
}
