import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { CompressionMode } from './compress.js';
import type { BlobType } from './format.js';

/**
 * Worker threads that compress and encrypt new blobs, so the main thread only reads, chunks
 * and hashes: Node runs JavaScript on one core, and compression is the slowest stage.
 */
export class EncodePool {
  private readonly workers: { worker: Worker; busy: number }[] = [];
  private readonly waiting = new Map<number, { resolve: (b: Buffer) => void; reject: (e: Error) => void; worker: { busy: number } }>();
  private seq = 0;

  private constructor(key: Buffer, size: number, url: URL) {
    for (let i = 0; i < size; i++) {
      const worker = new Worker(url, { workerData: { key } });
      const slot = { worker, busy: 0 };
      worker.on('message', (m: { seq: number; sealed?: Uint8Array; error?: string }) => {
        const w = this.waiting.get(m.seq);
        if (!w) return;
        this.waiting.delete(m.seq);
        w.worker.busy--;
        if (m.error !== undefined || !m.sealed) w.reject(new Error(`blob encoding failed: ${m.error}`));
        else w.resolve(Buffer.from(m.sealed.buffer, m.sealed.byteOffset, m.sealed.length));
      });
      worker.on('error', (err) => this.failAll(err));
      this.workers.push(slot);
    }
  }

  /**
   * A pool, or undefined where worker threads cannot load the compiled worker (e.g. tests
   * running the TypeScript sources): callers then encode on the main thread.
   */
  static create(key: Buffer, size = Math.max(1, Math.min(4, availableParallelism() - 1))): EncodePool | undefined {
    const url = new URL('./encode-worker.js', import.meta.url);
    if (url.protocol !== 'file:' || !existsSync(fileURLToPath(url))) return undefined;
    return new EncodePool(key, size, url);
  }

  encode(type: BlobType, id: Buffer, plaintext: Uint8Array, mode: CompressionMode): Promise<Buffer> {
    const slot = this.workers.reduce((a, b) => (b.busy < a.busy ? b : a));
    const seq = this.seq++;
    // A private copy: the caller's buffer is reused for the next chunk.
    const data = new Uint8Array(plaintext.length);
    data.set(plaintext);
    slot.busy++;
    return new Promise<Buffer>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject, worker: slot });
      slot.worker.postMessage({ seq, type, id: new Uint8Array(id), data, mode }, [data.buffer]);
    });
  }

  private failAll(err: Error): void {
    for (const [seq, w] of this.waiting) {
      this.waiting.delete(seq);
      w.reject(err);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
