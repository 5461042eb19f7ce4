import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { errnoCode, TriadError } from '../core/errors.js';

/**
 * The policy files named with -p (in that order) plus every *.yaml / *.yml in `dir`, sorted,
 * de-duplicated. The one discovery of the report, the status and the scheduler daemon, so they
 * find the same files and fail the same way. An unreadable directory is E_POLICY_NOT_FOUND;
 * with `requireSome`, finding no file at all is E_USAGE.
 */
export async function discoverPolicyFiles(cwd: string, files: readonly string[], dir?: string, opts: { requireSome?: boolean } = {}): Promise<string[]> {
  const out = files.map((f) => resolve(cwd, f));
  if (dir !== undefined) {
    const abs = resolve(cwd, dir);
    let names: string[];
    try {
      names = await readdir(abs);
    } catch (err) {
      throw new TriadError('E_POLICY_NOT_FOUND', `cannot read the policy directory ${abs}: ${errnoCode(err) ?? (err as Error).message}`, {
        hint: 'give a directory that holds policy files (*.yaml), e.g. --policies /etc/triad',
        cause: err,
      });
    }
    const found = names.filter((n) => /\.ya?ml$/i.test(n)).sort().map((n) => join(abs, n));
    if (found.length === 0 && opts.requireSome) {
      throw new TriadError('E_USAGE', `no policy files (*.yaml, *.yml) in ${abs}`, { hint: 'name the files with -p POLICY instead' });
    }
    out.push(...found);
  }
  if (out.length === 0 && opts.requireSome) {
    throw new TriadError('E_USAGE', 'no policy given', { hint: 'name policies with -p POLICY (repeatable) or --policies DIR' });
  }
  return [...new Set(out)];
}
