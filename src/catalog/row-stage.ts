import { TriadError } from '../core/errors.js';
import { WorkerGroup, type Waiting } from '../core/workers/index.js';
import { blobTypeCode, packRowOf } from './packs.js';
import { FILE_TYPE_CODES, PACK_RECORD, ROW_RECORD, type FromRowStage, type RowStageInit, type ToRowStage } from './row-stage.protocol.js';
import { RowSink } from './row-sink.js';
import type { FileInput, WrittenPackRecord } from './types.js';

const BATCH = 4096;

/**
 * A backup's catalogue rows, written by a thread with its own connection, so the main
 * thread pays for packing a row, not for inserting it (`inline`: by the same RowSink on the
 * main thread, for a tree too small to pay for the thread's start-up). File rows wait in a temporary table
 * until `commit` files them under the snapshot (nothing waits for the snapshot id in
 * memory); packs go to their table as the writer indexes them. The thread
 * inserts far faster than a backup produces rows, so batches are not flow-controlled.
 * Once the thread has failed, rows are dropped and commit rejects with the failure.
 */
export class RowStage {
  private readonly group: WorkerGroup<ToRowStage, FromRowStage>;
  private paths: string[] = [];
  private types = new Uint8Array(BATCH);
  private nums = ROW_RECORD.alloc(BATCH);
  private hashes = Buffer.alloc(BATCH * 32);
  private hashed = new Uint8Array(BATCH);
  /** Callers of commit and settle, in the order the thread answers them. */
  private readonly waiting: Waiting<number>[];
  count = 0;

  /** `snapSeq` finds the snapshot's row; `mapError` gives a database error the catalogue's wording. */
  constructor(
    file: string,
    busyMs: number,
    private readonly snapSeq: (snapshotId: string) => number,
    private readonly targetOf: (policy: string, target: string) => number,
    mapError: (err: unknown) => unknown,
    inline = false,
  ) {
    this.group = new WorkerGroup({ module: 'catalog/row-stage.worker', what: 'catalogue', youngGenerationMb: 8, mapError });
    this.waiting = this.group.track([]);
    const answered = (r: FromRowStage): void => {
      if (r.type === 'failed') this.group.fail(Object.assign(new Error(r.message), { code: r.code }));
      else this.waiting.shift()?.resolve(r.type === 'committed' ? r.rows : 0);
    };
    if (inline) {
      let sink: RowSink;
      try {
        sink = new RowSink(file, busyMs);
      } catch (err) {
        throw mapError(err);
      }
      this.group.startInline((m) => sink.handle(m), answered, () => sink.close());
    } else this.group.start({ file, busyMs } satisfies RowStageInit, answered);
  }

  push(f: FileInput): void {
    const i = this.paths.length;
    const type = FILE_TYPE_CODES.indexOf(f.type);
    if (type < 0) throw new TriadError('E_CATALOG', `invalid file type ${JSON.stringify(f.type)} for ${f.path}`);
    this.paths.push(f.path);
    this.types[i] = type;
    ROW_RECORD.set(this.nums, i, 'size', f.size);
    ROW_RECORD.set(this.nums, i, 'mode', f.mode);
    ROW_RECORD.set(this.nums, i, 'mtime', f.mtime);
    ROW_RECORD.set(this.nums, i, 'chunks', f.chunks ?? 0);
    const hash = f.hash ?? null;
    this.hashed[i] = hash === null ? 0 : 1;
    if (hash !== null && (hash.length !== 64 || this.hashes.write(hash, i * 32, 32, 'hex') !== 32)) {
      throw new TriadError('E_CATALOG', `invalid content hash of ${f.path}: ${JSON.stringify(hash)} (expected 64 hex characters)`);
    }
    this.count++;
    if (this.paths.length === BATCH) this.flush();
  }

  /** Records packs now named by an index on `target`, with the sums of their blobs' lengths. */
  addPacks(policy: string, target: string, packs: readonly WrittenPackRecord[]): void {
    if (this.group.failure || packs.length === 0) return;
    const packIds = Buffer.alloc(packs.length * 32);
    const packNums = PACK_RECORD.alloc(packs.length);
    packs.forEach((p, i) => {
      if (packIds.write(p.id, i * 32, 32, 'hex') !== 32) throw new TriadError('E_CATALOG', `invalid pack id ${JSON.stringify(p.id)}`);
      const row = packRowOf(p);
      PACK_RECORD.put(packNums, i, { size: row.size, blobs: row.blobs, type: blobTypeCode(row.type), blobBytes: row.blob_bytes ?? 0, rawBytes: row.raw_bytes ?? 0 });
    });
    // Buffer.alloc never takes from the shared pool: each buffer is its own, and can be transferred.
    this.group.post(0, { type: 'packs', target: this.targetOf(policy, target), packIds, packNums }, [packIds.buffer, packNums.buffer]);
  }

  /** Files every staged row under the snapshot (already in the catalogue); returns how many. */
  async commit(snapshotId: string): Promise<number> {
    this.flush();
    return this.ask({ type: 'commit', snap: this.snapSeq(snapshotId) });
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
    await this.ask({ type: 'settle' }).catch(() => undefined);
  }

  private ask(m: ToRowStage): Promise<number> {
    const failure = this.group.failure;
    if (failure) return Promise.reject(failure);
    const answer = new Promise<number>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.group.post(0, m);
    return answer;
  }

  close(): Promise<void> {
    return this.group.close();
  }

  private flush(): void {
    const n = this.paths.length;
    if (n === 0) return;
    if (this.group.failure) {
      // Dropped: commit rejects with the failure. Kept, they would outgrow the batch's arrays.
      this.paths = [];
      return;
    }
    const types = this.types.slice(0, n);
    const nums = this.nums.slice(0, n * ROW_RECORD.stride);
    const hashes = new Uint8Array(this.hashes.subarray(0, n * 32));
    const hashed = this.hashed.slice(0, n);
    this.group.post(0, { type: 'rows', paths: this.paths.join('\u0000'), types, nums, hashes, hashed }, [types.buffer, nums.buffer, hashes.buffer, hashed.buffer]);
    this.paths = [];
  }
}
