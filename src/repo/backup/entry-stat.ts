import { lstatSync, constants as fsc } from 'node:fs';
import { NumericRecords } from '../../core/workers/index.js';
import { fsPath } from '../../core/names.js';
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
  /** Names the inode has (a regular file with more than one is backed up once, see hardlinks.ts). */
  nlink: number;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFile(): boolean;
}

/**
 * An EntryStat as numbers (mtimeMs and the type tests follow from them): how the stat-ahead
 * thread's listings carry them, and how lstatEntry keeps them.
 */
export const STAT_RECORD = new NumericRecords(['mode', 'uid', 'gid', 'mtimeSec', 'mtimeNsec', 'ctimeMs', 'ino', 'dev', 'size', 'nlink'] as const);

/**
 * lstat with the modification time to the nanosecond (Node's plain Stats keep only a double
 * of milliseconds); the other times as Node's plain Stats give them, which earlier
 * snapshots recorded and change detection compares.
 */
export function lstatEntry(path: string): EntryStat {
  const b = lstatSync(fsPath(path), { bigint: true });
  const m = timeSpecOf(b.mtimeNs);
  const stats = STAT_RECORD.alloc(1);
  const r = STAT_RECORD;
  r.set(stats, 0, 'mode', Number(b.mode));
  r.set(stats, 0, 'uid', Number(b.uid));
  r.set(stats, 0, 'gid', Number(b.gid));
  r.set(stats, 0, 'mtimeSec', m.sec);
  r.set(stats, 0, 'mtimeNsec', m.nsec);
  r.set(stats, 0, 'ctimeMs', msOf(timeSpecOf(b.ctimeNs)));
  r.set(stats, 0, 'ino', Number(b.ino));
  r.set(stats, 0, 'dev', Number(b.dev));
  r.set(stats, 0, 'size', Number(b.size));
  r.set(stats, 0, 'nlink', Number(b.nlink));
  return new RecordStat(stats, 0);
}

/** Entry `i` of a listing's stats; undefined when that entry's lstat failed (the walk then calls lstat itself). */
export function entryStat(stats: Float64Array, i: number): EntryStat | undefined {
  return STAT_RECORD.isNone(stats, i) ? undefined : new RecordStat(stats, i);
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
  readonly nlink: number;

  constructor(stats: Float64Array, i: number) {
    const r = STAT_RECORD;
    this.mode = r.get(stats, i, 'mode');
    this.uid = r.get(stats, i, 'uid');
    this.gid = r.get(stats, i, 'gid');
    this.mtimeSec = r.get(stats, i, 'mtimeSec');
    this.mtimeNsec = r.get(stats, i, 'mtimeNsec');
    this.mtimeMs = msOf({ sec: this.mtimeSec, nsec: this.mtimeNsec });
    this.ctimeMs = r.get(stats, i, 'ctimeMs');
    this.ino = r.get(stats, i, 'ino');
    this.dev = r.get(stats, i, 'dev');
    this.size = r.get(stats, i, 'size');
    this.nlink = r.get(stats, i, 'nlink');
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
