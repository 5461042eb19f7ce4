import * as nodePath from 'node:path';
import type { Policy } from './types.js';

/**
 * Where a scheduled systemd unit lets a policy's jobs write: ProtectSystem=strict makes the
 * rest of the file system read-only, PrivateTmp= gives each job its own /tmp and /var/tmp,
 * and /dev stays writable (/dev/null).
 */
export function unitWritablePaths(policy: Pick<Policy, 'targets' | 'hooks' | 'catalog'>): string[] {
  return [
    '/tmp',
    '/var/tmp',
    '/dev',
    ...(policy.catalog !== undefined ? [nodePath.dirname(policy.catalog)] : []),
    ...policy.targets.flatMap((t) => (t.type === 'local' ? [t.path] : [])),
    ...(policy.hooks.writable_paths ?? []),
  ];
}

/**
 * Absolute paths a hook command visibly writes: shell redirections (`> F`, `>> F`, `2> F`,
 * `&> F`) and the usual output options of dump tools (`-f F`, `-o F`, `--file=F`,
 * `--output F`, `--result-file=F`). A heuristic: it reads the command as words, so a path
 * built at run time goes unseen; it serves a warning, never a refusal.
 */
export function hookWrites(command: string): string[] {
  const out: string[] = [];
  const words = command.match(/"[^"]*"|'[^']*'|[^\s]+/g) ?? [];
  const unquote = (w: string): string => w.replace(/^(["'])(.*)\1$/, '$2');
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const redirect = /^(?:\d|&)?>>?(.*)$/.exec(w);
    const option = /^(?:-f|-o|--file|--output|--result-file|--output-file)(?:=(.*))?$/.exec(w);
    let target: string | undefined;
    if (redirect) target = redirect[1] || words[++i];
    else if (option) target = option[1] ?? words[++i];
    if (target === undefined) continue;
    const path = unquote(target);
    if (path.startsWith('/')) out.push(path);
  }
  return out;
}

/** Hook output paths a scheduled systemd unit could not write, with the hook's command. */
export function hookWritesOutsideUnitPaths(policy: Pick<Policy, 'targets' | 'hooks' | 'catalog'>): { command: string; path: string }[] {
  const allowed = unitWritablePaths(policy).map((p) => nodePath.resolve(p));
  const inside = (path: string): boolean => allowed.some((a) => path === a || path.startsWith(a.endsWith('/') ? a : `${a}/`));
  const hooks = [...policy.hooks.before, ...policy.hooks.after, ...policy.hooks.on_failure];
  return hooks.flatMap((h) => hookWrites(h.run).filter((p) => !inside(nodePath.resolve(p))).map((path) => ({ command: h.run, path })));
}

/** A pipeline outside quotes (`a | b`, not `a || b`): its status is the last command's unless pipefail is set. */
export function hasPipeline(command: string): boolean {
  const bare = command.replace(/"(?:[^"\\]|\\.)*"|'[^']*'/g, '""');
  return /(^|[^|])\|(?!\|)/.test(bare) && !/\bpipefail\b/.test(bare);
}
