/**
 * Thread of the backup's walk: reads directories and lstats their entries ahead of the walk,
 * in the walk's order, so that this kernel work runs on another core (and starts while the
 * main thread still loads the indexes).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { makeExcludeMatcher } from './exclude.js';
import { listSource } from './source-tree.js';
import { CONSUMED, STAT_FIELDS, STOP, putEntryStat, type DirRecord } from './stat-ahead.protocol.js';
import type { ArchiveSource } from './source-tree.js';

const { sources, shared, window } = workerData as { sources: ArchiveSource[]; shared: SharedArrayBuffer; window: number };
const counters = new Int32Array(shared);
const port = parentPort!;
let produced = 0;

for (const s of sources) {
  listSource(s, makeExcludeMatcher(s.exclude), (dir, _rel, names, entries) => {
    if (!names) return send({ dir, names: [], stats: new Float64Array(0), failed: true });
    const stats = new Float64Array(names.length * STAT_FIELDS);
    entries.forEach((st, i) => {
      if (st) putEntryStat(stats, i, st);
      else stats.fill(NaN, i * STAT_FIELDS, (i + 1) * STAT_FIELDS);
    });
    send({ dir, names, stats });
  });
}
port.postMessage(null);

function send(r: DirRecord): void {
  // Wait while the walk is a window behind; it wakes us as it consumes, or when it stops.
  for (;;) {
    if (Atomics.load(counters, STOP)) process.exit(0);
    const consumed = Atomics.load(counters, CONSUMED);
    if (produced - consumed < window) break;
    Atomics.wait(counters, CONSUMED, consumed, 1000);
  }
  produced += r.names.length + 1;
  port.postMessage(r, [r.stats.buffer as ArrayBuffer]);
}
