import { isAbsolute, join } from 'node:path';

/**
 * Where the catalogue lives when the policy names none.
 * root always uses /var/lib/triad, ignoring XDG_STATE_HOME: `sudo -E triad backup` and the
 * root cron job must find the same catalogue, and cron does not carry the caller's variables.
 */
export function defaultCatalogPath(env: Record<string, string | undefined>, homedir: string, uid?: number): string {
  const explicit = env.TRIAD_CATALOG;
  if (explicit !== undefined && explicit !== '') return explicit;
  if (uid === 0) return '/var/lib/triad/catalog.db';
  const xdg = env.XDG_STATE_HOME;
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg !== undefined && xdg !== '' && isAbsolute(xdg)) return join(xdg, 'triad', 'catalog.db');
  return join(homedir, '.local', 'state', 'triad', 'catalog.db');
}
