import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { MasterKey } from '../crypto/index.js';
import type { PackVerdict } from './pack-verify.js';
import { startWorker } from '../../core/threads.js';

export interface VerifyJob {
  job: number;
  pack: string;
  /** The pack is buf's first `length` bytes. */
  buf: ArrayBuffer;
  length: number;
}

/** `buf`: the job's memory, given back for reuse. */
export interface VerifyDone extends PackVerdict {
  job: number;
  buf: ArrayBuffer;
}

/** Worker threads that verify whole packs (one core fewer: the main thread verifies too); the caller bounds how many are in flight. */
export class PackVerifyPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve(d: VerifyDone): void; reject(err: unknown): void }>();
  private nextJob = 1;
  private closed = false;

  constructor(key: MasterKey, workers = Math.max(1, Math.min(3, availableParallelism() - 1))) {
    for (let i = 0; i < workers; i++) {
      const w = startWorker('repo/check/pack-verify.worker', { what: 'check worker', workerData: { encKey: key.encrypt, macKey: key.mac }, youngGenerationMb: 8, closing: () => this.closed, onFail: (err) => this.failAll(err) });
      w.on('message', (d: VerifyDone) => {
        const p = this.pending.get(d.job);
        this.pending.delete(d.job);
        p?.resolve(d);
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * The bytes move to the worker, and their memory comes back in the answer. `movable`: the
   * caller owns all of `bytes.buffer` (e.g. MemoryPool lent it); otherwise the bytes are copied.
   */
  verify(pack: string, bytes: Buffer, movable = false): Promise<VerifyDone> {
    const own = bytes.byteOffset === 0 && bytes.buffer instanceof ArrayBuffer && (movable || bytes.byteLength === bytes.buffer.byteLength);
    const buf = own ? (bytes.buffer) : new Uint8Array(bytes).buffer;
    const job = this.nextJob++;
    return new Promise<VerifyDone>((resolve, reject) => {
      this.pending.set(job, { resolve, reject });
      this.workers[job % this.workers.length]!.postMessage({ job, pack, buf, length: bytes.length } satisfies VerifyJob, [buf]);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
