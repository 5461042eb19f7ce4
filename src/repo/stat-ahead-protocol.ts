import { constants as fsc } from 'node:fs';

/** The fields of an lstat the backup's walk uses. */
export interface EntryStat {
  mode: number;
  uid: number;
  gid: number;
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
export const STAT_FIELDS = 8;

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

/** An EntryStat read back from a DirRecord; undefined when that entry's lstat failed. */
export function entryStat(stats: Float64Array, i: number): EntryStat | undefined {
  const o = i * STAT_FIELDS;
  return Number.isNaN(stats[o]) ? undefined : new RecordStat(stats, o);
}

class RecordStat implements EntryStat {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
  readonly size: number;

  constructor(stats: Float64Array, o: number) {
    this.mode = stats[o]!;
    this.uid = stats[o + 1]!;
    this.gid = stats[o + 2]!;
    this.mtimeMs = stats[o + 3]!;
    this.ctimeMs = stats[o + 4]!;
    this.ino = stats[o + 5]!;
    this.dev = stats[o + 6]!;
    this.size = stats[o + 7]!;
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
