import { readNames } from '../../core/names.js';
import { join } from 'node:path';
import { lstatEntry, type EntryStat } from './entry-stat.js';
import type { DirTag, SourceFilter, SourceOptions } from './source-filter.js';

/** One source of a backup as the walk needs it: its path, what to leave out and whether to cross file systems. */
export interface ArchiveSource extends SourceOptions {
  path: string;
  crossFilesystems: boolean;
}

/**
 * Lists a directory source depth-first in the order the backup's walk visits it: names
 * sorted, a directory before what it holds, excluded directories and other file systems
 * (unless `crossFilesystems`) not entered. `each` gets every directory with the lstat of each
 * entry (undefined where lstat failed) and its tag, or `names` undefined when it cannot be read.
 */
export function listSource(
  s: ArchiveSource,
  filter: SourceFilter,
  each: (dir: string, relInSource: string, names: string[] | undefined, stats: (EntryStat | undefined)[], tag: DirTag | undefined) => void,
): void {
  const root = lstatQuiet(s.path);
  if (!root?.isDirectory()) return;
  const walk = (abs: string, rel: string): void => {
    let names: string[];
    try {
      names = readNames(abs).sort();
    } catch {
      each(abs, rel, undefined, [], undefined);
      return;
    }
    const stats = names.map((n) => lstatQuiet(join(abs, n)));
    const tag = filter.tagOf(abs, names);
    each(abs, rel, names, stats, tag);
    names.forEach((n, i) => {
      const st = stats[i];
      const childRel = rel ? `${rel}/${n}` : n;
      if (st?.isDirectory() && !filter.excludes(childRel, n, st, tag) && (s.crossFilesystems || st.dev === root.dev)) walk(join(abs, n), childRel);
    });
  };
  walk(s.path, '');
}

function lstatQuiet(path: string): EntryStat | undefined {
  try {
    return lstatEntry(path);
  } catch {
    return undefined;
  }
}
