import { availableParallelism } from 'node:os';
import { WorkerGroup, type Waiting } from '../../core/workers/index.js';
import type { MasterKey } from '../crypto/index.js';
import type { FromVerifier, ToVerifier, VerifierInit } from './pack-verify.protocol.js';

export type VerifyDone = FromVerifier;

/**
 * Worker threads that verify whole packs (one core fewer: the main thread verifies too); the
 * caller bounds how many are in flight. Once a thread has failed, every verify() rejects
 * with that failure (see WorkerGroup).
 */
export class PackVerifyPool {
  private readonly group = new WorkerGroup<ToVerifier, FromVerifier>({ module: 'repo/check/pack-verify.worker', what: 'check worker', youngGenerationMb: 8 });
  private readonly pending = this.group.track(new Map<number, Waiting<VerifyDone>>());
  private nextJob = 1;

  constructor(key: MasterKey, workers = Math.max(1, Math.min(3, availableParallelism() - 1))) {
    const init: VerifierInit = { encKey: key.encrypt, macKey: key.mac };
    for (let i = 0; i < workers; i++) {
      this.group.start(init, (d) => {
        const p = this.pending.get(d.job);
        this.pending.delete(d.job);
        p?.resolve(d);
      });
    }
  }

  get size(): number {
    return this.group.size;
  }

  /**
   * The bytes move to the worker, and their memory comes back in the answer. `movable`: the
   * caller owns all of `bytes.buffer` (e.g. MemoryPool lent it); otherwise the bytes are copied.
   */
  verify(pack: string, bytes: Buffer, movable = false): Promise<VerifyDone> {
    if (this.group.failure) return Promise.reject(this.group.failure);
    const own = bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && (movable || bytes.byteLength === bytes.buffer.byteLength);
    const buf = own ? bytes.buffer : new Uint8Array(bytes).buffer;
    const job = this.nextJob++;
    return new Promise<VerifyDone>((resolve, reject) => {
      this.pending.set(job, { resolve, reject });
      this.group.post(job % this.group.size, { type: 'verify', job, pack, buf, length: bytes.length }, [buf]);
    });
  }

  close(): Promise<void> {
    return this.group.close();
  }
}
