import { createHash } from 'node:crypto';
import type { S3Client, S3ClientConfig } from '@aws-sdk/client-s3';
import { systemClock, type Clock } from '../core/clock.js';
import type { S3Target } from './specs.js';
import { endpointDate, checkName, checkRange, failureMessage, refuseOversized, findSystemCode, isAbortError, networkKind, normalizePrefix, sanitizedCause, statusKind, throttleName, throwIfAborted } from './classify.js';
import { requireEnv } from './env.js';
import { StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage, type StorageErrorKind } from './storage.js';

type S3Module = typeof import('@aws-sdk/client-s3');

/**
 * Objects above this go through a multipart upload (lib-storage), below in one PUT. 8 MiB:
 * S3-compatible stores and proxies often cap a request body near 10 MiB (fauxqs: 11 MiB),
 * while a 16–24 MiB pack in 8 MiB parts costs AWS only two or three more requests.
 */
export const MULTIPART_THRESHOLD = 8 * 1024 * 1024;

export interface S3StorageOptions {
  env: Record<string, string | undefined>;
  clock?: Clock;
  /** Create the bucket when it does not exist (`triad init` against a fresh store). */
  create?: boolean;
  /** Extra client configuration (tests add middleware or shorter timeouts through `client`). */
  configure?: (client: S3Client) => void;
}

/**
 * S3 and S3-compatible stores. One PUT per object with an integrity checksum (the SDK's
 * CRC32 by default, Content-MD5 in `when_required` mode), so an object is either absent or
 * complete. The SDK's own retries are off: RetryStorage is the single retry policy.
 */
export class S3Storage implements Storage {
  readonly location: string;
  private readonly prefix: string;
  /** Where requests go, for messages about a store that cannot be reached. */
  private readonly endpoint: string;

  constructor(
    private readonly sdk: S3Module,
    readonly client: S3Client,
    private readonly target: S3Target,
    private readonly clock: Clock,
  ) {
    this.prefix = normalizePrefix(target.prefix);
    this.location = `s3://${target.bucket}/${this.prefix}`;
    this.endpoint = target.endpoint ?? `https://s3.${target.region ?? 'us-east-1'}.amazonaws.com`;
  }

  async save(name: string, data: Uint8Array, opts: SaveOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'save', name);
    const key = this.prefix + name;
    const lock = this.target.object_lock;
    const common = {
      Bucket: this.target.bucket,
      Key: key,
      ...(this.target.storage_class ? { StorageClass: this.target.storage_class as never } : {}),
      ...(lock
        ? {
            ObjectLockMode: lock.mode,
            ObjectLockRetainUntilDate: new Date(this.clock.now().getTime() + lock.days * 86_400_000),
          }
        : {}),
    };
    try {
      if (data.length > MULTIPART_THRESHOLD) {
        await this.saveMultipart(name, data, common, opts);
        return;
      }
      const md5 = this.target.checksums === 'when_required' || lock ? { ContentMD5: createHash('md5').update(data).digest('base64') } : {};
      await this.client.send(
        new this.sdk.PutObjectCommand({
          ...common,
          Body: data,
          ContentLength: data.length,
          ...md5,
          ...(opts.ifAbsent ? { IfNoneMatch: '*' } : {}),
        }),
        { abortSignal: opts.signal },
      );
    } catch (err) {
      throw this.classify(err, 'save', name, opts.signal);
    }
  }

  private async saveMultipart(name: string, data: Uint8Array, common: Record<string, unknown>, opts: SaveOptions): Promise<void> {
    // CompleteMultipartUpload cannot carry If-None-Match through lib-storage: check first.
    // Racy only between two writers of the same content-named object.
    if (opts.ifAbsent) {
      let exists = true;
      try {
        await this.stat(name, opts);
      } catch (err) {
        if (!(err instanceof StorageError && err.kind === 'not-found')) throw err;
        exists = false;
      }
      if (exists) throw new StorageError('exists', this.location, `${this.location}: ${name} already exists`, { objectName: name });
    }
    const { Upload } = await import('@aws-sdk/lib-storage');
    const upload = new Upload({
      client: this.client,
      params: { ...(common as { Bucket: string; Key: string }), Body: Buffer.from(data.buffer, data.byteOffset, data.byteLength) },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    const onAbort = (): void => {
      void upload.abort();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await upload.done();
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
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
    const rangeHeader = range && (range.offset > 0 || range.length !== undefined) ? `bytes=${range.offset}-${range.length !== undefined ? range.offset + range.length - 1 : ''}` : undefined;
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.target.bucket, Key: this.prefix + name, ...(rangeHeader ? { Range: rangeHeader } : {}) }),
        { abortSignal: opts.signal },
      );
      if (!out.Body) return Buffer.alloc(0);
      if (range === undefined) refuseOversized(this.location, name, out.ContentLength, () => (out.Body as { destroy?: () => void }).destroy?.());
      const bytes = await out.Body.transformToByteArray();
      const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return range && rangeHeader ? honourRange(buf, out.ContentRange, range) : buf;
    } catch (err) {
      // A range starting at or past the end: the contract says "fewer bytes", here none.
      if (rangeHeader && (errName(err) === 'InvalidRange' || httpStatus(err) === 416)) return Buffer.alloc(0);
      throw this.classify(err, 'load', name, opts.signal);
    }
  }

  async stat(name: string, opts: LoadOptions = {}): Promise<ObjectInfo> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'stat', name);
    try {
      const out = await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.target.bucket, Key: this.prefix + name }), { abortSignal: opts.signal });
      return { name, size: out.ContentLength ?? 0 };
    } catch (err) {
      throw this.classify(err, 'stat', name, opts.signal);
    }
  }

  async *list(prefix: string, opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    throwIfAborted(opts.signal, this.location, 'list');
    let token: string | undefined;
    do {
      let page;
      try {
        page = await this.client.send(
          new this.sdk.ListObjectsV2Command({ Bucket: this.target.bucket, Prefix: this.prefix + prefix, ...(token ? { ContinuationToken: token } : {}) }),
          { abortSignal: opts.signal },
        );
      } catch (err) {
        throw this.classify(err, 'list', prefix || undefined, opts.signal);
      }
      for (const obj of page.Contents ?? []) {
        if (!obj.Key?.startsWith(this.prefix)) continue;
        yield { name: obj.Key.slice(this.prefix.length), size: obj.Size ?? 0, ...(obj.LastModified ? { modified: obj.LastModified } : {}) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async remove(name: string, opts: LoadOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'remove', name);
    try {
      await this.client.send(new this.sdk.DeleteObjectCommand({ Bucket: this.target.bucket, Key: this.prefix + name }), { abortSignal: opts.signal });
    } catch (err) {
      const e = this.classify(err, 'remove', name, opts.signal);
      if (e.kind === 'not-found') return;
      throw e;
    }
  }

  serverTime(opts: LoadOptions = {}): Promise<Date | undefined> {
    return endpointDate(this.endpoint, opts.signal);
  }

  close(): Promise<void> {
    this.client.destroy();
    return Promise.resolve();
  }

  /** Creates the bucket if it is missing (idempotent). */
  async createBucket(): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.target.bucket }));
      return;
    } catch (err) {
      const e = this.classify(err, 'create', undefined, undefined);
      if (e.kind !== 'not-found' && e.kind !== 'no-container') throw e;
    }
    try {
      await this.client.send(
        new this.sdk.CreateBucketCommand({
          Bucket: this.target.bucket,
          ...(this.target.object_lock ? { ObjectLockEnabledForBucket: true } : {}),
          ...(this.target.region && this.target.region !== 'us-east-1' ? { CreateBucketConfiguration: { LocationConstraint: this.target.region as never } } : {}),
        }),
      );
    } catch (err) {
      if (errName(err) === 'BucketAlreadyOwnedByYou') return;
      throw this.classify(err, 'create', undefined, undefined);
    }
  }

  classify(err: unknown, op: string, name: string | undefined, signal: AbortSignal | undefined): StorageError {
    if (err instanceof StorageError) return err;
    const what = name ? `${op} ${name}` : op;
    if (isAbortError(err, signal)) return new StorageError('aborted', this.location, `${this.location}: ${what} aborted`, { objectName: name });
    const code = errName(err);
    const status = httpStatus(err);
    let kind: StorageErrorKind | undefined;
    switch (code) {
      case 'NoSuchKey':
      case 'NotFound':
        kind = 'not-found';
        break;
      case 'NoSuchBucket':
        kind = 'no-container';
        break;
      case 'AccessDenied':
      case 'InvalidAccessKeyId':
      case 'SignatureDoesNotMatch':
      case 'ExpiredToken':
      case 'InvalidToken':
      case 'TokenRefreshRequired':
      case 'AllAccessDisabled':
      case 'AccountProblem':
      case 'CredentialsProviderError':
        kind = 'auth';
        break;
      case 'PreconditionFailed':
        kind = 'exists';
        break;
      case 'NoSuchUpload':
        kind = 'transient';
        break;
    }
    if (!kind && throttleName(code)) kind = 'transient';
    if (!kind) kind = networkKind(findSystemCode(err));
    if (!kind && status === 412) kind = 'exists';
    if (!kind && status === 409) kind = 'transient'; // ConditionalRequestConflict: concurrent conditional write
    if (!kind) kind = statusKind(status);
    // The SDK reports a refused connection as a bare TypeError/Error without status.
    if (!kind && status === undefined && /ECONNREFUSED|connect/i.test(String((err as Error)?.message))) kind = 'unreachable';
    kind ??= 'other';
    const detail = [code, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
    const msg = failureMessage({ location: this.location, what, kind, detail, err, endpoint: this.endpoint });
    return new StorageError(kind, this.location, msg, { objectName: name, cause: sanitizedCause(err) });
  }
}

/**
 * Some S3-compatible servers ignore or widen a range (s3rver answers `bytes=0-0` with the
 * whole object): cut the body down to what was asked, using Content-Range when present.
 */
function honourRange(buf: Buffer, contentRange: string | undefined, range: Range): Buffer {
  const m = contentRange ? /^bytes (\d+)-\d+\//.exec(contentRange) : null;
  const bodyStart = m ? Number(m[1]) : 0;
  const from = Math.max(0, range.offset - bodyStart);
  const to = range.length === undefined ? buf.length : Math.min(buf.length, from + range.length);
  return from === 0 && to === buf.length ? buf : buf.subarray(from, to);
}

function errName(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { name?: unknown; Code?: unknown };
  if (typeof e.Code === 'string') return e.Code;
  return typeof e.name === 'string' ? e.name : undefined;
}

function httpStatus(err: unknown): number | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const s = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return typeof s === 'number' ? s : undefined;
}

/** Builds the SDK client configuration for a target; credentials come only from variable names. */
export function s3ClientConfig(target: S3Target, env: Record<string, string | undefined>): S3ClientConfig {
  const config: S3ClientConfig = {
    region: target.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1',
    forcePathStyle: target.force_path_style,
    // One attempt per call: RetryStorage owns backoff, so failures are not retried twice over.
    maxAttempts: 1,
  };
  if (target.endpoint) config.endpoint = target.endpoint;
  if (target.checksums === 'when_required') {
    config.requestChecksumCalculation = 'WHEN_REQUIRED';
    config.responseChecksumValidation = 'WHEN_REQUIRED';
  }
  if (target.credentials_env) {
    const names = target.credentials_env;
    const accessKeyId = requireEnv(env, target.name, names.access_key_id);
    const secretAccessKey = requireEnv(env, target.name, names.secret_access_key);
    const sessionToken = names.session_token ? requireEnv(env, target.name, names.session_token) : undefined;
    config.credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  } else if (target.profile) {
    config.profile = target.profile;
  }
  return config;
}

export async function openS3Storage(target: S3Target, opts: S3StorageOptions): Promise<S3Storage> {
  const config = s3ClientConfig(target, opts.env);
  const sdk = await import('@aws-sdk/client-s3');
  const client = new sdk.S3Client(config);
  opts.configure?.(client);
  const storage = new S3Storage(sdk, client, target, opts.clock ?? systemClock);
  if (opts.create) await storage.createBucket();
  return storage;
}
