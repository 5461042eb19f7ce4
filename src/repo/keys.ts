import { createHash } from 'node:crypto';
import { TriadError } from '../core/errors.js';
import type { Storage } from '../backends/storage.js';
import { defaultKdfParams, deriveKey, IntegrityFailure, open, seal, type KdfParams, type MasterKey } from './crypto.js';
import { AAD, FORMAT_VERSION } from './format.js';

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

export async function wrapMasterKey(master: MasterKey, passphrase: string, meta: { created: Date; host: string; username?: string; lowSecurityKdf?: boolean }): Promise<{ id: string; bytes: Buffer }> {
  const kdf = defaultKdfParams(meta.lowSecurityKdf);
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

async function unwrapUncached(bytes: Buffer, passphrase: string): Promise<MasterKey | undefined> {
  let file: KeyFile;
  try {
    file = JSON.parse(bytes.toString('utf8')) as KeyFile;
  } catch {
    return undefined;
  }
  const wrapping = await deriveKey(passphrase, file.kdf);
  try {
    const inner = JSON.parse(open(wrapping, Buffer.from(file.data, 'base64'), AAD.key).toString('utf8')) as { encrypt: string; mac: string };
    return { encrypt: Buffer.from(inner.encrypt, 'base64'), mac: Buffer.from(inner.mac, 'base64') };
  } catch (err) {
    if (err instanceof IntegrityFailure) return undefined;
    throw err;
  }
}

/** Tries every key file; several may exist (one per passphrase). */
export async function findMasterKey(storage: Storage, passphrase: string, targetName: string): Promise<{ key: MasterKey; keyId: string }> {
  const ids: string[] = [];
  for await (const o of storage.list('keys/')) ids.push(o.name);
  if (ids.length === 0) {
    throw new TriadError('E_REPO_NOT_FOUND', `target '${targetName}' (${storage.location}) has no key files: it is not an initialised repository`, {
      hint: `run 'triad init -p POLICY' to create it`,
    });
  }
  for (const name of ids.sort()) {
    const key = await unwrapMasterKey(await storage.load(name), passphrase);
    if (key) return { key, keyId: name.slice('keys/'.length) };
  }
  throw new TriadError('E_WRONG_PASSPHRASE', `wrong passphrase for target '${targetName}' (${storage.location}): no key file opens with it`, {
    hint: 'check the passphrase source the policy names (passphrase_env / passphrase_file / passphrase_command)',
  });
}
