import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { MasterKey } from './crypto.js';
import type { PackVerdict } from './pack-verify.js';

export interface VerifyJob {
  job: number;
  pack: string;
  buf: ArrayBuffer;
}

export interface VerifyDone extends PackVerdict {
  job: number;
}

// Tests run the TypeScript sources in-process; a worker thread needs the compiled module.
const WORKER_URL = import.meta.url.endsWith('.ts') ? new URL('../../dist/repo/pack-verify-worker.js', import.meta.url) : new URL('./pack-verify-worker.js', import.meta.url);

/** Worker threads that verify whole packs (one core fewer: the main thread verifies too); the caller bounds how many are in flight. */
export class PackVerifyPool {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<number, { resolve(d: VerifyDone): void; reject(err: unknown): void }>();
  private nextJob = 1;
  private closed = false;

  constructor(key: MasterKey, workers = Math.max(1, Math.min(3, availableParallelism() - 1))) {
    for (let i = 0; i < workers; i++) {
      const w = new Worker(WORKER_URL, { workerData: { encKey: key.encrypt, macKey: key.mac }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
      w.on('message', (d: VerifyDone) => {
        const p = this.pending.get(d.job);
        this.pending.delete(d.job);
        p?.resolve(d);
      });
      w.on('error', (err) => this.failAll(err));
      w.on('exit', (code) => {
        if (!this.closed) this.failAll(new Error(`a check worker thread stopped unexpectedly (exit code ${code})`));
      });
      this.workers.push(w);
    }
  }

  get size(): number {
    return this.workers.length;
  }

  verify(pack: string, bytes: Buffer): Promise<VerifyDone> {
    // The bytes move to the worker; a view into a larger buffer is copied first.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer;
    const buf = own ? (bytes.buffer as ArrayBuffer) : new Uint8Array(bytes).buffer;
    const job = this.nextJob++;
    return new Promise<VerifyDone>((resolve, reject) => {
      this.pending.set(job, { resolve, reject });
      this.workers[job % this.workers.length]!.postMessage({ job, pack, buf } satisfies VerifyJob, [buf]);
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
