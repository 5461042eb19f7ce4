import { createHash } from 'node:crypto';
import type { BlobServiceClient, BlockBlobUploadOptions, ContainerClient } from '@azure/storage-blob';
import { systemClock, type Clock } from '../core/clock.js';
import { TriadError } from '../core/errors.js';
import type { AzureTarget } from './specs.js';
import { endpointDate, checkName, checkRange, failureMessage, refuseOversized, findSystemCode, isAbortError, networkKind, normalizePrefix, sanitizedCause, statusKind, throwIfAborted } from './classify.js';
import { requireEnv } from './env.js';
import { StorageError, type LoadOptions, type ObjectInfo, type Range, type SaveOptions, type Storage, type StorageErrorKind } from './storage.js';

export interface AzureStorageOptions {
  env: Record<string, string | undefined>;
  /** Create the container when it does not exist. */
  create?: boolean;
  /** For the immutability policy's expiry (now + days); default: the system clock. */
  clock?: Clock;
}

/** Above this, a save stages blocks (each MD5-checked) and commits them in one request. */
export const SINGLE_PUT_MAX = 256 * 1024 * 1024;

/**
 * Azure Blob Storage (block blobs). A save is one Put Blob with Content-MD5 (a staged block
 * list above 256 MiB): the blob appears whole or not at all, and `ifAbsent` is enforced by
 * the service (`If-None-Match: *`). With `immutability` on the target, every write (Put Blob or
 * Put Block List) carries a blob immutability policy (`x-ms-immutability-policy-until-date` =
 * now + days, `x-ms-immutability-policy-mode`); the service accepts it only on a container
 * with version-level immutability support.
 */
export class AzureStorage implements Storage {
  readonly location: string;
  private readonly prefix: string;
  private readonly container: ContainerClient;
  /** Where requests go, for messages about a store that cannot be reached. */
  private readonly endpoint: string;

  constructor(
    readonly service: BlobServiceClient,
    private readonly target: AzureTarget,
    private readonly clock: Clock = systemClock,
  ) {
    this.prefix = normalizePrefix(target.prefix);
    this.container = service.getContainerClient(target.container);
    this.location = `azure://${service.accountName || target.account || 'account'}/${target.container}/${this.prefix}`;
    // The service URL without its query string, which may hold a SAS token.
    this.endpoint = service.url.split('?')[0]!;
  }

  async save(name: string, data: Uint8Array, opts: SaveOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'save', name);
    const blob = this.container.getBlockBlobClient(this.prefix + name);
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const lock = this.target.immutability;
    const common = {
      abortSignal: opts.signal,
      blobHTTPHeaders: { blobContentMD5: createHash('md5').update(buf).digest() },
      ...(opts.ifAbsent ? { conditions: { ifNoneMatch: '*' } } : {}),
      ...(this.target.access_tier ? { tier: this.target.access_tier } : {}),
      ...(lock
        ? {
            immutabilityPolicy: {
              expiriesOn: new Date(this.clock.now().getTime() + lock.days * 86_400_000),
              policyMode: lock.mode === 'locked' ? ('Locked' as const) : ('Unlocked' as const),
            },
          }
        : {}),
    };
    try {
      if (buf.length <= SINGLE_PUT_MAX) {
        // One Put Blob. The SDK forwards transactionalContentMD5 as Content-MD5 (its typings
        // omit it), which the service checks against the bytes received before storing them.
        const uploadOptions = { ...common, transactionalContentMD5: common.blobHTTPHeaders.blobContentMD5 } as BlockBlobUploadOptions;
        await blob.upload(buf, buf.length, uploadOptions);
        return;
      }
      const ids: string[] = [];
      for (let off = 0, i = 0; off < buf.length; off += SINGLE_PUT_MAX, i++) {
        const part = buf.subarray(off, Math.min(buf.length, off + SINGLE_PUT_MAX));
        const id = Buffer.from(`triad-${String(i).padStart(6, '0')}`).toString('base64');
        await blob.stageBlock(id, part, part.length, { transactionalContentMD5: createHash('md5').update(part).digest(), abortSignal: opts.signal });
        ids.push(id);
      }
      await blob.commitBlockList(ids, common);
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
    const blob = this.container.getBlobClient(this.prefix + name);
    try {
      const res = await blob.download(range?.offset ?? 0, range?.length, { abortSignal: opts.signal });
      const body = res.readableStreamBody;
      if (!body) return Buffer.alloc(0);
      if (range === undefined) refuseOversized(this.location, name, res.contentLength, () => body.destroy());
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    } catch (err) {
      const e = this.classify(err, 'load', name, opts.signal);
      if (range && (e.cause as { code?: unknown } | undefined)?.code === 'InvalidRange') return Buffer.alloc(0);
      throw e;
    }
  }

  async stat(name: string, opts: LoadOptions = {}): Promise<ObjectInfo> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'stat', name);
    try {
      const props = await this.container.getBlobClient(this.prefix + name).getProperties({ abortSignal: opts.signal });
      return { name, size: props.contentLength ?? 0 };
    } catch (err) {
      throw this.classify(err, 'stat', name, opts.signal);
    }
  }

  async *list(prefix: string, opts: LoadOptions = {}): AsyncIterable<ObjectInfo> {
    throwIfAborted(opts.signal, this.location, 'list');
    const pages = this.container.listBlobsFlat({ prefix: this.prefix + prefix, abortSignal: opts.signal }).byPage({ maxPageSize: 5000 });
    while (true) {
      let page;
      try {
        page = await pages.next();
      } catch (err) {
        throw this.classify(err, 'list', prefix || undefined, opts.signal);
      }
      if (page.done) return;
      for (const item of page.value.segment.blobItems) {
        if (!item.name.startsWith(this.prefix)) continue;
        yield { name: item.name.slice(this.prefix.length), size: item.properties.contentLength ?? 0, ...(item.properties.lastModified ? { modified: item.properties.lastModified } : {}) };
      }
    }
  }

  async remove(name: string, opts: LoadOptions = {}): Promise<void> {
    checkName(this.location, name);
    throwIfAborted(opts.signal, this.location, 'remove', name);
    try {
      await this.container.getBlobClient(this.prefix + name).delete({ abortSignal: opts.signal });
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

  async createContainer(): Promise<void> {
    try {
      await this.container.createIfNotExists();
    } catch (err) {
      throw this.classify(err, 'create', undefined, undefined);
    }
  }

  classify(err: unknown, op: string, name: string | undefined, signal: AbortSignal | undefined): StorageError {
    if (err instanceof StorageError) return err;
    const what = name ? `${op} ${name}` : op;
    if (isAbortError(err, signal)) return new StorageError('aborted', this.location, `${this.location}: ${what} aborted`, { objectName: name });
    const e = (err ?? {}) as { statusCode?: unknown; code?: unknown; details?: { errorCode?: unknown } };
    const status = typeof e.statusCode === 'number' ? e.statusCode : undefined;
    const code = typeof e.details?.errorCode === 'string' ? e.details.errorCode : typeof e.code === 'string' ? e.code : undefined;
    let kind: StorageErrorKind | undefined;
    switch (code) {
      case 'BlobNotFound':
        kind = 'not-found';
        break;
      case 'ContainerNotFound':
      case 'ContainerBeingDeleted':
        kind = 'no-container';
        break;
      case 'BlobAlreadyExists':
        kind = 'exists';
        break;
      case 'AuthenticationFailed':
      case 'AuthorizationFailure':
      case 'AuthorizationPermissionMismatch':
      case 'AuthorizationResourceTypeMismatch':
      case 'InsufficientAccountPermissions':
      case 'AccountIsDisabled':
        kind = 'auth';
        break;
      case 'ServerBusy':
      case 'OperationTimedOut':
      case 'InternalError':
        kind = 'transient';
        break;
    }
    if (!kind) kind = networkKind(findSystemCode(err));
    if (!kind && (status === 409 || status === 412) && op === 'save') kind = 'exists';
    if (!kind) kind = statusKind(status);
    if (!kind && code === 'REQUEST_SEND_ERROR') kind = 'unreachable';
    kind ??= 'other';
    const detail = [code, status ? `HTTP ${status}` : undefined].filter(Boolean).join(', ');
    const msg = failureMessage({ location: this.location, what, kind, detail, err, endpoint: this.endpoint });
    const cause = sanitizedCause(err);
    if (code) (cause as Error & { code?: unknown }).code = code;
    return new StorageError(kind, this.location, msg, { objectName: name, cause });
  }
}

/** The service client for a target: connection string, account + key, or account + SAS, all by variable name. */
export async function azureServiceClient(target: AzureTarget, env: Record<string, string | undefined>): Promise<BlobServiceClient> {
  const sdk = await import('@azure/storage-blob');
  // One try per call: RetryStorage owns backoff.
  const pipeline = { retryOptions: { maxTries: 1 } };
  if (target.connection_string_env) {
    const cs = requireEnv(env, target.name, target.connection_string_env);
    try {
      return sdk.BlobServiceClient.fromConnectionString(cs, pipeline);
    } catch {
      // The SDK's parse error may quote the string: report only which variable is malformed.
      throw new TriadError('E_BACKEND_AUTH', `target "${target.name}": ${target.connection_string_env} does not hold a valid Azure Storage connection string`, {
        hint: 'copy the connection string from the storage account\'s "Access keys" page',
        details: { target: target.name, variable: target.connection_string_env },
      });
    }
  }
  if (!target.account && !target.endpoint) {
    throw new TriadError('E_POLICY_INVALID', `target "${target.name}": set connection_string_env, or account with account_key_env or sas_token_env`, {
      details: { target: target.name },
    });
  }
  const url = (target.endpoint ?? `https://${target.account}.blob.core.windows.net`).replace(/\/+$/, '');
  if (target.account_key_env) {
    if (!target.account) throw new TriadError('E_POLICY_INVALID', `target "${target.name}": account_key_env needs account`, { details: { target: target.name } });
    const key = requireEnv(env, target.name, target.account_key_env);
    return new sdk.BlobServiceClient(url, new sdk.StorageSharedKeyCredential(target.account, key), pipeline);
  }
  if (target.sas_token_env) {
    const sas = requireEnv(env, target.name, target.sas_token_env).replace(/^\?/, '');
    return new sdk.BlobServiceClient(`${url}?${sas}`, undefined, pipeline);
  }
  throw new TriadError('E_BACKEND_AUTH', `target "${target.name}": no Azure credentials configured`, {
    hint: 'set connection_string_env, account_key_env or sas_token_env to the name of an environment variable holding the secret',
    details: { target: target.name },
  });
}

export async function openAzureStorage(target: AzureTarget, opts: AzureStorageOptions): Promise<AzureStorage> {
  const service = await azureServiceClient(target, opts.env);
  const storage = new AzureStorage(service, target, opts.clock ?? systemClock);
  if (opts.create) await storage.createContainer();
  return storage;
}
