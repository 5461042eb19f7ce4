import { WorkerGroup } from '../../core/workers/index.js';
import { CONSUMED, STOP, entriesOf, type DirListing, type FromStatAhead, type StatAheadInit } from './stat-ahead.protocol.js';
import type { ArchiveSource } from './source-tree.js';

/** Entries the thread may read ahead of the walk: bounds its memory whatever the tree's size. */
const WINDOW = 32768;

/**
 * Directory listings and lstats, read by a thread ahead of the backup's walk. The walk asks
 * for each directory in its own order; when the answer is not the next one the thread
 * produced (the walk decided differently, or the thread failed), the thread is stopped and
 * the walk reads the file system itself from then on. Only speed depends on it.
 *
 * In a backup where nothing changed, lstat was 1.5 of the main thread's 5.4 s on the bench
 * corpus. The thread starts at the recovery point, and lists while the indexes load.
 */
export class StatAhead {
  private readonly group = new WorkerGroup<never, FromStatAhead>({ module: 'repo/backup/stat-ahead.worker', what: 'walk', youngGenerationMb: 4 });
  private readonly counters = new Int32Array(new SharedArrayBuffer(8));
  private readonly queue: Exclude<FromStatAhead, { type: 'end' }>[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  private done = false;
  private stopped = false;

  constructor(sources: ArchiveSource[]) {
    // A failed thread only costs speed: the walk reads the file system itself.
    this.group.onFail(() => this.stop());
    this.group.start({ sources, shared: this.counters.buffer, window: WINDOW } satisfies StatAheadInit, (m) => {
      if (m.type === 'end') {
        this.done = true;
        // The thread ends by itself: its exit is no failure.
        void this.group.close();
      } else this.queue.push(m);
      this.wake?.();
    });
  }

  /** The listing of `dir` read ahead, or undefined: the walk reads it itself. */
  async next(dir: string): Promise<DirListing | undefined> {
    while (this.head === this.queue.length && !this.done && !this.stopped) await new Promise<void>((r) => (this.wake = r));
    this.wake = undefined;
    if (this.stopped) return undefined;
    const r = this.queue[this.head];
    if (!r || r.dir !== dir) {
      this.stop();
      return undefined;
    }
    this.queue[this.head++] = undefined!;
    if (this.head > 1024) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    Atomics.add(this.counters, CONSUMED, entriesOf(r));
    Atomics.notify(this.counters, CONSUMED);
    return r.type === 'listing' ? r : undefined;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    Atomics.store(this.counters, STOP, 1);
    Atomics.notify(this.counters, CONSUMED);
    void this.group.close();
    this.wake?.();
  }
}
