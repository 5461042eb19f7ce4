import type { ArchiveSource } from './source-tree.js';

/** What the stat-ahead thread needs: the sources to list, the shared counters (CONSUMED, STOP) and how far ahead it may go. */
export interface StatAheadInit {
  sources: ArchiveSource[];
  shared: SharedArrayBuffer;
  window: number;
}

/** A directory, its names sorted, and the lstat of each as STAT_RECORDs (none where the lstat failed). */
export type DirListing = { type: 'listing'; dir: string; names: string[]; stats: Float64Array };

/**
 * Stat-ahead thread → main, in the walk's order: a directory listed, or one that could not
 * be listed (the walk then reads it itself and reports what it finds), then `end` once
 * every source is listed.
 */
export type FromStatAhead = DirListing | { type: 'unreadable'; dir: string } | { type: 'end' };

/** Shared counters: entries consumed by the walk (the thread stays a window ahead of it), and a stop flag. */
export const CONSUMED = 0;
export const STOP = 1;

/** What the walk counts as consumed once it has taken `m`: the directory and its entries. */
export function entriesOf(m: Exclude<FromStatAhead, { type: 'end' }>): number {
  return m.type === 'listing' ? m.names.length + 1 : 1;
}
