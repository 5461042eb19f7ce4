import { TriadError } from '../../core/errors.js';
import type { Storage } from '../../backends/storage.js';
import type { MasterKey } from './crypto.js';
import { findMasterKey, KeyFileDamage, readKeyFiles, unwrapMasterKey, wrapMasterKey, type KeyFileMeta } from './keys.js';

/**
 * Administration of the key files (`keys/<id>`, docs/FORMAT.md §5): several passphrases
 * wrap the one master key, so adding or removing a passphrase never re-encrypts data.
 * Key files are content-addressed; the same wrapped bytes written to every replica keep
 * the replicas byte-identical.
 */
export interface KeyInfo {
  id: string;
  created?: string;
  host?: string;
  username?: string;
  kdf?: { name: string; N: number; r: number; p: number };
  /** The file is not a readable key file (damaged or foreign). */
  unreadable?: boolean;
  /** Why it is unreadable. */
  damage?: string;
}

/** Every key file of a replica, in id order; a damaged one is listed as unreadable with the reason. */
export async function listKeyFiles(storage: Storage, signal?: AbortSignal): Promise<KeyInfo[]> {
  return (await readKeyFiles(storage, signal)).map((k): KeyInfo => {
    if (k.damage !== undefined) return { id: k.id, unreadable: true, damage: k.damage };
    const { created, host, username, kdf } = k.file;
    return { id: k.id, created, host, ...(username ? { username } : {}), kdf: { name: kdf.name, N: kdf.N, r: kdf.r, p: kdf.p } };
  });
}

/** Wraps the master key with a new passphrase; the caller saves the same bytes on every replica. */
export async function newKeyFile(master: MasterKey, passphrase: string, meta: KeyFileMeta): Promise<{ id: string; bytes: Buffer }> {
  if (passphrase === '') throw new TriadError('E_USAGE', 'the new passphrase is empty');
  return wrapMasterKey(master, passphrase, meta);
}

/** Saves a key file; an identical file already there is left as is. */
export async function saveKeyFile(storage: Storage, key: { id: string; bytes: Buffer }): Promise<void> {
  await storage.save(`keys/${key.id}`, key.bytes);
}

/** The id of the key file a passphrase opens on this replica, or undefined. */
export async function keyOpenedBy(storage: Storage, passphrase: string, target: string): Promise<string | undefined> {
  try {
    return (await findMasterKey(storage, passphrase, target)).keyId;
  } catch (err) {
    if (err instanceof TriadError && err.code === 'E_WRONG_PASSPHRASE') return undefined;
    throw err;
  }
}

/** Whether the key file with this id opens with the passphrase (used to confirm a rotation). */
export async function keyFileOpens(storage: Storage, id: string, passphrase: string): Promise<boolean> {
  try {
    return (await unwrapMasterKey(await storage.load(`keys/${id}`), passphrase)) !== undefined;
  } catch (err) {
    if (err instanceof KeyFileDamage) return false;
    throw err;
  }
}

/**
 * Removes one key file. Refuses to remove the last one: without a key file nobody can
 * open the repository again.
 */
export async function removeKeyFile(storage: Storage, id: string, target: string): Promise<void> {
  const ids: string[] = [];
  for await (const o of storage.list('keys/')) ids.push(o.name.slice('keys/'.length));
  if (!ids.includes(id)) {
    throw new TriadError('E_USAGE', `target '${target}' has no key ${id.slice(0, 12)}`, { hint: "list the keys with 'triad key list -p POLICY'" });
  }
  if (ids.length <= 1) {
    throw new TriadError('E_USAGE', `refusing to remove key ${id.slice(0, 12)}: it is the last key of target '${target}' and the repository could never be opened again`, {
      hint: "add another key first with 'triad key add', or use 'triad key passwd' to change the passphrase",
    });
  }
  await storage.remove(`keys/${id}`);
}
