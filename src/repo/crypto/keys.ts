import { createHash } from 'node:crypto';
import { describeDamagedKeys } from '../../core/describe.js';
import { TriadError } from '../../core/errors.js';
import type { ObjectInfo, Storage } from '../../backends/storage.js';
import { deriveKey, IntegrityFailure, kdfParamsProblem, newKdfParams, open, seal, type KdfCost, type KdfParams, type MasterKey } from './crypto.js';
import { AAD, FORMAT_VERSION } from '../format.js';

/** `keys/<id>`: the master key wrapped by a passphrase-derived key. JSON, not itself encrypted. */
export interface KeyFile {
  version: number;
  created: string;
  host: string;
  username?: string;
  kdf: KdfParams;
  /** base64 of seal(derived key, JSON {encrypt, mac}). */
  data: string;
}

/** Who wrote a key file, and the KDF cost (production's unless a test entry lowers it). */
export interface KeyFileMeta {
  created: Date;
  host: string;
  username?: string;
  kdf?: KdfCost;
}

export async function wrapMasterKey(master: MasterKey, passphrase: string, meta: KeyFileMeta): Promise<{ id: string; bytes: Buffer }> {
  const kdf = newKdfParams(meta.kdf);
  const wrapping = await deriveKey(passphrase, kdf);
  const inner = Buffer.from(JSON.stringify({ encrypt: master.encrypt.toString('base64'), mac: master.mac.toString('base64') }));
  const file: KeyFile = {
    version: FORMAT_VERSION,
    created: meta.created.toISOString(),
    host: meta.host,
    username: meta.username,
    kdf,
    data: seal(wrapping, inner, AAD.key).toString('base64'),
  };
  const bytes = Buffer.from(JSON.stringify(file, null, 1));
  return { id: createHash('sha256').update(bytes).digest('hex'), bytes };
}

/** Replicas hold byte-identical key files: derive once per process, not once per target. */
const unwrapped = new Map<string, MasterKey | undefined>();

export async function unwrapMasterKey(bytes: Buffer, passphrase: string): Promise<MasterKey | undefined> {
  const memo = createHash('sha256').update(bytes).update('\0').update(passphrase).digest('hex');
  if (unwrapped.has(memo)) return unwrapped.get(memo);
  const key = await unwrapUncached(bytes, passphrase);
  unwrapped.set(memo, key);
  return key;
}

/** Largest key file read: one is about 400 bytes, so a larger object under keys/ is damaged. */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** A key file that cannot be a key file triad wrote: skipped when opening, reported by `check` and `key list`. */
export interface DamagedKeyFile {
  id: string;
  reason: string;
}

/** Thrown for a key file that is damaged (not for a passphrase that does not open it). */
export class KeyFileDamage extends TriadError {
  constructor(reason: string) {
    super('E_INTEGRITY', reason, { hint: "replicas hold identical key files: copy it from another target's keys/, or use the passphrase of another key file" });
  }
}

const tooLarge = (size: number) => new KeyFileDamage(`${size} bytes, more than a key file's ${MAX_KEY_FILE_BYTES}`);

/** Parses a key file and checks its fields and KDF parameters (KDF_LIMITS) before any scrypt runs. */
export function parseKeyFile(bytes: Buffer): KeyFile {
  if (bytes.length > MAX_KEY_FILE_BYTES) throw tooLarge(bytes.length);
  let file: unknown;
  try {
    file = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new KeyFileDamage(bytes.length === 0 ? 'empty' : 'not valid JSON (truncated or overwritten)');
  }
  if (typeof file !== 'object' || file === null || typeof (file as KeyFile).data !== 'string') throw new KeyFileDamage('no wrapped key in it');
  const kdfProblem = kdfParamsProblem((file as KeyFile).kdf);
  if (kdfProblem !== undefined) throw new KeyFileDamage(kdfProblem);
  return file as KeyFile;
}

async function unwrapUncached(bytes: Buffer, passphrase: string): Promise<MasterKey | undefined> {
  const file = parseKeyFile(bytes);
  const wrapping = await deriveKey(passphrase, file.kdf);
  let inner: Buffer;
  try {
    inner = open(wrapping, Buffer.from(file.data, 'base64'), AAD.key);
  } catch (err) {
    if (err instanceof IntegrityFailure) return undefined;
    throw err;
  }
  return decodeMasterKey(inner);
}

/** The master key inside an opened key file: two keys of 32 bytes, or the file is damaged. */
function decodeMasterKey(inner: Buffer): MasterKey {
  let master: unknown;
  try {
    master = JSON.parse(inner.toString('utf8'));
  } catch {
    master = undefined;
  }
  const { encrypt, mac } = (master ?? {}) as Partial<Record<'encrypt' | 'mac', unknown>>;
  const key = typeof encrypt === 'string' && typeof mac === 'string' ? { encrypt: Buffer.from(encrypt, 'base64'), mac: Buffer.from(mac, 'base64') } : undefined;
  if (!key || key.encrypt.length !== 32 || key.mac.length !== 32) throw new KeyFileDamage('the wrapped master key is not two 32-byte keys');
  return key;
}

/** A key file's bytes, refused as damaged by its listed size before it is loaded. */
async function loadKeyFile(storage: Storage, entry: ObjectInfo, signal?: AbortSignal): Promise<Buffer> {
  if (entry.size > MAX_KEY_FILE_BYTES) throw tooLarge(entry.size);
  return storage.load(entry.name, undefined, { signal });
}

/** One entry of keys/: the parsed file and its bytes, or why it is damaged. */
export type KeyFileEntry = { id: string; bytes: Buffer; file: KeyFile; damage?: undefined } | { id: string; damage: string };

/** Every key file of a replica in name order, parsed and checked (no scrypt runs). */
export async function readKeyFiles(storage: Storage, signal?: AbortSignal): Promise<KeyFileEntry[]> {
  const entries: ObjectInfo[] = [];
  for await (const o of storage.list('keys/', { signal })) entries.push(o);
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const out: KeyFileEntry[] = [];
  for (const entry of entries) {
    const id = entry.name.slice('keys/'.length);
    try {
      const bytes = await loadKeyFile(storage, entry, signal);
      out.push({ id, bytes, file: parseKeyFile(bytes) });
    } catch (err) {
      if (!(err instanceof KeyFileDamage)) throw err;
      out.push({ id, damage: err.message });
    }
  }
  return out;
}

/**
 * Tries every key file in name order; several may exist (one per passphrase). Damaged key
 * files are skipped and returned, so one bad file does not lock out the passphrases of the
 * others; when none opens and some were damaged, the damage is the error, not the passphrase.
 */
export async function findMasterKey(storage: Storage, passphrase: string, targetName: string): Promise<{ key: MasterKey; keyId: string; kdf: KdfCost; damaged: DamagedKeyFile[] }> {
  const files = await readKeyFiles(storage);
  if (files.length === 0) {
    throw new TriadError('E_REPO_NOT_FOUND', `target '${targetName}' (${storage.location}) has no key files: it is not an initialised repository`, {
      hint: `run 'triad init -p POLICY' to create it`,
    });
  }
  const damaged: DamagedKeyFile[] = [];
  for (const f of files) {
    if (f.damage !== undefined) {
      damaged.push({ id: f.id, reason: f.damage });
      continue;
    }
    const key = await unwrapMasterKey(f.bytes, passphrase);
    if (key) return { key, keyId: f.id, kdf: { N: f.file.kdf.N, r: f.file.kdf.r, p: f.file.kdf.p }, damaged };
  }
  if (damaged.length > 0) throw damagedKeysError(targetName, storage.location, damaged, files.length);
  throw new TriadError('E_WRONG_PASSPHRASE', `wrong passphrase for target '${targetName}' (${storage.location}): no key file opens with it`, {
    hint: 'check the passphrase source the policy names (passphrase_env / passphrase_file / passphrase_command)',
  });
}

/** `key file keys/<id> is damaged (reason)`, one clause per file. */
function damagedKeysError(target: string, location: string, damaged: DamagedKeyFile[], total: number): TriadError {
  const others = total - damaged.length;
  return new TriadError(
    'E_INTEGRITY',
    `target '${target}' (${location}): ${describeDamagedKeys(damaged)}; ${others === 0 ? 'no other key file exists' : `the passphrase opens none of the other ${others} key file${others === 1 ? '' : 's'}`}`,
    {
      hint: "replicas hold identical key files: copy the damaged one from another target's keys/, or use the passphrase of another key file ('triad key list -p POLICY' with it shows them)",
      details: { damagedKeys: damaged },
    },
  );
}
