import picomatch from 'picomatch';

/**
 * gitignore-like exclusion: a pattern without '/' matches a name at any depth; a trailing
 * '/' matches directories only; a pattern with a '/' inside is anchored at the source root.
 */
export type ExcludeMatcher = (relPath: string, isDir: boolean) => boolean;

export function makeExcludeMatcher(patterns: string[]): ExcludeMatcher {
  const rules = patterns.map((raw) => {
    let p = raw;
    const dirOnly = p.endsWith('/');
    if (dirOnly) p = p.replace(/\/+$/, '');
    const anchored = p.includes('/');
    if (p.startsWith('/')) p = p.slice(1);
    const isMatch = picomatch(p, { dot: true, basename: !anchored });
    return { dirOnly, isMatch };
  });
  if (rules.length === 0) return () => false;
  return (relPath, isDir) => rules.some((r) => (!r.dirOnly || isDir) && r.isMatch(relPath));
}
