/**
 * Thread of the backup's walk: reads directories and lstats their entries ahead of the walk,
 * in the walk's order, so that this kernel work runs on another core (and starts while the
 * main thread still loads the indexes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { STAT_RECORD } from './entry-stat.js';
import { SourceFilter } from './source-filter.js';
import { listSource } from './source-tree.js';
import { CONSUMED, STOP, entriesOf, type FromStatAhead, type StatAheadInit } from './stat-ahead.protocol.js';

const { sources, shared, window } = workerData as StatAheadInit;
const counters = new Int32Array(shared);
const port = parentPort!;
let produced = 0;

for (const s of sources) {
  listSource(s, new SourceFilter(s), (dir, _rel, names, entries) => {
    if (!names) return send({ type: 'unreadable', dir });
    const stats = STAT_RECORD.alloc(names.length);
    entries.forEach((st, i) => {
      if (st) STAT_RECORD.put(stats, i, st);
      else STAT_RECORD.clear(stats, i);
    });
    send({ type: 'listing', dir, names, stats }, [stats.buffer]);
  });
}
port.postMessage({ type: 'end' } satisfies FromStatAhead);

function send(m: Exclude<FromStatAhead, { type: 'end' }>, transfer: ArrayBuffer[] = []): void {
  // Wait while the walk is a window behind; it wakes us as it consumes, or when it stops.
  for (;;) {
    if (Atomics.load(counters, STOP)) process.exit(0);
    const consumed = Atomics.load(counters, CONSUMED);
    if (produced - consumed < window) break;
    Atomics.wait(counters, CONSUMED, consumed, 1000);
  }
  produced += entriesOf(m);
  port.postMessage(m, transfer);
}
