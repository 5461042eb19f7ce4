import { posix } from 'node:path';

/**
 * The name each source has at the top of a snapshot: its last path component (`/srv/etc` →
 * `etc`; `/` → `root`). Sources whose last components clash (`/etc`, `/opt/app/etc`) are each
 * named by their whole path with `/` turned into `_` (`etc`, `opt_app_etc`), and a `~2`, `~3`…
 * in sorted order should even that clash. Depends only on the set of paths, which every
 * snapshot records, so a reader maps names back to source paths without the policy.
 */
export function sourceTopNames(paths: readonly string[]): Map<string, string> {
  const sorted = [...new Set(paths)].sort();
  const byLast = new Map<string, string[]>();
  for (const p of sorted) {
    const last = lastComponent(p);
    byLast.set(last, [...(byLast.get(last) ?? []), p]);
  }
  const names = new Map<string, string>();
  const taken = new Set<string>();
  // Unclashed names first, so a clashing source's long name never takes one of theirs.
  for (const [last, group] of byLast) {
    if (group.length === 1) {
      names.set(group[0]!, last);
      taken.add(last);
    }
  }
  for (const group of byLast.values()) {
    if (group.length === 1) continue;
    for (const p of group) {
      const base = posix.resolve(p).split('/').filter(Boolean).join('_') || 'root';
      let name = base;
      for (let n = 2; taken.has(name); n++) name = `${base}~${n}`;
      names.set(p, name);
      taken.add(name);
    }
  }
  return names;
}

function lastComponent(path: string): string {
  return posix.basename(posix.resolve(path)) || 'root';
}

/**
 * The snapshot path of an absolute path inside one of the snapshot's sources, as the user knows
 * it (`/srv/etc/ssh` → `etc/ssh` when `/srv/etc` is a source); undefined when no source holds it.
 * The deepest source wins when sources nest.
 */
export function snapshotPathOf(absolute: string, paths: readonly string[]): string | undefined {
  const target = posix.resolve(absolute);
  const names = sourceTopNames(paths);
  let best: { source: string; name: string } | undefined;
  for (const [source, name] of names) {
    const root = posix.resolve(source);
    const inside = target === root || target.startsWith(root === '/' ? '/' : `${root}/`);
    if (inside && (!best || root.length > posix.resolve(best.source).length)) best = { source, name };
  }
  if (!best) return undefined;
  const rest = posix.relative(posix.resolve(best.source), target);
  return rest ? `${best.name}/${rest}` : best.name;
}
