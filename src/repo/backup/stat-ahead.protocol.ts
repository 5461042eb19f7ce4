import { lstatSync, constants as fsc } from 'node:fs';
import { msOf, timeSpecOf } from '../model/index.js';

/** The fields of an lstat the backup's walk uses. */
export interface EntryStat {
  mode: number;
  uid: number;
  gid: number;
  /** The modification time exactly (a timespec), and as Node's `mtimeMs` computes it. */
  mtimeSec: number;
  mtimeNsec: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
  dev: number;
  size: number;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFile(): boolean;
}

/** Numbers per entry in a DirRecord's `stats`, in this order. */
export const STAT_FIELDS = 9;

/**
 * Stat-ahead thread → main: one directory, its names sorted, and the lstat of each. An entry
 * whose lstat failed has NaN in its fields; the walk then calls lstat itself, so it reports
 * exactly what it would have without the thread. `failed`: the directory could not be read.
 */
export interface DirRecord {
  dir: string;
  names: string[];
  stats: Float64Array;
  failed?: true;
}

/** Shared counters: entries consumed by the walk (the thread stays a window ahead of it), and a stop flag. */
export const CONSUMED = 0;
export const STOP = 1;

/** Writes one entry's lstat into a DirRecord's `stats` at entry `i`. */
export function putEntryStat(stats: Float64Array, i: number, st: EntryStat): void {
  stats.set([st.mode, st.uid, st.gid, st.mtimeSec, st.mtimeNsec, st.ctimeMs, st.ino, st.dev, st.size], i * STAT_FIELDS);
}

/**
 * lstat with the modification time to the nanosecond (Node's plain Stats keep only a double
 * of milliseconds); the other times as Node's plain Stats give them, which earlier
 * snapshots recorded and change detection compares.
 */
export function lstatEntry(path: string): EntryStat {
  const b = lstatSync(path, { bigint: true });
  const m = timeSpecOf(b.mtimeNs);
  const stats = Float64Array.of(Number(b.mode), Number(b.uid), Number(b.gid), m.sec, m.nsec, msOf(timeSpecOf(b.ctimeNs)), Number(b.ino), Number(b.dev), Number(b.size));
  return new RecordStat(stats, 0);
}

/** An EntryStat read back from a DirRecord; undefined when that entry's lstat failed. */
export function entryStat(stats: Float64Array, i: number): EntryStat | undefined {
  const o = i * STAT_FIELDS;
  return Number.isNaN(stats[o]) ? undefined : new RecordStat(stats, o);
}

class RecordStat implements EntryStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeSec: number;
  readonly mtimeNsec: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  readonly size: number;

  constructor(stats: Float64Array, o: number) {
    this.mode = stats[o]!;
    this.uid = stats[o + 1]!;
    this.gid = stats[o + 2]!;
    this.mtimeSec = stats[o + 3]!;
    this.mtimeNsec = stats[o + 4]!;
    this.mtimeMs = msOf({ sec: this.mtimeSec, nsec: this.mtimeNsec });
    this.ctimeMs = stats[o + 5]!;
    this.ino = stats[o + 6]!;
    this.dev = stats[o + 7]!;
    this.size = stats[o + 8]!;
  }

  isDirectory(): boolean {
    return (this.mode & fsc.S_IFMT) === fsc.S_IFDIR;
  }

  isSymbolicLink(): boolean {
    return (this.mode & fsc.S_IFMT) === fsc.S_IFLNK;
  }

  isFile(): boolean {
    return (this.mode & fsc.S_IFMT) === fsc.S_IFREG;
  }
}
