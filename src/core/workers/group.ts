import type { Transferable } from 'node:worker_threads';
import { asError } from '../errors.js';
import { startWorker } from './start.js';

/** Work handed to a group's threads and not answered yet: rejected with the group's failure. */
export interface Settles {
  reject(err: Error): void;
}

/** A caller waiting for one answer. */
export interface Waiting<T> extends Settles {
  resolve(value: T): void;
}

export interface GroupSpec {
  /** The worker module (see startWorker). */
  module: string | URL;
  /** What the threads are, for errors: "a backup worker thread stopped unexpectedly". */
  what: string;
  youngGenerationMb: number;
  /** Gives a failure the owner's wording before it is latched (e.g. the catalogue's error codes). */
  mapError?: (err: unknown) => unknown;
}

/**
 * The threads of one pool, with the failure latch and the shutdown every pool needs.
 *
 * The first failure (an error thrown in a thread, a thread that exits unasked, a failure
 * the owner reports with fail()) is latched: every piece of pending work the owner
 * registered with track() is rejected with it, the owner's onFail listeners hear it, and
 * every later post() throws it, so nothing is ever handed to a failed or dead thread.
 * close() is idempotent: it rejects what is still pending with a "closed" error, which later
 * posts throw too, and terminates the threads; their exit is then no failure.
 *
 * Threads stay up after a failure until close(): an owner may still take the answers of
 * work already done (the backup stores the blobs a reader had sealed) and release their memory.
 */
/** A pool member: a worker thread, or work done on the calling thread (see startInline). */
interface Member<ToWorker> {
  post(m: ToWorker, transfer?: readonly Transferable[]): void;
  terminate(): Promise<unknown>;
}

export class WorkerGroup<ToWorker, FromWorker> {
  private readonly threads: Member<ToWorker>[] = [];
  private readonly pending: (Map<unknown, Settles> | Settles[])[] = [];
  private readonly listeners: ((err: Error) => void)[] = [];
  private latched: Error | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly spec: GroupSpec) {}

  /** Threads started. */
  get size(): number {
    return this.threads.length;
  }

  /** The latched failure, or the "closed" error once closed; undefined while work may be posted. */
  get failure(): Error | undefined {
    return this.latched;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Starts a thread; returns its number for post(). Its messages go to `onMessage`, whose throw is a failure. */
  start(workerData: unknown, onMessage: (m: FromWorker) => void): number {
    if (this.latched) throw this.latched;
    const worker = startWorker(this.spec.module, {
      what: this.spec.what,
      workerData,
      youngGenerationMb: this.spec.youngGenerationMb,
      closing: () => this.closing !== undefined,
      onFail: (err) => this.fail(err),
    });
    worker.on('message', (m: FromWorker) => {
      try {
        onMessage(m);
      } catch (err) {
        this.fail(err);
      }
    });
    return this.threads.push({ post: (m, transfer) => worker.postMessage(m, transfer), terminate: () => worker.terminate() }) - 1;
  }

  /**
   * A member that runs on the calling thread: post() hands each message to `handle` at once,
   * and its answer (if any) goes to `onMessage`, as a thread's would. For work too small to pay
   * for a thread's start-up (tens of milliseconds of CPU, more on a busy machine); a throw of
   * either is the group's failure, as a thread's error is. `stop` runs on close.
   */
  startInline(handle: (m: ToWorker) => FromWorker | undefined, onMessage: (m: FromWorker) => void, stop: () => void): number {
    if (this.latched) throw this.latched;
    return (
      this.threads.push({
        post: (m) => {
          try {
            const answer = handle(m);
            if (answer !== undefined) onMessage(answer);
          } catch (err) {
            this.fail(err);
          }
        },
        terminate: () => Promise.resolve().then(stop),
      }) - 1
    );
  }

  /** Hands `m` to thread `thread`; throws the latched failure (or "closed") instead of posting after it. */
  post(thread: number, m: ToWorker, transfer?: readonly Transferable[]): void {
    if (this.latched) throw this.latched;
    this.threads[thread]!.post(m, transfer);
  }

  /** Registers a collection of pending work (a Map or a queue): on failure or close, each is rejected and it is emptied. */
  track<C extends Map<unknown, Settles> | Settles[]>(pending: C): C {
    this.pending.push(pending);
    return pending;
  }

  /** `listener` hears the latched failure, once (not a close): e.g. to wake callers waiting for room. */
  onFail(listener: (err: Error) => void): void {
    this.listeners.push(listener);
  }

  /** Latches `err` unless a failure or close came first. */
  fail(err: unknown): void {
    if (this.latched) return;
    const e = asError(this.spec.mapError ? this.spec.mapError(err) : err);
    this.latched = e;
    this.rejectPending(e);
    for (const l of this.listeners) l(e);
  }

  /** Rejects what is pending, terminates the threads; the same promise on every call. */
  close(): Promise<void> {
    if (!this.closing) {
      if (!this.latched) {
        this.latched = new Error(`the ${this.spec.what} threads were closed`);
        this.rejectPending(this.latched);
      }
      this.closing = Promise.all(this.threads.map((w) => w.terminate())).then(() => undefined);
    }
    return this.closing;
  }

  private rejectPending(err: Error): void {
    for (const p of this.pending) {
      if (Array.isArray(p)) for (const s of p.splice(0)) s.reject(err);
      else {
        const all = [...p.values()];
        p.clear();
        for (const s of all) s.reject(err);
      }
    }
  }
}
