import picomatch from 'picomatch';

/**
 * gitignore-like exclusion: a pattern without '/' matches a name at any depth; a trailing
 * '/' matches directories only; a pattern with a '/' inside is anchored at the source root.
 */
export type ExcludeMatcher = (relPath: string, isDir: boolean) => boolean;

/** The first pattern (as written) that excludes a path, or undefined. */
export type ExcludeFinder = (relPath: string, isDir: boolean) => string | undefined;

export function makeExcludeFinder(patterns: string[]): ExcludeFinder {
  const rules = patterns.map((raw) => {
    let p = raw;
    const dirOnly = p.endsWith('/');
    if (dirOnly) p = p.replace(/\/+$/, '');
    const anchored = p.includes('/');
    if (p.startsWith('/')) p = p.slice(1);
    const isMatch = picomatch(p, { dot: true, basename: !anchored });
    return { raw, dirOnly, isMatch };
  });
  if (rules.length === 0) return () => undefined;
  return (relPath, isDir) => rules.find((r) => (!r.dirOnly || isDir) && r.isMatch(relPath))?.raw;
}

export function makeExcludeMatcher(patterns: string[]): ExcludeMatcher {
  const find = makeExcludeFinder(patterns);
  return (relPath, isDir) => find(relPath, isDir) !== undefined;
}
