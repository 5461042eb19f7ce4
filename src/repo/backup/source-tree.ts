import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ExcludeMatcher } from './exclude.js';
import { lstatEntry, type EntryStat } from './entry-stat.js';

/** One source of a backup as the walk needs it: its path, exclude patterns and whether to cross file systems. */
export interface ArchiveSource {
  path: string;
  exclude: string[];
  crossFilesystems: boolean;
}

/**
 * Lists a directory source depth-first in the order the backup's walk visits it: names
 * sorted, a directory before what it holds, excluded directories and other file systems
 * (unless `crossFilesystems`) not entered. `each` gets every directory with the lstat of each
 * entry (undefined where lstat failed), or `names` undefined when it cannot be read.
 */
export function listSource(
  s: ArchiveSource,
  exclude: ExcludeMatcher,
  each: (dir: string, relInSource: string, names: string[] | undefined, stats: (EntryStat | undefined)[]) => void,
): void {
  const root = lstatQuiet(s.path);
  if (!root?.isDirectory()) return;
  const walk = (abs: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(abs).sort();
    } catch {
      each(abs, rel, undefined, []);
      return;
    }
    const stats = names.map((n) => lstatQuiet(join(abs, n)));
    each(abs, rel, names, stats);
    names.forEach((n, i) => {
      const st = stats[i];
      const childRel = rel ? `${rel}/${n}` : n;
      if (st?.isDirectory() && !exclude(childRel, true) && (s.crossFilesystems || st.dev === root.dev)) walk(join(abs, n), childRel);
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
