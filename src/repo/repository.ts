import { createHash } from 'node:crypto';
import { randomSecret, randomToken } from '../core/token.js';
import { TriadError } from '../core/errors.js';
import type { Clock } from '../core/clock.js';
import { isNotFound, StorageError, type Storage } from '../backends/storage.js';
import { newMasterKey, open, seal, sealParts, keyedHash, IntegrityFailure, ReusingOpener, PRODUCTION_KDF, type KdfCost, type MasterKey } from './crypto/index.js';
import { findMasterKey, wrapMasterKey, type DamagedKeyFile } from './crypto/index.js';
import { makeGear, DEFAULT_CHUNKER, type ChunkerParams, type Gear } from './blob/index.js';
import { frame, frameParts, unframe, ReusingUnframer, type CompressionMode } from './blob/index.js';
import { AAD, blobAad, FORMAT_VERSION, type BlobType } from './format.js';

export interface RepoConfig {
  version: number;
  id: string;
  created: string;
  chunker: ChunkerParams & { seed: string };
  compression: 'zstd';
}

/** One target's replica of the repository, opened with its master key. */
export class Repository {
  readonly gear: Gear;
  /** Damaged key files skipped while opening (those tried before the one that opened). */
  damagedKeys: readonly DamagedKeyFile[] = [];
  /** Id and scrypt cost of the key file the passphrase opened (or created). */
  openedKey?: { id: string; kdf: KdfCost };

  private constructor(
    readonly target: string,
    readonly storage: Storage,
    readonly key: MasterKey,
    readonly config: RepoConfig,
  ) {
    this.gear = makeGear(Buffer.from(config.chunker.seed, 'base64'), config.chunker);
  }

  get id(): string {
    return this.config.id;
  }

  /** Opens an existing replica; E_REPO_NOT_FOUND / E_WRONG_PASSPHRASE as DESIGN.md §7. */
  static async open(target: string, storage: Storage, passphrase: string): Promise<Repository> {
    const configBytes = await loadConfigBytes(target, storage);
    const { key, keyId, kdf, damaged } = await findMasterKey(storage, passphrase, target);
    const config = decodeConfig(target, key, configBytes);
    const repo = new Repository(target, storage, key, config);
    repo.damagedKeys = damaged;
    repo.openedKey = { id: keyId, kdf };
    return repo;
  }

  /** Whether `config` exists (cheap probe used by init). */
  static async exists(storage: Storage): Promise<boolean> {
    try {
      await storage.stat('config');
      return true;
    } catch (err) {
      if (isNotFound(err) || (err instanceof StorageError && err.kind === 'no-container')) return false;
      throw err;
    }
  }

  /** Creates a brand-new repository (first replica). */
  static async create(target: string, storage: Storage, passphrase: string, opts: { clock: Clock; host: string; username?: string; chunker?: ChunkerParams; kdf?: KdfCost }): Promise<Repository> {
    const key = newMasterKey();
    const config: RepoConfig = {
      version: FORMAT_VERSION,
      id: randomToken(16),
      created: opts.clock.now().toISOString(),
      chunker: { ...(opts.chunker ?? DEFAULT_CHUNKER), seed: randomSecret(32).toString('base64') },
      compression: 'zstd',
    };
    const kdf = opts.kdf ?? PRODUCTION_KDF;
    const wrapped = await wrapMasterKey(key, passphrase, { created: opts.clock.now(), host: opts.host, username: opts.username, kdf });
    await storage.save(`keys/${wrapped.id}`, wrapped.bytes);
    await storage.save('config', seal(key.encrypt, Buffer.from(JSON.stringify(config)), AAD.config));
    const repo = new Repository(target, storage, key, config);
    repo.openedKey = { id: wrapped.id, kdf };
    return repo;
  }

  /**
   * Makes `storage` a replica of `source`: the same config and key files, byte for byte,
   * so blob ids, packs and snapshots agree on every target.
   */
  static async replicate(target: string, storage: Storage, source: Repository): Promise<Repository> {
    for await (const k of source.storage.list('keys/')) {
      await storage.save(k.name, await source.storage.load(k.name));
    }
    await storage.save('config', await source.storage.load('config'));
    const repo = new Repository(target, storage, source.key, source.config);
    if (source.openedKey) repo.openedKey = source.openedKey;
    return repo;
  }

  blobId(data: Uint8Array): Buffer {
    return keyedHash(this.key.mac, data);
  }

  /** Keyed id of a JSON manifest (snapshots, journal records): stable across replicas. */
  manifestId(plaintext: Uint8Array): string {
    return keyedHash(this.key.mac, plaintext).toString('hex');
  }

  encodeBlob(type: BlobType, id: Buffer, plaintext: Uint8Array, compression: CompressionMode): Buffer {
    return sealParts(this.key.encrypt, frameParts(plaintext, compression), blobAad(type, id));
  }

  /** Decrypts and verifies a blob against its id; throws IntegrityFailure on any mismatch. */
  decodeBlob(type: BlobType, id: Buffer, sealed: Uint8Array): Buffer {
    return decodeBlobWith(this.key, type, id, sealed);
  }

  sealObject(aad: Buffer, value: unknown): { plaintext: Buffer; sealed: Buffer } {
    const plaintext = Buffer.from(JSON.stringify(value));
    return { plaintext, sealed: seal(this.key.encrypt, frame(plaintext, 'auto'), aad) };
  }

  openObject<T>(aad: Buffer, sealed: Uint8Array, what: string): T {
    return this.decodeObject(aad, sealed, what, (v) => v as T);
  }

  /**
   * Opens a sealed JSON object and checks it with `decode`; any failure (tampering, bad JSON,
   * a shape `decode` refuses) is an E_INTEGRITY error naming the object and the target.
   */
  decodeObject<T>(aad: Buffer, sealed: Uint8Array, what: string, decode: (value: unknown) => T): T {
    try {
      return decode(JSON.parse(unframe(open(this.key.encrypt, sealed, aad)).toString('utf8')));
    } catch (err) {
      throw integrityError(this.target, this.storage, what, err);
    }
  }

  /**
   * Loads a manifest (snapshot, journal record) and checks that its name is the keyed hash
   * of its content, so objects cannot be swapped or replayed under another name.
   */
  async loadManifest<T>(aad: Buffer, dir: string, id: string, decode: (value: unknown) => T): Promise<T> {
    const name = `${dir}/${id}`;
    const sealed = await this.storage.load(name);
    try {
      const plaintext = unframe(open(this.key.encrypt, sealed, aad));
      if (this.manifestId(plaintext) !== id) throw new IntegrityFailure('content does not match its name');
      return decode(JSON.parse(plaintext.toString('utf8')));
    } catch (err) {
      throw integrityError(this.target, this.storage, name, err);
    }
  }

  async loadObject<T>(aad: Buffer, name: string): Promise<T> {
    return this.openObject<T>(aad, await this.storage.load(name), name);
  }

  /** Content-addressed save (index files): name = sha256 of the stored bytes. */
  async saveHashed(dir: string, sealed: Buffer): Promise<string> {
    const id = createHash('sha256').update(sealed).digest('hex');
    await this.storage.save(`${dir}/${id}`, sealed);
    return id;
  }
}

/** A blob's plaintext, verified against its id (also used by worker threads, which hold only the key). */
export function decodeBlobWith(key: MasterKey, type: BlobType, id: Buffer, sealed: Uint8Array): Buffer {
  return verifiedBlob(key, id, unframe(open(key.encrypt, sealed, blobAad(type, id))));
}

/**
 * Decodes blobs like decodeBlobWith, into buffers it reuses: a thread decoding a stream of
 * blobs (a restore, a data check) makes no garbage the size of their content, and asks for
 * no fresh memory, which is slow to fill (bench/RESULTS.md, "Pack memory"). A result is valid
 * only until the next call.
 */
export class ReusingBlobDecoder {
  private readonly opener = new ReusingOpener();
  private readonly unframer = new ReusingUnframer();

  /**
   * `into`: see ReusingUnframer.unframe; the result may then be in the caller's buffer.
   * `verify` false: the caller checks the plaintext against the id itself (the restore's
   * writer threads do); decryption still authenticates the blob and its id.
   */
  decode(key: MasterKey, type: BlobType, id: Buffer, sealed: Uint8Array, into?: (size: number) => Buffer | undefined, verify = true): Buffer {
    const plain = this.unframer.unframe(this.opener.open(key.encrypt, sealed, blobAad(type, id)), into);
    return verify ? verifiedBlob(key, id, plain) : plain;
  }
}

function verifiedBlob(key: MasterKey, id: Buffer, plain: Buffer): Buffer {
  if (!keyedHash(key.mac, plain).equals(id)) throw new IntegrityFailure('content does not match its id');
  return plain;
}

async function loadConfigBytes(target: string, storage: Storage): Promise<Buffer> {
  try {
    return await storage.load('config');
  } catch (err) {
    if (isNotFound(err) || (err instanceof StorageError && err.kind === 'no-container')) {
      throw new TriadError('E_REPO_NOT_FOUND', `no repository at target '${target}' (${storage.location})`, {
        hint: `run 'triad init -p POLICY' to create it, or check the target's path/bucket in the policy`,
      });
    }
    throw err;
  }
}

/** Opens and checks a replica's config; exported for the decoder tests. */
export function decodeConfig(target: string, key: MasterKey, bytes: Buffer): RepoConfig {
  let cfg: RepoConfig;
  try {
    cfg = JSON.parse(open(key.encrypt, bytes, AAD.config).toString('utf8')) as RepoConfig;
  } catch (err) {
    throw new TriadError('E_INTEGRITY', `the config of target '${target}' cannot be decrypted with the key that the passphrase opened: it is damaged or belongs to another repository`, {
      hint: `run 'triad check -p POLICY --target ${target}'`,
      cause: err,
    });
  }
  if (typeof cfg === 'object' && cfg !== null && typeof cfg.version === 'number' && cfg.version !== FORMAT_VERSION) {
    throw new TriadError('E_INTEGRITY', `target '${target}' uses repository format ${cfg.version}; this triad reads format ${FORMAT_VERSION}`, { hint: 'upgrade triad' });
  }
  if (!isConfigShape(cfg)) {
    throw new TriadError('E_INTEGRITY', `the config of target '${target}' is damaged: it lacks its id or chunker parameters, or they are out of range`, {
      hint: "replicas hold identical config objects: copy 'config' from another target of the policy",
    });
  }
  return cfg;
}

/**
 * Chunk sizes a config may ask for: the backup holds buffers of the largest chunk size per
 * reader, so a damaged or crafted config must not set it (DEFAULT_CHUNKER is 512 KiB–8 MiB).
 */
const CHUNK_LIMITS = { min: 1024, max: 64 * 1024 * 1024 } as const;

function isConfigShape(cfg: unknown): cfg is RepoConfig {
  if (typeof cfg !== 'object' || cfg === null) return false;
  const c = (cfg as Partial<RepoConfig>).chunker;
  return (
    (cfg as RepoConfig).version === FORMAT_VERSION && typeof (cfg as RepoConfig).id === 'string' && typeof c === 'object' && c !== null && typeof c.seed === 'string' &&
    [c.min, c.avg, c.max].every((n) => Number.isSafeInteger(n)) && CHUNK_LIMITS.min <= c.min && c.min <= c.avg && c.avg <= c.max && c.max <= CHUNK_LIMITS.max
  );
}

/**
 * Whether a failed read means the object itself is bad (undecryptable, unparseable, not a
 * regular object, implausibly large) rather than the storage failing to serve it.
 */
export function isObjectDamage(err: unknown): boolean {
  return (err instanceof TriadError && err.code === 'E_INTEGRITY') || (err instanceof StorageError && err.kind === 'invalid') || err instanceof SyntaxError || err instanceof IntegrityFailure;
}

export function integrityError(target: string, storage: Storage, what: string, cause: unknown): TriadError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new TriadError('E_INTEGRITY', `integrity error in ${what} on target '${target}' (${storage.location}): ${reason}`, {
    hint: `run 'triad check -p POLICY --target ${target} --read-data' to see what is affected; restore from another target if it is damaged`,
    cause,
  });
}
