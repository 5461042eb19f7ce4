/**
 * Thread of the backup's walk: reads directories and lstats their entries ahead of the walk,
 * in the walk's order, so that this kernel work runs on another core (and starts while the
 * main thread still loads the indexes).
 */
import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { makeExcludeMatcher, type ExcludeMatcher } from './exclude.js';
import { CONSUMED, STAT_FIELDS, STOP, type DirRecord, type StatAheadSource } from './stat-ahead-protocol.js';

const { sources, shared, window } = workerData as { sources: StatAheadSource[]; shared: SharedArrayBuffer; window: number };
const counters = new Int32Array(shared);
const port = parentPort!;
let produced = 0;

for (const s of sources) {
  const st = lstatSync(s.path, { throwIfNoEntry: false });
  if (st?.isDirectory()) walk(s.path, '', { exclude: makeExcludeMatcher(s.exclude), rootDev: st.dev, cross: s.crossFilesystems });
}
port.postMessage(null);

/** The same decisions as the Archiver's walk: sorted names, exclusions, one file system unless told. */
function walk(abs: string, relInSource: string, ctx: { exclude: ExcludeMatcher; rootDev: number; cross: boolean }): void {
  let names: string[];
  try {
    names = readdirSync(abs).sort();
  } catch {
    send({ dir: abs, names: [], stats: new Float64Array(0), failed: true });
    return;
  }
  const stats = new Float64Array(names.length * STAT_FIELDS);
  const subdirs: number[] = [];
  names.forEach((n, i) => {
    const o = i * STAT_FIELDS;
    const st = lstatQuiet(join(abs, n));
    if (!st) {
      stats.fill(NaN, o, o + STAT_FIELDS);
      return;
    }
    stats.set([st.mode, st.uid, st.gid, st.mtimeMs, st.ctimeMs, st.ino, st.dev, st.size], o);
    const rel = relInSource ? `${relInSource}/${n}` : n;
    if (st.isDirectory() && !ctx.exclude(rel, true) && (ctx.cross || st.dev === ctx.rootDev)) subdirs.push(i);
  });
  send({ dir: abs, names, stats });
  for (const i of subdirs) walk(join(abs, names[i]!), relInSource ? `${relInSource}/${names[i]}` : names[i]!, ctx);
}

function lstatQuiet(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

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
