import type { Worker } from 'node:worker_threads';
import { TriadError } from '../core/errors.js';
import { startWorker } from '../core/threads.js';
import { BLOB_TYPE_CODES, FILE_TYPE_CODES, type StageMessage, type StageReply } from './row-stage-protocol.js';
import type { FileInput, WrittenPackRecord } from './types.js';

const BATCH = 4096;

/**
 * A backup's catalogue rows, written by a thread with its own connection, so the main
 * thread pays for packing a row, not for inserting it. File rows wait in a temporary table
 * until `commit` files them under the snapshot (nothing waits for the snapshot id in
 * memory); packs and blobs go to their tables as the writer indexes them. The thread
 * inserts far faster than a backup produces rows, so batches are not flow-controlled.
 */
export class RowStage {
  private readonly worker: Worker;
  private paths: string[] = [];
  private types = new Uint8Array(BATCH);
  private nums = new Float64Array(BATCH * 4);
  private hashes = Buffer.alloc(BATCH * 32);
  private hashed = new Uint8Array(BATCH);
  private failure: unknown;
  /** Callers of commit and settle, in the order the thread answers them. */
  private readonly waiting: { resolve(rows: number): void; reject(err: unknown): void }[] = [];
  private closed = false;
  count = 0;

  /** `snapSeq` finds the snapshot's row; `mapError` gives a database error the catalogue's wording. */
  constructor(
    file: string,
    busyMs: number,
    private readonly snapSeq: (snapshotId: string) => number,
    private readonly targetOf: (policy: string, target: string) => number,
    private readonly mapError: (err: unknown) => unknown,
  ) {
    this.worker = startWorker('catalog/row-stage-worker', {
      what: 'catalogue',
      workerData: { file, busyMs },
      youngGenerationMb: 8,
      closing: () => this.closed,
      onFail: (err) => this.fail(err),
    });
    this.worker.on('message', (r: StageReply) => {
      if (r.op === 'error') this.fail(Object.assign(new Error(r.message), { code: r.code }));
      else this.waiting.shift()?.resolve(r.op === 'committed' ? r.rows : 0);
    });
  }

  push(f: FileInput): void {
    const i = this.paths.length;
    const type = FILE_TYPE_CODES.indexOf(f.type);
    if (type < 0) throw new TriadError('E_CATALOG', `invalid file type ${JSON.stringify(f.type)} for ${f.path}`);
    this.paths.push(f.path);
    this.types[i] = type;
    this.nums[i * 4] = f.size;
    this.nums[i * 4 + 1] = f.mode;
    this.nums[i * 4 + 2] = f.mtime;
    this.nums[i * 4 + 3] = f.chunks ?? 0;
    const hash = f.hash ?? null;
    this.hashed[i] = hash === null ? 0 : 1;
    if (hash !== null && (hash.length !== 64 || this.hashes.write(hash, i * 32, 32, 'hex') !== 32)) {
      throw new TriadError('E_CATALOG', `invalid content hash of ${f.path}: ${JSON.stringify(hash)} (expected 64 hex characters)`);
    }
    this.count++;
    if (this.paths.length === BATCH) this.flush();
  }

  /** Records packs now named by an index on `target`, with the blobs they hold. */
  addPacks(policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
    if (this.failure !== undefined || packs.length === 0) return;
    const blobs = packs.reduce((n, p) => n + p.entries.length, 0);
    const packIds = Buffer.alloc(packs.length * 32);
    const packNums = new Float64Array(packs.length * 3);
    const blobIds = Buffer.alloc(blobs * 32);
    const blobNums = new Float64Array(blobs * 4);
    let b = 0;
    packs.forEach((p, i) => {
      if (packIds.write(p.id, i * 32, 32, 'hex') !== 32) throw new TriadError('E_CATALOG', `invalid pack id ${JSON.stringify(p.id)}`);
      packNums.set([p.size, p.entries.length, BLOB_TYPE_CODES.indexOf(p.entries[0]?.type ?? 'data')], i * 3);
      for (const e of p.entries) {
        blobIds.set(e.id, b * 32);
        blobNums.set([i, BLOB_TYPE_CODES.indexOf(e.type), e.length, e.rawLength], b * 4);
        b++;
      }
    });
    // Buffer.alloc never takes from the shared pool: each buffer is its own, and can be transferred.
    this.post({ op: 'packs', target: this.targetOf(policy, target), packIds, packNums, blobIds, blobNums }, [packIds.buffer, packNums.buffer, blobIds.buffer, blobNums.buffer]);
  }

  /** Files every staged row under the snapshot (already in the catalogue); returns how many. */
  async commit(snapshotId: string): Promise<number> {
    this.flush();
    return this.ask({ op: 'commit', snap: this.snapSeq(snapshotId) });
  }

  /**
   * Waits until the thread has written everything sent so far (a failure is left to
   * commit), so that a write on another connection need not wait for its lock. SQLite's
   * busy timeout counts its sleeps, not the time passed, and a signal cuts each sleep
   * short: under a CPU profiler (SIGPROF every millisecond) the timeout ran out in a small
   * fraction of its time and the backup failed after saving its snapshot.
   */
  async settle(): Promise<void> {
    this.flush();
    await this.ask({ op: 'settle' }).catch(() => undefined);
  }

  private ask(m: StageMessage): Promise<number> {
    const answer = new Promise<number>((resolve, reject) => this.waiting.push({ resolve, reject }));
    if (this.failure !== undefined) this.fail(this.failure);
    else this.post(m);
    return answer;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.worker.terminate();
  }

  private flush(): void {
    const n = this.paths.length;
    if (n === 0 || this.failure !== undefined) return;
    const types = this.types.slice(0, n);
    const nums = this.nums.slice(0, n * 4);
    const hashes = new Uint8Array(this.hashes.subarray(0, n * 32));
    const hashed = this.hashed.slice(0, n);
    this.post({ op: 'rows', paths: this.paths.join('\u0000'), types, nums, hashes, hashed }, [types.buffer, nums.buffer, hashes.buffer, hashed.buffer]);
    this.paths = [];
  }

  private post(m: StageMessage, transfer: ArrayBuffer[] = []): void {
    this.worker.postMessage(m, transfer);
  }

  private fail(err: unknown): void {
    this.failure ??= err;
    for (const w of this.waiting.splice(0)) w.reject(this.mapError(this.failure));
  }
}
