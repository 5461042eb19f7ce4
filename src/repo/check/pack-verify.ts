import { createHash } from 'node:crypto';
import { IntegrityFailure, type MasterKey } from '../crypto/index.js';
import { parsePackHeader } from '../blob/index.js';
import { ReusingBlobDecoder } from '../repository.js';

export interface PackVerdict {
  /** Why the pack is damaged; absent when every blob verified. */
  reason?: string;
  /** id, offset, length of each blob, for comparing with the index. */
  entries: [string, number, number][];
}

/** The blobs are only checked, never kept: one decoder per thread serves every pack it verifies. */
const decoder = new ReusingBlobDecoder();

/** Checks a whole pack: its content hash, its header, and every blob decrypted and checked against its id. */
export function verifyPackBytes(key: MasterKey, pack: string, bytes: Buffer): PackVerdict {
  const out: PackVerdict = { entries: [] };
  try {
    if (createHash('sha256').update(bytes).digest('hex') !== pack) {
      out.reason = 'its content does not match its name (bytes changed or truncated)';
      return out;
    }
    for (const e of parsePackHeader(key.encrypt, bytes, bytes.length)) {
      decoder.decode(key, e.type, e.id, bytes.subarray(e.offset, e.offset + e.length));
      out.entries.push([e.id.toString('hex'), e.offset, e.length]);
    }
  } catch (err) {
    if (!(err instanceof IntegrityFailure)) throw err;
    out.reason = err.message;
  }
  return out;
}
